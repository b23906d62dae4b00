"""Issue 16, case 8: a role whose trust policy names only leaving principals kept trusting them: revoke asked a
person because taking them out would leave the policy empty, and access remained until someone acted. Now the
leaver is denied in it by an explicit Deny (the default; valid, restorable), or, as the runbook chooses, the role is
deleted or a person is asked. Checked against moto's server, the trust policy read with a separate boto3 client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from click.testing import CliRunner

from revoke.cli import cli
from revoke.connectors.aws import trust
from revoke.evidence import read_records
from revoke.sandbox.aws import MotoServer, SeededAws
from tests.aws_env import aws_system, credentials_env, fresh_engagement, moto_server  # noqa: F401
from tests.conftest import write_runbook, yesterday

ROLE = "alice-sandbox"  # the seeded role whose trust policy names alice alone


def _iam(seeded: SeededAws) -> Any:
    """An IAM client of the test's own, not revoke's: what the server holds, as any AWS user would read it."""
    return boto3.client("iam", endpoint_url=seeded.url, region_name="us-east-1",
                        config=Config(retries={"total_max_attempts": 1}), **seeded.credentials)


@pytest.fixture
def world(moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seeded = fresh_engagement(moto_server, member_accounts=0, identity_center=False)
    for k, v in credentials_env(seeded).items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    iam = _iam(seeded)
    iam.put_role_policy(RoleName=ROLE, PolicyName="sandbox", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    iam.create_instance_profile(InstanceProfileName="sandbox-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="sandbox-profile", RoleName=ROLE)
    return {"seeded": seeded, "iam": iam, "dir": tmp_path, "alice": f"arn:aws:iam::{seeded.accounts[0]}:user/alice",
            "trust_before": iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]}


def _runbook(world: dict[str, Any], **settings: Any) -> Path:
    return write_runbook(world["dir"] / "acme.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"aws": aws_system(world["seeded"], "aws-iam", **settings)},
        "people": [{"name": "Alice Example", "ids": {"aws": "alice"}}]})


def _apply(runbook: Path) -> tuple[Any, list[dict[str, Any]]]:
    result = CliRunner().invoke(cli, ["--quiet", "--output", "json", "apply", str(runbook), "--yes"])
    run_dir = Path(json.loads(result.output)["run_dir"])
    return result, [r for r in read_records(run_dir) if r.get("type") == "action"]


def test_a_role_trusted_only_by_the_leaver_denies_them_and_restore_takes_it_back(world: dict[str, Any]) -> None:
    result, records = _apply(_runbook(world))
    doc = world["iam"].get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]
    allow, deny = doc["Statement"]
    assert allow == world["trust_before"]["Statement"][0]  # the Allow is as it was: the policy stays valid
    assert deny["Effect"] == "Deny" and deny["Sid"] == trust.DENY_SID and "Condition" not in deny
    assert deny["Principal"] == {"AWS": [world["alice"]]}
    assert sorted(deny["Action"]) == ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"]
    (denied,) = [r for r in records if r["kind"] == "deny-trust"]
    assert denied["outcome"] == "done" and denied["verification"] == "verified"
    assert not [r for r in records if r["kind"] == "remove-trust" and r["resource"].endswith(f"/{ROLE}")]

    replanned = CliRunner().invoke(cli, ["--quiet", "plan", str(world["dir"] / "acme.yaml")])
    assert "0 to change" in replanned.output and "trust policy already denies leaver" in replanned.output
    restored = CliRunner().invoke(cli, ["--quiet", "--output", "json", "restore",
                                        json.loads(result.output)["run_dir"], "--yes"])
    assert restored.output, restored.stderr
    assert world["iam"].get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"] == world["trust_before"]


def test_delete_role_deletes_it_with_what_iam_requires_first(world: dict[str, Any]) -> None:
    result, records = _apply(_runbook(world, empty_trust_policy="delete-role"))
    iam = world["iam"]
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=ROLE)
    assert iam.get_instance_profile(InstanceProfileName="sandbox-profile")["InstanceProfile"]["Roles"] == []
    (deleted,) = [r for r in records if r["kind"] == "delete-role"]
    assert deleted["outcome"] == "done"
    before = deleted["before"]  # what a person needs to recreate it
    assert before["trust_policy"] == world["trust_before"] and "sandbox" in before["inline_policies"]
    assert before["instance_profiles"] == ["sandbox-profile"]
    assert not [r for r in records if r["resource"].endswith(f"/{ROLE}") and r["kind"] != "delete-role"]
    assert iam.get_role(RoleName="deploy")["Role"]  # roles that trust others too are edited, never deleted


def test_ask_leaves_the_role_for_a_person_and_says_so(world: dict[str, Any]) -> None:
    result, records = _apply(_runbook(world, empty_trust_policy="ask"))
    assert result.exit_code == 3
    assert world["iam"].get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"] == world["trust_before"]
    (asked,) = [r for r in records if r["kind"] == "remove-trust" and r["resource"].endswith(f"/{ROLE}")]
    assert asked["outcome"] == "attention" and "decide" in asked["note"]


def test_an_unknown_choice_is_a_located_runbook_error(world: dict[str, Any]) -> None:
    runbook = _runbook(world, empty_trust_policy="keep")
    result = CliRunner().invoke(cli, ["validate", str(runbook)])
    assert result.exit_code == 1 and "systems.aws.settings.empty_trust_policy" in result.stderr
