"""The `entra` connector end to end through the CLI, against the Graph fake (msal gets a real token from it).

Each test checks what an administrator would check in the tenant, by asking the fake directly.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import trustme

from revoke.actions import Verification
from revoke.connectors.microsoft.entra import EntraConnector, RemoveGroupMembership
from revoke.evidence import read_records
from revoke.plan import Action, action_id, fingerprint
from revoke.sandbox.graph import GraphFake, thumbprint
from tests.conftest import write_runbook, yesterday
from tests.graph_env import bare_member_deletes, graph, graph_app, graph_connector, graph_system  # noqa: F401

WRITES = ("PATCH", "POST", "DELETE")


@pytest.fixture
def tenant(graph: GraphFake, graph_app: tuple[str, str], tmp_path: Path) -> dict[str, Any]:
    """Two leavers (one synced from AD), a colleague who stays, and every kind of access Graph knows."""
    ann = graph.add_user("ann@contoso.test", "Ann Leaver")
    bob = graph.add_user("bob@contoso.test", synced=True, sam="bob", dn="CN=Bob,OU=Staff,DC=corp,DC=test")
    carl = graph.add_user("carl@contoso.test")
    eng = graph.add_group("Engineering", members=(ann, bob, carl))
    m365 = graph.add_group("Acme project", kind="m365", members=(ann, carl), owners=(carl,))
    dl = graph.add_group("All staff", kind="distribution", mail="allstaff@contoso.test", members=(ann, carl))
    mesg = graph.add_group("Finance mail", kind="mail-security", members=(ann,))
    dyn = graph.add_group("Everyone in Eng", kind="dynamic", members=(ann, carl))
    owned = graph.add_group("Ann's group", owners=(ann,))
    sp, roles = graph.add_service_principal("Payroll", ("Reader", "Approver"))
    graph.assign_app_role(ann, sp, roles["Approver"])
    graph.assign_app_role(carl, sp, roles["Reader"])
    admin = graph.add_directory_role("User Administrator", members=(ann, carl))
    runbook = write_runbook(tmp_path / "acme.yaml", {
        "engagement": "acme-2026",
        "final_day": yesterday(),
        "systems": {"m365": graph_system(graph, graph_app[0])},
        "people": [{"name": "Ann Leaver", "ids": {"m365": "ann@contoso.test"}},
                   {"name": "Bob Synced", "ids": {"m365": "bob@contoso.test"}}],
    })
    return {"runbook": runbook, "dir": tmp_path, "ann": ann, "bob": bob, "carl": carl, "eng": eng, "m365": m365,
            "dl": dl, "mesg": mesg, "dyn": dyn, "owned": owned, "sp": sp, "roles": roles, "admin": admin,
            "app": graph_app}


def plan(run_cli: Any, tenant: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    out = tenant["dir"] / "plan.json"
    result = run_cli("--quiet", "plan", str(tenant["runbook"]), "--out", str(out))
    return result, json.loads(out.read_text())["plan"]


def apply_json(run_cli: Any, source: Path, *extra: str) -> tuple[Any, list[dict[str, Any]]]:
    result = run_cli("--quiet", "--output", "json", "apply", str(source), "--yes", *extra)
    run_dir = Path(json.loads(result.output)["run_dir"])
    return result, [r for r in read_records(run_dir) if r["type"] == "action"]


def test_plan_routes_what_graph_cannot_change(tenant: dict[str, Any], graph: GraphFake, run_cli: Any) -> None:
    result, p = plan(run_cli, tenant)
    assert result.exit_code == 2, result.output
    by = {(a["kind"], a["resource"], a["principal"]): a for a in p["actions"]}
    synced = by[("disable-account", tenant["bob"], None)]
    assert synced["status"] == "final" and synced["outcome"] == "attention"
    assert "disable in Active Directory" in synced["note"]
    assert synced["params"]["onPremisesSamAccountName"] == "bob"
    assert synced["params"]["onPremisesDistinguishedName"] == "CN=Bob,OU=Staff,DC=corp,DC=test"
    dl = by[("remove-group-member", tenant["dl"], tenant["ann"])]
    assert dl["outcome"] == "attention" and "needs Exchange Online" in dl["note"]
    assert "Remove-DistributionGroupMember -Identity 'allstaff@contoso.test' -Member 'ann@contoso.test'" in dl["note"]
    assert by[("remove-group-member", tenant["mesg"], tenant["ann"])]["outcome"] == "attention"
    assert by[("remove-group-member", tenant["dyn"], tenant["ann"])]["outcome"] == "immutable"
    assert by[("disable-account", tenant["ann"], None)]["status"] == "change"
    assert by[("revoke-sessions", tenant["ann"], None)]["status"] == "change"
    assert by[("revoke-sessions", tenant["bob"], None)]["status"] == "change"  # Graph can revoke a synced user's
    assert by[("remove-directory-role", tenant["admin"], tenant["ann"])]["status"] == "change"
    assert any(n["resource"] == tenant["owned"] and "owns group" in n["message"] for n in p["notices"])
    assert "needs Exchange Online" in result.output and "disable in Active Directory" in result.output


def test_plan_writes_nothing(tenant: dict[str, Any], graph: GraphFake, run_cli: Any) -> None:
    plan(run_cli, tenant)
    assert not [r for r in graph.requests() if r.method in ("PATCH", "DELETE")]
    assert all(r.path == "/$batch" for r in graph.requests() if r.method == "POST")
    assert graph.user(tenant["ann"])["accountEnabled"] is True
    assert tenant["ann"] in graph.members(tenant["eng"])


def test_apply_disables_and_strips_access(tenant: dict[str, Any], graph: GraphFake, run_cli: Any) -> None:
    ann, carl = tenant["ann"], tenant["carl"]
    started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    result, records = apply_json(run_cli, tenant["runbook"])
    assert result.exit_code == 3  # the synced user and the mail groups need a person
    user = graph.user(ann)
    assert user["accountEnabled"] is False
    revoked_at = dt.datetime.fromisoformat(user["signInSessionsValidFromDateTime"].replace("Z", "+00:00"))
    assert revoked_at >= started
    assert ann not in graph.members(tenant["eng"]) and ann not in graph.members(tenant["m365"])
    assert tenant["bob"] not in graph.members(tenant["eng"])
    assert graph.assignments_of(ann) == [] and ann not in graph.role_members(tenant["admin"])
    # untouched: what Graph cannot change, the synced account, and the colleague who stays
    assert ann in graph.members(tenant["dl"]) and ann in graph.members(tenant["dyn"])
    assert graph.user(tenant["bob"])["accountEnabled"] is True
    assert graph.user(carl)["accountEnabled"] is True and carl in graph.members(tenant["eng"])
    assert len(graph.assignments_of(carl)) == 1 and carl in graph.role_members(tenant["admin"])
    assert bare_member_deletes(graph) == []
    done = [r for r in records if r["outcome"] == "done"]
    assert len(done) == 8 and all(r["verification"] == "verified" for r in done)
    sessions = next(r for r in done if r["kind"] == "revoke-sessions" and r["resource"] == ann)
    assert sessions["after"]["signInSessionsValidFromDateTime"] == user["signInSessionsValidFromDateTime"]
    assert sessions["receipt"]["revokedAt"] and sessions["request_ids"][0].count("#") == 1
    assert all(r["operator"].startswith(f"app {tenant['app'][0]}") for r in records)
    attention = {r["resource"] for r in records if r["outcome"] == "attention"}
    assert attention == {tenant["bob"], tenant["dl"], tenant["mesg"]}


def test_residual_exposure_is_bounded_by_the_revocation_time(tenant: dict[str, Any], run_cli: Any) -> None:
    result = run_cli("--quiet", "--output", "json", "apply", str(tenant["runbook"]), "--yes")
    records = read_records(Path(json.loads(result.output)["run_dir"]))
    revoked = next(r for r in records if r["type"] == "action" and r["kind"] == "revoke-sessions"
                   and r["person"] == "Ann Leaver")
    exposure = next(r for r in records if r["type"] == "exposure" and r["person"] == "Ann Leaver")
    tokens = next(i for i in exposure["items"] if i["what"].startswith("Entra ID access tokens issued before the "
                                                                         "sign-in sessions were revoked"))
    until = dt.datetime.fromisoformat(tokens["until"])
    assert until - dt.datetime.fromisoformat(revoked["time"].replace("Z", "+00:00")) == dt.timedelta(minutes=90)
    bob = next(r for r in records if r["type"] == "exposure" and r["person"] == "Bob Synced")
    assert any("disable in Active Directory" in i["what"] and i["bound"] == "until a person acts"
               for i in bob["items"])


def test_replan_after_apply_is_empty(tenant: dict[str, Any], graph: GraphFake, run_cli: Any) -> None:
    apply_json(run_cli, tenant["runbook"])
    # the synced account is still enabled until AD disables it and sync carries that up: until then it can sign
    # in again, so a new plan rightly revokes its sessions again
    again = run_cli("--quiet", "plan", str(tenant["runbook"]))
    assert "Plan: 1 to change" in again.output and "revoke sign-in sessions of bob@" in again.output, again.output
    graph.directory.users[tenant["bob"]]["accountEnabled"] = False  # what AD Connect does after the AD disable
    again = run_cli("--quiet", "plan", str(tenant["runbook"]))
    assert "Plan: 0 to change" in again.output, again.output


def test_many_users_take_about_one_request_per_20(graph: GraphFake, graph_app: tuple[str, str], tmp_path: Path,
                                                  run_cli: Any) -> None:
    group = graph.add_group("Engagement")
    people = []
    for i in range(40):
        uid = graph.add_user(f"leaver{i:02}@contoso.test")
        graph.add_member(group, uid)
        people.append({"name": f"Leaver {i:02}", "ids": {"m365": f"leaver{i:02}@contoso.test"}})
    runbook = write_runbook(tmp_path / "big.yaml", {
        "engagement": "big-2026", "final_day": yesterday(),
        "systems": {"m365": {**graph_system(graph, graph_app[0]), "blast_radius": 100}}, "people": people})
    result = run_cli("--quiet", "plan", str(runbook), "--out", str(tmp_path / "plan.json"))
    assert result.exit_code == 2
    # discovery: 40 user lookups, then memberOf, app roles and owned objects of each (120), all in $batches
    assert len(graph.requests(in_batch=False)) == math.ceil(40 / 20) + math.ceil(120 / 20)
    graph.clear_log()
    result, records = apply_json(run_cli, tmp_path / "plan.json")
    assert result.exit_code == 0 and len(records) == 120 and {r["outcome"] for r in records} == {"done"}
    writes = [r for r in graph.requests() if r.method in WRITES and r.path != "/$batch"]
    assert len(writes) == 120 and all(r.in_batch for r in writes)  # each change sent once, inside a $batch
    top = graph.requests(in_batch=False)
    batches = math.ceil(120 / 20)
    # writes in 6 batches; the re-read before and the read-backs after are batched too
    assert len([r for r in top if r.path == "/$batch"]) == len(top)
    assert len(top) <= 3 * batches + 2, len(top)


def test_throttled_run_finishes_every_action_once(graph: GraphFake, graph_app: tuple[str, str], tmp_path: Path,
                                                  run_cli: Any, fake_clock: Any) -> None:
    group = graph.add_group("Engagement")
    people, ids = [], []
    for i in range(8):
        uid = graph.add_user(f"leaver{i}@contoso.test")
        graph.add_member(group, uid)
        ids.append(uid)
        people.append({"name": f"Leaver {i}", "ids": {"m365": f"leaver{i}@contoso.test"}})
    runbook = write_runbook(tmp_path / "t.yaml", {"engagement": "t-2026", "final_day": yesterday(),
                                                   "systems": {"m365": graph_system(graph, graph_app[0])},
                                                   "people": people})
    run_cli("--quiet", "plan", str(runbook), "--out", str(tmp_path / "plan.json"))
    graph.clock = fake_clock.monotonic  # Graph's window moves only when revoke waits: no real sleep
    graph.rate_limit(20)
    result, records = apply_json(run_cli, tmp_path / "plan.json")
    graph.rate_limit(None)
    assert result.exit_code == 0, [r["error"] for r in records if r["outcome"] != "done"]
    assert len(records) == 24 and all(r["outcome"] == "done" for r in records)
    assert any(r.status == 429 for r in graph.requests())  # it was throttled
    applied = [r for r in graph.requests() if r.method in WRITES and r.path != "/$batch" and r.status < 300]
    assert len(applied) == 24 and len({(r.method, r.path) for r in applied}) == 24  # each change exactly once
    assert graph.members(group) == [] and not any(graph.user(u)["accountEnabled"] for u in ids)


def test_sub_request_applied_but_throttled_ends_verified(tenant: dict[str, Any], graph: GraphFake,
                                                         run_cli: Any, fake_clock: Any) -> None:
    eng_ref = rf"^/groups/{tenant['eng']}/members/{tenant['ann']}/\$ref$"
    graph.throttle(eng_ref, method="DELETE", applied=True, retry_after=1)
    result, records = apply_json(run_cli, tenant["runbook"])
    rec = next(r for r in records if r["kind"] == "remove-group-member" and r["resource"] == tenant["eng"]
               and r["principal"] == tenant["ann"])
    assert rec["outcome"] == "done" and rec["verification"] == "verified" and rec["error"] == ""
    sent = [r for r in graph.requests() if r.method == "DELETE" and re.match(eng_ref, r.path)]
    assert [r.status for r in sent] == [429]  # read back as done: not sent again
    assert tenant["ann"] not in graph.members(tenant["eng"])


def test_a_refused_write_fails_alone_and_names_the_permission(tenant: dict[str, Any], graph: GraphFake,
                                                              run_cli: Any) -> None:
    graph.throttle(rf"^/directoryRoles/{tenant['admin']}/members/", method="DELETE", status=403)
    result, records = apply_json(run_cli, tenant["runbook"])
    assert result.exit_code == 3
    failed = [r for r in records if r["outcome"] == "failed"]
    assert [r["kind"] for r in failed] == ["remove-directory-role"]
    assert "RoleManagement.ReadWrite.Directory" in failed[0]["error"] and failed[0]["attempts"] == 1
    assert tenant["ann"] in graph.role_members(tenant["admin"])
    assert graph.user(tenant["ann"])["accountEnabled"] is False  # the rest of the batch was done


def test_wrong_object_id_is_never_reported_removed(tenant: dict[str, Any], graph: GraphFake) -> None:
    conn = graph_connector(graph, EntraConnector, *tenant["app"])
    wrong_group, wrong_user = str(uuid.uuid4()), str(uuid.uuid4())
    actions = [_membership(wrong_group, tenant["ann"]), _membership(tenant["eng"], wrong_user)]
    answers = conn.apply_many(actions)
    states = conn.read_back(actions)
    for a in actions:
        assert not RemoveGroupMembership.is_done(states[a.id])
        assert RemoveGroupMembership.verification(states[a.id]) == Verification.FAILED
        assert getattr(answers[a.id], "detail", {}).get("status") == 404
    assert tenant["ann"] in graph.members(tenant["eng"])


def test_group_deleted_after_plan_makes_the_plan_stale(tenant: dict[str, Any], graph: GraphFake,
                                                       run_cli: Any) -> None:
    plan(run_cli, tenant)
    graph.directory.handle("DELETE", f"/groups/{tenant['eng']}", {}, None)
    refused = run_cli("--quiet", "apply", str(tenant["dir"] / "plan.json"))
    assert refused.exit_code == 1 and "no longer match" in refused.stderr
    result, records = apply_json(run_cli, tenant["dir"] / "plan.json", "--skip-stale")
    gone = [r for r in records if r["resource"] == tenant["eng"]]
    assert gone and all(r["outcome"] == "skipped_stale" for r in gone)
    assert result.exit_code == 3


def test_restore_reenables_and_readds(tenant: dict[str, Any], graph: GraphFake, run_cli: Any) -> None:
    result = run_cli("--quiet", "--output", "json", "apply", str(tenant["runbook"]), "--yes")
    run_dir = json.loads(result.output)["run_dir"]
    restored = run_cli("--quiet", "--output", "json", "restore", run_dir, "--yes")
    assert restored.exit_code == 3, restored.output  # revoked sessions cannot be restored: said, not hidden
    records = [r for r in read_records(Path(json.loads(restored.output)["run_dir"])) if r["type"] == "action"]
    assert {r["outcome"] for r in records if r["kind"] != "revoke-sessions"} == {"done"}
    assert all(r["verification"] == "verified" for r in records if r["outcome"] == "done")
    sessions = [r for r in records if r["kind"] == "revoke-sessions"]
    assert sessions and all(r["outcome"] == "attention" for r in sessions)
    ann = tenant["ann"]
    assert graph.user(ann)["accountEnabled"] is True
    assert ann in graph.members(tenant["eng"]) and ann in graph.members(tenant["m365"])
    assert tenant["bob"] in graph.members(tenant["eng"]) and ann in graph.role_members(tenant["admin"])
    assert [x["appRoleId"] for x in graph.assignments_of(ann)] == [tenant["roles"]["Approver"]]


def test_certificate_credential_gets_a_token(graph: GraphFake, monkeypatch: pytest.MonkeyPatch) -> None:
    cert = graph.ca.issue_cert("revoke-app", key_type=trustme.KeyType.RSA)  # msal signs with RS256
    client_id, _ = graph.add_app(certificate_pem=cert.cert_chain_pems[0].bytes())
    monkeypatch.setenv("REVOKE_GRAPH_KEY", cert.private_key_pem.bytes().decode())
    from pydantic import SecretStr

    from revoke.connector import RunContext
    from revoke.secrets import Secrets

    settings = EntraConnector.Settings.model_validate({
        **{k: v for k, v in graph_system(graph, client_id)["settings"].items() if k != "client_secret"},
        "certificate_key": {"secret": "graph_key"},
        "certificate_thumbprint": thumbprint(cert.cert_chain_pems[0].bytes())})
    conn = EntraConnector("m365", settings, Secrets({"graph_key": SecretStr(cert.private_key_pem.bytes().decode())}),
                          RunContext("t", dt.datetime.now(dt.timezone.utc)))
    identity = conn.connect()
    assert identity.detail["app_id"] == client_id
    wrong = graph.ca.issue_cert("someone-else", key_type=trustme.KeyType.RSA)
    bad = EntraConnector("m365", settings, Secrets({"graph_key": SecretStr(wrong.private_key_pem.bytes().decode())}),
                         RunContext("t", dt.datetime.now(dt.timezone.utc)))
    with pytest.raises(Exception, match="refused the app's credentials"):
        bad.connect()


def _membership(group: str, user: str) -> Action:
    before = {"member": True}
    return Action(id=action_id("m365", "remove-group-member", group, user), system="m365", connector="entra",
                  kind="remove-group-member", item=3, resource=group, principal=user, before=before,
                  fingerprint=fingerprint(before), status="change")


def test_entra_connector_conforms(graph: GraphFake, graph_app: tuple[str, str], tmp_path: Path) -> None:
    from revoke.testing import check_connector

    ann = graph.add_user("ann@contoso.test")
    carl = graph.add_user("carl@contoso.test")
    eng = graph.add_group("Engineering", members=(ann, carl))
    sp, roles = graph.add_service_principal("Payroll", ("Reader",))
    graph.assign_app_role(ann, sp, roles["Reader"])
    admin = graph.add_directory_role("Helpdesk Administrator", members=(ann,))
    report = check_connector("entra", graph_system(graph, graph_app[0])["settings"],
                             people={"Ann Leaver": "ann@contoso.test"}, secrets={"graph_secret": graph_app[1]},
                             server_state=graph.snapshot, workdir=tmp_path)
    assert sorted(a.kind for a in report.plan.changes()) == ["disable-account", "remove-app-role",
                                                             "remove-directory-role", "remove-group-member",
                                                             "revoke-sessions"]
    # restored at the end of the suite
    assert graph.user(ann)["accountEnabled"] is True and ann in graph.members(eng) and ann in graph.role_members(admin)
