"""The `okta` connector's action kinds and the permission document `revoke permissions` prints for them.

Permissions are declared in two families, both from Okta's documentation: `scope:<name>` is the OAuth 2.0 scope
an OAuth service app must be granted (and that an endpoint names under "OAuth 2.0 scope"), `perm:<name>` a
permission of Okta's custom admin roles (the permissions catalogue). An API token acts with its administrator's
role, so the document names both: the scopes for a service app, the custom role for either.
"""

from __future__ import annotations

from typing import Sequence

from revoke.actions import ACCESS, LISTS, ActionKind


class ClearSessions(ActionKind):
    name = "clear-sessions"
    summary = "end Okta sessions and revoke OAuth tokens of"
    done_summary = "sessions ended:"
    item = ACCESS
    permissions = ("scope:okta.users.manage", "perm:okta.users.lifecycle.clearSessions")
    desired = {"sessions_cleared": True}
    # Okta lists no user's sessions: only the 204 to the DELETE and the refresh tokens left can be read
    verifiable = False
    restorable = False
    restore_note = "ended sessions and revoked tokens cannot be restored: the person signs in again"


class RevokeGrant(ActionKind):
    name = "revoke-grant"
    summary = "revoke the OAuth grant"
    done_summary = "grant already revoked:"
    item = ACCESS
    permissions = ("scope:okta.users.manage", "perm:okta.users.userprofile.manage")
    desired = {"granted": False}
    restorable = False
    restore_note = "a revoked consent grant cannot be restored: the person consents again when they next sign in"


class SuspendUser(ActionKind):
    name = "suspend-user"
    summary = "suspend Okta user"
    done_summary = "already unable to sign in:"
    item = ACCESS
    permissions = ("scope:okta.users.manage", "perm:okta.users.lifecycle.suspend",
                   "perm:okta.users.lifecycle.unsuspend")
    desired = {"blocked": True}
    restore_note = "restore unsuspends the user: app and group memberships were kept"


class DeactivateUser(ActionKind):
    name = "deactivate-user"
    summary = "DEACTIVATE Okta user (destructive: unassigns their apps)"
    done_summary = "already deactivated:"
    item = ACCESS
    permissions = ("scope:okta.users.manage", "perm:okta.users.lifecycle.deactivate",
                   "perm:okta.users.lifecycle.activate")
    desired = {"status": "DEPROVISIONED"}
    restore_note = ("restore reactivates the user (lifecycle/activate, no email), but Okta unassigned their apps "
                    "at deactivation: app assignments made to the user directly, and the accounts Okta "
                    "deprovisioned in those apps, do not come back; assign them again by hand")


class RemoveFromGroup(ActionKind):
    name = "remove-from-group"
    summary = "remove from Okta group"
    done_summary = "not in Okta group"
    item = ACCESS
    permissions = ("scope:okta.groups.manage", "perm:okta.groups.members.manage")
    desired = {"member": False}
    restore_note = "restore adds the user back to the group"


class ResetFactors(ActionKind):
    name = "reset-factors"
    summary = "reset the enrolled MFA factors of"
    done_summary = "no enrolled factors:"
    item = ACCESS
    permissions = ("scope:okta.users.manage", "perm:okta.users.credentials.resetFactors")
    desired = {"factors": 0}
    restorable = False
    restore_note = "reset factors cannot be restored: the person enrols them again"


class EmptyGroup(ActionKind):
    name = "empty-group"
    summary = "remove every member from Okta group"
    done_summary = "no members left in Okta group"
    item = LISTS
    permissions = ("scope:okta.groups.manage", "perm:okta.groups.members.manage")
    desired = {"exists": True, "members": 0}
    resource_types = ("group",)
    restore_note = "restore adds the members the plan saw back to the group"


KINDS = (ClearSessions, RevokeGrant, SuspendUser, DeactivateUser, RemoveFromGroup, ResetFactors, EmptyGroup)
READ_PERMISSIONS = ("scope:okta.users.read", "scope:okta.groups.read", "scope:okta.roles.read",
                    "perm:okta.users.read", "perm:okta.groups.read")


def permissions_document(read: Sequence[str], kinds: Sequence[type[ActionKind]]) -> str:
    wanted = sorted(set(read).union(*(k.permissions for k in kinds)))
    scopes = [p.split(":", 1)[1] for p in wanted if p.startswith("scope:")]
    perms = [p.split(":", 1)[1] for p in wanted if p.startswith("perm:")]
    lines = ["OAuth 2.0 service app (client credentials, private key JWT): grant these Okta API scopes:"]
    lines += [f"- {s}" for s in scopes]
    lines.append("and assign the app (or, for an API token, the administrator who creates it) an admin role: a "
                 "custom admin role with these permissions, on a resource set of the users and groups concerned:")
    lines += [f"- {p}" for p in perms]
    lines.append("(or the standard Group Administrator role for those groups; Super Administrator also works but "
                 "is far more than revoke needs; Okta never lets an admin role act on a Super Administrator)")
    return "\n".join(lines)
