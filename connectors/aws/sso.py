"""IAM Identity Center reads and writes (sso-admin and identitystore), in the shapes the action kinds record.

Account assignments change asynchronously: Create/DeleteAccountAssignment answer IN_PROGRESS with a request id.
A failure AWS reports at once is raised; an operation still running comes back as `Receipt(poll_after=...)`, and
the engine reads the assignment back after that interval, again, until it is done or the system's wait budget is
spent. This module never waits itself.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from revoke.actions import State
from revoke.connector import Receipt
from revoke.connectors.aws.base import (
    AWS_ERRORS,
    MISSING,
    Memo,
    Unproven,
    complete,
    loads,
    page_items,
    request_id,
    translate,
)
from revoke.errors import ActionFailed

NOT_FOUND = {"ResourceNotFoundException", "ResourceNotFound"}


def deny_sid(user_id: str) -> str:
    """The Sid of the session deny for one user: Sids allow letters and digits only."""
    return "RevokeSessionsOf" + re.sub(r"[^A-Za-z0-9]", "", user_id)


def deny_statement(user_id: str) -> dict[str, Any]:
    # Roles made from a permission set cannot be edited in IAM; the permission set's inline policy reaches them all,
    # and sessions already open are evaluated against it on every request.
    return {"Sid": deny_sid(user_id), "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {"identitystore:UserId": user_id}}}


class SsoReader:
    """Reads through one sso-admin and one identitystore client, each made at most once per reader."""

    def __init__(self, sso: Any, ids: Any, instance_arn: str, store_id: str):
        self.sso, self.ids = sso, ids
        self.instance, self.store = instance_arn, store_id
        self._memo = Memo(NOT_FOUND)

    def _once(self, op: str, arg: str, fn: Callable[[], Any]) -> Any:
        return self._memo.once(f"{op} {arg}", fn)

    def _pages(self, client: Any, op: str, key: str, **kw: Any) -> list[Any]:
        out: list[Any] = []
        for page in client.get_paginator(op).paginate(**kw):
            out.extend(page_items(page, key, f"{op}"))
        return out

    def user_id(self, ident: str) -> str | None:
        """The identity store user id of a user name, or of an email address when no user has that name."""
        paths = ["userName"] + (["emails.value"] if "@" in ident else [])
        for path in paths:
            alternate = {"UniqueAttribute": {"AttributePath": path, "AttributeValue": ident}}

            def get_user_id(a: dict[str, Any] = alternate) -> Any:
                return self.ids.get_user_id(IdentityStoreId=self.store, AlternateIdentifier=a)["UserId"]

            found = self._once("identitystore:GetUserId", f"{path}={ident}", get_user_id)
            if found is not MISSING:
                return found
        return None

    def user(self, user_id: str) -> Any:
        return self._once("identitystore:DescribeUser", user_id, lambda: self.ids.describe_user(
            IdentityStoreId=self.store, UserId=user_id))

    def memberships(self, user_id: str) -> Any:
        return self._once("identitystore:ListGroupMembershipsForMember", user_id, lambda: self._pages(
            self.ids, "list_group_memberships_for_member", "GroupMemberships", IdentityStoreId=self.store,
            MemberId={"UserId": user_id}))

    def group(self, group_id: str) -> Any:
        return self._once("identitystore:DescribeGroup", group_id, lambda: self.ids.describe_group(
            IdentityStoreId=self.store, GroupId=group_id))

    def assignments_of(self, principal_type: str, principal_id: str) -> Any:
        return self._once("sso:ListAccountAssignmentsForPrincipal", f"{principal_type}/{principal_id}",
                          lambda: self._pages(self.sso, "list_account_assignments_for_principal",
                                              "AccountAssignments", InstanceArn=self.instance,
                                              PrincipalId=principal_id, PrincipalType=principal_type))

    def assignments_on(self, account: str, ps_arn: str) -> Any:
        return self._once("sso:ListAccountAssignments", f"{account}/{ps_arn}", lambda: self._pages(
            self.sso, "list_account_assignments", "AccountAssignments", InstanceArn=self.instance,
            AccountId=account, PermissionSetArn=ps_arn))

    def permission_set(self, ps_arn: str) -> Any:
        return self._once("sso:DescribePermissionSet", ps_arn, lambda: self.sso.describe_permission_set(
            InstanceArn=self.instance, PermissionSetArn=ps_arn)["PermissionSet"])

    def inline_policy(self, ps_arn: str) -> Any:
        return self._once("sso:GetInlinePolicyForPermissionSet", ps_arn, lambda: loads(_inline(
            self.sso.get_inline_policy_for_permission_set(InstanceArn=self.instance, PermissionSetArn=ps_arn),
            ps_arn)))


def _inline(answer: dict[str, Any], ps_arn: str) -> Any:
    # AWS answers "" for a permission set without an inline policy: a missing member is not that
    if not isinstance(answer.get("InlinePolicy"), str):
        raise Unproven(f"AWS answered sso:GetInlinePolicyForPermissionSet {ps_arn} without InlinePolicy")
    return answer["InlinePolicy"]


def state_of(kind: str, r: SsoReader, p: dict[str, Any]) -> State:
    user_id = p["user_id"]
    if kind == "remove-account-assignment":
        found = r.assignments_on(p["account"], p["permission_set"])
        if found is MISSING:
            return {"assigned": None, "permission_set_exists": False}
        found = complete(found, "the account assignments", "PrincipalType", "PrincipalId")
        assigned = any(a.get("PrincipalType") == "USER" and a.get("PrincipalId") == user_id for a in found)
        return {"assigned": assigned, "permission_set_exists": True}
    if kind == "remove-group-membership":
        found = r.memberships(user_id)
        if found is MISSING:
            return {"member": None, "user_exists": False}
        member = any(m.get("GroupId") == p["group_id"] for m in complete(found, "the group memberships", "GroupId"))
        # not a member: only after confirming the group is still there, so a wrong id never reads as removed
        if not member and r.group(p["group_id"]) is MISSING:
            return {"member": None, "group_exists": False, "user_exists": True}
        return {"member": member, "user_exists": True}
    if kind == "deny-permission-set-sessions":
        if r.permission_set(p["permission_set"]) is MISSING:
            return {"deny_present": None, "permission_set_exists": False}
        doc = r.inline_policy(p["permission_set"])
        sid = deny_sid(user_id)
        present = any(isinstance(s, dict) and s.get("Sid") == sid for s in _statements(doc))
        return {"deny_present": present, "permission_set_exists": True}
    if kind == "delete-user":
        return {"exists": r.user(user_id) is not MISSING}
    raise KeyError(kind)


def _statements(doc: Any) -> list[Any]:
    if not isinstance(doc, dict):
        return []
    st = doc.get("Statement", [])
    return st if isinstance(st, list) else [st]


class SsoWriter:
    """Writes, each answering a Receipt with the request ids AWS gave."""

    def __init__(self, sso: Any, ids: Any, instance_arn: str, store_id: str, interval: float):
        self.sso, self.ids = sso, ids
        self.instance, self.store = instance_arn, store_id
        self.interval = interval  # how soon the engine should read an operation still in progress back

    def _call(self, what: str, fn: Callable[..., dict[str, Any]], **kw: Any) -> dict[str, Any]:
        try:
            return fn(**kw)
        except AWS_ERRORS as err:
            raise translate(err, what) from None

    def assignment(self, p: dict[str, Any], *, create: bool) -> Receipt:
        args = {"InstanceArn": self.instance, "TargetId": p["account"], "TargetType": "AWS_ACCOUNT",
                "PermissionSetArn": p["permission_set"], "PrincipalType": "USER", "PrincipalId": p["user_id"]}
        if create:
            answer = self._call("sso:CreateAccountAssignment", self.sso.create_account_assignment, **args)
            status = answer["AccountAssignmentCreationStatus"]
        else:
            answer = self._call("sso:DeleteAccountAssignment", self.sso.delete_account_assignment, **args)
            status = answer["AccountAssignmentDeletionStatus"]
        ids = [i for i in (request_id(answer),) if i]
        self._refuse_failed("account assignment " + ("creation" if create else "deletion"), status, ids)
        running = status.get("Status") == "IN_PROGRESS"
        return Receipt(request_ids=tuple(ids), detail={"status": status.get("Status"),
                                                       "operation_request_id": status.get("RequestId")},
                       poll_after=self.interval if running else None)

    @staticmethod
    def _refuse_failed(what: str, status: dict[str, Any], ids: list[str]) -> None:
        if status.get("Status") == "FAILED":
            raise ActionFailed(f"{what} failed: {status.get('FailureReason', 'no reason given')}", request_ids=ids)

    def membership(self, p: dict[str, Any], *, create: bool) -> Receipt:
        if create:
            answer = self._call("identitystore:CreateGroupMembership", self.ids.create_group_membership,
                                IdentityStoreId=self.store, GroupId=p["group_id"], MemberId={"UserId": p["user_id"]})
            return Receipt(request_ids=_ids(answer), detail={"membership_id": answer.get("MembershipId")})
        reader = SsoReader(self.sso, self.ids, self.instance, self.store)
        found = reader.memberships(p["user_id"])
        current = [m for m in ([] if found is MISSING else found) if m.get("GroupId") == p["group_id"]]
        if not current:
            return Receipt(detail={"answer": "no membership to delete; judged by the read-back"})
        answer = self._call("identitystore:DeleteGroupMembership", self.ids.delete_group_membership,
                            IdentityStoreId=self.store, MembershipId=current[0]["MembershipId"])
        return Receipt(request_ids=_ids(answer), detail={"membership_id": current[0]["MembershipId"]})

    def session_deny(self, p: dict[str, Any], *, add: bool) -> Receipt:
        ps = p["permission_set"]
        got = self._call("sso:GetInlinePolicyForPermissionSet", self.sso.get_inline_policy_for_permission_set,
                         InstanceArn=self.instance, PermissionSetArn=ps)
        doc = loads(got.get("InlinePolicy")) or {"Version": "2012-10-17", "Statement": []}
        sid = deny_sid(p["user_id"])
        kept = [s for s in _statements(doc) if not (isinstance(s, dict) and s.get("Sid") == sid)]
        ids = list(_ids(got))
        if add:
            doc["Statement"] = kept + [deny_statement(p["user_id"])]
            answer = self._call("sso:PutInlinePolicyToPermissionSet", self.sso.put_inline_policy_to_permission_set,
                                InstanceArn=self.instance, PermissionSetArn=ps, InlinePolicy=json.dumps(doc))
        elif kept:
            doc["Statement"] = kept
            answer = self._call("sso:PutInlinePolicyToPermissionSet", self.sso.put_inline_policy_to_permission_set,
                                InstanceArn=self.instance, PermissionSetArn=ps, InlinePolicy=json.dumps(doc))
        else:  # an inline policy with no statement is invalid: the deny was all there was
            answer = self._call("sso:DeleteInlinePolicyFromPermissionSet",
                                self.sso.delete_inline_policy_from_permission_set, InstanceArn=self.instance,
                                PermissionSetArn=ps)
        ids += _ids(answer)
        provisioned = self._provision(ps, ids)
        return Receipt(request_ids=tuple(ids), detail={"sid": sid, "provisioning": provisioned})

    def _provision(self, ps: str, ids: list[str]) -> str:
        """Push the changed permission set to every account it is provisioned to, so the roles there change."""
        answer = self._call("sso:ProvisionPermissionSet", self.sso.provision_permission_set,
                            InstanceArn=self.instance, PermissionSetArn=ps, TargetType="ALL_PROVISIONED_ACCOUNTS")
        ids += _ids(answer)
        status = answer.get("PermissionSetProvisioningStatus", {})
        self._refuse_failed("permission set provisioning", status, ids)
        # The deny is in the permission set's inline policy now (the read-back proves that); pushing it to the
        # accounts' roles finishes on AWS's side, named by this request id in the evidence.
        return f"{status.get('Status', 'unknown')} (request {status.get('RequestId', '?')})"

    def delete_user(self, p: dict[str, Any]) -> Receipt:
        answer = self._call("identitystore:DeleteUser", self.ids.delete_user, IdentityStoreId=self.store,
                            UserId=p["user_id"])
        return Receipt(request_ids=_ids(answer), detail={"deleted": p["user_id"]})


def _ids(answer: dict[str, Any]) -> tuple[str, ...]:
    rid = request_id(answer)
    return (rid,) if rid else ()
