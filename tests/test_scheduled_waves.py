"""Each person at their own leave time: a scheduled run without --at fires one wave per leave time, on a real
Temporal dev server with real slapd. The first leaver is locked out while the second can still sign in; then the
second is locked out; one run folder holds both waves, in order, and verifies."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from revoke.evidence import read_records, verify_run
from tests.conftest import ldap_system, write_runbook, yesterday
from tests.temporal_env import temporal_server, workers  # noqa: F401 - fixtures


def _utc(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="seconds")


def _t(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_each_person_is_revoked_at_their_own_leave_time(slapd, tmp_path, workers, run_cli,  # noqa: F811
                                                        monkeypatch):
    monkeypatch.setenv("REVOKE_CORP_LDAP", slapd.service.password)
    ann, ben, stays = slapd.add_user("ann"), slapd.add_user("ben"), slapd.add_user("stays")
    group = slapd.add_group("project", [ann.dn, ben.dn, stays.dn])
    start = int(time.time()) + 1
    ann_leaves, ben_leaves = start + 12, start + 26  # apart enough for a loaded machine's CLI
    runbook = write_runbook(tmp_path / "rb.yaml", {
        "engagement": "waves-2026", "final_day": yesterday(),
        "systems": {"corp-ldap": ldap_system(slapd)},
        "people": [{"name": "Ann", "ids": {"corp-ldap": "ann"}, "leaves_at": _utc(ann_leaves)},
                   {"name": "Ben", "ids": {"corp-ldap": "ben"}, "leaves_at": _utc(ben_leaves)}]})
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", str(runbook), "--out", str(plan_file)).exit_code == 2
    w = workers({"REVOKE_CORP_LDAP": slapd.service.password})
    w.start(1)
    out = w.revoke("--output", "json", "schedule", str(plan_file))
    assert out.returncode == 0, out.stderr
    scheduled = json.loads(out.stdout)
    run_id = scheduled["run_id"]
    assert [(x["fires_at"], x["people"]) for x in scheduled["waves"]] == [(_utc(ann_leaves), ["Ann"]),
                                                                         (_utc(ben_leaves), ["Ben"])]
    shown = json.loads(w.revoke("runs", "show", run_id).stdout)
    assert [x["fires_at"] for x in shown["waves"]] == [_utc(ann_leaves), _utc(ben_leaves)]
    assert shown["waves"][1]["state"] == "waiting"

    # Ann's time comes: she is locked out (read from slapd), while Ben, who has not left yet, still signs in
    while slapd.can_bind(ann.dn, ann.password):
        assert time.time() < ben_leaves, w.logs()
        time.sleep(0.3)
    assert time.time() >= ann_leaves - 1
    assert time.time() < ben_leaves and slapd.can_bind(ben.dn, ben.password)
    assert ben.dn in slapd.read(group)["member"]

    info = w.wait(run_id, timeout=120)
    assert info["status"] == "completed", info
    assert not slapd.can_bind(ben.dn, ben.password)
    assert slapd.read(group)["member"] == [stays.dn]
    assert [x["state"] for x in info["waves"]] == ["done", "done"]

    [stage] = info["stages"]
    run_dir = Path(stage["location"])
    assert verify_run(run_dir).ok, verify_run(run_dir).problems
    assert run_cli("evidence", "verify", str(run_dir)).exit_code == 0
    records = read_records(run_dir)
    assert records[0]["type"] == "run" and [x["people"] for x in records[0]["scheduled"]["waves"]] == [["Ann"],
                                                                                                     ["Ben"]]
    [wave2] = [r for r in records if r["type"] == "wave"]
    assert wave2["people"] == ["Ben"] and wave2["fires_at"] == _utc(ben_leaves)
    whose = {r["action_id"]: r["person"] for r in records if r["type"] == "action"}
    written = {who: [_t(r["time"]) for r in records if r["type"] == "intent" and whose[r["action_id"]] == who]
               for who in ("Ann", "Ben")}
    # nobody early, nobody late: each person's writes at their own time, in workflow order in one folder
    assert written["Ann"] and min(written["Ann"]) >= ann_leaves and max(written["Ann"]) < ben_leaves
    assert written["Ben"] and min(written["Ben"]) >= ben_leaves
    assert records.index(wave2) > max(i for i, r in enumerate(records) if whose.get(r.get("action_id")) == "Ann")
    finals = [r for r in records if r["type"] == "action"]
    assert {r["outcome"] for r in finals} == {"done"} and len(finals) == len({r["action_id"] for r in finals})


def test_a_later_wave_gone_stale_stops_there_and_the_earlier_wave_is_still_sealed(slapd, tmp_path, workers,  # noqa: F811
                                                                                 run_cli, monkeypatch):
    monkeypatch.setenv("REVOKE_CORP_LDAP", slapd.service.password)
    ann, ben = slapd.add_user("ann"), slapd.add_user("ben")
    start = int(time.time()) + 1
    ann_leaves, ben_leaves = start + 10, start + 22
    runbook = write_runbook(tmp_path / "rb.yaml", {
        "engagement": "waves-2026", "final_day": yesterday(),
        "systems": {"corp-ldap": ldap_system(slapd)},
        "people": [{"name": "Ann", "ids": {"corp-ldap": "ann"}, "leaves_at": _utc(ann_leaves)},
                   {"name": "Ben", "ids": {"corp-ldap": "ben"}, "leaves_at": _utc(ben_leaves)}]})
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", str(runbook), "--out", str(plan_file)).exit_code == 2
    w = workers({"REVOKE_CORP_LDAP": slapd.service.password})
    w.start(1)
    run_id = json.loads(w.revoke("--output", "json", "schedule", str(plan_file)).stdout)["run_id"]
    while slapd.can_bind(ann.dn, ann.password):
        assert time.time() < ben_leaves, w.logs()
        time.sleep(0.3)
    with slapd.admin_connection() as c:  # Ben's account moves before his time: the plan no longer matches it
        c.modify(ben.dn, {"pwdAccountLockedTime": [("MODIFY_REPLACE", ["20261125010000Z"])]})

    info = w.wait(run_id, timeout=120)
    assert info["status"] == "failed" and "no longer match" in info["error"], info
    [stage] = info["stages"]  # Ann's wave, done before, is sealed all the same
    run_dir = Path(stage["location"])
    assert verify_run(run_dir).ok, verify_run(run_dir).problems
    finals = {(r["person"], r["kind"]): r for r in read_records(run_dir) if r["type"] == "action"}
    assert {r["outcome"] for k, r in finals.items() if k[0] == "Ann"} == {"done"}
    bens = [r for k, r in finals.items() if k[0] == "Ben"]
    assert bens and all(r["outcome"] == "not_attempted" and "nothing of this wave was written" in r["error"] for r in bens)
    assert [x["state"] for x in info["waves"]] == ["done", "not run"]
