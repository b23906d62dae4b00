"""The `entra` action kinds, each with its declarations and its behaviour: the `$batch` write, what a success
records, the undo, and how its read-back is read (the extra reads it needs besides the user, and its state from
the answers). The connector only looks the kind up."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from revoke.actions import ACCESS, State, unverifiable
from revoke.connector import Receipt
from revoke.connectors.microsoft.directory_objects import GraphKind, already_there
from revoke.connectors.microsoft.graph import Reply, Sub, directory_object_url, list_page

if TYPE_CHECKING:
    from revoke.plan import Action

# Entra access tokens outlive revokeSignInSessions: they stay valid until they expire (60-90 minutes by default).
ACCESS_TOKEN_MINUTES = 90
CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass
class EntraReads:
    """The answers of one read-back: every reply by key, each member user's direct memberships (or why they are
    not proven), and the groups and roles seen to exist in this run."""

    replies: dict[str, Reply]
    member_of: dict[str, set[str] | str] = field(default_factory=dict)
    containers_seen: set[str] = field(default_factory=set)


class EntraKind(GraphKind):
    item = ACCESS
    # True: the read-back reads the user's direct memberships (`$expand=memberOf`)
    expands_member_of: ClassVar[bool] = False

    @classmethod
    def reads(cls, a: Action, containers_seen: set[str]) -> dict[str, str]:
        """The reads this action's read-back needs besides its user's (which every action has)."""
        return {}

    @classmethod
    def state(cls, a: Action, user: Reply, got: EntraReads) -> State:
        raise NotImplementedError(cls.name)


def _judged(reply: Reply) -> Receipt | Reply:
    """A re-add that Graph refuses because it is there again is restored."""
    if already_there(reply):
        return Receipt(request_ids=(reply.request_id,), detail={"status": reply.status})
    return reply


class DisableAccount(EntraKind):
    name = "disable-account"
    summary = "disable account"
    done_summary = "account already disabled:"
    permissions = ("User.EnableDisableAccount.All", "User.Read.All")
    desired = {"accountEnabled": False}

    @classmethod
    def write(cls, a: Action) -> Sub:
        return Sub(a.id, "PATCH", f"/users/{a.resource}", {"accountEnabled": False})

    @classmethod
    def undo(cls, connector: Any, a: Action) -> Receipt | Reply:
        if not a.before.get("accountEnabled"):
            return Receipt(detail={"note": "the account was disabled before the run; left disabled"})
        return _judged(connector.graph.send("PATCH", f"/users/{a.resource}", {"accountEnabled": True}))

    @classmethod
    def state(cls, a: Action, user: Reply, got: EntraReads) -> State:
        if not user.ok:
            return {"accountEnabled": None, "missing": "user"}
        if not isinstance(user.body.get("accountEnabled"), bool):
            return unverifiable("Graph's answer for the user has no accountEnabled")
        return {"accountEnabled": user.body["accountEnabled"]}


class RevokeSessions(EntraKind):
    name = "revoke-sessions"
    summary = "revoke sign-in sessions of"
    done_summary = "sign-in sessions already revoked for"
    permissions = ("User.RevokeSessions.All",)
    desired = {"sessionsRevoked": True}
    restorable = False
    restore_note = "revoked sessions are not restored: the person signs in again"
    after = DisableAccount.name  # disable first: no new session between the two

    @classmethod
    def write(cls, a: Action) -> Sub:
        return Sub(a.id, "POST", f"/users/{a.resource}/revokeSignInSessions")

    @classmethod
    def done(cls, connector: Any, a: Action, reply: Reply) -> Receipt:
        now = dt.datetime.now(dt.timezone.utc)
        return Receipt(request_ids=(reply.request_id,), detail={
            "status": reply.status, "revokedAt": now.isoformat(timespec="seconds"),
            "accessTokensValidUntilAbout": (now + dt.timedelta(minutes=ACCESS_TOKEN_MINUTES)).isoformat(
                timespec="seconds")})

    @classmethod
    def undo(cls, connector: Any, a: Action) -> Receipt | Reply:
        return Receipt(detail={"note": cls.restore_note})

    @classmethod
    def state(cls, a: Action, user: Reply, got: EntraReads) -> State:
        if not user.ok:
            return {"sessionsRevoked": None, "missing": "user"}
        if not user.body.get("signInSessionsValidFromDateTime"):
            return unverifiable("Graph's answer for the user has no signInSessionsValidFromDateTime")
        return sessions_state(user.body, a.params["revokeAfter"])


class _Membership(EntraKind):
    """A direct membership of a group or directory role: removed with `/$ref`, proven gone only when the user's
    memberOf is read whole and the container was seen to exist."""

    desired = {"member": False}
    unproven_404 = True
    expands_member_of = True
    container: ClassVar[str]  # the Graph collection: groups or directoryRoles
    container_read: ClassVar[str] = ""  # the query of the existence read

    @classmethod
    def write(cls, a: Action) -> Sub:
        # `/$ref` removes the membership; without it Graph deletes the user object itself.
        return Sub(a.id, "DELETE", f"/{cls.container}/{a.resource}/members/{a.principal}/$ref")

    @classmethod
    def undo(cls, connector: Any, a: Action) -> Receipt | Reply:
        return _judged(connector.graph.send("POST", f"/{cls.container}/{a.resource}/members/$ref",
                                            {"@odata.id": directory_object_url(connector.settings, a.principal or "")}))

    @classmethod
    def reads(cls, a: Action, containers_seen: set[str]) -> dict[str, str]:
        if a.resource in containers_seen:
            return {}
        return {f"container:{a.resource}": f"/{cls.container}/{a.resource}{cls.container_read}"}

    @classmethod
    def state(cls, a: Action, user: Reply, got: EntraReads) -> State:
        known = got.member_of.get(a.principal or a.resource)
        if isinstance(known, str):
            return unverifiable(known)
        if not user.ok or known is None or a.resource not in got.containers_seen:
            # A 404 is not "removed": a wrong or deleted id must never read as done.
            return {"member": None, "missing": "group or role" if known is not None else "user"}
        return {"member": a.resource in known}


class RemoveGroupMembership(_Membership):
    name = "remove-group-member"
    summary = "remove from group"
    done_summary = "not a member of group"
    permissions = ("GroupMember.ReadWrite.All",)
    container, container_read = "groups", "?$select=id"


class RemoveDirectoryRole(_Membership):
    name = "remove-directory-role"
    summary = "remove from directory role"
    done_summary = "not in directory role"
    permissions = ("RoleManagement.ReadWrite.Directory",)
    container = "directoryRoles"


class RemoveAppRoleAssignment(EntraKind):
    name = "remove-app-role"
    summary = "remove app role assignment"
    done_summary = "no app role assignment"
    permissions = ("AppRoleAssignment.ReadWrite.All",)
    desired = {"assigned": False}
    unproven_404 = True

    @classmethod
    def write(cls, a: Action) -> Sub:
        return Sub(a.id, "DELETE", f"/users/{a.principal}/appRoleAssignments/{a.params['assignmentId']}")

    @classmethod
    def undo(cls, connector: Any, a: Action) -> Receipt | Reply:
        return _judged(connector.graph.send("POST", f"/users/{a.principal}/appRoleAssignments",
                                            {"principalId": a.principal, "resourceId": a.params["resourceId"],
                                             "appRoleId": a.params["appRoleId"]}))

    @classmethod
    def reads(cls, a: Action, containers_seen: set[str]) -> dict[str, str]:
        return {f"assignments:{a.principal}": f"/users/{a.principal}/appRoleAssignments?$top=999"}

    @classmethod
    def state(cls, a: Action, user: Reply, got: EntraReads) -> State:
        if not user.ok:
            return {"assigned": None, "missing": "user"}
        page = list_page(got.replies[f"assignments:{a.principal or a.resource}"])
        if page is None or not all("resourceId" in x and "appRoleId" in x for x in page):
            return unverifiable("Graph's answer to the user's appRoleAssignments has no complete value list")
        return {"assigned": any(f"{x['resourceId']}:{x['appRoleId']}" == a.resource for x in page)}


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def sessions_state(user: dict[str, Any], revoke_after: str) -> State:
    since = user.get("signInSessionsValidFromDateTime")
    t = _parse_time(since)
    return {"signInSessionsValidFromDateTime": since,
            "sessionsRevoked": t is not None and t >= _parse_time(revoke_after) - CLOCK_SKEW}  # type: ignore[operator]
