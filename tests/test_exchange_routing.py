"""The Graph connectors hand what Graph cannot change to the runbook's `exchange-online` system: a leaver's
membership of a distribution list or mail-enabled security group is removed in Exchange Online, and the Graph
system's plan line says where (routing declared by the connectors, revoke.planner._route)."""

# ruff: noqa: F811 - fixtures imported from tests/*_env.py are the tests' parameters
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from revoke.sandbox.exchange import ExchangeFake
from revoke.sandbox.graph import GraphFake
from tests.conftest import write_runbook, yesterday
from tests.exchange_env import exo, exo_system  # noqa: F401
from tests.graph_env import graph, graph_app, graph_system  # noqa: F401


@pytest.fixture
def tenant(graph: GraphFake, exo: ExchangeFake, graph_app: tuple[str, str],
           monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    exo.grant(graph_app[0])  # one app registration for Graph and Exchange
    monkeypatch.setenv("REVOKE_EXO_SECRET", graph_app[1])
    ann = graph.add_user("ann@contoso.test", "Ann")
    carl = graph.add_user("carl@contoso.test", "Carl")
    dl = graph.add_group("All staff", kind="distribution", mail="allstaff@contoso.test", members=(ann, carl))
    mesg = graph.add_group("Finance", kind="mail-security", mail="finance@contoso.test", members=(ann,))
    x_ann = exo.add_mailbox("ann@contoso.test", "Ann", external_id=ann)
    x_carl = exo.add_mailbox("carl@contoso.test", "Carl", external_id=carl)
    x_dl = exo.add_list("All staff", "allstaff@contoso.test", members=(x_ann, x_carl), external_id=dl)
    x_mesg = exo.add_list("Finance", "finance@contoso.test", members=(x_ann,), security=True, external_id=mesg)
    return {"ann": ann, "dl": dl, "mesg": mesg, "x_ann": x_ann, "x_carl": x_carl, "x_dl": x_dl, "x_mesg": x_mesg}


def runbook(tmp_path: Path, graph: GraphFake, exo: ExchangeFake, app: str, connector: str,
            with_exchange: bool = True) -> Path:
    systems = {"ms": graph_system(graph, app, connector=connector)}
    if with_exchange:
        systems["exo"] = exo_system(exo, app)
    return write_runbook(tmp_path / "acme.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(), "systems": systems,
        "people": [{"name": "Ann", "ids": {"ms": "ann@contoso.test"}}],
        "lists": [{"system": "ms", "id": "allstaff@contoso.test"}] if connector == "m365-groups" else []})


@pytest.mark.parametrize("connector", ["entra", "m365-groups"])
def test_needs_exchange_memberships_are_carried_out_in_exchange(connector: str, graph: GraphFake,
                                                                exo: ExchangeFake,
                                                                graph_app: tuple[str, str],
                                                                tenant: dict[str, Any], tmp_path: Path,
                                                                run_cli: Any) -> None:
    path = runbook(tmp_path, graph, exo, graph_app[0], connector)
    out = tmp_path / "plan.json"
    result = run_cli("--quiet", "plan", str(path), "--out", str(out))
    assert result.exit_code == 2, result.output
    actions = json.loads(out.read_text())["plan"]["actions"]
    routed = [a for a in actions if a["system"] == "ms" and a["resource"] == tenant["dl"]]
    assert routed and all(a["outcome"] == "routed" and "through system exo" in a["note"] for a in routed), routed
    there = {(a["kind"], a["resource"], a["principal"]): a for a in actions if a["system"] == "exo"}
    assert there[("remove-list-member", tenant["x_dl"], tenant["x_ann"])]["status"] == "change"
    applied = run_cli("--quiet", "apply", str(out), "--yes")
    assert applied.exit_code in (0, 3), applied.output
    assert exo.members(tenant["x_dl"]) == [tenant["x_carl"]]   # gone from the list, in Exchange
    assert exo.members(tenant["x_mesg"]) == []                  # and from every other list she was in
    assert tenant["ann"] in graph.members(tenant["dl"])        # Graph never wrote (read-only there)


def test_without_an_exchange_system_the_step_stays_a_manual_one(graph: GraphFake, exo: ExchangeFake,
                                                                graph_app: tuple[str, str],
                                                                tenant: dict[str, Any], tmp_path: Path,
                                                                run_cli: Any) -> None:
    path = runbook(tmp_path, graph, exo, graph_app[0], "entra", with_exchange=False)
    out = tmp_path / "plan.json"
    run_cli("--quiet", "plan", str(path), "--out", str(out))
    dl = next(a for a in json.loads(out.read_text())["plan"]["actions"] if a["resource"] == tenant["dl"])
    assert dl["outcome"] == "attention" and "Remove-DistributionGroupMember" in dl["note"]
    assert "no exchange-online system" in dl["note"] and exo.calls == []


def test_graph_and_exchange_share_one_sign_in_per_resource(graph: GraphFake, exo: ExchangeFake,
                                                           graph_app: tuple[str, str], tenant: dict[str, Any],
                                                           tmp_path: Path, run_cli: Any) -> None:
    path = runbook(tmp_path, graph, exo, graph_app[0], "entra")
    assert run_cli("--quiet", "plan", str(path)).exit_code == 2
    tokens = [r for r in graph.requests(graph_only=False) if r.path.endswith("/oauth2/v2.0/token")]
    # one token for Graph and one for Exchange, from the shared cache, whatever the phases and systems
    assert len(tokens) == 2, tokens
    assert set(graph.audiences.values()) == {graph.origin, exo.base_url}


def test_permissions_name_manage_as_app_and_the_exchange_roles(graph: GraphFake, exo: ExchangeFake,
                                                               graph_app: tuple[str, str], tmp_path: Path,
                                                               run_cli: Any) -> None:
    result = run_cli("permissions", str(runbook(tmp_path, graph, exo, graph_app[0], "entra")))
    assert result.exit_code == 0, result.output
    text = result.output.split("# exo (exchange-online")[1]
    for needed in ("Exchange.ManageAsApp", "Exchange role: Distribution Groups", "Exchange role: Mail Recipients",
                   "Exchange role: View-Only Recipients", "New-ManagementRoleAssignment"):
        assert needed in text
