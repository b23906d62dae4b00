"""The `google-workspace` connector's action kinds, and the OAuth scopes `revoke permissions` prints for them.

Each kind declares the exact OAuth scopes its calls need (from the bundled discovery documents); the scopes the
service account asks for are the union of those of the planned kinds and the read scopes, and the same list is
what an administrator grants the service account's client id in the Admin console (domain-wide delegation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from revoke.actions import ACCESS, LISTS, ActionKind
from revoke.errors import NotSupported

if TYPE_CHECKING:
    from googleapiclient.http import HttpRequest

    from revoke.connectors.google.client import Google
    from revoke.connectors.google.writes import Call

BASE = "https://www.googleapis.com/auth/"
USER = BASE + "admin.directory.user"
USER_SECURITY = BASE + "admin.directory.user.security"
GROUP = BASE + "admin.directory.group"
GROUP_MEMBER = BASE + "admin.directory.group.member"
GROUPS_SETTINGS = BASE + "apps.groups.settings"
CHAT_MEMBERSHIPS = BASE + "chat.admin.memberships"
CHAT_SPACES_READ = BASE + "chat.admin.spaces.readonly"
MOBILE_ACTION = BASE + "admin.directory.device.mobile.action"
MOBILE_READ = BASE + "admin.directory.device.mobile.readonly"

class GoogleKind(ActionKind):
    """A google-workspace kind: declared, and the one API call that carries it out (`request`)."""

    @classmethod
    def request(cls, g: Google, c: Call, p: dict[str, Any]) -> tuple[str, HttpRequest]:
        """The call for this step, and how to name it in an error; `p` holds the action's parameters."""
        raise NotSupported(f"google-workspace has no action '{cls.name}'")


NOT_RESTORABLE_CREDENTIAL = "revoked credentials cannot come back: the person creates new ones after restore"


class InvalidateBackupCodes(GoogleKind):
    name = "invalidate-backup-codes"
    summary = "invalidate the backup verification codes of"
    done_summary = "no backup verification codes:"
    item = ACCESS
    permissions = (USER_SECURITY,)
    desired = {"codes": 0}
    restorable = False
    restore_note = "invalidated backup codes cannot be restored; the person generates new ones"

    @classmethod
    def request(cls, g: Google, c: Call, p: dict[str, Any]) -> tuple[str, HttpRequest]:
        return f"invalidate the backup codes of {c.user}", g.directory.verificationCodes().invalidate(userKey=c.user)


class DeleteAppPassword(GoogleKind):
    name = "delete-app-password"
    summary = "delete the app password"
    done_summary = "app password already deleted:"
    item = ACCESS
    permissions = (USER_SECURITY,)
    desired = {"exists": False}
    restorable = False
    restore_note = NOT_RESTORABLE_CREDENTIAL + " (app passwords are shown once, when made)"

    @classmethod
    def request(cls, g: Google, c: Call, p: dict[str, Any]) -> tuple[str, HttpRequest]:
        code = int(c.resource.rsplit("/", 1)[1])
        return f"delete app password {code} of {c.user}", g.directory.asps().delete(userKey=c.user, codeId=code)


class DeleteOAuthToken(GoogleKind):
    name = "delete-oauth-token"
    summary = "revoke the OAuth grant"
    done_summary = "OAuth grant already revoked:"
    item = ACCESS
    permissions = (USER_SECURITY,)
    desired = {"exists": False}
    restorable = False
    restore_note = NOT_RESTORABLE_CREDENTIAL + " (the app asks for consent again)"

    @classmethod
    def request(cls, g: Google, c: Call, p: dict[str, Any]) -> tuple[str, HttpRequest]:
        client = c.resource.rsplit("/", 1)[1]
        return (f"delete the OAuth grant to {client} of {c.user}",
                g.directory.tokens().delete(userKey=c.user, clientId=client))


class WipeMobileAccount(GoogleKind):
    name = "wipe-mobile-account"
    summary = "wipe the work account from the managed device"
    done_summary = "work account already wiped from the device"
    item = ACCESS
    permissions = (MOBILE_ACTION, MOBILE_READ)
    desired = {"account_wiped": True}
    restorable = False
    restore_note = ("an account wipe removes the work account and its data from the device: the person adds the "
                    "account again after restore")

    @classmethod
    def request(cls, g: Google, c: Call, p: dict[str, Any]) -> tuple[str, HttpRequest]:
        device = c.resource.rsplit("/", 1)[1]
        return (f"wipe the account of {c.user} from device {device}", g.directory.mobiledevices().action(
            customerId=g.settings.customer, resourceId=device, body={"action": "admin_account_wipe"}))


class SignOut(GoogleKind):
    name = "sign-out"
    summary = "sign out of every session:"
    done_summary = "signed out:"
    item = ACCESS
    permissions = (USER_SECURITY,)
    desired = {"signed_out": True}
    verifiable = False    # users.signOut leaves nothing to read back: the record says so, with its time
    restorable = False
    restore_note = "a sign-out has nothing to undo: the person signs in again once the account is unsuspended"

    @classmethod
    def request(cls, g: Google, c: Call, p: dict[str, Any]) -> tuple[str, HttpRequest]:
        return f"sign {c.user} out", g.directory.users().signOut(userKey=c.user)


class SuspendUser(GoogleKind):
    name = "suspend-user"
    summary = "suspend account"
    done_summary = "already suspended:"
    item = ACCESS
    permissions = (USER,)
    desired = {"suspended": True}
    restore_note = "restore unsuspends the account"

    @classmethod
    def request(cls, g: Google, c: Call, p: dict[str, Any]) -> tuple[str, HttpRequest]:
        # suspensionReason is output-only: Google sets it (ADMIN); the engagement's reason is in the evidence
        return f"suspend {c.user}", g.directory.users().patch(userKey=c.user, body={"suspended": True})


class RemoveFromGroup(GoogleKind):
    name = "remove-from-group"
    summary = "remove from group"
    done_summary = "not in group"
    item = ACCESS
    permissions = (GROUP_MEMBER,)
    desired = {"member": False}
    restore_note = "restore adds the person back with the role they had (member, manager or owner)"

    @classmethod
    def request(cls, g: Google, c: Call, p: dict[str, Any]) -> tuple[str, HttpRequest]:
        return (f"remove {c.principal} from group {c.resource}",
                g.directory.members().delete(groupKey=c.resource, memberKey=str(c.principal)))


class ArchiveGroup(GoogleKind):
    name = "archive-group"
    summary = "archive group (archive-only: nobody can post, the history stays)"
    done_summary = "group already archive-only:"
    item = LISTS
    permissions = (GROUPS_SETTINGS,)
    desired = {"exists": True, "archive_only": True}
    resource_types = ("group",)
    restore_note = "restore turns archive-only off and gives back who could post"

    @classmethod
    def request(cls, g: Google, c: Call, p: dict[str, Any]) -> tuple[str, HttpRequest]:
        return (f"make {p.get('email')} archive-only", g.groups_settings.groups().patch(
            groupUniqueId=p["email"], body={"archiveOnly": "true"}))


class DeleteGroup(GoogleKind):
    name = "delete-group"
    summary = "delete group"
    done_summary = "group already deleted:"
    item = LISTS
    permissions = (GROUP,)
    desired = {"exists": False}
    resource_types = ("group",)
    restorable = False
    restore_note = ("a deleted Google Group cannot be restored through the API (its messages and members are gone; "
                    "an administrator may recover it in the Admin console for a short time): close: archive keeps it")

    @classmethod
    def request(cls, g: Google, c: Call, p: dict[str, Any]) -> tuple[str, HttpRequest]:
        return f"delete group {p.get('email')}", g.directory.groups().delete(groupKey=p["group_id"])


class RemoveFromChatSpace(GoogleKind):
    name = "remove-from-chat-space"
    summary = "remove from Chat space"
    done_summary = "not in Chat space"
    item = LISTS
    permissions = (CHAT_MEMBERSHIPS,)
    desired = {"member": False}
    restore_note = ("restore adds the person back to the space (administrator access) and gives a manager's role back; "
                    "a person whose auto-accept is off is invited instead, until they accept")

    @classmethod
    def request(cls, g: Google, c: Call, p: dict[str, Any]) -> tuple[str, HttpRequest]:
        return (f"remove {c.principal} from {c.resource}", g.chat.spaces().members().delete(
            name=p["membership"], useAdminAccess=True))


# in the order they run for one person: Google refuses backup-code changes once the account is suspended
PERSON_ORDER = (InvalidateBackupCodes, DeleteAppPassword, DeleteOAuthToken, WipeMobileAccount, SignOut, SuspendUser)
KINDS: tuple[type[GoogleKind], ...] = (*PERSON_ORDER, RemoveFromGroup, ArchiveGroup, DeleteGroup, RemoveFromChatSpace)
READ_PERMISSIONS = (USER + ".readonly", USER_SECURITY, GROUP + ".readonly", GROUP_MEMBER + ".readonly",
                    GROUPS_SETTINGS, BASE + "chat.admin.memberships.readonly", CHAT_SPACES_READ)


def scopes_for(kinds: Sequence[type[ActionKind]], chat: bool = True, mobile: bool = True) -> list[str]:
    """The scopes to grant and to ask for: what the kinds write with, and what discovery reads with. A write
    scope covers its read-only form, so that one is left out (fewer lines to paste, the same reach). Chat and
    mobile devices are left out when the settings turn them off (`chat: false`, `wipe_mobile_devices: false`)."""
    wanted = set(READ_PERMISSIONS).union(*(k.permissions for k in kinds if mobile or k is not WipeMobileAccount))
    if not chat:
        wanted = {s for s in wanted if not s.startswith(BASE + "chat.")}
    return sorted(s for s in wanted if not (s.endswith(".readonly") and s.removesuffix(".readonly") in wanted))


def permissions_document(kinds: Sequence[type[ActionKind]]) -> str:
    scopes = scopes_for(kinds)
    lines = ["Google Workspace: a service account with domain-wide delegation, acting as the settings' `admin` (a "
             "super administrator). In the Admin console: Security > Access and data control > API controls > "
             "Domain-wide delegation > Add new: the service account's client id and these OAuth scopes:"]
    lines += [f"- {s}" for s in scopes]
    lines.append("As one line, to paste: " + ",".join(scopes))
    if WipeMobileAccount in kinds:
        lines.append(f"({MOBILE_ACTION} and {MOBILE_READ} are asked for only with wipe_mobile_devices: true; "
                     "chat.* ones only with chat: true, the default)")
    lines.append("In the service account's Cloud project, enable: Admin SDK API, Groups Settings API"
                 + (", Google Chat API (and configure the Chat app)" if RemoveFromChatSpace in kinds else ""))
    return "\n".join(lines)
