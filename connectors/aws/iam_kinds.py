"""The aws-iam action kinds, each with what it declares (summaries, permissions, the desired read-back) and what it
does: how its target's state is read through an `IamReader` (the same at discovery and at read-back) and how it
is written or restored. `state_of` and `write` only look the kind up: there is no if-chain over kind names.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from revoke.actions import ActionKind, State
from revoke.connector import Receipt
from revoke.connectors.aws import roles, trust
from revoke.connectors.aws.base import AWS_ERRORS, MISSING, complete, error_code, loads, translate
from revoke.connectors.aws.iam_account import (
    REVOKE_SESSIONS_POLICY,
    TAG_AT,
    TAG_RUN,
    IamReader,
    credential_state,
    edit_trust,
    iso,
    receipt,
    revoke_sessions_document,
    sessions_state,
)


@dataclass(frozen=True)
class Write:
    """What a write needs besides the action's parameters."""

    run_id: str
    now: dt.datetime
    undo: bool = False
    before: State = field(default_factory=dict)


class IamKind(ActionKind):
    """An aws-iam action kind: declared, read and written in one place."""

    @classmethod
    def read(cls, r: IamReader, p: dict[str, Any], since: dt.datetime) -> State:
        raise NotImplementedError(cls.name)

    @classmethod
    def write(cls, iam: Any, p: dict[str, Any], w: Write) -> Receipt:
        raise KeyError(f"{cls.name} has no {'restore' if w.undo else 'apply'} in aws-iam")


class _Credential(IamKind):
    """A credential of a user with a Status (Active/Inactive): deactivated, and reactivated on restore."""

    desired: ClassVar[State] = {"active": False}
    id_field: ClassVar[str]
    param: ClassVar[str]
    listing: ClassVar[str]     # the IamReader method listing the user's credentials of this kind
    update: ClassVar[str]      # the boto3 IAM method that sets the status

    @classmethod
    def read(cls, r: IamReader, p: dict[str, Any], since: dt.datetime) -> State:
        return credential_state(getattr(r, cls.listing)(p.get("user", "")), cls.id_field, p[cls.param])

    @classmethod
    def write(cls, iam: Any, p: dict[str, Any], w: Write) -> Receipt:
        status = "Active" if w.undo else "Inactive"
        call = getattr(iam, cls.update)
        return receipt(call(UserName=p.get("user", ""), **{cls.id_field: p[cls.param]}, Status=status),
                       status=status)


class DeactivateAccessKey(_Credential):
    name = "deactivate-access-key"
    summary, done_summary = "deactivate access key", "access key already inactive:"
    permissions = ("iam:UpdateAccessKey",)
    id_field, param, listing, update = "AccessKeyId", "key_id", "access_keys", "update_access_key"


class DeactivateSshKey(_Credential):
    name = "deactivate-ssh-key"
    summary, done_summary = "deactivate SSH public key", "SSH public key already inactive:"
    permissions = ("iam:UpdateSSHPublicKey",)
    id_field, param, listing, update = "SSHPublicKeyId", "ssh_key_id", "ssh_keys", "update_ssh_public_key"


class DeactivateSigningCertificate(_Credential):
    name = "deactivate-signing-certificate"
    summary, done_summary = "deactivate signing certificate", "signing certificate already inactive:"
    permissions = ("iam:UpdateSigningCertificate",)
    id_field, param, listing, update = "CertificateId", "certificate_id", "certificates", "update_signing_certificate"


class DeactivateServiceCredential(_Credential):
    name = "deactivate-service-credential"
    summary = "deactivate service-specific credential"
    done_summary = "service-specific credential already inactive:"
    permissions = ("iam:UpdateServiceSpecificCredential",)
    id_field, param = "ServiceSpecificCredentialId", "credential_id"
    listing, update = "service_credentials", "update_service_specific_credential"


class DeleteConsolePassword(IamKind):
    name = "delete-console-password"
    summary, done_summary = "delete console password of", "no console password:"
    permissions = ("iam:DeleteLoginProfile",)
    desired = {"login_profile": False}
    restorable = False
    restore_note = ("a console password cannot be brought back: set a new one with `aws iam create-login-profile "
                    "--password-reset-required`")

    @classmethod
    def read(cls, r: IamReader, p: dict[str, Any], since: dt.datetime) -> State:
        user = p.get("user", "")
        if r.login_profile(user) is MISSING:
            return {"login_profile": False, "user_exists": r.user_exists(user)}
        return {"login_profile": True, "user_exists": True}

    @classmethod
    def write(cls, iam: Any, p: dict[str, Any], w: Write) -> Receipt:
        if w.undo:
            return super().write(iam, p, w)
        return receipt(iam.delete_login_profile(UserName=p.get("user", "")), deleted="login profile")


class DeactivateMfaDevice(IamKind):
    name = "deactivate-mfa-device"
    summary, done_summary = "deactivate MFA device", "MFA device not assigned:"
    permissions = ("iam:DeactivateMFADevice",)
    desired = {"assigned": False}
    restorable = False
    restore_note = "an MFA device is re-enabled only with two codes from it: the person enrols it again"

    @classmethod
    def read(cls, r: IamReader, p: dict[str, Any], since: dt.datetime) -> State:
        devices = r.mfa_devices(p.get("user", ""))
        if devices is MISSING:
            return {"assigned": None, "user_exists": False}
        return {"assigned": any(d["SerialNumber"] == p["serial"]
                                for d in complete(devices, "the MFA devices", "SerialNumber")), "user_exists": True}

    @classmethod
    def write(cls, iam: Any, p: dict[str, Any], w: Write) -> Receipt:
        if w.undo:
            return super().write(iam, p, w)
        return receipt(iam.deactivate_mfa_device(UserName=p.get("user", ""), SerialNumber=p["serial"]),
                       deactivated=p["serial"])


class RemoveFromGroup(IamKind):
    name = "remove-from-group"
    summary, done_summary = "remove from IAM group", "not in IAM group"
    permissions = ("iam:RemoveUserFromGroup", "iam:AddUserToGroup")
    desired = {"member": False}

    @classmethod
    def read(cls, r: IamReader, p: dict[str, Any], since: dt.datetime) -> State:
        groups = r.groups(p.get("user", ""))
        if groups is MISSING:
            return {"member": None, "user_exists": False}
        return {"member": any(g["GroupName"] == p["group"] for g in complete(groups, "the groups", "GroupName")),
                "user_exists": True}

    @classmethod
    def write(cls, iam: Any, p: dict[str, Any], w: Write) -> Receipt:
        op = iam.add_user_to_group if w.undo else iam.remove_user_from_group
        return receipt(op(GroupName=p["group"], UserName=p.get("user", "")), group=p["group"])


class DetachUserPolicy(IamKind):
    name = "detach-user-policy"
    summary, done_summary = "detach managed policy", "managed policy not attached:"
    permissions = ("iam:DetachUserPolicy", "iam:AttachUserPolicy")
    desired = {"attached": False}

    @classmethod
    def read(cls, r: IamReader, p: dict[str, Any], since: dt.datetime) -> State:
        attached = r.attached(p.get("user", ""))
        if attached is MISSING:
            return {"attached": None, "user_exists": False}
        return {"attached": any(a["PolicyArn"] == p["policy_arn"]
                                for a in complete(attached, "the attached policies", "PolicyArn")),
                "user_exists": True}

    @classmethod
    def write(cls, iam: Any, p: dict[str, Any], w: Write) -> Receipt:
        op = iam.attach_user_policy if w.undo else iam.detach_user_policy
        return receipt(op(UserName=p.get("user", ""), PolicyArn=p["policy_arn"]), policy=p["policy_arn"])


class DeleteUserInlinePolicy(IamKind):
    name = "delete-user-inline-policy"
    summary, done_summary = "delete inline policy", "no inline policy"
    permissions = ("iam:DeleteUserPolicy", "iam:PutUserPolicy")
    desired = {"present": False}

    @classmethod
    def read(cls, r: IamReader, p: dict[str, Any], since: dt.datetime) -> State:
        user = p.get("user", "")
        doc = r.inline_policy(user, p["policy_name"])
        if doc is MISSING:
            return {"present": False, "document": None, "user_exists": r.user_exists(user)}
        return {"present": True, "document": loads(doc), "user_exists": True}

    @classmethod
    def write(cls, iam: Any, p: dict[str, Any], w: Write) -> Receipt:
        user = p.get("user", "")
        if w.undo:
            return receipt(iam.put_user_policy(UserName=user, PolicyName=p["policy_name"],
                                               PolicyDocument=json.dumps(w.before["document"])))
        return receipt(iam.delete_user_policy(UserName=user, PolicyName=p["policy_name"]))


class TagUser(IamKind):
    name = "tag-user"
    summary, done_summary = "tag user revoke:run-id / revoke:disabled-at:", "already tagged by revoke:"
    permissions = ("iam:TagUser", "iam:UntagUser")
    desired = {"tagged": True}

    @classmethod
    def read(cls, r: IamReader, p: dict[str, Any], since: dt.datetime) -> State:
        tags = r.tags(p.get("user", ""))
        if tags is MISSING:
            return {"tagged": None, "tags": {}, "user_exists": False}
        ours = {t["Key"]: t["Value"] for t in tags if t["Key"] in (TAG_RUN, TAG_AT)}
        return {"tagged": TAG_RUN in ours, "tags": ours, "user_exists": True}

    @classmethod
    def write(cls, iam: Any, p: dict[str, Any], w: Write) -> Receipt:
        user = p.get("user", "")
        if w.undo:
            old = w.before.get("tags") or {}
            if old:
                return receipt(iam.tag_user(UserName=user, Tags=[{"Key": k, "Value": v} for k, v in old.items()]))
            return receipt(iam.untag_user(UserName=user, TagKeys=[TAG_RUN, TAG_AT]))
        tags = {TAG_RUN: w.run_id, TAG_AT: w.now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        return receipt(iam.tag_user(UserName=user, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]), **tags)


class RemoveTrust(IamKind):
    name = "remove-trust"
    summary, done_summary = "remove leaver from trust policy of", "trust policy does not name leaver:"
    permissions = ("iam:UpdateAssumeRolePolicy",)
    desired = {"names_principal": False}
    restore_note = "restore puts the principal back into the statements it was taken from"

    @classmethod
    def read(cls, r: IamReader, p: dict[str, Any], since: dt.datetime) -> State:
        role = r.role(p["role"])
        if role is MISSING:
            return {"names_principal": None, "statements": [], "role_exists": False}
        found = trust.naming(loads(role["AssumeRolePolicyDocument"]), p["match"])
        return {"names_principal": bool(found), "statements": found, "role_exists": True}

    @classmethod
    def write(cls, iam: Any, p: dict[str, Any], w: Write) -> Receipt:
        return edit_trust(iam, p, undo=w.undo, before=w.before)


class _RoleKind(IamKind):
    """Kinds on a role the leaver could assume (roles.py reads and writes them)."""

    acts_on_person = False  # roles are reached through the leaver (they trust them), not the leaver's accounts

    @classmethod
    def read(cls, r: IamReader, p: dict[str, Any], since: dt.datetime) -> State:
        return roles.state(cls.name, r, p)

    @classmethod
    def write(cls, iam: Any, p: dict[str, Any], w: Write) -> Receipt:
        return roles.write(cls.name, iam, p, undo=w.undo)


class DenyTrust(_RoleKind):
    name = "deny-trust"
    summary, done_summary = "deny leaver in trust policy of", "trust policy already denies leaver:"
    permissions = ("iam:UpdateAssumeRolePolicy",)
    desired = {"denied": True}
    restore_note = "restore takes the principal out of the Deny statement revoke added"
    acts_on_person = True


class DeleteRole(_RoleKind):
    name = "delete-role"
    summary, done_summary = "delete role trusted only by leavers:", "role already deleted:"
    permissions = ("iam:DeleteRole", "iam:ListInstanceProfilesForRole", "iam:RemoveRoleFromInstanceProfile",
                   "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:DeleteRolePolicy",
                   "iam:ListAttachedRolePolicies", "iam:DetachRolePolicy")
    desired = {"exists": False}
    restorable = False
    restore_note = ("a deleted role cannot be brought back as it was (a new role gets a new id): the before-state "
                    "of this record holds its trust policy, policies and instance profiles to recreate it by hand")


class RevokeRoleSessions(IamKind):
    name = "revoke-role-sessions"
    summary = "revoke older sessions (AWSRevokeOlderSessions) of"
    done_summary = "older sessions already revoked:"
    permissions = ("iam:PutRolePolicy", "iam:DeleteRolePolicy")
    desired = {"revoked_recently": True}
    restore_note = ("restore removes the deny (or puts back the one that was there): sessions issued before the "
                    "cutoff that have not expired work again")
    acts_on_person = False

    @classmethod
    def read(cls, r: IamReader, p: dict[str, Any], since: dt.datetime) -> State:
        return sessions_state(r, p["role"], since, p.get("max_age_hours", 12))

    @classmethod
    def write(cls, iam: Any, p: dict[str, Any], w: Write) -> Receipt:
        if w.undo:
            if w.before.get("document"):
                return receipt(iam.put_role_policy(RoleName=p["role"], PolicyName=REVOKE_SESSIONS_POLICY,
                                                   PolicyDocument=json.dumps(w.before["document"])))
            return receipt(iam.delete_role_policy(RoleName=p["role"], PolicyName=REVOKE_SESSIONS_POLICY))
        # the next whole second, so a session issued in the current second is also older than the cutoff
        cutoff = dt.datetime.fromtimestamp(math.ceil(w.now.timestamp()), dt.timezone.utc)
        return receipt(iam.put_role_policy(RoleName=p["role"], PolicyName=REVOKE_SESSIONS_POLICY,
                                           PolicyDocument=json.dumps(revoke_sessions_document(cutoff))),
                       cutoff=iso(cutoff))


USER_KINDS: tuple[type[IamKind], ...] = (
    DeactivateAccessKey, DeleteConsolePassword, DeactivateSshKey, DeactivateSigningCertificate,
    DeactivateServiceCredential, DeactivateMfaDevice, RemoveFromGroup, DetachUserPolicy, DeleteUserInlinePolicy,
    TagUser)
KINDS: tuple[type[IamKind], ...] = (*USER_KINDS, RemoveTrust, DenyTrust, DeleteRole, RevokeRoleSessions)
_BY_NAME = {k.name: k for k in KINDS}


def state_of(kind: str, r: IamReader, p: dict[str, Any], since: dt.datetime) -> State:
    """The state of an action's target, read through `r`: the same at discovery and at read-back."""
    return _BY_NAME[kind].read(r, p, since)


def write(kind: str, iam: Any, p: dict[str, Any], *, run_id: str, now: dt.datetime, undo: bool = False,
          before: State | None = None) -> Receipt:
    """Apply (or, with undo, restore) one action. NoSuchEntity on a write is left to the read-back to judge."""
    what = f"{kind} {p.get('user') or p.get('role')} in {p['account']}"
    try:
        return _BY_NAME[kind].write(iam, p, Write(run_id, now, undo, before or {}))
    except ClientError as err:
        if error_code(err) == "NoSuchEntity" and not undo:
            return receipt(err.response, answer="NoSuchEntity: already gone; judged by the read-back")
        raise translate(err, what) from None
    except AWS_ERRORS as err:
        raise translate(err, what) from None
