"""aws-iam reads a batch of users with one account-wide read (iam:GetAccountAuthorizationDetails) instead of several
calls per user, and still verifies every change: checked against moto's server with independent boto3 clients."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from revoke.cli import cli
from revoke.connectors.aws import base as _aws
from revoke.connectors.aws import iam as aws_iam
from revoke.connectors.aws.iam_account import IamReader
from revoke.connectors.aws.iam_kinds import RemoveFromGroup, state_of
from revoke.evidence import read_records
from revoke.sandbox.aws import (
    ACCESS_ROLE,
    MotoServer,
    account_credentials,
    client,
    fake_credentials,
)
from tests.aws_env import moto_server, on_every_call  # noqa: F401
from tests.conftest import write_runbook, yesterday

USERS = [f"leaver{i}" for i in range(8)]


def _seed(server: MotoServer) -> dict[str, Any]:
    """An organization with one member account holding eight leavers, each with a console password, an access
    key, a group, a managed and an inline policy, and a tag of their own."""
    server.reset()
    credentials = fake_credentials()
    org = client(server.url, "organizations", credentials)
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(AccountName="member", Email="member@example.com")["CreateAccountStatus"]["AccountId"]
    iam = client(server.url, "iam", account_credentials(server.url, credentials, member))
    iam.create_group(GroupName="developers")
    arn = iam.create_policy(PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]}))
    for name in USERS:
        iam.create_user(UserName=name, Tags=[{"Key": "team", "Value": "engagement"}])
        iam.create_login_profile(UserName=name, Password="Test-only-1!" + name)
        iam.create_access_key(UserName=name)
        iam.add_user_to_group(GroupName="developers", UserName=name)
        iam.attach_user_policy(UserName=name, PolicyArn=arn["Policy"]["Arn"])
        iam.put_user_policy(UserName=name, PolicyName="scratch", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    return {"url": server.url, "credentials": credentials, "member": member, "iam": iam}


def _apply(seeded: dict[str, Any], folder: Path, mp: pytest.MonkeyPatch) -> tuple[Counter[str], Path]:
    """Plan and apply for the eight leavers in the member account; every AWS call of the apply, counted."""
    runbook = write_runbook(folder / "runbook.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"aws": {"connector": "aws-iam", "concurrency": 2, "settings": {
            "endpoint_url": seeded["url"], "region": "us-east-1", "accounts": [seeded["member"]],
            "access_key_id": {"secret": "aws_key"}, "secret_access_key": {"secret": "aws_secret"}}}},
        "people": [{"name": f"Leaver {name}", "ids": {"aws": name}} for name in USERS],
    })
    mp.setenv("REVOKE_AWS_KEY", seeded["credentials"]["aws_access_key_id"])
    mp.setenv("REVOKE_AWS_SECRET", seeded["credentials"]["aws_secret_access_key"])
    mp.chdir(folder)
    runner = CliRunner()
    planned = runner.invoke(cli, ["--quiet", "plan", str(runbook), "--out", "plan.json"], catch_exceptions=False)
    assert planned.exit_code == 2, planned.output
    calls: Counter[str] = Counter()
    with pytest.MonkeyPatch.context() as hooks:  # counts the apply only, through botocore's before-call event
        on_every_call(hooks, lambda prefix, operation: calls.update([f"{prefix}:{operation}"]))
        applied = runner.invoke(cli, ["--quiet", "--output", "json", "apply", "plan.json"], catch_exceptions=False)
    assert applied.exit_code == 0, applied.output
    return calls, Path(json.loads(applied.output)["run_dir"])


def _assert_revoked(seeded: dict[str, Any]) -> None:
    """Each leaver's end state, read with a client of its own (not revoke's)."""
    iam = seeded["iam"]
    for name in USERS:
        assert [k["Status"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]] == ["Inactive"]
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_login_profile(UserName=name)
        assert iam.list_groups_for_user(UserName=name)["Groups"] == []
        assert iam.list_attached_user_policies(UserName=name)["AttachedPolicies"] == []
        assert iam.list_user_policies(UserName=name)["PolicyNames"] == []
        tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]}
        assert tags["team"] == "engagement" and tags["revoke:run-id"]


def test_a_batch_of_users_is_verified_with_one_account_wide_read(moto_server: MotoServer, tmp_path: Path,  # noqa: F811
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    seeded = _seed(moto_server)
    (tmp_path / "wide").mkdir()
    calls, run_dir = _apply(seeded, tmp_path / "wide", monkeypatch)
    _assert_revoked(seeded)
    # moto lacks service-specific credentials: those actions are recorded as not supported, and read nothing
    records = [r for r in read_records(run_dir) if r.get("type") == "action"
               and r["kind"] != "deactivate-service-credential"]
    assert len(records) == 6 * len(USERS)
    assert all(r["outcome"] == "done" and r["verification"] == "verified" for r in records)
    assert all(r["after"]["user_exists"] is True for r in records)
    assert calls["iam:GetAccountAuthorizationDetails"] >= 2  # the check phase, then each batch's read-back
    # the guardrails re-derived after the check phase name accounts from its listing: no ListUsers of their own
    assert calls["iam:ListUsers"] == 0, calls

    # the same work read back user by user: more calls for the same verified end state
    seeded = _seed(moto_server)
    (tmp_path / "per-user").mkdir()
    monkeypatch.setattr(aws_iam, "account_read_pays", lambda saved, users: False)
    per_user_calls, _ = _apply(seeded, tmp_path / "per-user", monkeypatch)
    _assert_revoked(seeded)
    assert per_user_calls["iam:GetAccountAuthorizationDetails"] == 0
    assert per_user_calls["iam:ListUsers"] == 1  # nothing listed the account: identify lists it, once
    assert sum(calls.values()) < sum(per_user_calls.values()) * 0.75, (calls, per_user_calls)
    # the reads the listing answers: a batch's few leftover actions may still be read user by user, where that is
    # the cheaper way, but most are gone
    per_user = ("iam:ListGroupsForUser", "iam:ListAttachedUserPolicies", "iam:ListUserTags", "iam:GetUserPolicy",
                "iam:GetUser")
    assert sum(calls[op] for op in per_user) * 4 < sum(per_user_calls[op] for op in per_user), calls


def test_identity_in_each_account_is_what_get_caller_identity_answers(moto_server: MotoServer,  # noqa: F811
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    seeded = _seed(moto_server)
    calls, run_dir = _apply(seeded, tmp_path, monkeypatch)
    assert calls["sts:GetCallerIdentity"] == 1  # the base credentials only: AssumeRole names the rest
    operator = read_records(run_dir)[0]["systems"]["aws"]["operator"]
    c = boto3.client("sts", endpoint_url=seeded["url"], region_name="us-east-1", **seeded["credentials"]).assume_role(
        RoleArn=f"arn:aws:iam::{seeded['member']}:role/{ACCESS_ROLE}", RoleSessionName="revoke")["Credentials"]
    sts = boto3.client("sts", endpoint_url=seeded["url"], region_name="us-east-1", aws_access_key_id=c["AccessKeyId"],
                       aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
    me = sts.get_caller_identity()
    assert operator["accounts"][seeded["member"]] == {"account": me["Account"], "arn": me["Arn"],
                                                       "user_id": me["UserId"]}


def test_a_user_the_listing_lacks_is_asked_about_alone(moto_server: MotoServer) -> None:  # noqa: F811
    seeded = _seed(moto_server)
    iam = seeded["iam"]
    # a listing without leaver0 (as one taken before it was created would be): its groups come from its own call
    listed = [u for u in iam.get_account_authorization_details(Filter=["User"])["UserDetailList"]
              if u["UserName"] != "leaver0"]
    reader = IamReader(iam, seeded["member"], users=listed)
    assert state_of("remove-from-group", reader, {"user": "leaver0", "group": "developers"}, None) == {
        "member": True, "user_exists": True}
    # a user that is nowhere: never read as out of the group
    state = state_of("remove-from-group", reader, {"user": "nobody", "group": "developers"}, None)
    assert state == {"member": None, "user_exists": False}
    assert not RemoveFromGroup.is_done(state)


def test_timestamps_read_through_revoke_equal_botocore_own(moto_server: MotoServer) -> None:  # noqa: F811
    """revoke's AWS clients parse ISO 8601 timestamps without dateutil (a tenth of its CPU on a large apply); what
    they give must be what botocore's own parser gives, in the base account and in an account entered by a role."""
    from botocore.utils import parse_timestamp
    from pydantic import SecretStr

    from revoke.connectors.aws.base import timestamp
    from revoke.secrets import Secrets

    for text in ("2026-11-28T21:44:00Z", "2026-11-28T21:44:00.123456789Z", "2026-11-28T23:44:00+02:00",
                 "2026-11-28T21:44:00", "1700000000", "Sat, 28 Nov 2026 21:44:00 GMT"):
        ours, theirs = timestamp(text), parse_timestamp(text)
        assert ours == theirs and (ours.tzinfo is None) == (theirs.tzinfo is None), text
    seeded = _seed(moto_server)
    settings = aws_iam.AwsIamSettings(endpoint_url=seeded["url"], access_key_id={"secret": "k"},
                                      secret_access_key={"secret": "s"})
    sessions = _aws.AwsSessions(settings, Secrets({
        "k": SecretStr(seeded["credentials"]["aws_access_key_id"]),
        "s": SecretStr(seeded["credentials"]["aws_secret_access_key"])}), "aws")
    sessions.enter(seeded["member"], f"arn:aws:iam::{seeded['member']}:role/{ACCESS_ROLE}", "revoke", None)
    plain = seeded["iam"]  # a boto3 client of its own, with botocore's default parser
    ours = sessions.client("iam", seeded["member"]).list_access_keys(UserName="leaver0")["AccessKeyMetadata"]
    theirs = plain.list_access_keys(UserName="leaver0")["AccessKeyMetadata"]
    assert [k["CreateDate"] for k in ours] == [k["CreateDate"] for k in theirs]
    assert all(k["CreateDate"].utcoffset() is not None for k in ours)
    # the base session's clients too, for Organizations' timestamps (epoch seconds, botocore's parser)
    plain_org = boto3.client("organizations", endpoint_url=seeded["url"], region_name="us-east-1",
                             **seeded["credentials"])
    joined = [a["JoinedTimestamp"] for a in sessions.client("organizations").list_accounts()["Accounts"]]
    assert joined and joined == [a["JoinedTimestamp"] for a in plain_org.list_accounts()["Accounts"]]
    listed = sessions.client("iam", seeded["member"]).get_account_authorization_details(Filter=["User"])
    expected = plain.get_account_authorization_details(Filter=["User"])
    assert [u["CreateDate"] for u in listed["UserDetailList"]] == [u["CreateDate"] for u in expected["UserDetailList"]]


def test_role_credentials_about_to_expire_are_assumed_again(moto_server: MotoServer,  # noqa: F811
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore asks before every request whether a role's credentials expire soon, on revoke's UTC clock (not
    dateutil's tzlocal()): credentials 5 minutes from expiry are assumed again before the call, which succeeds."""
    import datetime as dt

    from pydantic import SecretStr

    from revoke.secrets import Secrets

    seeded = _seed(moto_server)
    calls: Counter[str] = Counter()
    on_every_call(monkeypatch, lambda prefix, operation: calls.update([f"{prefix}:{operation}"]))
    settings = aws_iam.AwsIamSettings(endpoint_url=seeded["url"], access_key_id={"secret": "k"},
                                      secret_access_key={"secret": "s"})
    sessions = _aws.AwsSessions(settings, Secrets({
        "k": SecretStr(seeded["credentials"]["aws_access_key_id"]),
        "s": SecretStr(seeded["credentials"]["aws_secret_access_key"])}), "aws")
    sessions.enter(seeded["member"], f"arn:aws:iam::{seeded['member']}:role/{ACCESS_ROLE}", "revoke", None)
    iam = sessions.client("iam", seeded["member"])
    iam.list_access_keys(UserName="leaver0")
    assert calls["sts:AssumeRole"] == 1  # fresh credentials: no refresh
    credentials = iam._request_signer._credentials
    now = dt.datetime.now(dt.timezone.utc)
    credentials._expiry_time = now + dt.timedelta(minutes=5)  # as an hour later, near the end of the session
    assert iam.list_access_keys(UserName="leaver0")["AccessKeyMetadata"]
    assert calls["sts:AssumeRole"] == 2
    assert credentials._expiry_time > now + dt.timedelta(minutes=30)
