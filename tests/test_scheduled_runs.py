"""Scheduled runs on a real Temporal dev server with real slapd: the plan fires at its time and completes, and
the evidence is the same as a local apply's."""

from __future__ import annotations

import json
import time
from pathlib import Path

from revoke.evidence import read_records, verify_run
from tests.conftest import engagement, run_cli, slapd  # noqa: F401 - fixtures
from tests.temporal_env import temporal_server, workers  # noqa: F401 - fixtures


def _locked(slapd, dn: str) -> bool:  # noqa: ANN001
    with slapd.admin_connection() as c:
        c.search(dn, "(objectClass=*)", attributes=["pwdAccountLockedTime"])
        return bool(c.entries and c.entries[0]["pwdAccountLockedTime"].values)


def test_a_plan_scheduled_ahead_fires_at_its_time_and_completes(engagement, slapd, workers, run_cli):  # noqa: F811
    plan_file = engagement["dir"] / "plan.json"
    assert run_cli("plan", str(engagement["runbook"]), "--out", str(plan_file)).exit_code == 2
    w = workers({"REVOKE_CORP_LDAP": slapd.service.password})
    w.start(1)
    scheduled_at = time.time()
    done = w.revoke("--output", "json", "schedule", str(plan_file), "--at", "+6s")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    # before the fire time nothing is changed
    time.sleep(2)
    assert not _locked(slapd, engagement["people"]["alice"].dn)
    again = w.revoke("--output", "json", "schedule", str(plan_file), "--at", "+6s")
    assert json.loads(again.stdout)["already_scheduled"] is True  # scheduling twice is harmless

    info = w.wait(run_id)
    assert info["status"] == "completed", info
    assert _locked(slapd, engagement["people"]["alice"].dn)
    run_dir = Path(info["stages"][0]["location"])
    assert run_dir.parent == (engagement["dir"] / "evidence").absolute()
    assert verify_run(run_dir).ok, verify_run(run_dir).problems
    records = read_records(run_dir)
    actions = [r for r in records if r["type"] == "action"]
    first_write = min(r["time"] for r in records if r["type"] == "intent")
    assert first_write >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(scheduled_at + 5))
    by_id: dict[str, int] = {}
    for r in actions:
        by_id[r["action_id"]] = by_id.get(r["action_id"], 0) + 1
    assert set(by_id.values()) == {1}
    assert {r["outcome"] for r in actions} >= {"done", "already_done"}
    assert records[0]["type"] == "run" and records[0]["scheduled"]["workflow_id"] == run_id
    assert verify_run(run_dir).ok
    assert run_cli("evidence", "verify", str(run_dir)).exit_code == 0
