"""The degraded-server mode of the conformance suite (revoke.testing.degraded): every built-in connector against
its fake, the fake's answers to reads degraded one way at a time (a field dropped, an empty 200, pages cut short,
an old state returned once), and no record may claim more than the server proved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from revoke.sandbox.graph import GraphFake
from revoke.testing.degraded import MODES, Degrader, check_degraded, drop_fields, over_claims
from tests.aws_env import moto_server  # noqa: F401 - fixture
from tests.conftest import slapd  # noqa: F401 - fixture
from tests.graph_env import graph, graph_app, graph_system  # noqa: F401 - fixtures
from tests.exchange_env import exo, exo_app  # noqa: F401 - fixtures

# the answer fields Entra's read-back verdicts rest on
ENTRA_FIELDS = ("memberOf", "accountEnabled", "signInSessionsValidFromDateTime", "value", "id")


def seed_entra(graph: GraphFake) -> None:
    ann = graph.add_user("ann@contoso.test")
    carl = graph.add_user("carl@contoso.test")
    for n in range(3):
        graph.add_group(f"Engineering {n}", members=(carl, ann))
    sp, roles = graph.add_service_principal("Payroll", ("Reader", "Approver"))
    graph.assign_app_role(ann, sp, roles["Reader"])
    graph.assign_app_role(ann, sp, roles["Approver"])  # two: a page of one is cut short
    graph.add_directory_role("Helpdesk Administrator", members=(carl, ann))


@pytest.mark.parametrize("mode", MODES)
def test_entra_claims_nothing_the_degraded_server_did_not_prove(graph: GraphFake, graph_app: tuple[str, str],
                                                                tmp_path: Path, mode: str) -> None:
    seed_entra(graph)
    seen = check_degraded("entra", graph_system(graph, graph_app[0])["settings"], degrade=graph.degraded,
                          workdir=tmp_path, fields=ENTRA_FIELDS, people={"Ann Leaver": "ann@contoso.test"},
                          secrets={"graph_secret": graph_app[1]}, modes=[mode])
    assert seen and all(n > 0 for n in seen.values()), f"a degradation never reached the connector: {seen}"


def test_user_answer_without_member_of_is_unverifiable(graph: GraphFake, graph_app: tuple[str, str],
                                                       tmp_path: Path) -> None:
    """The case seen against a Graph endpoint that ignored `$expand`: the user came back without `memberOf`."""
    seed_entra(graph)
    from revoke.testing.degraded import _read_back_degraded

    states = _read_back_degraded("entra", graph_system(graph, graph_app[0])["settings"], graph.degraded,
                                 Degrader("field-dropped", ["memberOf"]), tmp_path,
                                 people={"Ann Leaver": "ann@contoso.test"}, secrets={"graph_secret": graph_app[1]})
    member = [s for k, s in states.items() if k[0] in ("remove-group-member", "remove-directory-role")]
    assert member and all("memberOf" in s.get("unverifiable", "") for s in member), member


def test_over_claims_names_a_verified_record_the_server_contradicts() -> None:
    records = [{"action_id": "a", "kind": "remove-group-member", "resource": "g", "principal": "u",
                "outcome": "already_done", "verification": "verified", "after": {"member": False}},
               {"action_id": "b", "kind": "disable-account", "resource": "u", "outcome": "attention",
                "verification": "unverifiable"}]
    assert len(over_claims(records, {"a": False, "b": False})) == 1
    assert over_claims(records, {"a": True, "b": False}) == []


def test_drop_fields_reaches_every_depth() -> None:
    body = {"id": "u", "memberOf": [{"id": "g"}], "x": [{"memberOf": 1, "y": 2}]}
    assert drop_fields(body, frozenset({"memberOf"})) == {"id": "u", "x": [{"y": 2}]}


M365_FIELDS = ("isArchived", "value", "id", "deletedDateTime")


@pytest.mark.parametrize("mode", MODES)
def test_m365_groups_claims_nothing_the_degraded_server_did_not_prove(graph: GraphFake, graph_app: tuple[str, str],
                                                                      tmp_path: Path, mode: str) -> None:
    ann, carl = graph.add_user("ann@contoso.test"), graph.add_user("carl@contoso.test")
    dave = graph.add_user("dave@contoso.test")
    team = graph.add_group("Acme team", kind="m365", team=True, owners=(carl,), members=(carl, dave, ann))
    graph.add_group("Acme list", kind="m365", mail="acme-list@contoso.test", members=(ann, carl))
    seen = check_degraded("m365-groups", graph_system(graph, graph_app[0], connector="m365-groups")["settings"],
                          degrade=graph.degraded, workdir=tmp_path, fields=M365_FIELDS, people={"Ann": ann},
                          lists=[team, {"id": "acme-list@contoso.test", "close": "delete"}],
                          secrets={"graph_secret": graph_app[1]}, modes=[mode])
    assert seen and all(n > 0 for n in seen.values()), f"a degradation never reached the connector: {seen}"


SLACK_FIELDS = ("members", "channel", "is_archived", "active", "id")


@pytest.mark.parametrize("mode", MODES)
def test_slack_claims_nothing_the_degraded_server_did_not_prove(tmp_path: Path, mode: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import secrets

    from revoke.sandbox.slack import SlackFake

    with SlackFake() as fake:
        token, admin = "xoxb-" + secrets.token_hex(16), "xoxp-" + secrets.token_hex(16)
        bot = fake.add_bot("revoke")
        fake.add_token(token, bot)
        fake.add_token(admin, fake.add_user("owner", "owner@client.example"), scopes=["admin"])
        alice = fake.add_user("alice", "alice@consult.example")
        carol = fake.add_user("carol", "carol@client.example")
        fake.add_channel("acme-dev", members=[carol, alice])
        fake.add_channel("client-team", members=[carol, alice])
        settings = {"token": {"secret": "slack_token"}, "base_url": fake.base_url, "channel_prefix": "acme-",
                    "closing_message": "Closing.", "scim_deactivate": True, "scim_token": {"secret": "slack_scim"},
                    "scim_url": fake.scim_url}
        seen = check_degraded("slack", settings, degrade=fake.degraded, workdir=tmp_path, fields=SLACK_FIELDS,
                              people={"Alice": "alice@consult.example"},
                              lists=[{"id": "#client-team", "close": "keep"}],
                              secrets={"slack_token": token, "slack_scim": admin}, modes=[mode])
    assert seen and all(n > 0 for n in seen.values()), f"a degradation never reached the connector: {seen}"


GITHUB_FIELDS = ("credential_id", "login", "email", "invitee", "id", "archived", "slug", "user")


@pytest.mark.parametrize("mode", MODES)
def test_github_claims_nothing_the_degraded_server_did_not_prove(tmp_path: Path, mode: str) -> None:
    from revoke.sandbox.github import GitHubFake
    from revoke.sandbox.github_seed import seed_engagement

    with GitHubFake(page_cap=2) as fake:
        seeded = seed_engagement(fake)
        seen = check_degraded("github", seeded.settings(fake), degrade=fake.degraded, workdir=tmp_path,
                              fields=GITHUB_FIELDS, people=seeded.leavers, lists=list(seeded.lists),
                              secrets={"github_token": seeded.token}, modes=[mode])
    assert seen and all(n > 0 for n in seen.values()), f"a degradation never reached the connector: {seen}"


# attributes the ldap connector's verdicts rest on (its lock attribute is ppolicy's pwdAccountLockedTime, whose
# absence is how the directory says "not locked", so dropping it is not a degradation but an answer)
LDAP_FIELDS = ("member", "uniqueMember", "memberUid")


@pytest.mark.parametrize("mode", MODES)
def test_ldap_claims_nothing_the_degraded_server_did_not_prove(slapd: Any, tmp_path: Path, mode: str) -> None:
    from revoke.sandbox.ldap_degraded import degraded_ldap
    from tests.conftest import ldap_system

    alice, bob = slapd.add_user("alice", mail="alice@example.org"), slapd.add_user("bob")
    carol = slapd.add_user("carol")
    slapd.add_group("eng", [carol.dn, alice.dn, bob.dn])
    slapd.add_group("auditors", [carol.dn, alice.dn], kind="groupOfUniqueNames")
    team = slapd.add_group("acme-team", [alice.dn, carol.dn], ou="lists", mail="acme-team@example.org")
    seen = check_degraded("ldap", ldap_system(slapd)["settings"], degrade=degraded_ldap, workdir=tmp_path,
                          fields=LDAP_FIELDS, people={"Alice Example": "alice", "Bob": "bob"}, lists=[team],
                          secrets={"corp_ldap": slapd.service.password}, modes=[mode])
    assert seen and any(n > 0 for n in seen.values()), f"a degradation never reached the connector: {seen}"


IAM_FIELDS = ("AccessKeyMetadata", "Status", "AccessKeyId", "Groups", "GroupName", "AttachedPolicies", "PolicyArn",
              "MFADevices", "SerialNumber", "SSHPublicKeys", "Certificates", "UserDetailList", "GroupList")
SSO_FIELDS = ("AccountAssignments", "PrincipalId", "GroupMemberships", "GroupId", "InlinePolicy")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("connector", ["aws-iam", "aws-identity-center"])
def test_aws_claims_nothing_the_degraded_server_did_not_prove(moto_server: Any, tmp_path: Path, mode: str,
                                                              connector: str) -> None:
    from revoke.sandbox.aws_degraded import degraded_aws
    from tests.aws_env import aws_system, fresh_engagement

    if connector == "aws-iam":
        seeded = fresh_engagement(moto_server, identity_center=False, member_accounts=0)
        settings, fields = aws_system(seeded, connector)["settings"], IAM_FIELDS
    else:
        seeded = fresh_engagement(moto_server, iam=False)
        settings, fields = aws_system(seeded, connector, poll_interval_seconds=0.1)["settings"], SSO_FIELDS
    seen = check_degraded(connector, settings, degrade=degraded_aws, workdir=tmp_path, fields=fields,
                          people={"Alice Example": "alice"},
                          secrets={"aws_key": seeded.credentials["aws_access_key_id"],
                                   "aws_secret": seeded.credentials["aws_secret_access_key"]}, modes=[mode])
    assert seen and any(n > 0 for n in seen.values()), f"a degradation never reached the connector: {seen}"


# attributes AD's verdicts rest on that the directory always has: objectGUID finds the targets, userAccountControl
# says disabled (memberOf is left out: AD omits it for a user in no group, so its absence is an answer)
AD_FIELDS = ("objectGUID", "userAccountControl", "member")


@pytest.mark.samba
@pytest.mark.parametrize("mode", MODES)
def test_active_directory_claims_nothing_the_degraded_server_did_not_prove(samba_dc: Any, tmp_path: Path,
                                                                           mode: str) -> None:
    import secrets

    from revoke.sandbox.ldap_degraded import degraded_ldap
    from tests.test_active_directory import ad_system  # noqa: F401

    dc, n = samba_dc, secrets.token_hex(3)
    ou = dc.add_ou(f"Degraded {n}")
    alice, bob = dc.add_user(f"alice-d{n}", ou_dn=ou), dc.add_user(f"bob-d{n}", ou_dn=ou)
    carol = dc.add_user(f"carol-d{n}", ou_dn=ou)
    dc.add_group(f"eng-d{n}", members=[alice.dn, bob.dn, carol.dn], ou_dn=ou)
    team = dc.add_group(f"team-d{n}", security=False, mail=f"team-d{n}@corp.example.org",
                        members=[alice.dn, carol.dn], ou_dn=ou)
    seen = check_degraded("active-directory", ad_system(dc)["settings"], degrade=degraded_ldap, workdir=tmp_path,
                          fields=AD_FIELDS, people={"Alice": alice.sam, "Bob": bob.sam},
                          lists=[{"id": team, "close": "delete"}],
                          secrets={"corp_ad": dc.service.password}, modes=[mode])
    assert seen and any(n > 0 for n in seen.values()), f"a degradation never reached the connector: {seen}"


def test_the_suite_fails_the_old_entra_read_back(graph: GraphFake, graph_app: tuple[str, str], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The fix reverted (a user answer without memberOf read as "member of nothing", `memberOf or []`): the
    degraded-server mode must catch it."""
    from revoke.connectors.microsoft.entra import EntraConnector
    from revoke.testing import ConformanceError

    def old_memberships(self: Any, actions: Any, replies: Any) -> dict[str, Any]:
        return {a.principal: {x["id"] for x in (replies[f"user:{a.principal}"].body.get("memberOf") or [])}
                for a in actions if a.kind in ("remove-group-member", "remove-directory-role")
                and replies[f"user:{a.principal}"].ok}

    monkeypatch.setattr(EntraConnector, "_memberships", old_memberships)
    seed_entra(graph)
    with pytest.raises(ConformanceError, match=r"field-dropped memberOf.*claim more than the server proved"):
        check_degraded("entra", graph_system(graph, graph_app[0])["settings"], degrade=graph.degraded,
                       workdir=tmp_path, fields=["memberOf"], people={"Ann Leaver": "ann@contoso.test"},
                       secrets={"graph_secret": graph_app[1]}, modes=["field-dropped"])


# what the okta connector's verdicts rest on: a user's status and id, the listings of grants and groups
OKTA_FIELDS = ("status", "id", "login")


@pytest.mark.parametrize("mode", MODES)
def test_okta_claims_nothing_the_degraded_server_did_not_prove(tmp_path: Path, mode: str) -> None:
    from revoke.sandbox.okta import OktaFake
    from revoke.sandbox.okta_seed import seed_engagement

    with OktaFake(page_cap=2) as fake:
        seeded = seed_engagement(fake)
        seen = check_degraded("okta", seeded.settings(fake), degrade=fake.degraded, workdir=tmp_path,
                              fields=OKTA_FIELDS, people=seeded.leavers, lists=list(seeded.lists),
                              secrets={"okta_token": seeded.token}, modes=[mode])
    assert seen and all(n > 0 for n in seen.values()), f"a degradation never reached the connector: {seen}"


# what the exchange-online connector's verdicts rest on: each recipient's Guid and lock settings, each member's and
# permission entry's identity
EXCHANGE_FIELDS = ("Guid", "AcceptMessagesOnlyFromSendersOrMembers", "HiddenFromAddressListsEnabled", "User",
                   "AccessRights", "value")


@pytest.mark.parametrize("mode", MODES)
def test_exchange_online_claims_nothing_the_degraded_server_did_not_prove(exo: Any, exo_app: tuple[str, str],
                                                                         tmp_path: Path, mode: str) -> None:
    from tests.exchange_env import exo_settings

    ann = exo.add_mailbox("ann@contoso.test", "Ann")
    carl = exo.add_mailbox("carl@contoso.test", "Carl")
    support = exo.add_mailbox("support@contoso.test", "Support", shared=True)
    exo.add_list("Acme DL", "acme-dl@contoso.test", members=(ann, carl), owners=(carl,))
    exo.add_list("Other DL", "other-dl@contoso.test", members=(ann, carl))
    exo.grant_full_access(support, ann)
    exo.page_size = 2
    seen = check_degraded("exchange-online", exo_settings(exo, exo_app[0]), degrade=exo.degraded, workdir=tmp_path,
                          fields=EXCHANGE_FIELDS, people={"Ann": "ann@contoso.test"}, lists=["acme-dl@contoso.test"],
                          secrets={"exo_secret": exo_app[1]}, modes=[mode])
    assert seen and all(n > 0 for n in seen.values()), f"a degradation never reached the connector: {seen}"


# what the google-workspace connector's verdicts rest on: an account's id and suspension, each listing's kind, a
# membership's id and role. Not `items`: Google leaves it out of an empty list, so its absence is an answer
GOOGLE_FIELDS = ("id", "suspended", "kind", "role", "codeId", "clientId", "status")


# not short-page: Google's read-back reads each target by id (users.get, members.get) or an unpaged listing (codes,
# app passwords, tokens), so no page of it can be cut short
@pytest.mark.parametrize("mode", [m for m in MODES if m != "short-page"])
def test_google_workspace_claims_nothing_the_degraded_server_did_not_prove(tmp_path: Path, mode: str) -> None:
    from revoke.sandbox.google import GoogleFake
    from revoke.sandbox.google_seed import seed_engagement

    with GoogleFake(page_cap=2) as fake:
        seeded = seed_engagement(fake)
        seen = check_degraded("google-workspace", seeded.settings(fake), degrade=fake.degraded, workdir=tmp_path,
                              fields=GOOGLE_FIELDS, people=seeded.leavers, lists=seeded.lists,
                              secrets={"google_key": seeded.key_json}, modes=[mode])
    assert seen and all(n > 0 for n in seen.values()), f"a degradation never reached the connector: {seen}"
