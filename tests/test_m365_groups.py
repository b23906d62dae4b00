"""The `m365-groups` connector end to end through the CLI, against the Graph fake: teams archived, leavers and
guests removed, Microsoft 365 lists deleted (restorable) or emptied, mail-only lists flagged for Exchange Online."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from revoke.evidence import read_records
from revoke.sandbox.graph import GraphFake
from tests.conftest import write_runbook, yesterday
from tests.graph_env import bare_member_deletes, graph, graph_app, graph_system  # noqa: F401

GUEST = "pat_partner.example#EXT#@contoso.test"


@pytest.fixture
def lists(graph: GraphFake, graph_app: tuple[str, str], tmp_path: Path) -> dict[str, Any]:
    ann = graph.add_user("ann@contoso.test")
    bob = graph.add_user("bob@contoso.test")
    carl = graph.add_user("carl@contoso.test")       # stays, owns the team
    dave = graph.add_user("dave@contoso.test")       # stays, but is in the list that gets emptied
    guest = graph.add_user(GUEST, guest=True)
    team = graph.add_group("Acme team", kind="m365", team=True, owners=(carl,), members=(ann, carl, guest))
    mailing = graph.add_group("Acme list", kind="m365", mail="acme-list@contoso.test", members=(ann, carl),
                              owners=(carl,))
    empty = graph.add_group("Acme war room", kind="m365", members=(ann, carl, dave), owners=(carl,))
    dl = graph.add_group("Acme DL", kind="distribution", mail="acme-dl@contoso.test", members=(ann, bob))
    dyn = graph.add_group("Acme dynamic", kind="dynamic", members=(ann,))
    orphan = graph.add_group("Acme orphan team", kind="m365", team=True, members=(ann,))
    sec = graph.add_group("Acme security", members=(bob, carl))
    missing = str(uuid.uuid4())
    runbook = write_runbook(tmp_path / "acme.yaml", {
        "engagement": "acme-2026",
        "final_day": yesterday(),
        "systems": {"m365": graph_system(graph, graph_app[0], connector="m365-groups")},
        "people": [{"name": "Ann", "ids": {"m365": "ann@contoso.test"}},
                   {"name": "Bob", "ids": {"m365": "bob@contoso.test"}}],
        "lists": [
            {"system": "m365", "id": team, "options": {"guests": True}},
            {"system": "m365", "id": "acme-list@contoso.test", "close": "delete"},
            {"system": "m365", "id": empty, "close": "empty"},
            {"system": "m365", "id": dl},
            {"system": "m365", "id": dyn},
            {"system": "m365", "id": orphan, "close": "archive"},
            {"system": "m365", "id": sec},
            {"system": "m365", "id": missing},
        ],
    })
    return {"runbook": runbook, "dir": tmp_path, "app": graph_app, "ann": ann, "bob": bob, "carl": carl,
            "dave": dave, "guest": guest, "team": team, "mailing": mailing, "empty": empty, "dl": dl, "dyn": dyn,
            "orphan": orphan, "sec": sec, "missing": missing}


def make_plan(run_cli: Any, lists: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    out = lists["dir"] / "plan.json"
    result = run_cli("--quiet", "plan", str(lists["runbook"]), "--out", str(out))
    return result, json.loads(out.read_text())["plan"]


def apply_json(run_cli: Any, source: Path) -> tuple[Any, list[dict[str, Any]]]:
    result = run_cli("--quiet", "--output", "json", "apply", str(source), "--yes")
    run_dir = Path(json.loads(result.output)["run_dir"])
    return result, [r for r in read_records(run_dir) if r["type"] == "action"]


def test_plan_shows_each_list_and_what_needs_a_person(lists: dict[str, Any], graph: GraphFake,
                                                      run_cli: Any) -> None:
    result, p = make_plan(run_cli, lists)
    assert result.exit_code == 2, result.output
    changes = {(a["kind"], a["resource"], a["principal"]) for a in p["actions"] if a["status"] == "change"}
    assert changes == {
        ("archive-team", lists["team"], None),
        ("remove-member", lists["team"], lists["ann"]),
        ("remove-member", lists["team"], lists["guest"]),
        ("delete-group", lists["mailing"], None),
        ("remove-member", lists["empty"], lists["ann"]),
        ("remove-member", lists["empty"], lists["dave"]),
        ("remove-member", lists["sec"], lists["bob"]),
    }
    final = {(a["kind"], a["resource"], a["principal"]): a for a in p["actions"] if a["status"] == "final"}
    dl = final[("remove-member", lists["dl"], lists["ann"])]
    assert dl["outcome"] == "attention" and "needs Exchange Online" in dl["note"]
    assert "Remove-DistributionGroupMember -Identity 'acme-dl@contoso.test' -Member 'ann@contoso.test'" in dl["note"]
    assert final[("remove-member", lists["dl"], lists["bob"])]["outcome"] == "attention"
    assert final[("remove-member", lists["dyn"], lists["ann"])]["outcome"] == "immutable"
    orphan = final[("archive-team", lists["orphan"], None)]
    assert orphan["outcome"] == "attention" and "no owner" in orphan["note"]
    assert any(n["resource"] == lists["missing"] and "not found" in n["message"] for n in p["notices"])
    delete = next(a for a in p["actions"] if a["kind"] == "delete-group")
    assert "restorable for 30 days" in delete["note"]
    assert not [r for r in graph.requests() if r.method in ("PATCH", "DELETE")]  # plan writes nothing


def test_apply_closes_the_lists(lists: dict[str, Any], graph: GraphFake, run_cli: Any) -> None:
    make_plan(run_cli, lists)
    result, records = apply_json(run_cli, lists["dir"] / "plan.json")
    assert result.exit_code == 3  # the DL and the orphan team need a person
    ann, carl = lists["ann"], lists["carl"]
    assert graph.team(lists["team"])["isArchived"] is True
    assert graph.members(lists["team"]) == [carl]                     # ann and the guest are gone
    assert graph.group(lists["mailing"]) is None and graph.deleted(lists["mailing"]) is not None
    assert graph.members(lists["empty"]) == [carl]                    # emptied, the owner stays
    assert graph.members(lists["sec"]) == [carl]
    assert graph.members(lists["dl"]) == [ann, lists["bob"]]          # read-only in Graph: untouched
    assert graph.team(lists["orphan"])["isArchived"] is False
    assert graph.user(ann) is not None and graph.user(lists["guest"]) is not None
    assert bare_member_deletes(graph) == []
    done = {(r["kind"], r["resource"], r["principal"]): r for r in records if r["outcome"] == "done"}
    assert len(done) == 7 and all(r["verification"] in ("verified", "absent") for r in done.values())
    deleted = done[("delete-group", lists["mailing"], None)]
    assert deleted["verification"] == "absent" and deleted["after"]["softDeleted"] is True
    until = dt.datetime.fromisoformat(deleted["after"]["restorableUntil"])
    assert dt.timedelta(days=29) < until - dt.datetime.now(dt.timezone.utc) <= dt.timedelta(days=30)
    assert "30 days" in deleted["receipt"]["note"]
    archived = done[("archive-team", lists["team"], None)]
    assert archived["after"] == {"isArchived": True} and "/operations(" in archived["receipt"]["operation"]


def test_replan_after_apply_is_empty(lists: dict[str, Any], run_cli: Any) -> None:
    make_plan(run_cli, lists)
    apply_json(run_cli, lists["dir"] / "plan.json")
    result, p = make_plan(run_cli, lists)
    assert "Plan: 0 to change" in result.output, result.output
    gone = next(a for a in p["actions"] if a["kind"] == "delete-group")
    assert gone["status"] == "noop" and gone["before"]["softDeleted"] is True


def test_archive_still_running_is_read_again_not_failed(lists: dict[str, Any], graph: GraphFake,
                                                        run_cli: Any) -> None:
    graph.directory.archive_polls = 3  # inProgress when apply and the first read-back look, then succeeded
    runbook = lists["runbook"]
    runbook.write_text(runbook.read_text().replace("instance_discovery: false",
                                                   "instance_discovery: false\n      async_poll_seconds: 0.2"))
    make_plan(run_cli, lists)
    _, records = apply_json(run_cli, lists["dir"] / "plan.json")
    archived = next(r for r in records if r["kind"] == "archive-team" and r["resource"] == lists["team"])
    assert archived["outcome"] == "done" and archived["verification"] == "verified"
    assert graph.team(lists["team"])["isArchived"] is True
    polls = [r for r in graph.requests() if r.method == "GET" and "/operations('" in r.path]
    assert len(polls) == 3


def test_restore_unarchives_readds_and_undeletes(lists: dict[str, Any], graph: GraphFake, run_cli: Any) -> None:
    make_plan(run_cli, lists)
    result = run_cli("--quiet", "--output", "json", "apply", str(lists["dir"] / "plan.json"))
    restored = run_cli("--quiet", "--output", "json", "restore", json.loads(result.output)["run_dir"], "--yes")
    assert restored.exit_code == 0, restored.output
    records = [r for r in read_records(Path(json.loads(restored.output)["run_dir"])) if r["type"] == "action"]
    assert len(records) == 7 and all(r["outcome"] == "done" and r["verification"] == "verified" for r in records)
    assert graph.team(lists["team"])["isArchived"] is False
    assert set(graph.members(lists["team"])) == {lists["ann"], lists["carl"], lists["guest"]}
    assert graph.group(lists["mailing"]) is not None and graph.deleted(lists["mailing"]) is None
    assert graph.members(lists["mailing"]) == [lists["ann"], lists["carl"]]
    assert set(graph.members(lists["empty"])) == {lists["ann"], lists["carl"], lists["dave"]}


def test_m365_groups_connector_conforms(graph: GraphFake, graph_app: tuple[str, str], tmp_path: Path) -> None:
    from revoke.testing import check_connector

    ann, carl = graph.add_user("ann@contoso.test"), graph.add_user("carl@contoso.test")
    guest = graph.add_user(GUEST, guest=True)
    team = graph.add_group("Acme team", kind="m365", team=True, owners=(carl,), members=(ann, carl, guest))
    mailing = graph.add_group("Acme list", kind="m365", mail="acme-list@contoso.test", members=(ann, carl))
    report = check_connector("m365-groups", graph_system(graph, graph_app[0], connector="m365-groups")["settings"],
                             people={"Ann": "ann@contoso.test"}, secrets={"graph_secret": graph_app[1]},
                             lists=[{"id": team, "options": {"guests": True}},
                                    {"id": "acme-list@contoso.test", "close": "delete"}],
                             server_state=graph.snapshot, workdir=tmp_path)
    assert sorted(a.kind for a in report.plan.changes()) == ["archive-team", "delete-group", "remove-member",
                                                             "remove-member"]
    assert graph.team(team)["isArchived"] is False and set(graph.members(team)) == {ann, carl, guest}
    assert graph.group(mailing) is not None
