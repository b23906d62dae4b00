"""revoke.ratelimit: the epoch-reset headers GitHub and Okta send, turned into waits on the run's clock (a FakeClock:
no test here takes real time)."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
import requests.structures

from revoke.ratelimit import PAST_RESET_SECONDS, UNKNOWN_RESET_SECONDS, ResetGate, seconds_until
from revoke.runtime import FakeClock, Runtime

START = dt.datetime(2027, 1, 15, 9, 0, tzinfo=dt.timezone.utc)
EPOCH = START.timestamp()


def gate(clock: FakeClock) -> ResetGate:
    return ResetGate(Runtime(clock.clock()), remaining="X-Rate-Limit-Remaining", reset="X-Rate-Limit-Reset")


def answer(remaining: int, reset: float) -> requests.structures.CaseInsensitiveDict[str]:
    return requests.structures.CaseInsensitiveDict({"x-rate-limit-remaining": str(remaining),
                                                    "x-rate-limit-reset": str(int(reset))})


def test_the_wait_runs_from_the_runs_clock_to_the_announced_epoch() -> None:
    clock = FakeClock(START)
    clock.sleep(15.5)   # the run's clock, not the machine's, says how long is left
    assert seconds_until(str(int(EPOCH) + 60), clock.now().timestamp()) == pytest.approx(44.5)


@pytest.mark.parametrize("reset", [None, "", "soon", "1.8e9x"])
def test_a_missing_or_unreadable_reset_waits_a_minute(reset: str | None) -> None:
    assert seconds_until(reset, EPOCH) == UNKNOWN_RESET_SECONDS


def test_a_reset_already_past_on_our_clock_looks_again_shortly() -> None:
    assert seconds_until(str(int(EPOCH) - 5), EPOCH) == PAST_RESET_SECONDS
    assert seconds_until(str(int(EPOCH)), EPOCH) == PAST_RESET_SECONDS   # never 0: the engine must wait at all


def test_a_spent_limit_holds_the_next_request_until_its_reset() -> None:
    clock = FakeClock(START)
    g = gate(clock)
    g.enter()
    g.leave(answer(0, EPOCH + 30))
    g.enter()   # nothing left: held on the run's clock until the reset, then a new window
    assert clock.slept == [30.0] and g.held == 30.0
    g.leave(answer(99, EPOCH + 90))
    g.enter()
    assert clock.slept == [30.0]   # the new window has room: not held again


def test_requests_in_flight_count_against_what_is_left() -> None:
    clock = FakeClock(START)
    g = gate(clock)
    g.enter()
    g.leave(answer(2, EPOCH + 10))
    g.enter()
    g.enter()   # two in flight take the two left
    assert clock.slept == []
    g.leave(answer(1, EPOCH + 10))
    g.leave(answer(0, EPOCH + 10))
    g.enter()
    assert clock.slept == [10.0]


def test_an_answer_that_arrives_late_does_not_give_back_requests() -> None:
    clock = FakeClock(START)
    g = gate(clock)
    for _ in range(2):
        g.enter()
    g.leave(answer(0, EPOCH + 20))
    g.leave(answer(1, EPOCH + 20))   # sent earlier, answered later: says more is left than there is
    g.enter()
    assert clock.slept == [20.0]


def test_answers_without_the_headers_leave_the_gate_open() -> None:
    clock = FakeClock(START)
    g = gate(clock)
    g.enter()
    g.leave(None)   # nothing was answered (a timeout)
    g.enter()
    g.leave(requests.structures.CaseInsensitiveDict({"X-Rate-Limit-Remaining": "0"}))   # no reset: no window known
    g.enter()
    g.leave(requests.structures.CaseInsensitiveDict({"X-Rate-Limit-Remaining": "0",
                                                     "X-Rate-Limit-Reset": "tomorrow"}))
    g.enter()
    assert clock.slept == [] and g.in_flight == 1


def test_httpx_headers_are_read_as_github_sends_them() -> None:
    clock = FakeClock(START)
    g = ResetGate(Runtime(clock.clock()), remaining="x-ratelimit-remaining", reset="x-ratelimit-reset")
    g.enter()
    g.leave(httpx.Headers({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(EPOCH) + 3600)}))
    g.enter()
    assert clock.slept == [3600.0]
