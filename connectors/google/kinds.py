"""The `google-workspace` connector's action kinds, and the OAuth scopes `revoke permissions` prints for them.

Each kind declares the exact OAuth scopes its calls need (from the bundled discovery documents); the scopes the
service account asks for are the union of those of the planned kinds and the read scopes, and the same list is
what an administrator grants the service account's client id in the Admin console (domain-wide delegation).
"""

from __future__ import annotations

from typing import Sequence

from revoke.actions import ACCESS, LISTS, ActionKind

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

NOT_RESTORABLE_CREDENTIAL = "revoked credentials cannot come back: the person creates new ones after restore"


class InvalidateBackupCodes(ActionKind):
    name = "invalidate-backup-codes"
    summary = "invalidate the backup verification codes of"
    done_summary = "no backup verification codes:"
    item = ACCESS
    permissions = (USER_SECURITY,)
    desired = {"codes": 0}
    restorable = False
    restore_note = "invalidated backup codes cannot be restored; the person generates new ones"


class DeleteAppPassword(ActionKind):
    name = "delete-app-password"
    summary = "delete the app password"
    done_summary = "app password already deleted:"
    item = ACCESS
    permissions = (USER_SECURITY,)
    desired = {"exists": False}
    restorable = False
    restore_note = NOT_RESTORABLE_CREDENTIAL + " (app passwords are shown once, when made)"


class DeleteOAuthToken(ActionKind):
    name = "delete-oauth-token"
    summary = "revoke the OAuth grant"
    done_summary = "OAuth grant already revoked:"
    item = ACCESS
    permissions = (USER_SECURITY,)
    desired = {"exists": False}
    restorable = False
    restore_note = NOT_RESTORABLE_CREDENTIAL + " (the app asks for consent again)"


class WipeMobileAccount(ActionKind):
    name = "wipe-mobile-account"
    summary = "wipe the work account from the managed device"
    done_summary = "work account already wiped from the device"
    item = ACCESS
    permissions = (MOBILE_ACTION, MOBILE_READ)
    desired = {"account_wiped": True}
    restorable = False
    restore_note = ("an account wipe removes the work account and its data from the device: the person adds the "
                    "account again after restore")


class SignOut(ActionKind):
    name = "sign-out"
    summary = "sign out of every session:"
    done_summary = "signed out:"
    item = ACCESS
    permissions = (USER_SECURITY,)
    desired = {"signed_out": True}
    verifiable = False    # users.signOut leaves nothing to read back: the record says so, with its time
    restorable = False
    restore_note = "a sign-out has nothing to undo: the person signs in again once the account is unsuspended"


class SuspendUser(ActionKind):
    name = "suspend-user"
    summary = "suspend account"
    done_summary = "already suspended:"
    item = ACCESS
    permissions = (USER,)
    desired = {"suspended": True}
    restore_note = "restore unsuspends the account"


class RemoveFromGroup(ActionKind):
    name = "remove-from-group"
    summary = "remove from group"
    done_summary = "not in group"
    item = ACCESS
    permissions = (GROUP_MEMBER,)
    desired = {"member": False}
    restore_note = "restore adds the person back with the role they had (member, manager or owner)"


class ArchiveGroup(ActionKind):
    name = "archive-group"
    summary = "archive group (archive-only: nobody can post, the history stays)"
    done_summary = "group already archive-only:"
    item = LISTS
    permissions = (GROUPS_SETTINGS,)
    desired = {"exists": True, "archive_only": True}
    resource_types = ("group",)
    restore_note = "restore turns archive-only off and gives back who could post"


class DeleteGroup(ActionKind):
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


class RemoveFromChatSpace(ActionKind):
    name = "remove-from-chat-space"
    summary = "remove from Chat space"
    done_summary = "not in Chat space"
    item = LISTS
    permissions = (CHAT_MEMBERSHIPS,)
    desired = {"member": False}
    restore_note = ("restore adds the person back to the space (administrator access) and gives a manager's role back; "
                    "a person whose auto-accept is off is invited instead, until they accept")


# in the order they run for one person: Google refuses backup-code changes once the account is suspended
PERSON_ORDER = (InvalidateBackupCodes, DeleteAppPassword, DeleteOAuthToken, WipeMobileAccount, SignOut, SuspendUser)
KINDS = (*PERSON_ORDER, RemoveFromGroup, ArchiveGroup, DeleteGroup, RemoveFromChatSpace)
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
