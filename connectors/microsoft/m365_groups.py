"""Microsoft 365 groups, Teams and mail lists through Microsoft Graph: close the engagement's lists and channels.

Each runbook list names a group by object id or mail address, with `close:`
- `default`: a team is archived and the leavers are removed; any other group loses the leavers;
- `archive`: archive the team (`POST /teams/{id}/archive`, 202 + an async operation; read back `isArchived`);
- `remove-leavers`: remove the runbook's people from the group;
- `empty`: keep the group, remove every member (owners stay);
- `delete`: delete a Microsoft 365 group (soft delete: restorable for 30 days, and the evidence says until when).
`options: {guests: true}` also removes every guest member. Distribution lists and mail-enabled security groups are
read-only in Graph: the plan flags them "needs Exchange Online" with the PowerShell step, never fails at apply time.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence, cast

from pydantic import BaseModel, ConfigDict

from revoke.actions import State
from revoke.connector import Discovery, ListTarget, Receipt, Subject
from revoke.connectors.microsoft.directory_objects import DirectoryObjectsConnector, read_all
from revoke.connectors.microsoft.graph import GraphSettings, Reply
from revoke.connectors.microsoft.m365_discovery import ListDiscovery
from revoke.connectors.microsoft.m365_kinds import ArchiveTeam, DeleteGroup, M365Kind, RemoveMember
from revoke.exposure import ExposureRule
from revoke.plan import Action

__all__ = ["M365GroupsConnector", "M365ListOptions", "ArchiveTeam", "RemoveMember", "DeleteGroup"]


class M365ListOptions(BaseModel):
    """A runbook list's `options:` in an m365-groups system."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    guests: bool = False  # also remove every guest member (userType Guest), not only the leavers


class M365GroupsConnector(DirectoryObjectsConnector):
    name: ClassVar[str] = "m365-groups"
    version: ClassVar[str] = "1"
    Settings = GraphSettings
    ListOptions = M365ListOptions
    kinds = (ArchiveTeam, RemoveMember, DeleteGroup)
    read_permissions = ("Group.Read.All", "GroupMember.Read.All", "User.Read.All", "Team.ReadBasic.All")
    permission_format = "text"
    batch_size = 20

    def __init__(self, system: str, settings: GraphSettings, secrets: Any, context: Any):
        super().__init__(system, settings, secrets, context)
        self._operations: dict[str, str] = {}  # team id -> Location of its archive operation, this run

    def exposure(self) -> list[ExposureRule]:
        return [
            ExposureRule("the group's files and chats through sharing links or direct shares made before the removal",
                         RemoveMember.name, None, "sharing links do not depend on membership; review the team "
                         "site's sharing"),
            ExposureRule("membership still cached by Teams, Exchange and SharePoint", RemoveMember.name, None,
                         "the services apply a removal after their own sync; Microsoft documents no upper bound"),
        ]

    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        return ListDiscovery(self).discover(subjects, lists)

    # ---- apply, apply_many and restore: DirectoryObjectsConnector, each kind's own write and undo (m365_kinds)
    def follow(self, team: str, reply: Reply, detail: dict[str, Any]) -> Receipt:
        """A team's (un)archive runs as an async operation (202 with its Location): remember it for the read-back,
        look at it once now, and while it runs ask the engine to read the team back later (`poll_after`)."""
        location = next((v for k, v in reply.headers.items() if k.casefold() == "location"), "")
        detail["operation"] = location
        running = False
        if location:
            self._operations[team] = location
            op = self.graph.get(location)
            status = op.body.get("status") if op.ok else None
            detail["operationStatus"] = status
            running = status in ("notStarted", "inProgress")
        return Receipt(request_ids=(reply.request_id,), detail=detail,
                       poll_after=self.settings.async_poll_seconds if running else None)

    # ---- read back: each kind's own reads and state (m365_kinds)
    def read_back(self, actions: Sequence[Action]) -> dict[str, State]:
        for a in [a for a in actions if a.kind == ArchiveTeam.name and a.resource in self._operations]:
            # an (un)archive still running leaves the team as it was: the engine reads it again after poll_after
            op = self.graph.get(self._operations[a.resource])
            if not (op.ok and op.body.get("status") in ("notStarted", "inProgress")):
                del self._operations[a.resource]
        kinds = {a.id: cast(type[M365Kind], self.kind(a.kind)) for a in actions}
        paths: dict[str, str] = {}
        for a in actions:
            paths.update(kinds[a.id].reads(a))
        replies = read_all(self.graph, paths)
        return {a.id: kinds[a.id].state(a, replies) for a in actions}
