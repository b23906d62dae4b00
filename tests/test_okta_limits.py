"""Okta's rate limits and its other traps, through revoke's engine on a fake clock: nothing here sleeps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Iterator

import pytest
import requests
from pydantic import SecretStr

from revoke.engine import ApplyOptions, apply_plan, build_plan
from revoke.errors import ActionFailed
from revoke.runbook import load_runbook
from revoke.runtime import FakeClock
from revoke.sandbox.okta import OktaFake
from revoke.sandbox.okta_seed import Seeded, seed_engagement
from revoke.secrets import Secrets
from tests.okta_env import runbook

START = dt.datetime(2027, 3, 1, 9, 0, 0, 500_000, tzinfo=dt.timezone.utc)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=START)


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[OktaFake]:
    with OktaFake(page_cap=3) as f:
        f.now = lambda: clock.now().timestamp()   # Okta's windows move only when revoke's engine waits
        yield f


@pytest.fixture
def seeded(fake: OktaFake) -> Seeded:
    return seed_engagement(fake)


def run(fake: OktaFake, seeded: Seeded, clock: FakeClock, tmp_path: Path) -> tuple[list[dict], list[dict]]:
    secrets = Secrets({"okta_token": SecretStr(seeded.token)})
    path = runbook(tmp_path / "acme.yaml", fake, seeded, settings={"reset_factors": True})
    plan = build_plan(load_runbook(path), secrets=secrets, clock=clock.clock())
    assert not any(s.error for s in plan.systems), [s.error for s in plan.systems]
    options = ApplyOptions(evidence_root=tmp_path / "evidence", fsync=False, clock=clock.clock(), max_attempts=10,
                           max_wait_seconds=3600)
    result = apply_plan(plan, options, secrets=secrets)
    return [a.model_dump() for a in plan.changes()], result.actions()


def settled(records: list[dict], changes: list[dict]) -> bool:
    return {r["action_id"] for r in records if r["outcome"] == "done"} == {c["id"] for c in changes}


def test_the_rate_limit_is_paced_by_oktas_own_headers(fake: OktaFake, seeded: Seeded, clock: FakeClock,
                                                      tmp_path: Path) -> None:
    fake.rate_limit(6, window=60)
    changes, records = run(fake, seeded, clock, tmp_path)
    assert settled(records, changes)
    assert fake.user("alice@consult.example").status == "SUSPENDED" and not fake.user_grants(
        fake.user("alice@consult.example"))
    # X-Rate-Limit-Remaining said when a bucket was spent: the client held until X-Rate-Limit-Reset on the run's
    # clock instead of sending into it, so Okta refused at most the first request of each new client per bucket
    refused = [r for r in fake.log if r.throttled]
    assert len(refused) <= 4, refused
    assert max(fake._used.values()) == 6 and clock.slept and all(0 < s <= 60 for s in clock.slept)


def test_a_spent_bucket_is_waited_out_until_its_reset(fake: OktaFake, seeded: Seeded, clock: FakeClock,
                                                      tmp_path: Path) -> None:
    fake.rate_limit(8, window=60)
    other = requests.Session()
    other.trust_env, other.verify = False, fake.ca_file
    other.headers["Authorization"] = f"SSWS {seeded.token}"
    while other.get(f"{fake.org_url}/api/v1/users/me").status_code == 200:   # another client spends it unseen
        pass
    changes, records = run(fake, seeded, clock, tmp_path)
    assert settled(records, changes)
    throttled = [r for r in fake.log if r.throttled]
    assert throttled and all(r.status == 429 for r in throttled)
    # the first wait ran exactly to the window's reset (X-Rate-Limit-Reset, epoch seconds), on the run's clock
    assert (START.timestamp() + clock.slept[0]) % 60 == pytest.approx(0, abs=1e-6)


def test_a_write_applied_but_answered_with_an_error_is_read_back_as_done(fake: OktaFake, seeded: Seeded,
                                                                         clock: FakeClock, tmp_path: Path) -> None:
    alice = seeded.ids["alice"]
    fake.inject("POST", rf"^/api/v1/users/{alice}/lifecycle/suspend$", 502, applied=True)
    devs = fake.group_named("acme-devs").id
    fake.inject("DELETE", rf"^/api/v1/groups/{devs}/users/{alice}$", 500, applied=True)
    _, records = run(fake, seeded, clock, tmp_path)
    for kind, resource in (("suspend-user", alice), ("remove-from-group", devs)):
        rec = next(r for r in records if (r["kind"], r["resource"], r["person"]) == (kind, resource, "Alice Example"))
        assert rec["outcome"] == "done" and rec["verification"] == "verified", rec
    suspends = [r for r in fake.log if r.path == f"/api/v1/users/{alice}/lifecycle/suspend"]
    assert len(suspends) == 1   # read back as done: never sent again (a second suspend would be refused)


def test_the_wait_is_computed_from_the_epoch_reset_with_the_runs_clock() -> None:
    from revoke.connectors.okta.client import OktaRefused, translate

    resp = requests.Response()
    resp.status_code = 429
    resp.headers.update({"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "1800000060"})
    resp._content = b'{"errorCode": "E0000047", "errorSummary": "API call exceeded rate limit"}'
    err = translate("GET user", resp, now=1_800_000_015.5)
    assert isinstance(err, ActionFailed) and err.retryable and err.retry_after == pytest.approx(44.5)
    refused = requests.Response()
    refused.status_code = 403
    refused._content = b'{"errorCode": "E0000006", "errorSummary": "You do not have permission"}'
    out = translate("suspend x", refused, now=0)
    assert isinstance(out, OktaRefused) and not out.retryable and out.code == "E0000006"
    assert "revoke permissions" in out.reason
