"""Fixtures and helpers for tests against moto's server (revoke.sandbox.aws).

moto keeps its state in the process, so every module that seeds an organization first resets the server; modules
run one after another, never interleaved.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import pytest

from revoke.connectors.aws import base as _aws
from revoke.sandbox.aws import MotoServer, SeededAws, seed_engagement


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


def fresh_engagement(server: MotoServer, **parts: Any) -> SeededAws:
    server.reset()
    return seed_engagement(server.url, **parts)


def credentials_env(seeded: SeededAws) -> dict[str, str]:
    """The made-up moto credentials as the runbook secrets `aws_key` / `aws_secret`, for this test process only."""
    return {"REVOKE_AWS_KEY": seeded.credentials["aws_access_key_id"],
            "REVOKE_AWS_SECRET": seeded.credentials["aws_secret_access_key"]}


def aws_system(seeded: SeededAws, connector: str, **extra: Any) -> dict[str, Any]:
    settings = {"endpoint_url": seeded.url, "region": "us-east-1",
                "access_key_id": {"secret": "aws_key"}, "secret_access_key": {"secret": "aws_secret"}}
    settings.update(extra)
    return {"connector": connector, "settings": settings}


class CallRecorder:
    """Every AWS operation revoke's connectors call, as IAM action names (iam:UpdateAccessKey)."""

    def __init__(self) -> None:
        self.actions: set[str] = set()

    def __call__(self, prefix: str, operation: str) -> None:
        self.actions.add(f"{prefix}:{operation}")


# IAM action prefix of each boto3 service name, for the permission check of the calls made
IAM_PREFIX = {"sso-admin": "sso", "identitystore": "identitystore", "iam": "iam", "sts": "sts",
              "organizations": "organizations"}


def on_every_call(mp: pytest.MonkeyPatch, hook: Callable[[str, str], None]) -> None:
    """Call `hook(iam_prefix, operation)` before every AWS call of every client the connectors make, through
    botocore's before-call event (production code has no hook of its own)."""
    original = _aws.AwsSessions.client

    def client(self: _aws.AwsSessions, service: str, account: str | None = None) -> Any:
        found = original(self, service, account)
        if hook not in getattr(found, "_test_hooks", []):
            found._test_hooks = [*getattr(found, "_test_hooks", []), hook]
            prefix = IAM_PREFIX.get(service, service)
            found.meta.events.register("before-call", lambda model, **_: hook(prefix, model.name))
        return found

    mp.setattr(_aws.AwsSessions, "client", client)


def record_calls(mp: pytest.MonkeyPatch) -> CallRecorder:
    """Every AWS operation the connectors call from now on."""
    recorder = CallRecorder()
    on_every_call(mp, recorder)
    return recorder


def policy_actions(document: str) -> set[str]:
    policy = json.loads(document)
    out: set[str] = set()
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow" and st["Resource"] == "*"
        out |= set(st["Action"])
    return out


def trust_principals(iam: Any, role: str) -> list[list[str]]:
    """The AWS principals of each statement of a role's trust policy, read from the server."""
    doc = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    out = []
    for st in doc["Statement"]:
        aws = st.get("Principal", {}).get("AWS", [])
        out.append(sorted([aws] if isinstance(aws, str) else aws))
    return out


def iam_snapshot(seeded: Any) -> dict[str, Any]:
    """Every IAM fact revoke could change, per account, read with independent clients: any write changes it."""
    out: dict[str, Any] = {}
    for account in seeded.accounts:
        iam = seeded.client("iam", account)
        details = iam.get_account_authorization_details(Filter=["User", "Role"])
        users = {}
        for u in details["UserDetailList"]:
            name = u["UserName"]
            try:
                profile = iam.get_login_profile(UserName=name)["LoginProfile"]["UserName"]
            except iam.exceptions.NoSuchEntityException:
                profile = None
            users[name] = {
                "groups": sorted(u.get("GroupList", [])), "attached": u.get("AttachedManagedPolicies", []),
                "inline": u.get("UserPolicyList", []), "tags": u.get("Tags", []), "login": profile,
                "keys": [(k["AccessKeyId"], k["Status"]) for k in iam.list_access_keys(UserName=name)[
                    "AccessKeyMetadata"]],
                "ssh": [(k["SSHPublicKeyId"], k["Status"]) for k in iam.list_ssh_public_keys(UserName=name)[
                    "SSHPublicKeys"]],
                "certs": [(c["CertificateId"], c["Status"]) for c in iam.list_signing_certificates(UserName=name)[
                    "Certificates"]],
                "mfa": [d["SerialNumber"] for d in iam.list_mfa_devices(UserName=name)["MFADevices"]]}
        roles = {r["RoleName"]: {"trust": r["AssumeRolePolicyDocument"], "inline": r.get("RolePolicyList", [])}
                 for r in details["RoleDetailList"]}
        out[account] = {"users": users, "roles": roles}
    return json.loads(json.dumps(out, default=str, sort_keys=True))


def identity_center_snapshot(seeded: Any) -> dict[str, Any]:
    """Assignments, memberships, users and permission set inline policies, read with independent clients."""
    sso, ids = seeded.client("sso-admin"), seeded.client("identitystore")
    store, instance = seeded.identity_store_id, seeded.instance_arn
    users = sorted(u["UserId"] for u in ids.list_users(IdentityStoreId=store)["Users"])
    out: dict[str, Any] = {"users": users, "assignments": {}, "memberships": {}, "inline": {}}
    for user_id in seeded.sso_users.values():
        out["assignments"][user_id] = sorted(
            (a["AccountId"], a["PermissionSetArn"]) for a in sso.list_account_assignments_for_principal(
                InstanceArn=instance, PrincipalId=user_id, PrincipalType="USER")["AccountAssignments"])
        out["memberships"][user_id] = sorted(m["GroupId"] for m in ids.list_group_memberships_for_member(
            IdentityStoreId=store, MemberId={"UserId": user_id})["GroupMemberships"])
    for ps in seeded.permission_sets.values():
        out["inline"][ps] = sso.get_inline_policy_for_permission_set(InstanceArn=instance,
                                                                     PermissionSetArn=ps)["InlinePolicy"]
    return json.loads(json.dumps(out, default=str, sort_keys=True))
