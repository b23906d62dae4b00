"""A scheduled run against one Graph tenant's budget: its shards run one at a time, each carrying on from the
rate the one before learnt, whichever worker takes it (issue 21, benchmark 11). Judged on the Graph fake's state
and request log and on the Temporal server's history, not on revoke's output."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.conftest import write_runbook, yesterday
from tests.graph_env import graph, graph_app, graph_system  # noqa: F401 - fixtures
from tests.temporal_env import temporal_server, workers  # noqa: F401 - fixtures

LEAVERS = 130
RATE = 60  # Graph requests a second the tenant's app may make


def _planned_tenant(graph, graph_app, tmp_path: Path, run_cli) -> tuple[Path, list[str], str, str, str]:  # noqa: ANN001
    """A tenant of LEAVERS leavers in one group with a colleague who stays, planned; the fake's log cleared.
    Answers the plan file, the leavers, the group, the colleague and the app's secret."""
    client_id, secret = graph_app
    group = graph.add_group("Engagement")
    stayer = graph.add_user("stays@tenant.test")
    graph.add_member(group, stayer)
    leavers = []
    for i in range(LEAVERS):
        uid = graph.add_user(f"leaver{i:03d}@tenant.test")
        graph.add_member(group, uid)
        leavers.append(uid)
    runbook = write_runbook(tmp_path / "rb.yaml", {
        "engagement": "budget-2026", "final_day": yesterday(),
        "systems": {"m365": {**graph_system(graph, client_id), "blast_radius": LEAVERS + 10}},
        "people": [{"name": f"Leaver {i}", "ids": {"m365": f"leaver{i:03d}@tenant.test"}} for i in range(LEAVERS)]})
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", str(runbook), "--out", str(plan_file)).exit_code == 2
    graph.clear_log()
    return plan_file, leavers, group, stayer, secret


def _run_to_the_end(graph, workers, tenant: tuple[Path, list[str], str, str, str], count: int,  # noqa: ANN001
                    *options: str) -> tuple[Any, str]:
    """`count` workers run the tenant's plan, scheduled now, to the end; the tenant, read from Graph, ended right:
    every leaver disabled and out of the group, the colleague untouched. Answers the workers and the run id."""
    plan_file, leavers, group, stayer, secret = tenant
    w = workers({"REVOKE_GRAPH_SECRET": secret})
    w.start(count)
    run_id = schedule_now(w, plan_file, *options)
    info = w.wait(run_id, timeout=180)
    assert info["status"] == "completed" and info["stages"][0]["exit_code"] == 0, info
    assert not any(graph.user(u)["accountEnabled"] for u in leavers)
    assert graph.members(group) == [stayer] and graph.user(stayer)["accountEnabled"]
    return w, run_id


def schedule_now(w, plan_file: Path, *options: str) -> str:  # noqa: ANN001
    """`revoke schedule PLAN --at now` with the workers' settings; answers the run id."""
    done = w.revoke("--output", "json", "schedule", str(plan_file), "--at", "now", *options)
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["run_id"])


def _shard_activities(address: str, run_id: str) -> list[dict[str, Any]]:
    """Each shard activity as the Temporal server recorded it: when it was scheduled, started and closed, and the
    pacing its input carried."""
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import Client

    async def read() -> list[dict[str, Any]]:
        client = await Client.connect(address)
        history = await client.get_workflow_handle(run_id).fetch_history()
        shards: dict[int, dict[str, Any]] = {}
        for e in history.events:
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = e.activity_task_scheduled_event_attributes
                if attrs.activity_type.name == "revoke.shard":
                    payload = json.loads(attrs.input.payloads[0].data)
                    shards[e.event_id] = {"scheduled": e.event_time.ToDatetime(), "pacing": payload.get("pacing")}
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                attrs = e.activity_task_started_event_attributes
                if attrs.scheduled_event_id in shards:
                    shards[attrs.scheduled_event_id].update(started=e.event_time.ToDatetime(), attempt=attrs.attempt)
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                attrs = e.activity_task_completed_event_attributes
                if attrs.scheduled_event_id in shards:
                    shards[attrs.scheduled_event_id]["closed"] = e.event_time.ToDatetime()
        return [shards[k] for k in sorted(shards)]

    return asyncio.run(read())


def test_one_tenants_shards_spend_its_budget_one_at_a_time_carrying_the_rate_on(graph, graph_app, tmp_path,  # noqa: F811
                                                                                 workers, run_cli):  # noqa: F811
    tenant = _planned_tenant(graph, graph_app, tmp_path, run_cli)
    graph.rate_limit(RATE)
    w, run_id = _run_to_the_end(graph, workers, tenant, 3, "--shard-actions", "60")

    # the server's history: several shards, never two at once, each after the first carrying a learnt rate
    shards = _shard_activities(w.server.address, run_id)
    assert len(shards) >= 4, shards
    for before, after in zip(shards, shards[1:]):
        assert after["started"] >= before["closed"], (before, after)
    assert all(s["pacing"] and s["pacing"]["learnt"] > 0 for s in shards[1:]), shards

    # and the budget, from Graph's log: learnt once, at the start, then kept to (a shard that learnt it again
    # would send into a closed window at its start: each of those is a throttled burst of a $batch or more)
    log = graph.requests(graph_only=True)
    throttled = [r.at for r in log if r.status == 429]
    started = min(r.at for r in log)
    late = [t for t in throttled if t - started > 5.0]
    assert len(throttled) <= 4 * 20 and len(late) <= 2 * 20, (len(throttled), [round(t - started, 1) for t in late])


def test_a_shard_throttled_mid_way_carries_on_without_reading_what_it_never_wrote(graph, graph_app, tmp_path,  # noqa: F811
                                                                                   workers, run_cli):  # noqa: F811
    # the attempt that was throttled saved where it was and stopped: the next attempt knows nothing past that was
    # written, so it writes on (re-reading what an attempt may have written is for one that died mid-batch)
    tenant = _planned_tenant(graph, graph_app, tmp_path, run_cli)
    leavers = tenant[1]
    graph.throttle(rf"^/users/{leavers[LEAVERS // 2]}$", method="PATCH", retry_after=1)
    _run_to_the_end(graph, workers, tenant, 1, "--shard-actions", "1000")

    log = graph.requests(in_batch=True)
    patches = [(r.path, r.status) for r in log if r.method == "PATCH"]
    assert (f"/users/{leavers[LEAVERS // 2]}", 429) in patches  # the shard was throttled, and retried
    # how often each leaver was read before its account was written: the check phase's reads only, the same
    # for every leaver (a retry that re-read batches it never wrote would read those leavers once more)
    reads_before_write: dict[str, int] = {}
    for u in leavers:
        first_write = next(i for i, r in enumerate(log) if r.method == "PATCH" and r.path == f"/users/{u}")
        reads_before_write[u] = sum(1 for r in log[:first_write] if r.method == "GET" and r.path == f"/users/{u}")
    assert len(set(reads_before_write.values())) == 1, {
        n: [i for i, u in enumerate(leavers) if reads_before_write[u] == n] for n in set(reads_before_write.values())}


def test_a_shard_throttled_in_more_batches_than_max_attempts_still_finishes_each(graph, graph_app, tmp_path,  # noqa: F811
                                                                                  workers, run_cli):  # noqa: F811
    # max_attempts bounds each action, as in `revoke apply`: a shard whose batches are each throttled once is
    # retried once per batch, never failed for having been throttled five times in all
    tenant = _planned_tenant(graph, graph_app, tmp_path, run_cli)
    for k in range(7):  # one leaver in each engine batch of 60 actions (20 leavers): 7 throttled batches
        graph.throttle(rf"^/users/{tenant[1][5 + 18 * k]}$", method="PATCH", retry_after=1)
    w, run_id = _run_to_the_end(graph, workers, tenant, 1, "--shard-actions", "1000")
    throttled = [r for r in graph.requests(in_batch=True) if r.status == 429 and r.method == "PATCH"]
    [shard] = _shard_activities(w.server.address, run_id)
    assert len(throttled) == 7 and shard["attempt"] > 5, (len(throttled), shard)  # more than max_attempts in all
