"""Restoring what the `google-workspace` connector changed, from the before-states and parameters in the plan.

An account is unsuspended; a membership is added again with the role it had (member, manager or owner); a group
made archive-only is opened again with who could post before; a Chat membership is created again (administrator
access) with its role. What cannot come back is said by each kind's restore note and in the restore plan:
invalidated backup codes, deleted app passwords and OAuth grants, a sign-out, a deleted group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from revoke.connector import Receipt
from revoke.connectors.google.client import GoogleRefused
from revoke.connectors.google.kinds import ArchiveGroup, RemoveFromChatSpace, RemoveFromGroup, SuspendUser
from revoke.errors import NotSupported

if TYPE_CHECKING:
    from revoke.connectors.google.client import Google


def _already(err: GoogleRefused) -> bool:
    return err.status == 409   # "Member already exists": restored by an earlier attempt


def restore(g: "Google", a: Any) -> Receipt:
    d = g.directory
    if a.kind == SuspendUser.name:
        if a.before.get("suspended"):
            return Receipt(detail={"note": "suspended before the run; left suspended"})
        uid = a.params["user_id"]
        g.call(f"unsuspend {uid}", d.users().patch(userKey=uid, body={"suspended": False}))
        return Receipt(detail={"note": "unsuspended"})
    if a.kind == RemoveFromGroup.name:
        body = {"id": a.params["user_id"], "role": a.params.get("role") or "MEMBER"}
        if a.params.get("delivery"):
            body["delivery_settings"] = a.params["delivery"]
        return _insert(g, f"add {a.params.get('email')} back to {a.params.get('group')} as {body['role']}",
                       lambda: d.members().insert(groupKey=a.resource, body=body))
    if a.kind == ArchiveGroup.name:
        if a.before.get("archive_only"):
            return Receipt(detail={"note": "archive-only before the run; left so"})
        body = {"archiveOnly": "false"}
        if a.params.get("who_can_post"):
            body["whoCanPostMessage"] = a.params["who_can_post"]
        g.call(f"open {a.params['email']} again", g.groups_settings.groups().patch(
            groupUniqueId=a.params["email"], body=body))
        who = body.get("whoCanPostMessage", "Google's default")
        return Receipt(detail={"note": f"archive-only off; who can post: {who}"})
    if a.kind == RemoveFromChatSpace.name:
        return _chat_member(g, a)
    raise NotSupported(f"google-workspace cannot restore '{a.kind}'")


def _chat_member(g: "Google", a: Any) -> Receipt:
    """Chat adds a membership as ROLE_MEMBER (`role` is input only to an update): a manager's role is given back
    with a second call. A person whose auto-accept is off is invited rather than added (Chat's own rule)."""
    members = g.chat.spaces().members()
    body = {"member": {"name": f"users/{a.params['user_id']}", "type": "HUMAN"}}
    receipt = _insert(g, f"add {a.params.get('email')} back to {a.resource}", lambda: members.create(
        parent=a.resource, useAdminAccess=True, body=body))
    role = a.params.get("role") or "ROLE_MEMBER"
    if role != "ROLE_MEMBER":
        g.call(f"make {a.params.get('email')} {role} of {a.resource} again", members.patch(
            name=a.params["membership"], updateMask="role", useAdminAccess=True, body={"role": role}))
    return receipt


def _insert(g: "Google", what: str, make: Any) -> Receipt:
    try:
        g.call(what, make())
    except GoogleRefused as err:
        if not _already(err):
            raise
        return Receipt(detail={"answer": "409 already there"})
    return Receipt(detail={"note": what})
