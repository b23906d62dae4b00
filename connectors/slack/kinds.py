"""The `slack` action kinds, each with its declarations and its behaviour: the write at apply time, the read-back
and the undo. The connector only looks the kind up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from revoke.actions import ACCESS, LISTS, ActionKind, State
from revoke.connector import Receipt
from revoke.errors import NotSupported
from revoke.evidence import now

if TYPE_CHECKING:
    from revoke.connectors.slack.connector import SlackConnector


class SlackKind(ActionKind):
    @classmethod
    def apply(cls, slack: SlackConnector, a: Any) -> Receipt:
        raise NotSupported(f"slack has no action '{cls.name}'")

    @classmethod
    def read(cls, slack: SlackConnector, a: Any, members: dict[str, set[str] | None]) -> State:
        """The target's state now; `members` holds the channels' member lists read in this batch so far."""
        raise NotImplementedError(cls.name)

    @classmethod
    def restore(cls, slack: SlackConnector, a: Any) -> Receipt:
        raise NotSupported(f"{cls.name} cannot be restored: {cls.restore_note}")


class PostClosingMessage(SlackKind):
    name = "post-closing-message"
    summary = "post the closing message in"
    done_summary = "closing message already in"
    item = LISTS
    resource_types = ("group",)
    permissions = ("chat:write", "channels:join", "channels:history", "groups:history")
    desired = {"posted": True}
    restorable = False
    restore_note = "a posted message stays in the channel"

    @classmethod
    def apply(cls, slack: SlackConnector, a: Any) -> Receipt:
        with slack.channel_lock(a.resource):
            return slack.channels.ensure_posted(a.resource, a.params["text"], bool(a.params.get("private")))

    @classmethod
    def read(cls, slack: SlackConnector, a: Any, members: dict[str, set[str] | None]) -> State:
        return slack.channels.posted_state(a.resource, a.params["text"])


class ArchiveChannel(SlackKind):
    name = "archive-channel"
    summary = "archive"
    done_summary = "already archived:"
    item = LISTS
    resource_types = ("group",)
    permissions = ("channels:manage", "groups:write", "channels:join")
    desired = {"exists": True, "archived": True}
    restore_note = "restore unarchives the channel"

    @classmethod
    def apply(cls, slack: SlackConnector, a: Any) -> Receipt:
        with slack.channel_lock(a.resource):
            return slack.channels.archive(a.resource, a.params.get("closing_message"), bool(a.params.get("private")))

    @classmethod
    def read(cls, slack: SlackConnector, a: Any, members: dict[str, set[str] | None]) -> State:
        return slack.channels.channel_state(a.resource)

    @classmethod
    def restore(cls, slack: SlackConnector, a: Any) -> Receipt:
        if a.before.get("archived"):
            return Receipt(detail={"note": "the channel was archived before the run; left archived"})
        return slack.channels.unarchive(a.resource)


class RemoveFromChannel(SlackKind):
    name = "remove-from-channel"
    summary = "remove from"
    done_summary = "not in"
    item = LISTS
    permissions = ("channels:manage", "groups:write", "channels:join")
    desired = {"exists": True, "member": False}
    restore_note = "restore invites the person back"

    @classmethod
    def apply(cls, slack: SlackConnector, a: Any) -> Receipt:
        return slack.channels.kick(a.resource, a.principal, bool(a.params.get("private")))

    @classmethod
    def read(cls, slack: SlackConnector, a: Any, members: dict[str, set[str] | None]) -> State:
        if a.resource not in members:
            members[a.resource] = slack.channels.members(a.resource)
        held = members[a.resource]
        slack.api.read("users.info", user=a.principal)  # the person exists: not a wrong id
        return {"exists": False, "member": False} if held is None else {"exists": True, "member": a.principal in held}

    @classmethod
    def restore(cls, slack: SlackConnector, a: Any) -> Receipt:
        if not a.before.get("member"):
            return Receipt(detail={"note": "was not a member before the run"})
        return slack.channels.invite(a.resource, a.principal, bool(a.params.get("private")))


class DeactivateUser(SlackKind):
    name = "deactivate-user"
    summary = "deactivate the Slack account (signs out every session)"
    done_summary = "Slack account already deactivated"
    item = ACCESS
    shows_resource = False
    permissions = ("admin",)
    desired = {"exists": True, "active": False}
    restore_note = "restore reactivates the account; its sessions do not come back (the person signs in again)"

    @classmethod
    def apply(cls, slack: SlackConnector, a: Any) -> Receipt:
        slack.scim.set_active(a.resource, False)
        return Receipt(detail={"scim": "active=false", "deactivated_at": now().isoformat(timespec="seconds"),
                               "residual": {"slack_sessions": "none: deactivation signs the person out of every "
                                            "Slack session and client at once"}})

    @classmethod
    def read(cls, slack: SlackConnector, a: Any, members: dict[str, set[str] | None]) -> State:
        return {"exists": True, "active": slack.scim.active(a.resource)}

    @classmethod
    def restore(cls, slack: SlackConnector, a: Any) -> Receipt:
        if a.before.get("active"):
            slack.scim.set_active(a.resource, True)
        return Receipt()


KINDS: tuple[type[SlackKind], ...] = (PostClosingMessage, ArchiveChannel, RemoveFromChannel, DeactivateUser)
