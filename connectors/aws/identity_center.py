"""The `aws-identity-center` connector: a leaver's IAM Identity Center access.

Finds the instance (`sso-admin:ListInstances`) and the leaver in its identity store by user name or email, then
removes every account assignment of the user (each permission set on each account) and every group membership,
recording them for restore. Identity Center has no disable-user and no end-session call: so that sessions already
open stop working, a deny statement conditioned on the leaver's `identitystore:UserId` goes into the inline policy of
every permission set the leaver held (directly or through a group), and the permission set is re-provisioned.
Deleting the user is an explicit option (`delete_user: true`), off by default; a deleted user cannot be restored.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar, Sequence

from pydantic import ConfigDict, Field

from revoke.actions import ActionKind, State, unverifiable
from revoke.connector import (
    Discovery,
    Entity,
    Identity,
    ListTarget,
    Notice,
    Receipt,
    Step,
    Subject,
)
from revoke.connectors.aws import names as aws_names
from revoke.connectors.aws.base import AwsConnector, AwsSettings, Unproven, pages
from revoke.connectors.aws.sso import MISSING, SsoReader, SsoWriter, state_of
from revoke.errors import ActionFailed, ConnectionFailed, NotSupported
from revoke.exposure import ExposureRule


class IdentityCenterSettings(AwsSettings):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "region": "eu-west-1", "instance_arn": "arn:aws:sso:::instance/ssoins-1234567890abcdef"}]})

    instance_arn: str | None = Field(None, description="default: the only instance ListInstances answers")
    deny_open_sessions: bool = Field(True, description="deny the leaver's open sessions in each permission set "
                                     "(an inline Deny on identitystore:UserId; there is no end-session API)")
    delete_user: bool = Field(False, description="also delete the Identity Center user (not restorable)")
    poll_interval_seconds: float = Field(1.0, gt=0, le=30, description="how soon an assignment's asynchronous "
                                         "deletion is read back again")


class DenyPermissionSetSessions(ActionKind):
    name = "deny-permission-set-sessions"
    summary = "deny the leaver's open sessions in permission set"
    done_summary = "open sessions already denied in permission set"
    permissions = ("sso:PutInlinePolicyToPermissionSet", "sso:DeleteInlinePolicyFromPermissionSet",
                   "sso:ProvisionPermissionSet")
    desired = {"deny_present": True}
    restore_note = "restore takes the deny statement out again and re-provisions the permission set"


class RemoveAccountAssignment(ActionKind):
    name = "remove-account-assignment"
    summary = "remove account assignment"
    done_summary = "no account assignment"
    permissions = ("sso:DeleteAccountAssignment", "sso:CreateAccountAssignment")
    desired = {"assigned": False}


class RemoveGroupMembership(ActionKind):
    name = "remove-group-membership"
    summary = "remove from Identity Center group"
    done_summary = "not in Identity Center group"
    permissions = ("identitystore:DeleteGroupMembership", "identitystore:CreateGroupMembership")
    desired = {"member": False}


class DeleteUser(ActionKind):
    name = "delete-user"
    summary = "delete Identity Center user"
    done_summary = "Identity Center user already deleted:"
    permissions = ("identitystore:DeleteUser",)
    desired = {"exists": False}
    restorable = False
    restore_note = ("a deleted Identity Center user cannot be brought back: create the user again, then restore "
                    "the assignments and memberships of this run for the new user id")


class IdentityCenterConnector(AwsConnector):
    name: ClassVar[str] = "aws-identity-center"
    version: ClassVar[str] = "1.0"
    Settings = IdentityCenterSettings
    kinds = (DenyPermissionSetSessions, RemoveAccountAssignment, RemoveGroupMembership, DeleteUser)
    read_permissions = ("sts:GetCallerIdentity", "sso:ListInstances", "identitystore:GetUserId",
                        "identitystore:DescribeUser", "identitystore:ListGroupMembershipsForMember",
                        "identitystore:DescribeGroup", "sso:ListAccountAssignmentsForPrincipal",
                        "sso:ListAccountAssignments", "sso:DescribePermissionSet",
                        "sso:GetInlinePolicyForPermissionSet")

    settings: IdentityCenterSettings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.instance_arn = ""
        self.store_id = ""
        self._ps_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def exposure(self) -> list[ExposureRule]:
        rules = [
            ExposureRule("the AWS access portal session signed in before the assignments were removed (it lists no "
                         "account once they are gone)", "remove-account-assignment", 8 * 60,
                         "Identity Center's default portal session duration (8 h); an instance may set up to 90 days"),
            ExposureRule("applications assigned through Identity Center (SAML or OAuth apps) and their sessions: "
                         "this connector does not remove application assignments", None, None,
                         "not handled by aws-identity-center; check the instance's applications by hand"),
        ]
        if not self.settings.deny_open_sessions:
            rules.append(ExposureRule("role sessions from permission sets, issued before the assignment was removed",
                                      "remove-account-assignment", 12 * 60,
                                      "the longest permission set session duration (12 h); deny_open_sessions is off"))
        return rules

    def connect(self) -> Identity:
        me = self.sessions.caller_identity()
        instances = pages("sso:ListInstances", self.sessions.client("sso-admin"), "list_instances", "Instances")
        wanted = self.settings.instance_arn
        chosen = [i for i in instances if not wanted or i["InstanceArn"] == wanted]
        if not chosen:
            raise ConnectionFailed(self.system, f"no IAM Identity Center instance {wanted or ''} in "
                                   f"{self.settings.region} for {me['arn']}; check settings.region and instance_arn")
        if len(chosen) > 1:
            raise ConnectionFailed(self.system, "more than one Identity Center instance: set settings.instance_arn "
                                   "to one of " + ", ".join(i["InstanceArn"] for i in chosen))
        self.instance_arn, self.store_id = chosen[0]["InstanceArn"], chosen[0]["IdentityStoreId"]
        return Identity(display=me["arn"], aliases=(me["arn"],),
                        detail={"caller": me, "instance_arn": self.instance_arn, "identity_store_id": self.store_id,
                                "region": self.settings.region, "endpoint_url": self.settings.endpoint_url})

    def identify(self, names: Sequence[str]) -> dict[str, Entity | None]:
        r = self._reader()

        def describe(user_id: str) -> Any:
            user = r.user(user_id)
            return None if user is MISSING else user

        return aws_names.store_identify(names, r.user_id, describe)

    def _reader(self) -> SsoReader:
        return SsoReader(self.sessions.client("sso-admin"), self.sessions.client("identitystore"),
                         self.instance_arn, self.store_id)

    def _writer(self) -> SsoWriter:
        s = self.settings
        return SsoWriter(self.sessions.client("sso-admin"), self.sessions.client("identitystore"), self.instance_arn,
                         self.store_id, s.poll_interval_seconds)

    # ---- discovery

    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        found = Discovery()
        for lst in lists:
            found.notices.append(Notice(f"aws-identity-center closes no lists ({lst.ident})", resource=lst.ident))
        r = self._reader()
        for subject in subjects:
            user_id = r.user_id(subject.ident)
            if user_id is None:
                found.notices.append(Notice(f"no Identity Center user named '{subject.ident}' (user name or email) "
                                            f"in identity store {self.store_id}", person=subject.person))
                continue
            found.steps += self._steps_for(r, subject, user_id)
        return found

    def _steps_for(self, r: SsoReader, subject: Subject, user_id: str) -> list[Step]:
        user = r.user(user_id)
        user_name = user.get("UserName", subject.ident) if user is not MISSING else subject.ident
        memberships = _items(r.memberships(user_id))
        direct = _items(r.assignments_of("USER", user_id))
        via_groups = [a for m in memberships for a in _items(r.assignments_of("GROUP", m["GroupId"]))]
        out: list[Step] = []

        def step(kind: type[ActionKind], resource: str, label: str, **params: Any) -> None:
            p = {"user_id": user_id, "user_name": user_name, **params}
            before = state_of(kind.name, r, p)
            out.append(Step(kind=kind.name, resource=resource, before=before, needed=not kind.is_done(before),
                            principal=user_id, person=subject.person, params=p, aliases=(user_name,), label=label))

        if self.settings.deny_open_sessions:
            for ps_arn in dict.fromkeys(a["PermissionSetArn"] for a in direct + via_groups):
                step(DenyPermissionSetSessions, ps_arn, f"{_ps_name(r, ps_arn)} ({user_name})",
                     permission_set=ps_arn)
        for a in direct:
            ps_arn, account = a["PermissionSetArn"], a["AccountId"]
            step(RemoveAccountAssignment, f"{account}/{ps_arn}", f"{_ps_name(r, ps_arn)} on {account} ({user_name})",
                 account=account, permission_set=ps_arn)
        for m in memberships:
            group = r.group(m["GroupId"])
            name = group.get("DisplayName", m["GroupId"]) if group is not MISSING else m["GroupId"]
            step(RemoveGroupMembership, m["GroupId"], f"{name} ({user_name})", group_id=m["GroupId"])
        if self.settings.delete_user:
            step(DeleteUser, user_id, user_name)
        return out

    # ---- apply, read back, restore

    def _lock_for(self, action: Any) -> threading.Lock:
        key = action.resource if action.kind == DenyPermissionSetSessions.name else ""
        with self._locks_lock:
            return self._ps_locks.setdefault(key, threading.Lock())

    def apply(self, action: Any) -> Receipt:
        p = dict(action.params)
        w = self._writer()
        if action.kind == RemoveAccountAssignment.name:
            return w.assignment(p, create=False)
        if action.kind == RemoveGroupMembership.name:
            return w.membership(p, create=False)
        if action.kind == DenyPermissionSetSessions.name:
            with self._lock_for(action):  # two leavers in one permission set: one read-modify-write at a time
                return w.session_deny(p, add=True)
        if action.kind == DeleteUser.name:
            self._check_nothing_left(p)
            return w.delete_user(p)
        raise NotSupported(f"{action.kind} is not an aws-identity-center action")

    def _check_nothing_left(self, p: dict[str, Any]) -> None:
        # Deleting first would orphan assignments and lose what restore needs: wait for the other actions.
        r = self._reader()
        left = _items(r.assignments_of("USER", p["user_id"])) + _items(r.memberships(p["user_id"]))
        if left:
            raise ActionFailed(f"{p['user_name']} still has {len(left)} assignment(s) or membership(s); the user is "
                               "deleted after those are removed", retryable=True, retry_after=2)

    def restore(self, action: Any) -> Receipt:
        p = dict(action.params)
        w = self._writer()
        if action.kind != DenyPermissionSetSessions.name and self._reader().user(p["user_id"]) is MISSING:
            # AWS refuses an assignment or membership for a deleted principal; moto would accept it silently
            raise ActionFailed(f"Identity Center user {p['user_name']} ({p['user_id']}) no longer exists: "
                               f"{DeleteUser.restore_note}")
        if action.kind == RemoveAccountAssignment.name:
            return w.assignment(p, create=True)
        if action.kind == RemoveGroupMembership.name:
            return w.membership(p, create=True)
        if action.kind == DenyPermissionSetSessions.name:
            with self._lock_for(action):
                return w.session_deny(p, add=False)
        raise NotSupported(f"{self.kind(action.kind).summary}: {self.kind(action.kind).restore_note}")

    def read_back(self, actions: Sequence[Any]) -> dict[str, State]:
        r = self._reader()
        out: dict[str, State] = {}
        for a in actions:
            try:
                out[a.id] = state_of(a.kind, r, dict(a.params))
            except Unproven as err:
                out[a.id] = unverifiable(err.reason)
        return out


def _items(found: Any) -> list[dict[str, Any]]:
    return [] if found is MISSING else list(found)


def _ps_name(r: SsoReader, ps_arn: str) -> str:
    ps = r.permission_set(ps_arn)
    return ps.get("Name", ps_arn) if ps is not MISSING else ps_arn
