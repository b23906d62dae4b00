"""A run against Graph's rate limit, and the one-read-per-user read-back, checked in the Graph fake's own state and
request log (what an administrator would see in the tenant and in Graph's activity)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from revoke.connectors.microsoft.entra import EntraConnector
from revoke.evidence import read_records
from revoke.runtime import FakeClock
from revoke.sandbox.graph import GraphFake
from tests.conftest import write_runbook, yesterday
from tests.graph_env import graph, graph_app, graph_connector, graph_system  # noqa: F401
from tests.test_entra import _membership


def test_a_rate_limited_run_ends_right_with_few_throttled_requests(graph: GraphFake, graph_app: tuple[str, str],
                                                                   tmp_path: Path, run_cli: Any,
                                                                   fake_clock: FakeClock) -> None:
    groups = [graph.add_group(f"Project {g}") for g in range(3)]
    stayer = graph.add_user("stays@contoso.test")
    for gid in groups:
        graph.add_member(gid, stayer)
    people, leavers = [], []
    for i in range(90):
        uid = graph.add_user(f"leaver{i}@contoso.test")
        graph.add_member(groups[i % 3], uid)
        leavers.append(uid)
        people.append({"name": f"Leaver {i}", "ids": {"m365": f"leaver{i}@contoso.test"}})
    system = {**graph_system(graph, graph_app[0]), "blast_radius": 100}
    runbook = write_runbook(tmp_path / "t.yaml", {"engagement": "t-2026", "final_day": yesterday(),
                                                   "systems": {"m365": system}, "people": people})
    run_cli("--quiet", "plan", str(runbook), "--out", str(tmp_path / "plan.json"))
    graph.clear_log()
    graph.clock = fake_clock.monotonic  # Graph's window moves only when revoke waits: no real sleep
    graph.rate_limit(200)  # 200 requests a second, each one inside a $batch counting
    result = run_cli("--quiet", "--output", "json", "apply", str(tmp_path / "plan.json"), "--yes")
    graph.rate_limit(None)
    records = [r for r in read_records(Path(json.loads(result.output)["run_dir"])) if r["type"] == "action"]
    assert result.exit_code == 0, [r["error"] for r in records if r["outcome"] != "done"]
    assert len(records) == 270 and {r["outcome"] for r in records} == {"done"}
    assert not any(graph.user(u)["accountEnabled"] for u in leavers)
    assert all(graph.members(g) == [stayer] for g in groups)
    assert graph.user(stayer)["accountEnabled"] is True
    subs = graph.requests(in_batch=True)
    throttled = [r for r in subs if r.status == 429]
    assert throttled  # the limit was reached: the bucket holds one second of requests, the run needs about 3
    # When each of the four threads found the closed window by sending into it (the client before the pacer),
    # 1,419 of 1,951 sub-requests came back 429 here and actions failed; the shared pacer holds every thread
    # until the Retry-After and then keeps below the rate Graph accepted (51 of 544 when measured).
    assert len(throttled) <= 0.15 * len(subs), (len(throttled), len(subs))


def test_read_back_reads_the_whole_member_list_when_expand_may_have_cut_it(
        graph: GraphFake, graph_app: tuple[str, str]) -> None:
    ann = graph.add_user("ann@contoso.test")
    groups = [graph.add_group(f"Team {g:02d}", members=(ann,)) for g in range(25)]
    last = groups[-1]  # beyond the 20 objects that $expand=memberOf answers with
    conn = graph_connector(graph, EntraConnector, *graph_app)
    action = _membership(last, ann)
    assert conn.read_back([action])[action.id] == {"member": True}  # still a member: never read as removed
    graph.clear_log()
    with graph.directory.lock:
        graph.directory.members[last].remove(ann)
    assert conn.read_back([action])[action.id] == {"member": False}
    paged = [r for r in graph.requests(in_batch=True) if r.path == f"/users/{ann}/memberOf"]
    assert paged and all(r.status == 200 for r in paged)
    # the group was proven to exist by the first read-back; it is not read again in the same run
    assert not any(r.path == f"/groups/{last}" for r in graph.requests())


def test_read_back_of_a_short_member_list_takes_one_read_per_user(graph: GraphFake,
                                                                  graph_app: tuple[str, str]) -> None:
    ann = graph.add_user("ann@contoso.test")
    eng = graph.add_group("Engineering", members=(ann,))
    other = graph.add_group("Other")
    conn = graph_connector(graph, EntraConnector, *graph_app)
    stay, gone = _membership(eng, ann), _membership(other, ann)
    graph.clear_log()
    states = conn.read_back([stay, gone])
    assert states == {stay.id: {"member": True}, gone.id: {"member": False}}
    reads = graph.requests(in_batch=True)
    assert sorted(r.path for r in reads) == sorted([f"/users/{ann}", f"/groups/{eng}", f"/groups/{other}"])


def test_a_throttled_write_is_retried_once_its_retry_after_has_passed_not_twice_that(
        graph: GraphFake, graph_app: tuple[str, str], tmp_path: Path, run_cli: Any, fake_clock: FakeClock) -> None:
    # Retry-After counts from the answer; the read-back that follows is held until then by the pacer, so the
    # retry goes right after it: waiting the whole Retry-After again would double every throttle's cost
    uid = graph.add_user("leaver@contoso.test")
    system = graph_system(graph, graph_app[0])
    runbook = write_runbook(tmp_path / "t.yaml", {"engagement": "t-2026", "final_day": yesterday(),
                                                   "systems": {"m365": system},
                                                   "people": [{"name": "Leaver", "ids": {"m365": "leaver@contoso.test"}}]})
    run_cli("--quiet", "plan", str(runbook), "--out", str(tmp_path / "plan.json"))
    graph.clock = fake_clock.monotonic
    graph.throttle(rf"^/users/{uid}$", method="PATCH", retry_after=7)
    started = fake_clock.monotonic()
    result = run_cli("--quiet", "--output", "json", "apply", str(tmp_path / "plan.json"), "--yes")
    assert result.exit_code == 0, result.output
    assert graph.user(uid)["accountEnabled"] is False
    patches = [r.status for r in graph.requests(in_batch=True) if r.method == "PATCH"]
    assert patches == [429, 204]
    assert 7 <= fake_clock.monotonic() - started < 8, fake_clock.slept
