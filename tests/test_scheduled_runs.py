"""Scheduled runs on a real Temporal dev server with real slapd: the plan fires at its time and completes, and
the evidence is the same as a local apply's."""

from __future__ import annotations

import json
import time
from pathlib import Path

from revoke.evidence import read_records, verify_run
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


def _stale_world(engagement, slapd) -> None:  # noqa: ANN001
    alice, bob = engagement["people"]["alice"], engagement["people"]["bob"]
    with slapd.admin_connection() as c:  # between the plan and the fire time, as in test_ldap_lifecycle
        c.modify(alice.dn, {"pwdAccountLockedTime": [("MODIFY_REPLACE", ["20261125010000Z"])]})
        c.modify(bob.dn, {"pwdAccountLockedTime": [("MODIFY_DELETE", [])]})


def test_a_target_changed_before_the_fire_time_stops_the_whole_run(engagement, slapd, workers,  # noqa: F811
                                                                   run_cli):
    plan_file = engagement["dir"] / "plan.json"
    assert run_cli("plan", str(engagement["runbook"]), "--out", str(plan_file)).exit_code == 2
    w = workers({"REVOKE_CORP_LDAP": slapd.service.password})
    w.start(1)
    done = w.revoke("--output", "json", "schedule", str(plan_file), "--at", "+4s")
    run_id = json.loads(done.stdout)["run_id"]
    _stale_world(engagement, slapd)
    info = w.wait(run_id)
    assert info["status"] == "failed", info
    assert "2 action(s) no longer match" in info["error"] and "re-run `revoke plan`" in info["error"]
    assert engagement["people"]["alice"].dn in slapd.read(engagement["eng"])["member"]  # nothing was changed
    assert slapd.read(engagement["list"]) is not None
    assert not (engagement["dir"] / "evidence" / run_id).exists()
    assert w.revoke("runs", "show", run_id).returncode == 3


def test_with_on_stale_skip_the_stale_targets_are_skipped_and_recorded_and_the_page_marked(
        engagement, slapd, workers, run_cli, tmp_path):  # noqa: F811
    import yaml

    from tests.checklist_runs import make_wiki

    page = make_wiki(tmp_path)
    data = yaml.safe_load(engagement["runbook"].read_text())
    data.update(on_stale="skip", checklist="wiki/Offboarding.md")
    engagement["runbook"].write_text(yaml.safe_dump(data, sort_keys=False))
    plan_file = engagement["dir"] / "plan.json"
    assert run_cli("plan", str(engagement["runbook"]), "--out", str(plan_file)).exit_code == 2
    before = page.read_text()
    w = workers({"REVOKE_CORP_LDAP": slapd.service.password})
    w.start(1)
    run_id = json.loads(w.revoke("--output", "json", "schedule", str(plan_file), "--at", "+4s").stdout)["run_id"]
    _stale_world(engagement, slapd)
    info = w.wait(run_id)
    assert info["status"] == "completed", info
    stage = info["stages"][0]
    assert stage["exit_code"] == 3  # something was left undone: never a clean finish
    run_dir = Path(stage["location"])
    assert verify_run(run_dir).ok
    skipped = [r for r in read_records(run_dir) if r["type"] == "action" and r["outcome"] == "skipped_stale"]
    assert {r["person"] for r in skipped} == {"Alice Example", "Bob Example"}
    assert engagement["people"]["alice"].dn not in slapd.read(engagement["eng"])["member"]
    bob = engagement["people"]["bob"]
    assert slapd.can_bind(bob.dn, bob.password)  # the stale action was really left alone
    after = page.read_text()
    assert after != before and run_id in after  # the page links the sealed run, as after a local apply
    assert "Blocked" in after or "In Progress" in after
