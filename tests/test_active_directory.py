"""The `active-directory` connector against a real Samba AD DC on loopback, through the CLI as a user runs it.

One throwaway domain per test session (provisioning takes seconds); each test seeds its own users and groups
under unique names, so tests do not see each other's changes. Every assertion asks the DC directly, as
Administrator, never through the connector.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from revoke.evidence import read_records
from revoke.sandbox.samba import (ACCOUNTDISABLE, DONT_EXPIRE_PASSWORD, NORMAL_ACCOUNT, SambaDC, runbook_settings, seed_engagement)
from revoke.sandbox.exchange import ExchangeFake
from revoke.sandbox.graph import GraphFake
from tests.conftest import write_runbook, yesterday
from tests.exchange_env import exo, exo_app, exo_system  # noqa: F401
from tests.graph_env import graph, graph_app, graph_system  # noqa: F401

pytestmark = pytest.mark.samba

NOT_DELEGATED = 0x100000  # an unrelated bit the disable must keep
DOMAIN_USERS_RID = "513"


def ad_system(dc: SambaDC, **extra: Any) -> dict[str, Any]:
    settings = {"url": f"ldaps://{dc.host}:{dc.port}", "bind_dn": dc.service.upn,  # type: ignore[attr-defined]
                "bind_password": {"secret": "corp_ad"}, "ca_file": str(dc.ca_file)}
    settings.update(extra)
    return {"connector": "active-directory", "settings": settings}


@pytest.fixture
def engagement(samba_dc: SambaDC, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A leaver in two security groups (one nested in a third), a distribution list the runbook closes and one it
    does not; a colleague who stays; a leaver already disabled; an OU for disabled accounts."""
    dc = samba_dc
    monkeypatch.setenv("REVOKE_CORP_AD", dc.service.password)  # type: ignore[attr-defined]
    n = secrets.token_hex(3)
    uac = NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD | NOT_DELEGATED
    alice = dc.add_user(f"alice-{n}", cn=f"Alice Leaver {n}", uac=uac, description="Contractor, Acme project")
    carol = dc.add_user(f"carol-{n}", cn=f"Carol Stays {n}")
    bob = dc.add_user(f"bob-{n}", uac=NORMAL_ACCOUNT | ACCOUNTDISABLE)
    eng = dc.add_group(f"eng-{n}", members=[alice.dn, carol.dn])
    ops = dc.add_group(f"ops-{n}", members=[alice.dn, bob.dn])
    staff = dc.add_group(f"all-staff-{n}", members=[eng])
    team_list = dc.add_group(f"team-{n}", security=False, universal=True, mail=f"team-{n}@corp.example.org",
                             members=[alice.dn, carol.dn])
    social = dc.add_group(f"social-{n}", security=False, mail=f"social-{n}@corp.example.org",
                          members=[alice.dn, carol.dn])
    disabled_ou = dc.add_ou(f"Disabled {n}")
    runbook = write_runbook(tmp_path / "acme.yaml", {
        "engagement": "acme-2026",
        "final_day": yesterday(),
        "systems": {"corp-ad": ad_system(dc, disabled_ou=disabled_ou, expire_account=True,
                                         stamp_description=True)},
        "people": [
            {"name": "Alice Leaver", "ids": {"corp-ad": alice.upn}},
            {"name": "Bob Gone", "ids": {"corp-ad": f"CORP\\{bob.sam}"}},
        ],
        "lists": [{"system": "corp-ad", "id": f"team-{n}@corp.example.org"}],
    })
    return {"dc": dc, "runbook": runbook, "dir": tmp_path, "alice": alice, "carol": carol, "bob": bob, "eng": eng,
            "ops": ops, "staff": staff, "list": team_list, "social": social, "disabled_ou": disabled_ou,
            "uac": uac, "n": n}


def apply(run_cli: Any, runbook: Path) -> dict[str, Any]:
    result = run_cli("--quiet", "--output", "json", "apply", str(runbook), "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.output)


def moved_dn(e: dict[str, Any]) -> str:
    return f"CN=Alice Leaver {e['n']},{e['disabled_ou']}"


def test_plan_shows_each_change_and_changes_nothing(engagement: dict[str, Any], run_cli: Any) -> None:
    dc, alice = engagement["dc"], engagement["alice"]
    result = run_cli("--quiet", "plan", str(engagement["runbook"]))
    assert result.exit_code == 2, result.output + result.stderr
    text = result.output
    assert "- disable account" in text and "- expire account now" in text
    assert f"- remove from eng-{engagement['n']}" in text and f"- remove from social-{engagement['n']}" in text
    assert f"- close distribution list team-{engagement['n']}" in text and "remove all 2 members" in text
    assert "= account already disabled" in text  # bob
    assert "primary group" in text  # Domain Users: reported, not removed
    assert f"all-staff-{engagement['n']} (through eng-{engagement['n']})" in text  # nested: reported only
    # a plan is read-only
    assert dc.can_bind(alice.upn, alice.password)
    assert dc.uac(alice.dn) == engagement["uac"]
    assert alice.dn.casefold() in dc.members(engagement["eng"])
    assert len(dc.members(engagement["list"])) == 2


def test_apply_disables_the_account_and_strips_memberships(engagement: dict[str, Any], run_cli: Any) -> None:
    e = engagement
    dc, alice, carol = e["dc"], e["alice"], e["carol"]
    run = apply(run_cli, e["runbook"])

    assert not dc.can_bind(alice.upn, alice.password)
    new_dn = moved_dn(e)
    assert dc.exists(new_dn) and not dc.exists(alice.dn)
    assert dc.uac(new_dn) == e["uac"] | ACCOUNTDISABLE  # every other bit unchanged
    for group in (e["eng"], e["ops"], e["social"]):
        assert new_dn.casefold() not in dc.members(group) and alice.dn.casefold() not in dc.members(group)
    assert dc.members(e["list"]) == set()  # the closed list is empty, carol included
    attrs = dc.read(new_dn, ["primaryGroupID", "description", "accountExpires"])
    assert attrs["primaryGroupID"] == [DOMAIN_USERS_RID]  # primary group untouched
    assert attrs["description"][0].startswith("disabled ") and run["run_id"] in attrs["description"][0]
    assert attrs["description"][0].endswith("| Contractor, Acme project")
    assert int(attrs["accountExpires"][0]) not in (0, 0x7FFFFFFFFFFFFFFF)
    # the colleague keeps her account and her other groups; the nested group keeps eng
    assert dc.can_bind(carol.upn, carol.password)
    assert carol.dn.casefold() in dc.members(e["eng"]) and carol.dn.casefold() in dc.members(e["social"])
    assert e["eng"].casefold() in dc.members(e["staff"])


def test_plan_after_apply_is_only_noops(engagement: dict[str, Any], run_cli: Any) -> None:
    apply(run_cli, engagement["runbook"])
    again = run_cli("--quiet", "--output", "json", "plan", str(engagement["runbook"]))
    assert again.exit_code == 0, again.output + again.stderr
    actions = json.loads(again.output)["plan"]["actions"]
    assert actions and {a["status"] for a in actions} <= {"noop", "final"}
    assert all(a["outcome"] == "immutable" for a in actions if a["status"] == "final")  # primary groups


def test_evidence_records_residual_kerberos_exposure(engagement: dict[str, Any], run_cli: Any) -> None:
    plan = run_cli("--quiet", "plan", str(engagement["runbook"]))
    assert "Kerberos tickets issued before the disable: up to 10 h after apply" in plan.output
    run = apply(run_cli, engagement["runbook"])
    everything = read_records(Path(run["run_dir"]))
    records = [r for r in everything if r["type"] == "action"]
    disable = next(r for r in records if r["kind"] == "disable-account" and r["person"] == "Alice Leaver")
    assert disable["outcome"] == "done" and disable["verification"] == "verified"
    assert disable["before"]["disabled"] is False and disable["after"]["disabled"] is True
    disabled_at = dt.datetime.fromisoformat(disable["receipt"]["disabled_at"].replace("Z", "+00:00"))
    exposure = next(r for r in everything if r["type"] == "exposure" and r["person"] == "Alice Leaver")
    kerberos = next(i for i in exposure["items"] if i["what"].startswith("Kerberos tickets"))
    until = dt.datetime.fromisoformat(kerberos["until"])
    assert dt.timedelta(hours=10) <= until - disabled_at <= dt.timedelta(hours=10, minutes=1)
    assert any(i["until"] is None and "logons already open" in i["what"] for i in exposure["items"])
    closed = next(r for r in records if r["kind"] == "close-distribution-list")
    assert len(closed["before"]["members"]) == 2 and closed["before"]["entry"]["mail"]
    assert closed["after"]["members"] == []


def test_restore_brings_the_user_back(engagement: dict[str, Any], run_cli: Any) -> None:
    e = engagement
    dc, alice = e["dc"], e["alice"]
    run = apply(run_cli, e["runbook"])
    assert not dc.can_bind(alice.upn, alice.password)

    restore_run(run_cli, e, run)

    assert dc.can_bind(alice.upn, alice.password)
    assert dc.exists(alice.dn)  # moved back
    assert dc.uac(alice.dn) == e["uac"]
    assert dc.read(alice.dn, ["description"])["description"] == ["Contractor, Acme project"]
    assert int(dc.read(alice.dn, ["accountExpires"])["accountExpires"][0]) in (0, 0x7FFFFFFFFFFFFFFF)
    for group in (e["eng"], e["ops"], e["social"]):
        assert alice.dn.casefold() in dc.members(group)
    assert dc.members(e["list"]) == {alice.dn.casefold(), e["carol"].dn.casefold()}


def restore_run(run_cli: Any, e: dict[str, Any], run: dict[str, Any]) -> None:
    """Undo an apply run from the before-states in its evidence, as an operator does."""
    result = run_cli("--quiet", "restore", run["run_id"], "--yes",
                     "--evidence-dir", str(e["dir"] / "evidence"))
    assert result.exit_code == 0, result.output + result.stderr


def test_delete_is_an_explicit_option_and_records_the_entry(samba_dc: SambaDC, tmp_path: Path, run_cli: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    dc = samba_dc
    monkeypatch.setenv("REVOKE_CORP_AD", dc.service.password)  # type: ignore[attr-defined]
    n = secrets.token_hex(3)
    member = dc.add_user(f"dave-{n}")
    dl = dc.add_group(f"old-list-{n}", security=False, mail=f"old-{n}@corp.example.org", members=[member.dn])
    secgroup = dc.add_group(f"admins-{n}", members=[member.dn])
    runbook = write_runbook(tmp_path / "lists.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(), "systems": {"corp-ad": ad_system(dc)},
        "people": [],
        "lists": [{"system": "corp-ad", "id": dl, "close": "delete"},
                  {"system": "corp-ad", "id": f"admins-{n}"}]})
    plan = run_cli("--quiet", "plan", str(runbook))
    assert "is a security group, not a distribution list" in plan.output + plan.stderr
    result = run_cli("--quiet", "--output", "json", "apply", str(runbook), "--yes")
    assert result.exit_code == 3, result.output  # done, but the refused security group needs a person
    assert not dc.exists(dl)
    assert member.dn.casefold() in dc.members(secgroup)  # the security group was not touched
    records = [r for r in read_records(Path(json.loads(result.output)["run_dir"])) if r["type"] == "action"]
    deleted = next(r for r in records if r["kind"] == "delete-distribution-list")
    assert deleted["outcome"] == "done" and deleted["verification"] == "absent"
    assert deleted["before"]["members"] == [member.dn]
    assert deleted["before"]["entry"]["mail"] == [f"old-{n}@corp.example.org"]


def test_bind_without_tls_is_refused_with_a_plain_message(engagement: dict[str, Any], run_cli: Any) -> None:
    e = engagement
    runbook = write_runbook(e["dir"] / "plain.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"corp-ad": ad_system(e["dc"], url=f"ldap://{e['dc'].host}:389", start_tls=False,
                                         insecure=True)},
        "people": [{"name": "Alice Leaver", "ids": {"corp-ad": e["alice"].upn}}]})
    result = run_cli("--quiet", "plan", str(runbook))
    text = result.output + result.stderr
    assert "refuses a simple bind without TLS" in text and "ldaps://" in text
    assert "plain LDAP without TLS" in text  # and the plan warned before trying


def test_starttls_works_and_unverified_tls_is_warned(engagement: dict[str, Any], run_cli: Any) -> None:
    e = engagement
    runbook = write_runbook(e["dir"] / "starttls.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"corp-ad": ad_system(e["dc"], url=f"ldap://{e['dc'].host}:389", start_tls=True),
                    "corp-ad-noverify": ad_system(e["dc"], tls_verify=False, ca_file=None)},
        "people": [{"name": "Alice Leaver", "ids": {"corp-ad": e["alice"].upn,
                                                    "corp-ad-noverify": e["alice"].sam}}]})
    result = run_cli("--quiet", "--output", "json", "plan", str(runbook))
    assert result.exit_code == 2, result.output + result.stderr
    plan = json.loads(result.output)["plan"]
    systems = {s["name"]: s for s in plan["systems"]}
    assert systems["corp-ad"]["error"] is None and systems["corp-ad-noverify"]["error"] is None
    assert any("tls_verify is false" in w for w in systems["corp-ad-noverify"]["warnings"])
    assert not systems["corp-ad"]["warnings"]
    disables = [a for a in plan["actions"] if a["kind"] == "disable-account"]
    assert {a["system"] for a in disables} == {"corp-ad", "corp-ad-noverify"}


def test_the_bind_account_and_built_in_accounts_are_never_acted_on(engagement: dict[str, Any],
                                                                    run_cli: Any) -> None:
    e = engagement
    dc, svc = e["dc"], e["dc"].service
    runbook = write_runbook(e["dir"] / "self.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(), "systems": {"corp-ad": ad_system(dc)},
        "people": [{"name": "The tool itself", "ids": {"corp-ad": svc.sam}},
                   {"name": "Built-in admin by mistake", "ids": {"corp-ad": "Administrator"}}]})
    result = run_cli("--quiet", "apply", str(runbook), "--yes")
    assert "Plan: 0 to change" in result.output, result.output + result.stderr
    assert "the connector's own identity" in result.output
    assert "critical system object of the domain: revoke never disables it" in result.output
    assert dc.can_bind(svc.upn, svc.password)
    assert dc.can_bind(dc.admin_upn, dc.admin_password)
    assert dc.admin_dn.casefold() in dc.members(f"CN=Domain Admins,{dc.users_dn}")


def test_active_directory_connector_conforms(samba_dc: SambaDC, tmp_path: Path) -> None:
    """The conformance suite plugin authors run (revoke.testing), here against Samba AD. The state is every entry of
    this test's OU with uSNChanged, read as Administrator: any write to them changes it."""
    from revoke.testing import check_connector

    dc = samba_dc
    n = secrets.token_hex(3)
    ou = dc.add_ou(f"Conformance {n}")
    disabled = dc.add_ou(f"Disabled {n}")
    alice = dc.add_user(f"alice-c{n}", ou_dn=ou)
    carol = dc.add_user(f"carol-c{n}", ou_dn=ou)
    dc.add_group(f"eng-c{n}", members=[alice.dn, carol.dn], ou_dn=ou)
    team = dc.add_group(f"team-c{n}", security=False, mail=f"team-c{n}@corp.example.org",
                        members=[alice.dn, carol.dn], ou_dn=ou)

    def snapshot() -> dict[str, Any]:
        result = {}
        for base in (ou, disabled):
            dc.admin.search(base, "(objectClass=*)", attributes=["*", "uSNChanged"])
            result.update({e["dn"]: {k: sorted(map(repr, v)) for k, v in e["raw_attributes"].items()}
                           for e in dc.admin.response if e.get("type") == "searchResEntry"})
        return result

    settings = ad_system(dc, disabled_ou=disabled, expire_account=True, stamp_description=True)["settings"]
    report = check_connector("active-directory", settings, people={"Alice Leaver": alice.sam}, lists=[team],
                             secrets={"corp_ad": dc.service.password},  # type: ignore[attr-defined]
                             server_state=snapshot, workdir=tmp_path)

    kinds = sorted(a.kind for a in report.plan.changes())
    assert kinds == ["close-distribution-list", "disable-account", "expire-account", "move-to-disabled-ou",
                     "remove-membership"]
    # restored at the end of the suite: alice binds again, where she was, in her group and on the list
    assert dc.can_bind(alice.upn, alice.password) and dc.exists(alice.dn)
    assert alice.dn.casefold() in dc.members(team)


def test_the_rehearsal_domain_runs_end_to_end(samba_dc: SambaDC, tmp_path: Path, run_cli: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The seeded domain `revoke demo` and operators rehearse against: leavers disabled, the stayer and the
    protected admin untouched, the team list emptied, the nested group reported."""
    dc = samba_dc
    seeded = seed_engagement(dc)
    users, service = seeded["users"], seeded["service"]
    monkeypatch.setenv("REVOKE_CORP_AD_PASSWORD", service.password)
    runbook = write_runbook(tmp_path / "rehearsal.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"corp-ad": {"connector": "active-directory",
                                "settings": runbook_settings(dc, service, disabled_ou=seeded["Disabled Users"])}},
        "people": [{"name": name, "ids": {"corp-ad": sam}} for name, sam in
                   (("Alice Example", "alice"), ("Bob Example", "bob"), ("Dave Admin", "dave"))],
        "lists": [{"system": "corp-ad", "id": "acme-team"}],
        "protect": ["dave"]})
    plan = run_cli("--quiet", "plan", str(runbook))
    assert plan.exit_code == 2 and "Remote access (through VPN users)" in plan.output, plan.output
    run_cli("--quiet", "apply", str(runbook), "--yes")
    assert not dc.can_bind(users["alice"].upn, users["alice"].password)
    assert not dc.can_bind(users["bob"].upn, users["bob"].password)
    assert dc.can_bind(users["carol"].upn, users["carol"].password)
    assert dc.can_bind(users["dave"].upn, users["dave"].password)
    assert dc.members(seeded["acme-team"]) == set()
    assert dc.members(seeded["Engagement staff"]) == {users["carol"].dn.casefold()}


def test_lists_are_hidden_where_the_schema_has_exchange(engagement: dict[str, Any], run_cli: Any) -> None:
    """Without Exchange the schema has no msExchHideFromAddressLists and the plan says the list is only emptied;
    with it (added here as Exchange's schema preparation does) the list is also hidden, and restore shows it."""
    e = engagement
    dc, team = e["dc"], e["list"]
    before = run_cli("--quiet", "plan", str(e["runbook"]))
    assert "not hidden: this schema has no msExchHideFromAddressLists" in before.output

    dc.add_exchange_hide_attribute()  # one way; the last test of the session to need a schema without it
    plan = run_cli("--quiet", "plan", str(e["runbook"]))
    assert "remove all 2 members and hide it from address lists" in plan.output
    run = apply(run_cli, e["runbook"])
    assert dc.read(team, ["msExchHideFromAddressLists"])["msExchHideFromAddressLists"] == ["TRUE"]
    assert dc.members(team) == set()

    restore_run(run_cli, e, run)
    assert dc.read(team, ["msExchHideFromAddressLists"])["msExchHideFromAddressLists"] == []
    assert dc.members(team) == {e["alice"].dn.casefold(), e["carol"].dn.casefold()}


def test_a_user_synced_to_entra_is_disabled_in_ad(engagement: dict[str, Any], graph: GraphFake,  # noqa: F811
                                                 graph_app: tuple[str, str], run_cli: Any) -> None:  # noqa: F811
    """Graph cannot disable a user synced from on-premises AD: the plan routes the disable to the runbook's AD
    system, and after apply the account is disabled where it lives."""
    e = engagement
    dc, alice = e["dc"], e["alice"]
    synced = graph.add_user(alice.upn, "Alice Leaver", synced=True, sam=alice.sam, dn=alice.dn)
    runbook = write_runbook(e["dir"] / "hybrid.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"m365": graph_system(graph, graph_app[0]), "corp-ad": ad_system(dc)},
        "people": [{"name": "Alice Leaver", "ids": {"m365": alice.upn}}]})
    result = run_cli("--quiet", "--output", "json", "plan", str(runbook))
    assert result.exit_code == 2, result.output + result.stderr
    actions = json.loads(result.output)["plan"]["actions"]
    in_entra = next(a for a in actions if a["system"] == "m365" and a["kind"] == "disable-account")
    in_ad = next(a for a in actions if a["system"] == "corp-ad" and a["kind"] == "disable-account")
    assert in_entra["outcome"] == "routed" and "corp-ad" in in_entra["note"]
    assert in_ad["status"] == "change" and in_ad["person"] == "Alice Leaver" and in_ad["resource"] == alice.dn

    run_cli("--quiet", "apply", str(runbook), "--yes")
    assert not dc.can_bind(alice.upn, alice.password)
    assert dc.uac(alice.dn) == e["uac"] | ACCOUNTDISABLE
    assert graph.user(synced)["accountEnabled"] is True  # never written through Graph


def test_a_synced_lists_membership_is_routed_from_exchange_to_ad(engagement: dict[str, Any],
                                                                 exo: ExchangeFake,  # noqa: F811
                                                                 exo_app: tuple[str, str],  # noqa: F811
                                                                 run_cli: Any) -> None:
    """A distribution list synced from on-premises AD is AD's to change: Exchange Online refuses the write, so the
    `exchange-online` connector routes a leaver's membership here, and it is removed where it lives."""
    e = engagement
    dc, alice, n = e["dc"], e["alice"], e["n"]
    x_alice = exo.add_mailbox(alice.upn, "Alice Leaver")
    synced = exo.add_list(f"social-{n}", f"social-{n}@corp.example.org", members=(x_alice,), synced=True)
    runbook = write_runbook(e["dir"] / "hybrid.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"exo": exo_system(exo, exo_app[0], mailbox_scope="none"), "corp-ad": ad_system(dc)},
        "people": [{"name": "Alice Leaver", "ids": {"exo": alice.upn}}]})
    result = run_cli("--quiet", "--output", "json", "plan", str(runbook))
    assert result.exit_code == 2, result.output + result.stderr
    actions = json.loads(result.output)["plan"]["actions"]
    in_exo = next(a for a in actions if a["system"] == "exo" and a["resource"] == synced)
    assert in_exo["outcome"] == "routed" and "corp-ad" in in_exo["note"], in_exo
    in_ad = next(a for a in actions if a["system"] == "corp-ad" and a["resource"] == e["social"])
    assert in_ad["status"] == "change" and in_ad["person"] == "Alice Leaver"
    run_cli("--quiet", "apply", str(runbook), "--yes")
    assert alice.dn.casefold() not in dc.members(e["social"])
    assert exo.members(synced) == [x_alice] and not exo.writes()  # never written in Exchange


def test_delete_account_deletes_the_user_last_and_only_when_asked(samba_dc: SambaDC, tmp_path: Path, run_cli: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    dc = samba_dc
    monkeypatch.setenv("REVOKE_CORP_AD", dc.service.password)  # type: ignore[attr-defined]
    n = secrets.token_hex(3)
    leaver, stays = dc.add_user(f"erin-{n}"), dc.add_user(f"frank-{n}")
    group = dc.add_group(f"proj-{n}", members=[leaver.dn, stays.dn])
    data = {"engagement": "acme-2026", "final_day": yesterday(), "systems": {"corp-ad": ad_system(dc)},
            "people": [{"name": "Erin", "ids": {"corp-ad": leaver.upn}}]}
    plain = run_cli("--quiet", "--output", "json", "plan", str(write_runbook(tmp_path / "a.yaml", data)))
    assert "delete-account" not in {a["kind"] for a in json.loads(plain.output)["plan"]["actions"]}
    data["systems"]["corp-ad"] = ad_system(dc, delete_account=True)
    result = run_cli("--quiet", "--output", "json", "apply", str(write_runbook(tmp_path / "b.yaml", data)), "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert not dc.exists(leaver.dn) and dc.exists(stays.dn)
    assert dc.members(group) == {stays.dn.casefold()}
    records = [r for r in read_records(Path(json.loads(result.output)["run_dir"])) if r["type"] == "action"]
    deleted = next(r for r in records if r["kind"] == "delete-account")
    assert deleted["outcome"] == "done" and deleted["verification"] == "absent"
    assert all(r["outcome"] in ("done", "immutable") for r in records)  # the primary group is kept (immutable)
