"""Microsoft Entra ID accounts through Microsoft Graph: disable, end sessions, strip groups, app roles and roles.

Discovery reads each leaver (by UPN or object id) with their direct memberships (`memberOf`: groups and directory
roles), app role assignments and owned groups, in JSON `$batch`es. What Graph cannot change is said in the plan,
not found at apply time: a user synced from on-premises AD is disabled in AD (the step carries the account's
sAMAccountName and DN so the engine can route it to the runbook's AD system), mail-enabled security groups and
distribution lists need Exchange Online, dynamic groups are immutable.

Writes go as `$batch`es of up to 20; for one user the disable runs before the session revocation (`dependsOn`), so
no new session can be issued between the two.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

from revoke.actions import State
from revoke.connector import Discovery, ListTarget, Subject
from revoke.connectors.microsoft import entra_discovery, entra_readback
from revoke.connectors.microsoft.directory_objects import DirectoryObjectsConnector
from revoke.connectors.microsoft.entra_delete import DeleteAccount, EntraSettings
from revoke.connectors.microsoft.entra_kinds import (
    ACCESS_TOKEN_MINUTES,
    DisableAccount,
    RemoveAppRoleAssignment,
    RemoveDirectoryRole,
    RemoveGroupMembership,
    RevokeSessions,
)
from revoke.connectors.microsoft.graph import Reply
from revoke.exposure import ExposureRule
from revoke.plan import Action

__all__ = ["EntraConnector", "EntraSettings", "DisableAccount", "RevokeSessions", "RemoveGroupMembership",
           "RemoveAppRoleAssignment", "RemoveDirectoryRole", "DeleteAccount"]


class EntraConnector(DirectoryObjectsConnector):
    name: ClassVar[str] = "entra"
    version: ClassVar[str] = "1"
    Settings = EntraSettings
    kinds = (DisableAccount, RevokeSessions, RemoveGroupMembership, RemoveAppRoleAssignment, RemoveDirectoryRole,
             DeleteAccount)
    read_permissions = ("User.Read.All", "GroupMember.Read.All", "RoleManagement.Read.Directory",
                        "Application.Read.All")
    permission_format = "text"
    # The engine's unit of writing and reading back. Three $batches of writes (20 users' disable, session
    # revocation and one membership) are read back with one $batch of 20 user reads; with 20 the read-back of
    # about 7 users went in a $batch of its own each time.
    batch_size = 60

    settings: EntraSettings

    def __init__(self, system: str, settings: EntraSettings, secrets: Any, context: Any):
        super().__init__(system, settings, secrets, context)
        # Groups and directory roles read back as existing in this run. Only existence is kept (never a 404):
        # it is what lets "not in the user's memberOf" mean removed rather than a wrong id.
        self.containers_seen: set[str] = set()

    def exposure(self) -> list[ExposureRule]:
        return [
            ExposureRule("Entra ID access tokens issued before the sign-in sessions were revoked", RevokeSessions.name,
                         ACCESS_TOKEN_MINUTES, "access tokens live 60-90 minutes by default and revokeSignInSessions "
                         "does not end them; clients using continuous access evaluation (Exchange, SharePoint, "
                         "Teams) drop theirs within minutes"),
            ExposureRule("Entra ID access tokens issued before the account was disabled", DisableAccount.name,
                         ACCESS_TOKEN_MINUTES, "a disable blocks new tokens; issued ones live 60-90 minutes"),
            ExposureRule("sessions that applications keep themselves after an Entra ID sign-in (their own cookies)",
                         DisableAccount.name, None, "each application's own session lifetime; Entra ID cannot end "
                         "them"),
        ]

    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        return entra_discovery.discover(self, subjects, lists)

    # apply, apply_many and restore: DirectoryObjectsConnector, each kind's own write and undo (entra_kinds)

    def read_back(self, actions: Sequence[Action]) -> dict[str, State]:
        return entra_readback.read_back(self, actions)

    def _memberships(self, actions: Sequence[Action], replies: dict[str, Reply]) -> dict[str, set[str] | str]:
        return entra_readback.memberships(self, actions, replies)
