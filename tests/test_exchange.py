"""The `exchange-online` connector end to end through the CLI, against the Exchange Online fake: lists locked (and
restored) or deleted, leavers removed from every list, mailbox access and forwarding ended; judged on the fake's
state, read independently of revoke."""

# ruff: noqa: F811 - fixtures imported from tests/*_env.py are the tests' parameters
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from revoke.evidence import read_records
from revoke.sandbox.exchange import ExchangeFake
from tests.conftest import write_runbook, yesterday
from tests.exchange_env import exo, exo_app, exo_system  # noqa: F401
from tests.graph_env import graph  # noqa: F401


@pytest.fixture
def org(exo: ExchangeFake, exo_app: tuple[str, str], tmp_path: Path) -> dict[str, Any]:
    ann = exo.add_mailbox("ann@contoso.test", "Ann")
    bob = exo.add_mailbox("bob@contoso.test", "Bob")
    carl = exo.add_mailbox("carl@contoso.test", "Carl")
    support = exo.add_mailbox("support@contoso.test", "Support", shared=True, aliases=("helpdesk@contoso.test",))
    acme = exo.add_list("Acme DL", "acme-dl@contoso.test", members=(ann, bob, carl), owners=(carl,))
    old = exo.add_list("Acme old", "acme-old@contoso.test", members=(ann, carl))
    staff = exo.add_list("All staff", "allstaff@contoso.test", members=(ann, carl), security=True)
    synced = exo.add_list("Onprem DL", "onprem@contoso.test", members=(ann,), synced=True)
    exo.grant_full_access(support, ann)
    exo.grant_send_as(support, ann)
    exo.grant_send_on_behalf(support, bob)
    exo.set_forwarding(ann, "ann.private@example.net")
    outside = exo.add_inbox_rule(ann, "to home", redirect_to="ann@home.example")
    inside = exo.add_inbox_rule(ann, "to carl", forward_to="carl@contoso.test")
    runbook = write_runbook(tmp_path / "acme.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"exo": exo_system(exo, exo_app[0])},
        "people": [{"name": "Ann", "ids": {"exo": "ann@contoso.test"}},
                   {"name": "Bob", "ids": {"exo": "bob@contoso.test"}}],
        "lists": [{"system": "exo", "id": "acme-dl@contoso.test"},
                  {"system": "exo", "id": "acme-old@contoso.test", "close": "delete"}],
    })
    return {"runbook": runbook, "dir": tmp_path, "ann": ann, "bob": bob, "carl": carl, "support": support,
            "acme": acme, "old": old, "staff": staff, "synced": synced, "outside": outside, "inside": inside}


def make_plan(run_cli: Any, org: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    out = org["dir"] / "plan.json"
    result = run_cli("--quiet", "plan", str(org["runbook"]), "--out", str(out))
    return result, json.loads(out.read_text())["plan"] if out.exists() else {}


def apply_json(run_cli: Any, source: Path) -> tuple[Any, list[dict[str, Any]]]:
    result = run_cli("--quiet", "--output", "json", "apply", str(source), "--yes")
    run_dir = Path(json.loads(result.output)["run_dir"])
    return result, [r for r in read_records(run_dir) if r["type"] == "action"]


def test_plan_finds_lists_memberships_access_and_forwarding(org: dict[str, Any], exo: ExchangeFake,
                                                            run_cli: Any) -> None:
    result, p = make_plan(run_cli, org)
    assert result.exit_code == 2, result.output
    changes = {(a["kind"], a["resource"], a["principal"]) for a in p["actions"] if a["status"] == "change"}
    ann, bob = org["ann"], org["bob"]
    assert changes == {
        ("lock-distribution-list", org["acme"], None),
        ("remove-list-member", org["acme"], ann), ("remove-list-member", org["acme"], bob),
        ("delete-distribution-list", org["old"], None),
        ("remove-list-member", org["staff"], ann),
        ("remove-full-access", org["support"], ann), ("remove-send-as", org["support"], ann),
        ("remove-send-on-behalf", org["support"], bob),
        ("disable-mailbox-forwarding", ann, None), ("disable-inbox-rule", org["outside"], ann),
    }
    by = {(a["kind"], a["resource"], a["principal"]): a for a in p["actions"]}
    synced = by[("remove-list-member", org["synced"], ann)]
    assert synced["outcome"] == "attention" and "on-premises Active Directory" in synced["note"]
    assert "no active-directory system" in synced["note"]
    assert ("disable-inbox-rule", org["inside"], ann) not in by  # forwards inside the organisation: left alone
    delete = by[("delete-distribution-list", org["old"], None)]
    assert "not restorable" in delete["note"] and delete["params"]["members"] == ["ann@contoso.test",
                                                                                  "carl@contoso.test"]
    lock = by[("lock-distribution-list", org["acme"], None)]
    assert lock["params"]["senders"] == ["Carl"] and "only Carl may send" in lock["note"]
    assert exo.writes() == []  # plan writes nothing


def test_apply_closes_lists_and_ends_access(org: dict[str, Any], exo: ExchangeFake, run_cli: Any) -> None:
    make_plan(run_cli, org)
    result, records = apply_json(run_cli, org["dir"] / "plan.json")
    assert result.exit_code == 3, result.output  # the synced list needs AD
    ann, bob, carl, support = org["ann"], org["bob"], org["carl"], org["support"]
    acme = exo.recipient(org["acme"])
    assert acme["AcceptMessagesOnlyFromSendersOrMembers"] == ["Carl"]
    assert acme["HiddenFromAddressListsEnabled"] is True and acme["RequireSenderAuthenticationEnabled"] is True
    assert exo.members(org["acme"]) == [carl] and exo.members(org["staff"]) == [carl]
    assert exo.recipient(org["old"]) is None
    assert exo.members(org["synced"]) == [ann]  # refused here: AD's to change
    assert ann not in exo.full_access(support) and ann not in exo.send_as(support)
    assert exo.recipient(support)["GrantSendOnBehalfTo"] == []
    assert exo.recipient(ann)["ForwardingSmtpAddress"] is None
    rules = {r["Identity"]: r["Enabled"] for r in exo.rules(ann)}
    assert rules == {org["outside"]: False, org["inside"]: True}
    assert all(c.parameters.get("BypassSecurityGroupManagerCheck") is True for c in exo.writes()
               if "DistributionGroup" in c.cmdlet)
    done = [r for r in records if r["outcome"] == "done"]
    assert len(done) == 10 and all(r["verification"] in ("verified", "absent") for r in done)
    assert bob is not None


def test_replan_after_apply_changes_nothing(org: dict[str, Any], run_cli: Any) -> None:
    make_plan(run_cli, org)
    apply_json(run_cli, org["dir"] / "plan.json")
    result, _ = make_plan(run_cli, org)
    assert "Plan: 0 to change" in result.output, result.output


def test_restore_brings_back_everything_but_the_deleted_list(org: dict[str, Any], exo: ExchangeFake,
                                                              run_cli: Any) -> None:
    before = exo.recipient(org["acme"])
    make_plan(run_cli, org)
    result = run_cli("--quiet", "--output", "json", "apply", str(org["dir"] / "plan.json"), "--yes")
    restored = run_cli("--quiet", "--output", "json", "restore", json.loads(result.output)["run_dir"], "--yes")
    records = [r for r in read_records(Path(json.loads(restored.output)["run_dir"])) if r["type"] == "action"]
    acme = exo.recipient(org["acme"])
    for key in ("AcceptMessagesOnlyFromSendersOrMembers", "HiddenFromAddressListsEnabled",
                "RequireSenderAuthenticationEnabled"):
        assert acme[key] == before[key]
    assert set(exo.members(org["acme"])) == {org["ann"], org["bob"], org["carl"]}
    assert org["ann"] in exo.full_access(org["support"]) and org["ann"] in exo.send_as(org["support"])
    assert exo.recipient(org["support"])["GrantSendOnBehalfTo"] == [org["bob"]]
    assert exo.recipient(org["ann"])["ForwardingSmtpAddress"] == "smtp:ann.private@example.net"
    assert all(r["Enabled"] for r in exo.rules(org["ann"]))
    assert exo.recipient(org["old"]) is None  # deleted lists do not come back
    assert not [r for r in records if r["outcome"] == "failed"], [r for r in records if r["outcome"] == "failed"]


def test_exchange_online_connector_conforms(exo: ExchangeFake, exo_app: tuple[str, str],
                                            tmp_path: Path) -> None:
    from revoke.testing import check_connector
    from tests.exchange_env import exo_settings

    ann = exo.add_mailbox("ann@contoso.test", "Ann")
    carl = exo.add_mailbox("carl@contoso.test", "Carl")
    support = exo.add_mailbox("support@contoso.test", "Support", shared=True)
    exo.add_list("Acme DL", "acme-dl@contoso.test", members=(ann, carl), owners=(carl,))
    exo.grant_full_access(support, ann)
    report = check_connector("exchange-online", exo_settings(exo, exo_app[0]), people={"Ann": "ann@contoso.test"},
                             secrets={"exo_secret": exo_app[1]}, lists=["acme-dl@contoso.test"],
                             server_state=exo.snapshot, workdir=tmp_path)
    assert sorted(a.kind for a in report.plan.changes()) == ["lock-distribution-list", "remove-full-access",
                                                             "remove-list-member"]


def test_a_lock_names_who_may_send_and_never_leaves_the_list_open_to_anyone(exo: ExchangeFake,
                                                                           exo_app: tuple[str, str],
                                                                           tmp_path: Path, run_cli: Any) -> None:
    ann = exo.add_mailbox("ann@contoso.test", "Ann")
    carl = exo.add_mailbox("carl@contoso.test", "Carl")
    named = exo.add_list("Named", "named@contoso.test", members=(ann,), owners=(ann,))
    orphan = exo.add_list("Orphan", "orphan@contoso.test", members=(ann,), owners=(ann,))  # its only owner leaves
    leavers_only = exo.add_list("Keep", "keep@contoso.test", members=(ann, carl))
    runbook = write_runbook(tmp_path / "acme.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(), "systems": {"exo": exo_system(exo, exo_app[0])},
        "people": [{"name": "Ann", "ids": {"exo": "ann@contoso.test"}}],
        "lists": [{"system": "exo", "id": "named@contoso.test", "options": {"senders": ["carl@contoso.test"]}},
                  {"system": "exo", "id": "orphan@contoso.test"},
                  {"system": "exo", "id": "keep@contoso.test", "close": "remove-leavers"},
                  {"system": "exo", "id": "keep@contoso.test", "close": "archive"}]})
    result, p = make_plan(run_cli, {"runbook": runbook, "dir": tmp_path})
    assert any("unknown close mode 'archive'" in n["message"] for n in p["notices"])
    stuck = next(a for a in p["actions"] if a["kind"] == "lock-distribution-list" and a["resource"] == orphan)
    assert stuck["outcome"] == "attention" and "anyone may send" in stuck["note"]
    assert not [a for a in p["actions"] if a["kind"] == "lock-distribution-list" and a["resource"] == leavers_only]
    apply_json(run_cli, tmp_path / "plan.json")
    assert exo.recipient(named)["AcceptMessagesOnlyFromSendersOrMembers"] == ["Carl"]
    assert exo.recipient(orphan)["AcceptMessagesOnlyFromSendersOrMembers"] == []  # untouched, left to a person
    assert exo.members(orphan) == [] and exo.members(leavers_only) == [carl]
