"""A two-stage runbook on Temporal: the final day's revocation, then `delete-account` 30 days later on a durable
timer, each stage re-checked when it fires and sealed in its own run folder. AWS through moto's server; Temporal's
time-skipping test server, whose clock the test moves 30 days ahead instead of waiting for them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from revoke.evidence import read_records, verify_run
from tests.aws_env import aws_system, credentials_env, fresh_engagement, moto_server  # noqa: F401 - fixture
from tests.conftest import write_runbook, yesterday
from tests.temporal_env import skipping_workers, temporal_test_server  # noqa: F401 - fixtures


def _t(stamp: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _exists(iam: Any, user: str) -> bool:
    try:
        iam.get_user(UserName=user)
        return True
    except iam.exceptions.NoSuchEntityException:
        return False


def test_a_later_stage_deletes_the_accounts_after_its_timer(moto_server, tmp_path, skipping_workers,  # noqa: F811
                                                            temporal_test_server, run_cli, monkeypatch):  # noqa: F811
    seeded = fresh_engagement(moto_server, member_accounts=1, identity_center=False)
    env = credentials_env(seeded)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    runbook = write_runbook(tmp_path / "rb.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"aws": {**aws_system(seeded, "aws-iam", delete_account=True), "blast_radius": 20}},
        "people": [{"name": "Alice", "ids": {"aws": "alice"}}],
        "stages": [{"after": "30d", "kinds": ["delete-account"], "name": "grace period over"}]})
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", str(runbook), "--out", str(plan_file)).exit_code == 2
    w = skipping_workers(env)
    w.start(1)
    out = w.revoke("--output", "json", "schedule", str(plan_file), "--at", "now")
    assert out.returncode == 0, out.stderr
    run_id = json.loads(out.stdout)["run_id"]
    iam = seeded.client("iam")

    # the first stage revokes; the account is kept until the second stage's timer fires
    deadline = time.monotonic() + 60
    while True:
        shown = json.loads(w.revoke("runs", "show", run_id).stdout)
        if shown.get("progress", {}).get("stages"):
            break
        assert time.monotonic() < deadline, shown
        time.sleep(0.5)
    assert shown["progress"]["phase"] == "waiting" and shown["progress"]["stage"] == 2
    assert _exists(iam, "alice")
    keys = iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
    assert keys and all(k["Status"] == "Inactive" for k in keys)
    time.sleep(2)
    assert _exists(iam, "alice")  # the timer holds: nothing deletes before its time

    temporal_test_server.skip(30 * 86400 + 5)  # the grace period passes on the server's clock, the timer fires
    info = w.wait(run_id)
    assert info["status"] == "completed", info
    first, second = info["stages"]
    assert second["run_id"] == f"{run_id}-stage2"
    for account in seeded.accounts:
        assert not _exists(seeded.client("iam", account), "alice")
        assert _exists(seeded.client("iam", account), "carol")
    for stage in (first, second):
        assert verify_run(Path(stage["location"])).ok
    kinds_first = {r["kind"] for r in read_records(Path(first["location"])) if r["type"] == "action"}
    records_second = [r for r in read_records(Path(second["location"])) if r["type"] == "action"]
    assert "delete-account" not in kinds_first and "deactivate-access-key" in kinds_first
    assert {r["kind"] for r in records_second} == {"delete-account"}
    assert all(r["outcome"] == "done" for r in records_second)
    fired = read_records(Path(first["location"]))[0]["scheduled"]["scheduled_for"]
    run_record = read_records(Path(second["location"]))[0]
    # the durable timer, 30 days from the first stage's fire time on the server's clock
    assert _t(run_record["scheduled"]["scheduled_for"]) - _t(fired) == 30 * 86400
    assert temporal_test_server.now() >= _t(fired) + 30 * 86400
    assert run_record["scheduled"]["stage"] == 2 and run_record["scheduled"]["workflow_id"] == run_id
