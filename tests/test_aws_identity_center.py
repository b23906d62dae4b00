"""aws-identity-center end to end against moto's server: plan, apply and restore through the CLI, each checked by
asking sso-admin and identitystore directly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner

from revoke.cli import cli
from revoke.engine import build_plan, build_restore_plan
from revoke.evidence import read_records, verify_run
from revoke.runbook import load_runbook
from revoke.sandbox.aws import MotoServer, SeededAws
from tests.aws_env import (  # noqa: F401
    aws_system,
    credentials_env,
    fresh_engagement,
    identity_center_snapshot,
    moto_server,
    policy_actions,
    record_calls,
)
from tests.conftest import write_runbook, yesterday


def _runbook(seeded: SeededAws, path: Path, **settings: Any) -> Path:
    return write_runbook(path, {
        "engagement": "acme-2026",
        "final_day": yesterday(),
        "systems": {"sso": aws_system(seeded, "aws-identity-center", poll_interval_seconds=0.1, **settings)},
        "people": [{"name": "Alice Example", "ids": {"sso": "alice@example.com"}},  # found by email
                   {"name": "Bob Example", "ids": {"sso": "bob"}}],
    })


def _cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def applied(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    seeded = fresh_engagement(moto_server, iam=False)
    folder = tmp_path_factory.mktemp("aws-sso")
    runbook = _runbook(seeded, folder / "acme.yaml")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in credentials_env(seeded).items():
            mp.setenv(k, v)
        mp.chdir(folder)
        calls = record_calls(mp)
        plan_file = folder / "plan.json"
        planned = _cli("--quiet", "plan", str(runbook), "--out", str(plan_file))
        assignments_after_plan = _assignments(seeded, "alice")
        result = _cli("--quiet", "--output", "json", "apply", str(plan_file))
        replanned = _cli("--quiet", "plan", str(runbook))
        permissions = _cli("--output", "json", "permissions", str(runbook))
    yield {"seeded": seeded, "planned": planned, "plan": json.loads(plan_file.read_text())["plan"],
           "assignments_after_plan": assignments_after_plan, "apply": result,
           "run_dir": Path(json.loads(result.output)["run_dir"]), "replanned": replanned, "calls": calls.actions,
           "permissions": json.loads(permissions.output)["sso"]["document"]}


def _assignments(seeded: SeededAws, user: str) -> list[tuple[str, str]]:
    sso = seeded.client("sso-admin")
    found = sso.list_account_assignments_for_principal(InstanceArn=seeded.instance_arn,
                                                       PrincipalId=seeded.sso_users[user], PrincipalType="USER")
    names = {arn: name for name, arn in seeded.permission_sets.items()}
    return sorted((a["AccountId"], names[a["PermissionSetArn"]]) for a in found["AccountAssignments"])


def _groups(seeded: SeededAws, user: str) -> set[str]:
    ids = seeded.client("identitystore")
    found = ids.list_group_memberships_for_member(IdentityStoreId=seeded.identity_store_id,
                                                  MemberId={"UserId": seeded.sso_users[user]})
    names = {gid: name for name, gid in seeded.sso_groups.items()}
    return {names[m["GroupId"]] for m in found["GroupMemberships"]}


def _inline(seeded: SeededAws, permission_set: str) -> dict[str, Any]:
    got = seeded.client("sso-admin").get_inline_policy_for_permission_set(
        InstanceArn=seeded.instance_arn, PermissionSetArn=seeded.permission_sets[permission_set])["InlinePolicy"]
    return json.loads(got) if got else {}


def _denied_users(seeded: SeededAws, permission_set: str) -> set[str]:
    out = set()
    for st in _inline(seeded, permission_set).get("Statement", []):
        user = st.get("Condition", {}).get("StringEquals", {}).get("identitystore:UserId")
        if st["Effect"] == "Deny" and st["Action"] == "*" and user:
            out.add(user)
    return out


def test_plan_lists_assignments_memberships_and_session_denies(applied: dict[str, Any]) -> None:
    assert applied["planned"].exit_code == 2, applied["planned"].output
    a1, a2, a3 = applied["seeded"].accounts
    assert applied["assignments_after_plan"] == sorted([(a1, "AdministratorAccess"), (a2, "AdministratorAccess"),
                                                        (a3, "ReadOnly")])  # the plan wrote nothing
    alice = {(a["kind"], a["label"]) for a in applied["plan"]["actions"] if a["person"] == "Alice Example"}
    assert ("remove-account-assignment", f"ReadOnly on {a3} (alice)") in alice
    assert ("remove-group-membership", "Engineers (alice)") in alice
    # Billing comes to alice only through the Auditors group: its sessions are denied all the same
    assert ("deny-permission-set-sessions", "Billing (alice)") in alice
    assert not any(a["kind"] == "delete-user" for a in applied["plan"]["actions"])  # off by default


def test_assignments_and_memberships_of_leavers_are_gone(applied: dict[str, Any]) -> None:
    seeded = applied["seeded"]
    assert applied["apply"].exit_code == 0, applied["apply"].output
    for user in seeded.leavers:
        assert _assignments(seeded, user) == []
        assert _groups(seeded, user) == set()
    # the users themselves stay: deleting is an explicit option
    ids = seeded.client("identitystore")
    assert ids.describe_user(IdentityStoreId=seeded.identity_store_id,
                             UserId=seeded.sso_users["alice"])["UserName"] == "alice"


def test_colleague_and_group_assignments_are_untouched(applied: dict[str, Any]) -> None:
    seeded = applied["seeded"]
    assert _assignments(seeded, "carol") == [(seeded.accounts[0], "AdministratorAccess")]
    assert _groups(seeded, "carol") == {"Engineers", "Ops"}
    sso = seeded.client("sso-admin")
    group = sso.list_account_assignments_for_principal(InstanceArn=seeded.instance_arn, PrincipalType="GROUP",
                                                       PrincipalId=seeded.sso_groups["Engineers"])
    assert [a["AccountId"] for a in group["AccountAssignments"]] == [seeded.accounts[0]]


def test_permission_sets_deny_the_leavers_open_sessions_and_keep_their_policy(applied: dict[str, Any]) -> None:
    seeded = applied["seeded"]
    alice, bob = seeded.sso_users["alice"], seeded.sso_users["bob"]
    assert _denied_users(seeded, "AdministratorAccess") == {alice}
    assert _denied_users(seeded, "ReadOnly") == {alice}
    assert _denied_users(seeded, "Billing") == {alice, bob}
    sids = [s.get("Sid") for s in _inline(seeded, "AdministratorAccess")["Statement"]]
    assert "NoLeavingTheOrg" in sids  # the statement that was there stays
    assert seeded.sso_users["carol"] not in json.dumps(_inline(seeded, "AdministratorAccess"))


def test_evidence_records_assignments_for_restore_with_request_ids(applied: dict[str, Any]) -> None:
    records = [r for r in read_records(applied["run_dir"]) if r.get("type") == "action"]
    removal = [r for r in records if r["kind"] == "remove-account-assignment"]
    assert len(removal) == 4
    for r in removal:
        assert r["outcome"] == "done" and r["verification"] == "verified" and r["request_ids"]
        assert r["before"]["assigned"] is True and r["after"]["assigned"] is False
        assert r["receipt"]["status"] == "SUCCEEDED"
    header = read_records(applied["run_dir"])[0]["systems"]["sso"]["operator"]
    assert header["instance_arn"] == applied["seeded"].instance_arn
    assert verify_run(applied["run_dir"]).ok


def test_replan_after_apply_has_only_noops(applied: dict[str, Any]) -> None:
    result = applied["replanned"]
    assert result.exit_code == 0, result.output
    assert "0 to change" in result.output


def test_every_api_call_is_in_the_permissions_policy(applied: dict[str, Any]) -> None:
    granted = policy_actions(applied["permissions"])
    called = applied["calls"]
    assert {"sso:DeleteAccountAssignment", "identitystore:DeleteGroupMembership",
            "sso:PutInlinePolicyToPermissionSet", "sso:ProvisionPermissionSet"} <= called
    assert called - granted == set()


def _apply_then_restore(seeded: SeededAws, folder: Path, **settings: Any) -> tuple[Any, Any]:
    runbook = _runbook(seeded, folder / "acme.yaml", **settings)
    applied = _cli("--quiet", "--output", "json", "apply", str(runbook), "--yes")
    run_dir = Path(json.loads(applied.output)["run_dir"])
    return applied, _cli("--quiet", "--output", "json", "restore", str(run_dir), "--yes")


def test_restore_readds_assignments_and_memberships_and_lifts_the_deny(
        moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seeded = fresh_engagement(moto_server, iam=False)
    for k, v in credentials_env(seeded).items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    before = _assignments(seeded, "alice"), _groups(seeded, "alice"), _inline(seeded, "ReadOnly")
    applied, restored = _apply_then_restore(seeded, tmp_path)
    assert applied.exit_code == 0 and restored.exit_code == 0, restored.output
    assert (_assignments(seeded, "alice"), _groups(seeded, "alice"), _inline(seeded, "ReadOnly")) == before
    assert _denied_users(seeded, "AdministratorAccess") == set()
    assert _denied_users(seeded, "Billing") == set()
    records = [r for r in read_records(Path(json.loads(restored.output)["run_dir"])) if r.get("type") == "action"]
    assert records and all(r["outcome"] == "done" and r["verification"] == "verified" for r in records)


def test_delete_user_is_explicit_and_restore_says_it_cannot(
        moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seeded = fresh_engagement(moto_server, iam=False)
    for k, v in credentials_env(seeded).items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    applied, restored = _apply_then_restore(seeded, tmp_path, delete_user=True)
    assert applied.exit_code == 0, applied.output
    run_dir = Path(json.loads(applied.output)["run_dir"])
    deleted = [r for r in read_records(run_dir) if r.get("kind") == "delete-user" and r.get("outcome")]
    assert {r["after"]["exists"] for r in deleted} == {False} and len(deleted) == 2
    assert restored.exit_code == 3, restored.output  # the deleted users need a person
    why = {a.reason for a in build_restore_plan(run_dir).actions if a.kind == "delete-user"}
    assert len(why) == 1 and "cannot be brought back" in why.pop()
    listed = seeded.client("identitystore").list_users(IdentityStoreId=seeded.identity_store_id)["Users"]
    assert sorted(u["UserName"] for u in listed) == ["carol"]  # restore did not pretend to bring them back
    sso = seeded.client("sso-admin")
    found = sso.list_account_assignments_for_principal(InstanceArn=seeded.instance_arn, PrincipalType="USER",
                                                       PrincipalId=seeded.sso_users["alice"])
    assert found["AccountAssignments"] == []  # nothing re-created for a user id that is gone
    records = [r for r in read_records(Path(json.loads(restored.output)["run_dir"])) if r.get("type") == "action"]
    failed = [r for r in records if r["kind"] == "remove-account-assignment"]
    assert failed and all(r["outcome"] == "failed" and "no longer exists" in r["error"] for r in failed)


def test_a_leaver_not_in_the_identity_store_is_reported(moto_server: MotoServer, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seeded = fresh_engagement(moto_server, iam=False)
    for k, v in credentials_env(seeded).items():
        monkeypatch.setenv(k, v)
    path = _runbook(seeded, tmp_path / "acme.yaml")
    text = path.read_text().replace("alice@example.com", "alice@elsewhere.example")
    path.write_text(text)
    plan = build_plan(load_runbook(path))
    assert any("alice@elsewhere.example" in n.message and n.severity == "error" for n in plan.notices)
    assert {a.person for a in plan.actions} == {"Bob Example"}


def test_provider_errors_become_revoke_errors_at_the_edge() -> None:
    from botocore.exceptions import ClientError

    from revoke.connectors.aws.base import translate
    from revoke.errors import ActionFailed, NotSupported

    def error(code: str, message: str = "", status: int = 400) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": message},
                            "ResponseMetadata": {"RequestId": "r-1", "HTTPStatusCode": status}}, "DeleteUser")

    throttled = translate(error("TooManyRequestsException"), "identitystore:DeleteUser")
    assert isinstance(throttled, ActionFailed) and throttled.retryable and throttled.request_ids == ["r-1"]
    assert isinstance(translate(error("UnknownOperationException"), "x"), NotSupported)
    emulator = translate(error("500", "<!doctype html><title>500 Internal Server Error</title>", 500), "x")
    assert isinstance(emulator, NotSupported) and "not supported here" in str(emulator)
    denied = translate(error("AccessDeniedException", "not authorized"), "sso:DeleteAccountAssignment")
    assert isinstance(denied, ActionFailed) and not denied.retryable and "revoke permissions" in str(denied)


def test_aws_identity_center_connector_conforms(moto_server: MotoServer, tmp_path: Path) -> None:
    """The conformance suite plugin authors run (revoke.testing), against moto's sso-admin and identitystore."""
    from revoke.testing import check_connector

    seeded = fresh_engagement(moto_server, iam=False)
    settings = aws_system(seeded, "aws-identity-center", poll_interval_seconds=0.1)["settings"]
    report = check_connector("aws-identity-center", settings, people={"Alice Example": "alice"},
                             secrets={"aws_key": seeded.credentials["aws_access_key_id"],
                                      "aws_secret": seeded.credentials["aws_secret_access_key"]},
                             server_state=lambda: identity_center_snapshot(seeded), workdir=tmp_path)
    assert report.restore is not None
