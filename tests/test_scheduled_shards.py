"""Distributed runs: shards on several worker processes, one SIGKILLed mid-shard; every action is done once."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

from revoke.evidence import read_records, verify_run
from tests.conftest import ldap_system, write_runbook, yesterday
from tests.temporal_env import temporal_server, workers  # noqa: F401 - fixtures

HERE = Path(__file__).parent


def _engagement(slapd, tmp_path: Path, n: int) -> tuple[Path, list[str], str]:  # noqa: ANN001
    users = [slapd.add_user(f"leaver{i:02d}").dn for i in range(n)]
    stays = slapd.add_user("stays").dn
    group = slapd.add_group("project", [*users, stays])
    runbook = write_runbook(tmp_path / "rb.yaml", {
        "engagement": "shards-2026", "final_day": yesterday(),
        "systems": {"corp-ldap": {**ldap_system(slapd), "blast_radius": 100}},
        "people": [{"name": f"Leaver {i}", "ids": {"corp-ldap": f"leaver{i:02d}"}} for i in range(n)]})
    return runbook, users, group


def test_a_worker_killed_mid_shard_loses_nothing_and_repeats_nothing(slapd, tmp_path, workers, run_cli,  # noqa: F811
                                                                     monkeypatch):
    monkeypatch.setenv("REVOKE_CORP_LDAP", slapd.service.password)
    runbook, users, group = _engagement(slapd, tmp_path, 12)
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", str(runbook), "--out", str(plan_file)).exit_code == 2
    writes, stalled = tmp_path / "writes.log", tmp_path / "stalled"
    w = workers({"REVOKE_CORP_LDAP": slapd.service.password, "REVOKE_TEST_WRITES": str(writes),
                 "REVOKE_TEST_STALLED": str(stalled)})
    script = [sys.executable, str(HERE / "temporal_worker.py"), "worker"]
    [victim] = w.start(1, script, {"REVOKE_TEST_STALL": "1"})
    done = w.revoke("--output", "json", "schedule", str(plan_file), "--at", "now", "--heartbeat", "2",
                    "--shard-actions", "3")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    deadline = time.monotonic() + 60
    while not stalled.exists():
        assert time.monotonic() < deadline, w.logs()
        time.sleep(0.2)
    w.start(2, script)          # two healthy workers join
    time.sleep(0.5)
    w.kill(victim)              # the one mid-shard dies: written, never reported

    info = w.wait(run_id)
    assert info["status"] == "completed", info
    run_dir = Path(info["stages"][0]["location"])
    report = verify_run(run_dir)
    assert report.ok, report.problems

    # read from the server, not from revoke: every leaver locked and out of the group, the colleague stays
    with slapd.admin_connection() as c:
        for dn in users:
            c.search(dn, "(objectClass=*)", attributes=["pwdAccountLockedTime"])
            assert c.entries[0]["pwdAccountLockedTime"].values, dn
        c.search(group, "(objectClass=*)", attributes=["member"])
        assert [m.split(",")[0] for m in c.entries[0]["member"].values] == ["uid=stays"]
    # each change written exactly once, across all workers (the victim's write is not repeated)
    lines = writes.read_text().split()
    written = Counter(lines[1::2])
    planned = [a["id"] for a in json.loads(plan_file.read_text())["plan"]["actions"] if a["status"] == "change"]
    assert sorted(written) == sorted(planned)
    assert set(written.values()) == {1}, written
    pids = set(lines[0::2])
    assert str(victim.pid) in pids and len(pids) >= 2
    # and recorded once each, the interrupted ones as verified on the retry
    records = read_records(run_dir)
    finals = Counter(r["action_id"] for r in records if r["type"] == "action")
    assert set(finals.values()) == {1} and sorted(finals) == sorted(planned)
    by_victim = {aid for pid, aid in zip(lines[0::2], lines[1::2], strict=True) if pid == str(victim.pid)}
    for r in records:
        if r["type"] == "action" and r["action_id"] in by_victim:
            assert r["outcome"] == "done" and r["verification"] == "verified"
            assert "interrupted" in r["note"]
