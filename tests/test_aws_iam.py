"""aws-iam end to end against moto's server: an organization of three accounts, planned and applied through the CLI,
then checked by asking the server with independent boto3 clients."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner
from pydantic import SecretStr

from revoke.cli import cli
from revoke.connectors.aws import trust
from revoke.connectors.aws.base import AwsSessions
from revoke.engine import ApplyOptions, apply_plan, build_plan, build_restore_plan
from revoke.evidence import read_records, verify_run
from revoke.sandbox.aws import MotoServer, SeededAws
from revoke.runbook import load_runbook
from revoke.runtime import FakeClock
from revoke.secrets import Secrets
from tests.aws_env import (  # noqa: F401
    aws_system,
    credentials_env,
    fresh_engagement,
    iam_snapshot,
    moto_server,
    policy_actions,
    record_calls,
    trust_principals,
)
from tests.conftest import write_runbook, yesterday


def _runbook(seeded: SeededAws, path: Path) -> Path:
    return write_runbook(path, {
        "engagement": "acme-2026",
        "final_day": yesterday(),
        "systems": {"aws": aws_system(seeded, "aws-iam", principals={"Bob Example": [seeded.contractor_principal]})},
        "people": [{"name": "Alice Example", "ids": {"aws": "alice"}},
                   {"name": "Bob Example", "ids": {"aws": "bob"}}],
    })


def _cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def applied(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Plan (saved), apply that plan, re-plan: once for the module, recording every AWS call made."""
    seeded = fresh_engagement(moto_server, identity_center=False)
    folder = tmp_path_factory.mktemp("aws-iam")
    runbook = _runbook(seeded, folder / "acme.yaml")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in credentials_env(seeded).items():
            mp.setenv(k, v)
        mp.chdir(folder)
        calls = record_calls(mp)
        plan_file = folder / "plan.json"
        planned = _cli("--quiet", "plan", str(runbook), "--out", str(plan_file))
        untouched = _keys(seeded, "alice")
        result = _cli("--quiet", "--output", "json", "apply", str(plan_file))
        replanned = _cli("--quiet", "plan", str(runbook))
        permissions = _cli("--output", "json", "permissions", str(runbook))
    run = json.loads(result.output)
    yield {"seeded": seeded, "planned": planned, "plan": json.loads(plan_file.read_text())["plan"],
           "keys_after_plan": untouched, "apply": result, "run_dir": Path(run["run_dir"]), "replanned": replanned,
           "calls": calls.actions, "permissions": json.loads(permissions.output)["aws"]["document"]}


def _keys(seeded: SeededAws, user: str) -> dict[str, str]:
    out = {}
    for account in seeded.accounts:
        for key in seeded.client("iam", account).list_access_keys(UserName=user)["AccessKeyMetadata"]:
            out[key["AccessKeyId"]] = key["Status"]
    return out


def _records(applied: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in read_records(applied["run_dir"]) if r["type"] == "action"]


def test_plan_lists_every_credential_in_every_account_and_changes_nothing(applied: dict[str, Any]) -> None:
    assert applied["planned"].exit_code == 2, applied["planned"].output
    seeded = applied["seeded"]
    kinds = {(a["kind"], a["params"]["account"]) for a in applied["plan"]["actions"] if a["person"] == "Alice Example"}
    for account in seeded.accounts:
        for kind in ("deactivate-access-key", "delete-console-password", "deactivate-ssh-key",
                     "deactivate-signing-certificate", "deactivate-mfa-device", "remove-from-group",
                     "detach-user-policy", "delete-user-inline-policy", "tag-user", "remove-trust",
                     "revoke-role-sessions"):
            assert (kind, account) in kinds
    assert set(applied["keys_after_plan"].values()) == {"Active"}  # the plan wrote nothing
    inline = next(a for a in applied["plan"]["actions"] if a["kind"] == "delete-user-inline-policy")
    assert inline["before"]["document"]["Statement"][0]["Action"] == "s3:*"  # the document is kept for restore


def test_leavers_keys_are_inactive_and_console_password_gone(applied: dict[str, Any]) -> None:
    seeded = applied["seeded"]
    for user in seeded.leavers:
        keys = _keys(seeded, user)
        assert len(keys) == 2 * len(seeded.accounts) and set(keys.values()) == {"Inactive"}  # none deleted
        for account in seeded.accounts:
            iam = seeded.client("iam", account)
            with pytest.raises(ClientError, match="NoSuchEntity"):
                iam.get_login_profile(UserName=user)
            assert [k["Status"] for k in iam.list_ssh_public_keys(UserName=user)["SSHPublicKeys"]] == ["Inactive"]
            assert [c["Status"] for c in iam.list_signing_certificates(UserName=user)["Certificates"]] == ["Inactive"]
            assert iam.list_mfa_devices(UserName=user)["MFADevices"] == []


def test_leavers_lose_groups_and_policies_and_are_tagged(applied: dict[str, Any]) -> None:
    seeded = applied["seeded"]
    for user in seeded.leavers:
        for account in seeded.accounts:
            iam = seeded.client("iam", account)
            assert iam.list_groups_for_user(UserName=user)["Groups"] == []
            assert iam.list_attached_user_policies(UserName=user)["AttachedPolicies"] == []
            assert iam.list_user_policies(UserName=user)["PolicyNames"] == []
            tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}
            assert tags["revoke:run-id"] == applied["run_dir"].name
            assert dt.datetime.fromisoformat(tags["revoke:disabled-at"].replace("Z", "+00:00"))
            assert tags["team"] == "engagement"


def test_trust_policies_no_longer_name_leavers_but_keep_the_others(applied: dict[str, Any]) -> None:
    seeded = applied["seeded"]
    for account in seeded.accounts:
        iam = seeded.client("iam", account)
        carol = f"arn:aws:iam::{account}:user/carol"
        assert trust_principals(iam, "deploy") == [[carol]]
        assert trust_principals(iam, "audit") == [[seeded.external_principal]]  # alice's own statement went
        assert trust_principals(iam, "vendor-access") == [[carol], []]  # the ec2 service statement stays
        assert iam.get_role(RoleName="vendor-access")["Role"]["AssumeRolePolicyDocument"]["Statement"][1][
            "Principal"] == {"Service": "ec2.amazonaws.com"}
        assert trust_principals(iam, "bob-readonly") == [[seeded.external_principal]]
        assert trust_principals(iam, "break-glass") == [[carol]]
        # taking alice out would leave it empty: she is denied in it instead (tests/test_aws_trust_deny.py)
        alice = f"arn:aws:iam::{account}:user/alice"
        assert trust_principals(iam, "alice-sandbox") == [[alice], [alice]]
        assert iam.get_role(RoleName="alice-sandbox")["Role"]["AssumeRolePolicyDocument"]["Statement"][1][
            "Effect"] == "Deny"
    denied = [r for r in _records(applied) if r["kind"] == "deny-trust"]
    assert len(denied) == len(seeded.accounts) and {r["outcome"] for r in denied} == {"done"}


def test_roles_that_trusted_leavers_deny_older_sessions(applied: dict[str, Any]) -> None:
    seeded = applied["seeded"]
    started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    for account in seeded.accounts:
        iam = seeded.client("iam", account)
        for role in ("deploy", "audit", "alice-sandbox", "vendor-access", "bob-readonly"):
            doc = iam.get_role_policy(RoleName=role, PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]
            (st,) = doc["Statement"]
            assert st["Effect"] == "Deny" and st["Action"] == ["*"] and st["Resource"] == ["*"]
            cutoff = st["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
            assert dt.datetime.fromisoformat(cutoff.replace("Z", "+00:00")) > started
        assert iam.list_role_policies(RoleName="break-glass")["PolicyNames"] == []
    for account in seeded.accounts[1:]:  # the role revoke acts through is never edited
        iam = seeded.client("iam", account)
        assert iam.list_role_policies(RoleName="OrganizationAccountAccessRole")["PolicyNames"] == []


def test_colleague_who_stays_is_untouched(applied: dict[str, Any]) -> None:
    seeded = applied["seeded"]
    assert set(_keys(seeded, "carol").values()) == {"Active"}
    for account in seeded.accounts:
        iam = seeded.client("iam", account)
        assert iam.get_login_profile(UserName="carol")["LoginProfile"]["UserName"] == "carol"
        assert {g["GroupName"] for g in iam.list_groups_for_user(UserName="carol")["Groups"]} == {"developers",
                                                                                                   "deployers"}
        assert len(iam.list_mfa_devices(UserName="carol")["MFADevices"]) == 1
        assert iam.list_user_policies(UserName="carol")["PolicyNames"] == ["carol-scratch-bucket"]
        assert "revoke:run-id" not in {t["Key"] for t in iam.list_user_tags(UserName="carol")["Tags"]}


def test_service_specific_credentials_are_recorded_as_not_supported(applied: dict[str, Any]) -> None:
    records = [r for r in _records(applied) if r["kind"] == "deactivate-service-credential"]
    assert len(records) == 2 * len(applied["seeded"].accounts)
    assert all(r["outcome"] == "not_supported" and "not supported here" in r["note"] for r in records)


def test_evidence_has_request_ids_and_caller_identity_of_every_account(applied: dict[str, Any]) -> None:
    records = read_records(applied["run_dir"])
    operator = records[0]["systems"]["aws"]["operator"]
    seeded = applied["seeded"]
    assert sorted(operator["accounts"]) == sorted(seeded.accounts)
    for account in seeded.accounts[1:]:
        assert operator["accounts"][account]["arn"].startswith(
            f"arn:aws:sts::{account}:assumed-role/OrganizationAccountAccessRole/")
    done = [r for r in records if r.get("type") == "action" and r["outcome"] == "done"]
    assert done and all(r["request_ids"] and r["verification"] == "verified" for r in done)
    key = next(r for r in done if r["kind"] == "deactivate-access-key")
    assert key["before"]["status"] == "Active" and key["after"]["status"] == "Inactive"
    assert verify_run(applied["run_dir"]).ok
    text = (applied["run_dir"] / "evidence.jsonl").read_text()
    assert seeded.credentials["aws_secret_access_key"] not in text


def test_residual_exposure_is_stated_for_every_leaver(applied: dict[str, Any]) -> None:
    exposure = [r for r in read_records(applied["run_dir"]) if r.get("type") == "exposure"]
    assert {r["person"] for r in exposure} == {"Alice Example", "Bob Example"}
    for r in exposure:
        whats = " ".join(i["what"] + " " + i["bound"] for i in r["items"])
        assert "GetSessionToken" in whats and "until about" in whats  # a time bound, not "none"


def test_replan_after_apply_has_only_noops(applied: dict[str, Any]) -> None:
    result = applied["replanned"]
    assert result.exit_code in (0, 3), result.output  # nothing to change (3: service credentials not checked)
    assert "0 to change" in result.output


def test_every_api_call_is_in_the_permissions_policy(applied: dict[str, Any]) -> None:
    granted = policy_actions(applied["permissions"])
    called = applied["calls"]
    assert {"iam:UpdateAccessKey", "iam:DeleteLoginProfile", "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy",
            "sts:AssumeRole", "organizations:ListAccounts"} <= called
    assert called - granted == set()


def test_restore_reactivates_keys_and_readds_memberships(moto_server: MotoServer, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # the management account alone: the other tests cover the fan-out over accounts
    seeded = fresh_engagement(moto_server, identity_center=False, member_accounts=0)
    for k, v in credentials_env(seeded).items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    runbook = _runbook(seeded, tmp_path / "acme.yaml")
    applied = _cli("--quiet", "--output", "json", "apply", str(runbook), "--yes")
    run_dir = Path(json.loads(applied.output)["run_dir"])
    restored = _cli("--quiet", "--output", "json", "restore", str(run_dir), "--yes")
    assert restored.exit_code == 3, restored.output  # what cannot come back needs a person, and says so

    account = seeded.accounts[0]
    iam = seeded.client("iam", account)
    assert set(_keys(seeded, "alice").values()) == {"Active"}
    assert [k["Status"] for k in iam.list_ssh_public_keys(UserName="alice")["SSHPublicKeys"]] == ["Active"]
    assert {g["GroupName"] for g in iam.list_groups_for_user(UserName="alice")["Groups"]} == {"developers",
                                                                                               "deployers"}
    assert [p["PolicyName"] for p in iam.list_attached_user_policies(UserName="alice")["AttachedPolicies"]] == [
        "engagement-read"]
    policy = iam.get_user_policy(UserName="alice", PolicyName="alice-scratch-bucket")["PolicyDocument"]
    assert policy["Statement"][0]["Resource"] == f"arn:aws:s3:::scratch-{account}-alice/*"
    assert iam.list_role_policies(RoleName="deploy")["PolicyNames"] == []
    assert trust_principals(iam, "deploy") == [sorted([f"arn:aws:iam::{account}:user/alice",
                                                       f"arn:aws:iam::{account}:user/carol"])]
    assert trust_principals(iam, "audit") == [[seeded.external_principal], [f"arn:aws:iam::{account}:user/alice"]]
    assert "revoke:run-id" not in {t["Key"] for t in iam.list_user_tags(UserName="alice")["Tags"]}

    records = [r for r in read_records(Path(json.loads(restored.output)["run_dir"])) if r.get("type") == "action"]
    assert {r["outcome"] for r in records if r["kind"] == "deactivate-access-key"} == {"done"}
    mfa = [r for r in records if r["kind"] == "deactivate-mfa-device"]
    assert mfa and {r["outcome"] for r in mfa} == {"attention"}
    why = {a.reason for a in build_restore_plan(run_dir).actions if a.kind == "deactivate-mfa-device"}
    assert len(why) == 1 and "enrols it again" in why.pop()


def test_trust_edit_leaves_deny_statements_and_matches_bare_account_ids() -> None:
    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ["111122223333", "arn:aws:iam::444455556666:user/x"]},
         "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole"}]}
    out = trust.without(doc, ["arn:aws:iam::111122223333:root"])
    assert out["Statement"][0]["Principal"]["AWS"] == ["arn:aws:iam::444455556666:user/x"]
    assert out["Statement"][1] == doc["Statement"][1]  # taking a principal out of a Deny would widen access
    back = trust.with_principal(out, "111122223333", trust.naming(doc, ["111122223333"]))
    assert sorted(back["Statement"][0]["Principal"]["AWS"]) == ["111122223333", "arn:aws:iam::444455556666:user/x"]


class _Body:
    def __init__(self, data: bytes):
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def _throttle(mp: pytest.MonkeyPatch, operation: str, times: int) -> list[str]:
    """Answer the first `times` calls of `operation` with AWS's Throttling error, before they reach the server."""
    from botocore.awsrequest import AWSResponse

    throttled: list[str] = []
    body = (b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
            b"</Error><RequestId>throttled-request</RequestId></ErrorResponse>")

    def before_send(request: Any, **_: Any) -> Any:
        if len(throttled) >= times:
            return None
        throttled.append(request.url)
        return AWSResponse(request.url, 400, {"x-amzn-requestid": "throttled-request"}, _Body(body))

    original = AwsSessions.client

    def client(self: AwsSessions, service: str, account: str | None = None) -> Any:
        made = original(self, service, account)
        if service == "iam" and not getattr(made, "_throttle_hooked", False):
            made.meta.events.register(f"before-send.iam.{operation}", before_send)
            made._throttle_hooked = True
        return made

    mp.setattr(AwsSessions, "client", client)
    return throttled


def _plan_and_apply(seeded: SeededAws, tmp_path: Path, clock: FakeClock) -> tuple[Any, Any]:
    runbook = write_runbook(tmp_path / "acme.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"aws": aws_system(seeded, "aws-iam", accounts=[seeded.accounts[0]])},
        "people": [{"name": "Alice Example", "ids": {"aws": "alice"}}]})
    secrets = Secrets({"aws_key": SecretStr(seeded.credentials["aws_access_key_id"]),
                       "aws_secret": SecretStr(seeded.credentials["aws_secret_access_key"])})
    plan = build_plan(load_runbook(runbook), secrets=secrets, clock=clock.clock())
    options = ApplyOptions(evidence_root=tmp_path / "evidence", fsync=False, clock=clock.clock())
    return plan, apply_plan(plan, options, secrets=secrets)


def test_a_throttled_write_is_sent_once_by_the_connector_and_retried_by_the_engine_on_its_clock(
        moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seeded = fresh_engagement(moto_server, identity_center=False, member_accounts=0)
    clock = FakeClock()
    throttled = _throttle(monkeypatch, "UpdateAccessKey", 2)
    _, result = _plan_and_apply(seeded, tmp_path, clock)
    # botocore makes one attempt: each throttled answer reached the engine, which waited on the run's clock
    # (no real sleep) and read the key back before sending the write again
    assert len(throttled) == 2 and len(clock.slept) >= 1 and sum(clock.slept) >= 2
    assert set(_keys(seeded, "alice").values()) == {"Inactive"}
    records = [r for r in read_records(result.run_dir) if r.get("kind") == "deactivate-access-key"
               and r.get("outcome")]
    assert {r["outcome"] for r in records} == {"done"}
    assert sorted(r["attempts"] for r in records) in ([1, 3], [2, 2])  # each throttled call was tried again


def test_a_throttled_read_is_repeated_by_the_engine_not_by_botocore(moto_server: MotoServer, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    seeded = fresh_engagement(moto_server, identity_center=False, member_accounts=0)
    clock = FakeClock()
    throttled = _throttle(monkeypatch, "ListAccessKeys", 1)
    plan, _ = _plan_and_apply(seeded, tmp_path, clock)
    # one throttled answer, one wait of the engine's back-off on the fake clock, and the plan is whole
    assert len(throttled) == 1 and clock.slept[:1] == [2.0]
    assert not any(s.error for s in plan.systems)
    assert {a.kind for a in plan.changes()} >= {"deactivate-access-key"}


def test_aws_iam_connector_conforms(moto_server: MotoServer, tmp_path: Path) -> None:
    """The conformance suite plugin authors run (revoke.testing), against moto (one account: the suite runs seven
    passes, and the other tests cover the fan-out over accounts)."""
    from revoke.testing import check_connector

    seeded = fresh_engagement(moto_server, identity_center=False, member_accounts=0)
    settings = aws_system(seeded, "aws-iam")["settings"]
    report = check_connector("aws-iam", settings, people={"Alice Example": "alice"},
                             secrets={"aws_key": seeded.credentials["aws_access_key_id"],
                                      "aws_secret": seeded.credentials["aws_secret_access_key"]},
                             server_state=lambda: iam_snapshot(seeded), workdir=tmp_path)
    assert report.restore is not None


def test_an_account_that_cannot_be_entered_is_reported_and_the_others_proceed(
        moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from botocore.awsrequest import AWSResponse

    from revoke.engine import build_plan
    from revoke.runbook import load_runbook

    seeded = fresh_engagement(moto_server, identity_center=False, member_accounts=1)
    refusing = seeded.accounts[1]
    body = (b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform "
            b"sts:AssumeRole</Message></Error><RequestId>denied</RequestId></ErrorResponse>")

    def deny(request: Any, **_: Any) -> Any:
        sent = request.body or b""
        if refusing in (sent.decode() if isinstance(sent, bytes) else sent):
            return AWSResponse(request.url, 403, {}, _Body(body))
        return None

    original = boto3.session.Session.client

    def client(self: Any, service: str, *args: Any, **kwargs: Any) -> Any:
        made = original(self, service, *args, **kwargs)
        if service == "sts":
            made.meta.events.register("before-send.sts.AssumeRole", deny)
        return made

    monkeypatch.setattr(boto3.session.Session, "client", client)
    for k, v in credentials_env(seeded).items():
        monkeypatch.setenv(k, v)
    plan = build_plan(load_runbook(_runbook(seeded, tmp_path / "acme.yaml")))
    (system,) = plan.systems
    assert system.error is None and refusing in system.operator["unreachable"]
    assert list(system.operator["accounts"]) == [seeded.accounts[0]]
    notices = [n for n in plan.notices if refusing in n.message]
    assert {n.person for n in notices} == {"Alice Example", "Bob Example"}
    role = f"arn:aws:iam::{refusing}:role/OrganizationAccountAccessRole"
    assert all(n.severity == "error" and role in n.message and "access denied" in n.message for n in notices)
    assert not any(a.params.get("account") == refusing for a in plan.actions)
    assert any(a.params.get("account") == seeded.accounts[0] for a in plan.actions)
