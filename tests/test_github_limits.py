"""GitHub's rate limits and its other traps, through revoke's engine on a fake clock: nothing here sleeps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Iterator

import pytest
from pydantic import SecretStr

from revoke.engine import ApplyOptions, apply_plan, build_plan
from revoke.errors import ActionFailed
from revoke.runbook import load_runbook
from revoke.runtime import FakeClock
from revoke.sandbox.github import GitHubFake
from revoke.sandbox.github_seed import Seeded, seed_engagement
from revoke.secrets import Secrets
from tests.github_env import runbook

START = dt.datetime(2027, 3, 1, 9, 0, 0, 500_000, tzinfo=dt.timezone.utc)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=START)


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[GitHubFake]:
    with GitHubFake(page_cap=3) as f:
        f.now = lambda: clock.now().timestamp()   # GitHub's windows move only when revoke's engine waits
        yield f


@pytest.fixture
def seeded(fake: GitHubFake) -> Seeded:
    return seed_engagement(fake)


def run(fake: GitHubFake, seeded: Seeded, clock: FakeClock, tmp_path: Path) -> tuple[list[dict], list[dict]]:
    secrets = Secrets({"github_token": SecretStr(seeded.token)})
    path = runbook(tmp_path / "acme.yaml", fake, seeded)
    plan = build_plan(load_runbook(path), secrets=secrets, clock=clock.clock())
    assert not any(s.error for s in plan.systems), [s.error for s in plan.systems]
    options = ApplyOptions(evidence_root=tmp_path / "evidence", fsync=False, clock=clock.clock(), max_attempts=10,
                           max_wait_seconds=3600)
    result = apply_plan(plan, options, secrets=secrets)
    return [a.model_dump() for a in plan.changes()], result.actions()


def test_the_primary_rate_limit_is_paced_by_githubs_own_headers(fake: GitHubFake, seeded: Seeded, clock: FakeClock,
                                                                tmp_path: Path) -> None:
    fake.rate_limit(15, window=60)
    changes, records = run(fake, seeded, clock, tmp_path)
    assert {r["action_id"] for r in records if r["outcome"] == "done"} == {c["id"] for c in changes}
    assert fake.role("acme", "alice") is None and fake.org("acme").repos["engagement-notes"].archived
    # x-ratelimit-remaining said when the window was spent: the client held until x-ratelimit-reset instead of
    # sending into it, so GitHub refused nothing but, at most, the first request of a run (the sign-in's
    # `GET /user`, sent before any answer told the new run's client where the window stood), and no window took
    # more than its 15
    refused = [r for r in fake.log if r.throttled]
    assert all(r.path == "/user" for r in refused) and len(refused) <= 2, refused
    assert max(fake._used.values()) == 15 and len(fake._used) >= 3
    assert clock.slept and all(0 < s <= 60 for s in clock.slept)


def test_a_spent_primary_limit_is_waited_out_until_its_reset(fake: GitHubFake, seeded: Seeded, clock: FakeClock,
                                                             tmp_path: Path) -> None:
    import ssl

    import httpx

    fake.rate_limit(15, window=60)
    other = httpx.Client(base_url=fake.base_url, verify=ssl.create_default_context(cafile=fake.ca_file),
                         headers={"Authorization": f"token {seeded.token}"})
    while other.get("user").status_code == 200:   # another client of the same token spends the window unseen
        pass
    changes, records = run(fake, seeded, clock, tmp_path)
    assert {r["action_id"] for r in records if r["outcome"] == "done"} == {c["id"] for c in changes}
    throttled = [r for r in fake.log if r.throttled]
    assert throttled and all(r.status == 403 for r in throttled)
    # the first wait ran exactly to the window's reset (x-ratelimit-reset), measured on the run's clock
    assert (START.timestamp() + clock.slept[0]) % 60 == pytest.approx(0, abs=1e-6)


def test_the_secondary_rate_limit_is_waited_out_by_retry_after(fake: GitHubFake, seeded: Seeded, clock: FakeClock,
                                                               tmp_path: Path) -> None:
    fake.secondary_limit(3, window=30)
    changes, records = run(fake, seeded, clock, tmp_path)
    assert {r["action_id"] for r in records if r["outcome"] == "done"} == {c["id"] for c in changes}
    assert [r for r in fake.log if r.throttled and r.method == "DELETE"]
    assert clock.slept and all(s <= 30 for s in clock.slept)
    assert not fake.org("acme").credentials.keys() - {c.credential_id for c in fake.org("acme").credentials.values()
                                                      if fake.users[c.user_id].login == "carol"}


def test_a_write_applied_but_answered_with_an_error_is_read_back_as_done(fake: GitHubFake, seeded: Seeded,
                                                                         clock: FakeClock, tmp_path: Path) -> None:
    fake.inject("DELETE", r"^/orgs/acme/memberships/alice$", 502, applied=True)
    fake.inject("PATCH", r"^/repos/acme/engagement-notes$", 500, applied=True)
    _, records = run(fake, seeded, clock, tmp_path)
    for kind, resource, person in (("remove-from-organization", "acme", "Alice Example"),
                                   ("archive-repository", "acme/engagement-notes", None)):
        rec = next(r for r in records if (r["kind"], r["resource"], r["person"]) == (kind, resource, person))
        assert rec["outcome"] == "done" and rec["verification"] in ("verified", "absent"), rec
    deletes = [r for r in fake.log if r.method == "DELETE" and r.path == "/orgs/acme/memberships/alice"]
    assert len(deletes) == 1   # read back as done: never sent again


def test_primary_limit_wait_is_computed_with_the_runs_clock() -> None:
    import httpx
    from revoke.connectors.github.client import translate

    resp = httpx.Response(403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1800000060"},
                          json={"message": "API rate limit exceeded for user ID 1."})
    err = translate("GET /user", resp, now=1_800_000_015.5)
    assert isinstance(err, ActionFailed) and err.retryable and err.retry_after == pytest.approx(44.5)
    secondary = translate("DELETE x", httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow"}),
                          now=0)
    assert secondary.retryable and secondary.retry_after == 7
    refused = translate("DELETE x", httpx.Response(403, json={"message": "Must have admin rights"}), now=0)
    assert not refused.retryable and "Must have admin rights" in refused.reason
