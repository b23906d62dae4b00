"""Roles whose trust policy names nobody but leavers: deny them in it (the default), or delete the role.

Taking the leavers out of such a policy would leave it empty, which AWS refuses; leaving it as it is leaves them
trusted. `deny-trust` adds each leaver to revoke's own explicit Deny statement (see `trust.with_deny`): the role
stays as it was for everyone else, and restore takes the Deny out again. `delete-role` (settings
`empty_trust_policy: delete-role`) deletes the role after taking it out of its instance profiles and removing its
policies, as IAM requires; the before-state keeps all of them, for a person to recreate it.
"""

from __future__ import annotations

import json
from typing import Any

from revoke.actions import State
from revoke.connector import Receipt
from revoke.connectors.aws import trust
from revoke.connectors.aws.base import MISSING, loads, request_id

ROLE_KINDS = ("deny-trust", "delete-role")


def state(kind: str, r: Any, p: dict[str, Any]) -> State:
    """The state of a role kind, read through an `IamReader`: the same at discovery and at read-back."""
    role = r.role(p["role"])
    if kind == "deny-trust":
        if role is MISSING:
            return {"denied": None, "role_exists": False}
        return {"denied": trust.denies(loads(role["AssumeRolePolicyDocument"]), p["match"]), "role_exists": True}
    if role is MISSING:
        return {"exists": False}
    return {"exists": True, "arn": role["Arn"], "trust_policy": loads(role["AssumeRolePolicyDocument"]),
            "inline_policies": {name: loads(r.role_policy(p["role"], name))
                                for name in r.role_listing("list_role_policies", p["role"], "PolicyNames")},
            "managed_policies": [a["PolicyArn"] for a in r.role_listing("list_attached_role_policies", p["role"],
                                                                        "AttachedPolicies")],
            "instance_profiles": [i["InstanceProfileName"] for i in r.role_listing(
                "list_instance_profiles_for_role", p["role"], "InstanceProfiles")]}


def write(kind: str, iam: Any, p: dict[str, Any], *, undo: bool) -> Receipt:
    if kind == "deny-trust":
        return _deny(iam, p, undo=undo)
    return _delete(iam, p["role"])


def _deny(iam: Any, p: dict[str, Any], *, undo: bool) -> Receipt:
    current = loads(iam.get_role(RoleName=p["role"])["Role"]["AssumeRolePolicyDocument"])
    if undo:
        doc = trust.without_deny(current, p["principal"])
    else:
        doc = trust.with_deny(current, p["principal"], p.get("deny") or trust.DENY_ACTIONS)
    if doc == current:
        return Receipt(detail={"answer": "the trust policy already reads as wanted"})
    response = iam.update_assume_role_policy(RoleName=p["role"], PolicyDocument=json.dumps(doc))
    rid = request_id(response)
    return Receipt(request_ids=(rid,) if rid else (), detail={"trust_policy": doc})


def _pages(iam: Any, op: str, role: str, key: str) -> list[Any]:
    out: list[Any] = []
    for page in iam.get_paginator(op).paginate(RoleName=role):
        out.extend(page.get(key, []))
    return out


def _delete(iam: Any, role: str) -> Receipt:
    """What IAM requires before DeleteRole (it answers DeleteConflict otherwise), then DeleteRole. Each call is
    made once; a failure part-way is read back and the remaining calls are made on the engine's retry."""
    ids: list[str] = []

    def keep(response: Any) -> None:
        rid = request_id(response)
        if rid:
            ids.append(rid)

    for profile in _pages(iam, "list_instance_profiles_for_role", role, "InstanceProfiles"):
        keep(iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"], RoleName=role))
    for name in _pages(iam, "list_role_policies", role, "PolicyNames"):
        keep(iam.delete_role_policy(RoleName=role, PolicyName=name))
    for policy in _pages(iam, "list_attached_role_policies", role, "AttachedPolicies"):
        keep(iam.detach_role_policy(RoleName=role, PolicyArn=policy["PolicyArn"]))
    keep(iam.delete_role(RoleName=role))
    return Receipt(request_ids=tuple(ids), detail={"deleted": role})
