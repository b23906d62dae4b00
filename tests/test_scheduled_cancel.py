"""`revoke runs cancel` while shards are writing: the run stops after the batches in flight, and its sealed run
folder says what was done and what was not (cancelled), each action once; nothing is half done without a record.
The server, read directly, agrees with every record."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

from revoke.evidence import read_records, verify_run
from tests.conftest import ldap_system, write_runbook, yesterday
from tests.graph_env import graph, graph_app  # noqa: F401 - fixtures
from tests.temporal_env import temporal_server, workers  # noqa: F401 - fixtures

HERE = Path(__file__).parent


def test_a_run_cancelled_mid_apply_seals_what_was_done_and_what_was_not(slapd, tmp_path, workers,  # noqa: F811
                                                                        run_cli, monkeypatch):
    monkeypatch.setenv("REVOKE_CORP_LDAP", slapd.service.password)
    leavers = [slapd.add_user(f"leaver{i:02d}") for i in range(12)]
    stays = slapd.add_user("stays")
    group = slapd.add_group("project", [u.dn for u in leavers] + [stays.dn])
    runbook = write_runbook(tmp_path / "rb.yaml", {
        "engagement": "cancel-2026", "final_day": yesterday(),
        "systems": {"corp-ldap": {**ldap_system(slapd), "blast_radius": 100}},
        "people": [{"name": f"Leaver {i}", "ids": {"corp-ldap": f"leaver{i:02d}"}} for i in range(12)]})
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", str(runbook), "--out", str(plan_file)).exit_code == 2
    writes = tmp_path / "writes.log"
    w = workers({"REVOKE_CORP_LDAP": slapd.service.password, "REVOKE_TEST_WRITES": str(writes),
                 "REVOKE_TEST_SLOW": "1", "REVOKE_TEST_BATCH": "1"})
    w.start(1, [sys.executable, str(HERE / "temporal_worker.py"), "worker"])
    done = w.revoke("--output", "json", "schedule", str(plan_file), "--at", "now", "--heartbeat", "2",
                    "--shard-actions", "4")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    deadline = time.monotonic() + 60
    while not writes.exists() or len(writes.read_text().split()) < 4:
        assert time.monotonic() < deadline, w.logs()
        time.sleep(0.1)
    cancel = w.revoke("runs", "cancel", run_id)
    assert cancel.returncode == 0, cancel.stderr

    info = w.wait(run_id)
    assert info["status"] == "canceled", info
    [stage] = info["stages"]
    run_dir = Path(stage["location"])
    report = verify_run(run_dir)
    assert report.ok, report.problems
    assert run_cli("evidence", "verify", str(run_dir)).exit_code == 0

    planned = {a["id"]: a for a in json.loads(plan_file.read_text())["plan"]["actions"] if a["status"] == "change"}
    written = Counter(writes.read_text().split()[1::2])
    records = read_records(run_dir)
    finals = {r["action_id"]: r for r in records if r["type"] == "action"}
    assert Counter(r["action_id"] for r in records if r["type"] == "action") == Counter(set(planned))  # once each
    done_ids = {i for i, r in finals.items() if r["outcome"] == "done"}
    cancelled = {i for i, r in finals.items() if r["outcome"] == "not_attempted" and "cancelled" in r["error"]}
    assert done_ids == set(written) and set(written.values()) == {1}  # every write recorded, none repeated
    assert cancelled == set(planned) - done_ids and cancelled and done_ids  # the rest: not attempted, said so
    assert all("nothing was written" in finals[i]["error"] for i in cancelled)
    # the residual exposure names each of them as still in place, and why
    still = [item["what"] for r in records if r["type"] == "exposure" for item in r["items"]
             if item["what"].startswith("still in place")]
    assert len(still) == len(cancelled) and all("(not_attempted: the run was cancelled" in s for s in still), still
    assert stage["exit_code"] == 3 and w.revoke("runs", "show", run_id).returncode == 3

    # the server agrees with each record: a cancelled lock left the account able to sign in, a cancelled removal
    # left the membership, and every done one is done
    members = set(slapd.read(group)["member"])
    for u in leavers:
        mine = {planned[i]["kind"]: i for i in planned if planned[i]["principal"] == u.dn
                or planned[i]["resource"] == u.dn}
        for kind, aid in mine.items():
            if kind == "lock-account":
                assert slapd.can_bind(u.dn, u.password) == (aid in cancelled), (u.dn, finals[aid])
            elif kind == "remove-membership":
                assert (u.dn in members) == (aid in cancelled), (u.dn, finals[aid])
    assert stays.dn in members
    assert info["waves"][0]["state"] == "cancelled"


def test_a_run_cancelled_while_a_shard_waits_out_a_throttle_retries_nothing(graph, graph_app, tmp_path,  # noqa: F811
                                                                            workers, run_cli):  # noqa: F811
    # the shard is held by Graph's Retry-After when the cancel comes: the throttled change is not retried (it
    # stays as Graph has it, recorded as failed), the changes after it are not started (not_attempted)
    from tests.test_scheduled_budget import LEAVERS, _planned_tenant, schedule_now

    plan_file, leavers, group, stayer, secret = _planned_tenant(graph, graph_app, tmp_path, run_cli)
    held = leavers[LEAVERS // 2]
    graph.throttle(rf"^/users/{held}$", method="PATCH", retry_after=6)
    w = workers({"REVOKE_GRAPH_SECRET": secret})
    w.start(1)
    run_id = schedule_now(w, plan_file, "--heartbeat", "2", "--shard-actions", "1000")
    deadline = time.monotonic() + 60
    while not any(r.status == 429 for r in graph.requests(in_batch=True)):
        assert time.monotonic() < deadline, w.logs()
        time.sleep(0.05)
    assert w.revoke("runs", "cancel", run_id).returncode == 0
    info = w.wait(run_id)
    assert info["status"] == "canceled", info
    run_dir = Path(info["stages"][0]["location"])
    assert verify_run(run_dir).ok, verify_run(run_dir).problems

    finals = {r["action_id"]: r for r in read_records(run_dir) if r["type"] == "action"}
    planned = {a["id"]: a for a in json.loads(plan_file.read_text())["plan"]["actions"] if a["status"] == "change"}
    assert set(finals) == set(planned)
    failed = [r for r in finals.values() if r["outcome"] == "failed"]
    # the held account's writes ($batch: the session revocation depends on the disable, and was skipped with it)
    assert {(r["kind"], r["resource"]) for r in failed} == {("disable-account", held), ("revoke-sessions", held)}
    assert all("cancelled" in r["error"] and "read back as not done" in r["error"] for r in failed)
    patches = [r.status for r in graph.requests(in_batch=True) if r.method == "PATCH" and r.path == f"/users/{held}"]
    assert patches == [429] and graph.user(held)["accountEnabled"] is True  # never retried: Graph agrees
    outcomes = Counter(r["outcome"] for r in finals.values())
    assert outcomes["not_attempted"] and outcomes["done"], outcomes
    # the server agrees with every other record: done is done, not attempted is untouched
    members = set(graph.members(group))
    for r in finals.values():
        if r["kind"] == "disable-account":
            assert graph.user(r["resource"])["accountEnabled"] == (r["outcome"] != "done"), r
        elif r["kind"] == "remove-group-member":
            assert (r["principal"] in members) == (r["outcome"] != "done"), r
    assert graph.user(stayer)["accountEnabled"] and stayer in graph.members(group)
