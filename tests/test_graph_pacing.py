"""The pacer the Graph client shares between the engine's threads, driven on a fake clock (nothing sleeps)."""

from __future__ import annotations

import pytest

from revoke.pacing import PLATEAU_SECONDS, Pacer


class Clock:
    """time.monotonic and time.sleep for a pacer: sleeping moves the clock; every sleep is kept."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacer(ceiling: float | None = None) -> tuple[Pacer, Clock]:
    clock = Clock()
    return Pacer(ceiling, clock=clock, sleep=clock.sleep), clock


def send_for(p: Pacer, clock: Clock, seconds: float, n: int = 20) -> int:
    """Send batches of n as fast as the pacer lets, all accepted, for `seconds` of fake time; returns requests sent."""
    end, sent = clock.now + seconds, 0
    while clock.now < end:
        p.wait(n)
        p.accepted(n)
        sent += n
        clock.now += 0.001  # each answer takes a millisecond
    return sent


def test_unpaced_until_the_service_first_throttles() -> None:
    p, clock = pacer()
    send_for(p, clock, 0.5)
    assert clock.slept == [] and p.rate is None


def test_a_throttled_answer_holds_every_sender_until_retry_after_then_paces_below_what_was_accepted() -> None:
    p, clock = pacer()
    for _ in range(50):  # 1,000 requests accepted within the last second
        sent_at = p.wait(20)
        p.accepted(20)
        clock.now += 0.018
    p.throttled(sent_at, retry_after=2)
    assert p.rate == pytest.approx(900)  # 0.9 of the 1,000 accepted
    throttled_at = clock.now
    first = p.wait(20)
    assert first == pytest.approx(throttled_at + 2)  # held for the Retry-After
    second = p.wait(20)
    assert second - first == pytest.approx(20 / 900)  # then spaced at the learnt rate, not in a burst


def test_answers_in_flight_when_the_rate_was_lowered_do_not_lower_it_again() -> None:
    p, clock = pacer()
    sent = [p.wait(20) for _ in range(4)]  # four threads' batches in flight
    send_for(p, clock, 1.0)
    for at in sent[:1]:
        p.throttled(at, retry_after=1)
    lowered = p.rate
    for at in sent[1:]:
        p.throttled(at, retry_after=1)  # the same closed window, seen by the other threads
    assert p.rate == lowered


def test_the_rate_creeps_back_to_a_plateau_below_the_throttled_rate_then_on() -> None:
    p, clock = pacer()
    send_for(p, clock, 1.0)
    p.throttled(p.wait(20), retry_after=1)
    learnt = p.learnt
    assert learnt is not None and p.rate == pytest.approx(0.9 * learnt)
    send_for(p, clock, 12.0)
    assert p.rate == pytest.approx(0.97 * learnt)  # crept up, levelled off under the rate that was throttled
    send_for(p, clock, PLATEAU_SECONDS - 10)
    assert p.rate == pytest.approx(0.97 * learnt)  # and stays there a while
    send_for(p, clock, 15.0)
    assert p.rate > 0.97 * learnt  # then looks for a limit that was raised


def test_a_configured_ceiling_paces_from_the_first_request_and_is_never_exceeded() -> None:
    p, clock = pacer(ceiling=200)
    start = clock.now
    sent = send_for(p, clock, 2.0)
    assert sent / (clock.now - start) <= 200 * 1.05
    p.throttled(p.wait(20), retry_after=1)
    send_for(p, clock, 60.0)
    assert p.rate is not None and p.rate <= 200


def test_a_throttled_answer_at_a_low_rate_holds_but_does_not_pace() -> None:
    p, clock = pacer()
    at = p.wait(1)
    p.accepted(1)
    p.throttled(at, retry_after=3)  # something else fills the window: pacing 1 request a second would not help
    assert p.rate is None
    assert p.wait(1) == pytest.approx(at + 3)


def test_a_sender_asleep_when_a_hold_begins_waits_for_the_hold() -> None:
    p, clock = pacer(ceiling=100)
    first = p.wait(20)  # the next send may start 0.2 s later
    holds: list[float] = []

    def sleep_and_throttle(seconds: float) -> None:
        clock.sleep(seconds)
        if not holds:  # another thread's answer arrives while this one sleeps
            holds.append(clock.now + 5)
            p.throttled(first, retry_after=5)

    p._sleep = sleep_and_throttle
    assert p.wait(20) >= holds[0]


def test_a_ceiling_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Pacer(0)


def test_systems_using_one_app_in_one_tenant_share_a_pacer_with_the_lowest_ceiling() -> None:
    from revoke.connectors._graph import GraphSettings, shared_pacer

    base = {"tenant_id": "t-shared", "client_id": "app", "client_secret": {"secret": "s"}}
    entra = shared_pacer(GraphSettings.model_validate(base))
    m365 = shared_pacer(GraphSettings.model_validate({**base, "requests_per_second": 300}))
    other_app = shared_pacer(GraphSettings.model_validate({**base, "client_id": "another app"}))
    assert entra is m365 and entra.ceiling == 300 and entra.rate == 300
    assert other_app is not entra and other_app.rate is None
    del entra, m365, other_app  # the run is over: its clients and their pacer are gone
    again = shared_pacer(GraphSettings.model_validate(base))
    assert again.ceiling is None and again.rate is None  # the next run does not inherit the ceiling
