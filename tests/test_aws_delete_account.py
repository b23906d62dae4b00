"""aws-iam `delete-account`: IAM's DeleteConflict rule is enforced here as AWS enforces it (moto deletes a user
that still has keys or groups, so moto's leniency is no proof of ordering), and the connector deletes the user
only after everything that blocks DeleteUser is gone. Never planned unless the settings ask for it; with
`stages:` in the runbook a local apply leaves it to the scheduled later stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from revoke.evidence import read_records
from tests.aws_env import aws_system, credentials_env, fresh_engagement, moto_server  # noqa: F401 - fixture
from tests.conftest import write_runbook, yesterday

_BLOCKERS = [("ListAccessKeys", "AccessKeyMetadata", "access keys"), ("ListSigningCertificates", "Certificates",
             "signing certificates"), ("ListSSHPublicKeys", "SSHPublicKeys", "SSH public keys"),
             ("ListMFADevices", "MFADevices", "MFA devices"), ("ListGroupsForUser", "Groups", "groups"),
             ("ListAttachedUserPolicies", "AttachedPolicies", "attached policies"),
             ("ListUserPolicies", "PolicyNames", "inline policies")]


@pytest.fixture
def strict_iam(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """DeleteUser answers DeleteConflict while anything AWS lists as blocking remains (IAM's documented rule)."""
    original = BaseClient._make_api_call
    deleted: list[str] = []

    def call(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "DeleteUser" and self.meta.service_model.service_name == "iam":
            user = params["UserName"]
            left = [what for op, key, what in _BLOCKERS if original(self, op, {"UserName": user}).get(key)]
            try:
                original(self, "GetLoginProfile", {"UserName": user})
                left.append("login profile")
            except ClientError:
                pass
            if left:
                raise ClientError({"Error": {"Code": "DeleteConflict", "Message": "Cannot delete entity, must "
                                             f"remove {', '.join(left)} first."},
                                   "ResponseMetadata": {"HTTPStatusCode": 409}}, operation)
            deleted.append(user)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", call)
    return deleted


def _runbook(tmp_path: Path, seeded: Any, **extra: Any) -> Path:
    return write_runbook(tmp_path / "rb.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"aws": {**aws_system(seeded, "aws-iam", delete_account=True), "blast_radius": 20}},
        "people": [{"name": "Alice", "ids": {"aws": "alice"}}], **extra})


def _exists(iam: Any, user: str) -> bool:
    try:
        iam.get_user(UserName=user)
        return True
    except iam.exceptions.NoSuchEntityException:
        return False


def test_the_emulated_rule_refuses_a_plain_delete(moto_server, strict_iam):  # noqa: F811
    seeded = fresh_engagement(moto_server, identity_center=False)
    iam = seeded.client("iam")
    with pytest.raises(ClientError, match="DeleteConflict"):
        iam.delete_user(UserName="alice")
    assert _exists(iam, "alice")


def test_delete_account_removes_every_blocker_then_the_user(moto_server, strict_iam, tmp_path, run_cli,  # noqa: F811
                                                            monkeypatch):
    seeded = fresh_engagement(moto_server, identity_center=False)
    for k, v in credentials_env(seeded).items():
        monkeypatch.setenv(k, v)
    runbook = _runbook(tmp_path, seeded)
    out = run_cli("--output", "json", "apply", str(runbook), "--yes")
    assert {a["outcome"] for a in json.loads(out.output)["actions"]} <= {"done", "not_supported"}
    assert out.exit_code in (0, 3), out.stderr
    run_dir = Path(json.loads(out.output)["run_dir"])
    for account in seeded.accounts:
        iam = seeded.client("iam", account)
        assert not _exists(iam, "alice"), account
        assert _exists(iam, "carol") and _exists(iam, "bob")
    assert strict_iam.count("alice") == len(seeded.accounts)
    deletes = [r for r in read_records(run_dir) if r["type"] == "action" and r["kind"] == "delete-account"]
    assert len(deletes) == len(seeded.accounts)
    for r in deletes:
        assert r["outcome"] == "done" and r["verification"] == "absent", r  # read back: the user is gone
        removed = r["receipt"]["removed"]
        assert removed["access_keys"]  # deactivated by the first actions, deleted only now


def test_delete_account_is_never_planned_by_default(moto_server, tmp_path, run_cli, monkeypatch):  # noqa: F811
    seeded = fresh_engagement(moto_server, identity_center=False)
    for k, v in credentials_env(seeded).items():
        monkeypatch.setenv(k, v)
    data = {"engagement": "acme-2026", "final_day": yesterday(), "systems": {"aws": aws_system(seeded, "aws-iam")},
            "people": [{"name": "Alice", "ids": {"aws": "alice"}}]}
    runbook = write_runbook(tmp_path / "rb.yaml", data)
    out = run_cli("--output", "json", "plan", str(runbook))
    assert "delete-account" not in {a["kind"] for a in json.loads(out.output)["plan"]["actions"]}


def test_a_local_apply_leaves_a_later_stage_to_the_scheduled_run(moto_server, strict_iam, tmp_path,  # noqa: F811
                                                                 run_cli, monkeypatch):
    seeded = fresh_engagement(moto_server, identity_center=False)
    for k, v in credentials_env(seeded).items():
        monkeypatch.setenv(k, v)
    runbook = _runbook(tmp_path, seeded, stages=[{"after": "30d", "kinds": ["delete-account"]}])
    out = run_cli("--output", "json", "apply", str(runbook), "--yes")
    run = json.loads(out.output)
    deletes = [a for a in run["actions"] if a["kind"] == "delete-account"]
    assert deletes and all(a["outcome"] == "skipped" and "stage 2" in a["error"] for a in deletes)
    iam = seeded.client("iam")
    assert _exists(iam, "alice") and not strict_iam
    keys = iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
    assert keys and all(k["Status"] == "Inactive" for k in keys)  # the first stage itself was carried out
