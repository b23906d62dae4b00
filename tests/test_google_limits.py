"""Google's quotas and traps, through revoke's engine on a fake clock: nothing here sleeps for real."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from revoke.connectors.google.client import Quota
from revoke.engine import ApplyOptions, apply_plan, build_plan
from revoke.runbook import load_runbook
from revoke.runtime import FakeClock, Runtime
from revoke.sandbox.google import GoogleFake
from revoke.sandbox.google_seed import Seeded
from revoke.secrets import Secrets
from tests.google_env import fake, runbook, seeded  # noqa: F401 - fixtures

__all__ = ["fake", "seeded"]
START = dt.datetime(2027, 3, 1, 9, 0, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def clock(fake: GoogleFake) -> FakeClock:
    c = FakeClock(start=START)
    fake.clock = lambda: c.now().timestamp()   # the fake's quota windows move only when revoke waits
    return c


def run(fake: GoogleFake, seeded: Seeded, clock: FakeClock, tmp_path: Path, **settings: Any) -> list[dict]:
    secrets = Secrets({"google_key": SecretStr(seeded.key_json)})
    path = runbook(tmp_path / "acme.yaml", fake, seeded, settings=settings)
    plan = build_plan(load_runbook(path), secrets=secrets, clock=clock.clock())
    assert not any(s.error for s in plan.systems), [s.error for s in plan.systems]
    options = ApplyOptions(evidence_root=tmp_path / "evidence", fsync=False, clock=clock.clock(), max_attempts=10,
                           max_wait_seconds=3600)
    return apply_plan(plan, options, secrets=secrets).actions()


def finished(fake: GoogleFake, seeded: Seeded) -> bool:
    leavers = [fake.users[seeded.ids[n]] for n in ("alice", "bob")]
    return all(u.suspended and not u.asps and not u.tokens and not u.codes for u in leavers) and \
        seeded.ids["announce"] not in fake.groups


@pytest.mark.parametrize("status", [429, 403])
def test_rate_limit_answers_are_waited_out_by_the_engine(status: int, fake: GoogleFake, seeded: Seeded,
                                                         clock: FakeClock, tmp_path: Path) -> None:
    fake.throttle_share(4, status)   # every fourth call: 429 rateLimitExceeded / 403 userRateLimitExceeded
    records = run(fake, seeded, clock, tmp_path)
    assert finished(fake, seeded)
    assert any(r.throttled for r in fake.log)
    assert clock.slept and sum(clock.slept) > 0                 # waited on the engine's clock, not time.sleep
    assert all(r["outcome"] in ("done", "already_done") for r in records), [
        (r["kind"], r["outcome"], r["error"]) for r in records if r["outcome"] not in ("done", "already_done")]


def test_the_quota_is_paced_so_google_never_refuses(fake: GoogleFake, seeded: Seeded, clock: FakeClock,
                                                    tmp_path: Path) -> None:
    fake.quota(12, window=60)
    records = run(fake, seeded, clock, tmp_path, queries_per_minute=12)
    assert finished(fake, seeded)
    assert not [r for r in fake.log if r.throttled]             # paced under the quota: nothing refused
    assert clock.now() - START >= dt.timedelta(minutes=3)       # and it took the quota's minutes, on the fake clock
    assert all(r["outcome"] in ("done", "already_done") for r in records)


def test_a_deletion_applied_but_answered_with_an_error_is_read_back_not_repeated(
        fake: GoogleFake, seeded: Seeded, clock: FakeClock, tmp_path: Path) -> None:
    fake.inject("DELETE", r"/asps/1$", 503, "backendError", apply=True, times=5)
    records = run(fake, seeded, clock, tmp_path)
    alice = seeded.ids["alice"]
    deletes = [r for r in fake.log if r.method == "DELETE" and r.path.endswith(f"{alice}/asps/1")]
    assert len(deletes) == 1 and deletes[0].status == 503        # sent once; the read-back found it done
    asp = next(r for r in records if r["kind"] == "delete-app-password" and r["resource"] == f"{alice}/asps/1")
    assert asp["outcome"] == "done" and asp["verification"] == "absent"


def test_a_failed_earlier_step_keeps_the_account_from_being_suspended(fake: GoogleFake, seeded: Seeded,
                                                                     clock: FakeClock, tmp_path: Path) -> None:
    fake.inject("DELETE", r"/tokens/", 403, "forbidden", times=100)   # the grants cannot be deleted
    records = run(fake, seeded, clock, tmp_path)
    alice = fake.users[seeded.ids["alice"]]
    assert alice.tokens and not alice.suspended     # suspension waits for the grants (nothing changes on it after)
    assert alice.sessions == 0 and not alice.asps   # what can be done is done: signed out, passwords gone
    suspend = next(r for r in records if r["kind"] == "suspend-user" and r["resource"] == alice.id)
    assert suspend["outcome"] == "failed" and "earlier step" in suspend["error"]


def test_quota_waits_on_the_runs_clock() -> None:
    clock = FakeClock(start=START)
    quota = Quota(100, Runtime(clock=clock.clock()))
    for _ in range(3):
        quota.take(40)
    assert clock.slept == [62.0] and quota.held == 62.0   # the third 40 waited for the first minute (and a margin)
