"""`delete-account` for IAM users: never planned unless `settings.delete_account` is true, and meant for a later
stage of a scheduled run (`stages: [{after: 30d, kinds: [delete-account]}]`), after the first stage left the user
with nothing usable and the grace period has passed.

IAM refuses `DeleteUser` with `DeleteConflict` while the user has access keys, signing certificates, SSH keys,
service-specific credentials, MFA devices, a console password, group memberships, attached or inline policies or
a permissions boundary. The write removes them in that order and then deletes the user; every name it removed is in
the receipt (the evidence), since none of it can be restored. The before-state is the user's id: a user deleted and
made again under the same name since the plan is another user, so the plan is stale, never the new one deleted.
"""

from __future__ import annotations

from typing import Any, Callable

from botocore.exceptions import ClientError

from revoke.actions import ActionKind, State
from revoke.connector import Receipt
from revoke.connectors.aws.base import AWS_ERRORS, error_code, request_id, translate
from revoke.errors import ActionFailed


class DeleteAccount(ActionKind):
    name = "delete-account"
    summary = "delete IAM user (with its credentials, MFA, groups and policies)"
    done_summary = "IAM user already deleted:"
    desired = {"exists": False}
    restorable = False
    runs_last = True
    restore_note = ("a deleted IAM user cannot be brought back (a new user gets a new id): the receipt of this record "
                    "lists the keys, groups and policies it had")
    permissions = ("iam:GetUser", "iam:ListAccessKeys", "iam:DeleteAccessKey", "iam:ListSigningCertificates",
                   "iam:DeleteSigningCertificate", "iam:ListSSHPublicKeys", "iam:DeleteSSHPublicKey",
                   "iam:ListServiceSpecificCredentials", "iam:DeleteServiceSpecificCredential",
                   "iam:ListMFADevices", "iam:DeactivateMFADevice", "iam:DeleteVirtualMFADevice",
                   "iam:DeleteLoginProfile", "iam:ListGroupsForUser", "iam:RemoveUserFromGroup",
                   "iam:ListAttachedUserPolicies", "iam:DetachUserPolicy", "iam:ListUserPolicies",
                   "iam:DeleteUserPolicy", "iam:DeleteUserPermissionsBoundary", "iam:DeleteUser")


def delete_state(iam: Any, user: str) -> State:
    try:
        found = iam.get_user(UserName=user)["User"]
    except ClientError as err:
        if error_code(err) == "NoSuchEntity":
            return {"exists": False, "user_id": None}
        raise translate(err, f"iam:GetUser {user}") from None
    except AWS_ERRORS as err:
        raise translate(err, f"iam:GetUser {user}") from None
    return {"exists": True, "user_id": found["UserId"]}


def _items(iam: Any, op: str, key: str, user: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in iam.get_paginator(op).paginate(UserName=user):
        out.extend(page.get(key, []))
    return out


def delete_user(iam: Any, probe: Any, p: dict[str, Any], before: State) -> Receipt:
    """Take away what blocks DeleteUser, in IAM's order, then delete the user. Stops at the first refusal."""
    user = p["user"]
    what = f"delete-account {user} in {p['account']}"
    now = delete_state(iam, user)
    if not now["exists"]:
        return Receipt(detail={"answer": "the user was already deleted"})
    if before.get("user_id") and now["user_id"] != before["user_id"]:
        raise ActionFailed(f"{what}: {user} is now another user (id {now['user_id']}, the plan saw "
                           f"{before['user_id']}): not deleted; plan again")
    removed: dict[str, list[str]] = {}
    ids: list[str] = []

    def call(fn: Callable[..., Any], **kw: Any) -> None:
        rid = request_id(fn(**kw))
        if rid:
            ids.append(rid)

    def step(label: str, op: str, key: str, field: str, remove: Callable[[dict[str, Any]], None],
             client: Any = iam) -> None:
        for item in _items(client, op, key, user):
            remove(item)
            removed.setdefault(label, []).append(str(item[field]))

    try:
        step("access_keys", "list_access_keys", "AccessKeyMetadata", "AccessKeyId",
             lambda k: call(iam.delete_access_key, UserName=user, AccessKeyId=k["AccessKeyId"]))
        step("signing_certificates", "list_signing_certificates", "Certificates", "CertificateId",
             lambda c: call(iam.delete_signing_certificate, UserName=user, CertificateId=c["CertificateId"]))
        step("ssh_keys", "list_ssh_public_keys", "SSHPublicKeys", "SSHPublicKeyId",
             lambda k: call(iam.delete_ssh_public_key, UserName=user, SSHPublicKeyId=k["SSHPublicKeyId"]))
        _service_credentials(iam, probe, user, removed, call)
        step("mfa_devices", "list_mfa_devices", "MFADevices", "SerialNumber", lambda d: _mfa(iam, user, d, call))
        _login_profile(iam, user, removed, call)
        step("groups", "list_groups_for_user", "Groups", "GroupName",
             lambda g: call(iam.remove_user_from_group, UserName=user, GroupName=g["GroupName"]))
        step("attached_policies", "list_attached_user_policies", "AttachedPolicies", "PolicyArn",
             lambda pol: call(iam.detach_user_policy, UserName=user, PolicyArn=pol["PolicyArn"]))
        for name in [n for page in iam.get_paginator("list_user_policies").paginate(UserName=user)
                     for n in page.get("PolicyNames", [])]:
            call(iam.delete_user_policy, UserName=user, PolicyName=name)
            removed.setdefault("inline_policies", []).append(name)
        if iam.get_user(UserName=user)["User"].get("PermissionsBoundary"):
            call(iam.delete_user_permissions_boundary, UserName=user)
            removed["permissions_boundary"] = ["removed"]
        call(iam.delete_user, UserName=user)
    except ClientError as err:
        if error_code(err) == "DeleteConflict":
            raise ActionFailed(f"{what}: IAM refused (DeleteConflict: "
                               f"{(err.response.get('Error') or {}).get('Message', '')}) after removing "
                               f"{_said(removed)}: something this version of revoke does not remove is attached; "
                               "remove it by hand and apply again", request_ids=ids) from None
        raise translate(err, what) from None
    except AWS_ERRORS as err:
        raise translate(err, what) from None
    return Receipt(request_ids=tuple(ids), detail={"removed": removed})


def _mfa(iam: Any, user: str, device: dict[str, Any], call: Callable[..., Any]) -> None:
    serial = device["SerialNumber"]
    call(iam.deactivate_mfa_device, UserName=user, SerialNumber=serial)
    if ":mfa/" in serial:  # a virtual device is an IAM object of its own: it goes with the user
        call(iam.delete_virtual_mfa_device, SerialNumber=serial)


def _login_profile(iam: Any, user: str, removed: dict[str, list[str]], call: Callable[..., Any]) -> None:
    try:
        call(iam.delete_login_profile, UserName=user)
        removed["console_password"] = ["deleted"]
    except ClientError as err:
        if error_code(err) != "NoSuchEntity":
            raise


def _service_credentials(iam: Any, probe: Any, user: str, removed: dict[str, list[str]],
                         call: Callable[..., Any]) -> None:
    """Listed through the probe client (an emulator may lack the call: then DeleteUser itself says whether any
    remain, and a conflict is reported)."""
    try:
        creds = probe.list_service_specific_credentials(UserName=user).get("ServiceSpecificCredentials", [])
    except AWS_ERRORS:
        return
    for c in creds:
        call(iam.delete_service_specific_credential, UserName=user,
             ServiceSpecificCredentialId=c["ServiceSpecificCredentialId"])
        removed.setdefault("service_credentials", []).append(c["ServiceSpecificCredentialId"])


def _said(removed: dict[str, list[str]]) -> str:
    return ", ".join(f"{len(v)} {k.replace('_', ' ')}" for k, v in removed.items()) or "nothing"
