"""The `m365-groups` action kinds, each with its declarations and its behaviour: the `$batch` write, what a
success records, the undo, and its read-back (the reads it needs and its state from the answers)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from revoke.actions import LISTS, State, unverifiable
from revoke.connector import Receipt
from revoke.connectors.microsoft.directory_objects import GraphKind, already_there, answers_for
from revoke.connectors.microsoft.graph import Reply, Sub, directory_object_url, list_page
from revoke.errors import ActionFailed

if TYPE_CHECKING:
    from revoke.plan import Action

SOFT_DELETE_DAYS = 30


class M365Kind(GraphKind):
    item = LISTS

    @classmethod
    def reads(cls, a: Action) -> dict[str, str]:
        return {f"group:{a.resource}": f"/groups/{a.resource}?$select=id"}

    @classmethod
    def state(cls, a: Action, replies: dict[str, Reply]) -> State:
        group = replies[f"group:{a.resource}"]
        if group.ok and not answers_for(group, a.resource):
            return unverifiable(f"Graph answered the read of group {a.resource} with another object or none")
        return cls.group_state(a, group, replies)

    @classmethod
    def group_state(cls, a: Action, group: Reply, replies: dict[str, Reply]) -> State:
        raise NotImplementedError(cls.name)


class ArchiveTeam(M365Kind):
    name = "archive-team"
    summary = "archive team"
    done_summary = "team already archived:"
    resource_types = ("group",)
    permissions = ("TeamSettings.ReadWrite.All",)
    desired = {"isArchived": True}

    @classmethod
    def write(cls, a: Action) -> Sub:
        return Sub(a.id, "POST", f"/teams/{a.resource}/archive")

    @classmethod
    def done(cls, connector: Any, a: Action, reply: Reply) -> Receipt:
        return connector.follow(a.resource, reply, {"status": reply.status})

    @classmethod
    def undo(cls, connector: Any, a: Action) -> Receipt | Reply:
        if a.before.get("isArchived"):
            return Receipt(detail={"note": "the team was archived before the run; left archived"})
        reply = connector.graph.send("POST", f"/teams/{a.resource}/unarchive")
        return connector.follow(a.resource, reply, {"status": reply.status}) if reply.ok else reply

    @classmethod
    def reads(cls, a: Action) -> dict[str, str]:
        return {f"team:{a.resource}": f"/teams/{a.resource}"}

    @classmethod
    def state(cls, a: Action, replies: dict[str, Reply]) -> State:
        team = replies[f"team:{a.resource}"]
        if not team.ok:
            return {"isArchived": None, "missing": "team"}
        archived = team.body.get("isArchived") if isinstance(team.body, dict) else None
        if not isinstance(archived, bool):  # a missing isArchived is not "not archived" (restore would read it done)
            return unverifiable("Graph's answer for the team has no isArchived")
        if not answers_for(team, a.resource):
            return unverifiable(f"Graph answered the read of team {a.resource} with another object or none")
        return {"isArchived": archived}


class RemoveMember(M365Kind):
    name = "remove-member"
    summary = "remove member from"
    done_summary = "not a member of"
    permissions = ("GroupMember.ReadWrite.All",)
    desired = {"member": False}
    unproven_404 = True

    @classmethod
    def write(cls, a: Action) -> Sub:
        # `/$ref` removes the membership; without it Graph deletes the member object itself.
        return Sub(a.id, "DELETE", f"/groups/{a.resource}/members/{a.principal}/$ref")

    @classmethod
    def undo(cls, connector: Any, a: Action) -> Receipt | Reply:
        reply = connector.graph.send("POST", f"/groups/{a.resource}/members/$ref",
                                     {"@odata.id": directory_object_url(connector.settings, a.principal or "")})
        if already_there(reply):
            return Receipt(request_ids=(reply.request_id,), detail={"note": "already a member"})
        return reply

    @classmethod
    def reads(cls, a: Action) -> dict[str, str]:
        return {**super().reads(a), f"members:{a.resource}": f"/groups/{a.resource}/members?$select=id&$top=999",
                f"user:{a.principal}": f"/users/{a.principal}?$select=id"}

    @classmethod
    def group_state(cls, a: Action, group: Reply, replies: dict[str, Reply]) -> State:
        user = replies[f"user:{a.principal}"]
        if not group.ok or not user.ok:
            return {"member": None, "missing": "group" if not group.ok else "user"}
        members = list_page(replies[f"members:{a.resource}"])
        if members is None:
            return unverifiable("Graph's answer to the group's members has no value list")
        return {"member": a.principal in {m["id"] for m in members}}


class DeleteGroup(M365Kind):
    name = "delete-group"
    summary = "delete group"
    done_summary = "group already deleted:"
    resource_types = ("group",)
    permissions = ("Group.ReadWrite.All",)
    desired = {"exists": False, "softDeleted": True}
    restore_note = f"a deleted Microsoft 365 group is restorable for {SOFT_DELETE_DAYS} days after its deletion"

    @classmethod
    def write(cls, a: Action) -> Sub:
        return Sub(a.id, "DELETE", f"/groups/{a.resource}")

    @classmethod
    def done(cls, connector: Any, a: Action, reply: Reply) -> Receipt:
        now = connector.context.runtime.now()
        return Receipt(request_ids=(reply.request_id,), detail={
            "status": reply.status,
            "restorableUntil": (now + dt.timedelta(days=SOFT_DELETE_DAYS)).isoformat(timespec="seconds"),
            "note": cls.restore_note})

    @classmethod
    def undo(cls, connector: Any, a: Action) -> Receipt | Reply:
        reply = connector.graph.send("POST", f"/directory/deletedItems/{a.resource}/restore")
        if reply.status == 404:
            raise ActionFailed(f"group {a.label or a.resource} is no longer in deleted items (restorable only "
                               f"for {SOFT_DELETE_DAYS} days after deletion)", request_ids=[reply.request_id])
        return reply

    @classmethod
    def reads(cls, a: Action) -> dict[str, str]:
        return {**super().reads(a), f"deleted:{a.resource}": f"/directory/deletedItems/{a.resource}"}

    @classmethod
    def group_state(cls, a: Action, group: Reply, replies: dict[str, Reply]) -> State:
        if group.ok:
            return {"exists": True, "softDeleted": False}
        deleted = replies[f"deleted:{a.resource}"]
        if not deleted.ok:
            # neither live nor in deleted items: a wrong id, or purged; never reported as deleted by us
            return {"exists": False, "softDeleted": False}
        when = deleted.body.get("deletedDateTime") if isinstance(deleted.body, dict) else None
        if not answers_for(deleted, a.resource) or not isinstance(when, str):
            return unverifiable("Graph's answer from deleted items is not the group with its deletedDateTime")
        return {"exists": False, "softDeleted": True, "deletedDateTime": when,
                "restorableUntil": restorable_until(when)}


def restorable_until(deleted: str) -> str:
    gone = dt.datetime.fromisoformat(deleted.replace("Z", "+00:00"))
    return (gone + dt.timedelta(days=SOFT_DELETE_DAYS)).isoformat(timespec="seconds")


def is_team(g: dict[str, Any]) -> bool:
    return "Team" in (g.get("resourceProvisioningOptions") or [])
