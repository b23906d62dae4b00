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

import datetime as dt
import re
from typing import Any, ClassVar, Sequence
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from revoke.actions import LISTS, ActionKind, State, unverifiable
from revoke.connector import Connector, Discovery, Entity, Identity, ListTarget, Notice, Receipt, Step, Subject
from revoke.connectors.microsoft.graph import (
    EXCHANGE_RUNBOOK,
    GraphClient,
    GraphSettings,
    Reply,
    Sub,
    directory_object_url,
    exchange_route,
    is_mail_only,
    list_page,
    membership_blocker,
    seg,
)
from revoke.connectors.microsoft.names import USER_ID_FIELDS, DirectoryNames, group_entity
from revoke.errors import ActionFailed, RevokeError
from revoke.exposure import ExposureRule
from revoke.plan import Action

GROUP_FIELDS = ("id,displayName,mail,mailEnabled,securityEnabled,groupTypes,membershipRule,onPremisesSyncEnabled,"
                "resourceProvisioningOptions")
MEMBER_FIELDS = "id,userPrincipalName,displayName,userType"
SOFT_DELETE_DAYS = 30
CLOSE_MODES = ("default", "archive", "remove-leavers", "empty", "delete")
GUID = re.compile(r"^[0-9a-fA-F-]{36}$")


def by_name(ident: str) -> str:
    """The `$filter` that finds a group a runbook names by mail address, or else by its display name."""
    field = "mail" if "@" in ident else "displayName"
    return quote(f"{field} eq '" + ident.replace("'", "''") + "'", safe="'@")


class ArchiveTeam(ActionKind):
    name = "archive-team"
    summary = "archive team"
    done_summary = "team already archived:"
    item = LISTS
    resource_types = ("group",)
    permissions = ("TeamSettings.ReadWrite.All",)
    desired = {"isArchived": True}


class RemoveMember(ActionKind):
    name = "remove-member"
    summary = "remove member from"
    done_summary = "not a member of"
    item = LISTS
    permissions = ("GroupMember.ReadWrite.All",)
    desired = {"member": False}


class DeleteGroup(ActionKind):
    name = "delete-group"
    summary = "delete group"
    done_summary = "group already deleted:"
    item = LISTS
    resource_types = ("group",)
    permissions = ("Group.ReadWrite.All",)
    desired = {"exists": False, "softDeleted": True}
    restore_note = f"a deleted Microsoft 365 group is restorable for {SOFT_DELETE_DAYS} days after its deletion"


class M365ListOptions(BaseModel):
    """A runbook list's `options:` in an m365-groups system."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    guests: bool = False  # also remove every guest member (userType Guest), not only the leavers


class M365GroupsConnector(Connector):
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
        self.graph = GraphClient(system, settings, secrets, self.context.runtime)
        self._operations: dict[str, str] = {}  # team id -> Location of its archive operation, this run
        self.names = DirectoryNames(self.graph, own=(settings.client_id,))

    def exposure(self) -> list[ExposureRule]:
        return [
            ExposureRule("the group's files and chats through sharing links or direct shares made before the removal",
                         RemoveMember.name, None, "sharing links do not depend on membership; review the team "
                         "site's sharing"),
            ExposureRule("membership still cached by Teams, Exchange and SharePoint", RemoveMember.name, None,
                         "the services apply a removal after their own sync; Microsoft documents no upper bound"),
        ]

    def connect(self) -> Identity:
        identity = self.graph.connect()
        self.names.own.add(identity.display.casefold())
        return identity

    def identify(self, names: Sequence[str]) -> dict[str, Entity | None]:
        return self.names.identify(names)

    # ---- discovery -----------------------------------------------------------------------------------------
    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        out = Discovery()
        replies = self.graph.batch_get(self._lookups(subjects, lists, out))
        leavers = self._leavers(subjects, replies, out)
        targets: list[tuple[ListTarget, dict[str, Any]]] = []
        missing: list[ListTarget] = []
        for lst in lists:
            reply = replies.get(f"list:{lst.ident}")
            if reply is None:
                continue
            group = self._one_group(reply, lst, out)
            if group == {}:
                missing.append(lst)
            elif group is not None:
                targets.append((lst, group))
                self.names.remember(group_entity(group))
        out.steps.extend(self._deleted_lists(missing, out))
        more = self._group_details([g for _, g in targets])
        for lst, g in targets:
            out.steps.extend(self._list_steps(lst, g, leavers, more))
        return out

    def _lookups(self, subjects: Sequence[Subject], lists: Sequence[ListTarget], out: Discovery) -> dict[str, str]:
        """The reads that find each list (by id or mail) and each leaver, for one batch."""
        lookups = {}
        for lst in lists:
            if lst.close not in CLOSE_MODES:
                out.notices.append(Notice(f"list '{lst.ident}': unknown close mode '{lst.close}' (use one of "
                                          f"{', '.join(CLOSE_MODES)})", resource=lst.ident))
            elif GUID.match(lst.ident):
                lookups[f"list:{lst.ident}"] = f"/groups/{lst.ident}?$select={GROUP_FIELDS}"
            else:  # by mail address, or by display name (unique, or the plan lists the candidates)
                lookups[f"list:{lst.ident}"] = f"/groups?$filter={by_name(lst.ident)}&$select={GROUP_FIELDS}"
        for s in subjects:
            lookups[f"user:{s.ident}"] = f"/users/{seg(s.ident)}?$select={USER_ID_FIELDS},userType"
        return lookups

    def _leavers(self, subjects: Sequence[Subject], replies: dict[str, Reply], out: Discovery) -> dict[str, Subject]:
        """The leavers found, by object id; a notice for each one the tenant does not have."""
        leavers: dict[str, Subject] = {}
        for s in subjects:
            reply = replies[f"user:{s.ident}"]
            if reply.status == 404:
                out.notices.append(Notice(f"no Entra ID user '{s.ident}' in tenant {self.settings.tenant_id}",
                                          person=s.person))
            elif not reply.ok:
                raise self.graph.read_failure(reply, f"user {s.ident}")
            else:
                leavers[reply.body["id"]] = s
                self.names.remember_user(reply.body)
        return leavers

    def _group_details(self, groups: list[dict[str, Any]]) -> dict[str, Reply]:
        """Members, owners and (for a team) the team of each group, in batches."""
        detail = {}
        for g in groups:
            detail[f"members:{g['id']}"] = f"/groups/{g['id']}/members?$select={MEMBER_FIELDS}&$top=999"
            detail[f"owners:{g['id']}"] = f"/groups/{g['id']}/owners?$select=id&$top=999"
            if _is_team(g):
                detail[f"team:{g['id']}"] = f"/teams/{g['id']}"
        more = self.graph.batch_get(detail)
        for key, reply in more.items():
            if not reply.ok:
                raise self.graph.read_failure(reply, key)
        return more

    def _one_group(self, reply: Reply, lst: ListTarget, out: Discovery) -> dict[str, Any] | None:
        """The group, {} when there is none (it may be in deleted items), None when a notice says why not."""
        if reply.status == 404:
            return {}
        if not reply.ok:
            raise self.graph.read_failure(reply, f"group {lst.ident}")
        if "value" not in reply.body:
            return reply.body
        found = reply.body["value"]
        if not found:
            return {}
        if len(found) != 1:
            what = "mail address" if "@" in lst.ident else "display name"
            candidates = "; ".join(f"{g.get('displayName')} <{g.get('mail') or 'no mail'}> id {g['id']}"
                                   for g in found[:10])
            out.notices.append(Notice(f"list '{lst.ident}': the {what} matches {len(found)} groups ({candidates}); "
                                      "name the one to close by its object id or mail address in lists[].id",
                                      resource=lst.ident))
            return None
        return found[0]

    def _deleted_lists(self, missing: list[ListTarget], out: Discovery) -> list[Step]:
        """A list that is gone is either deleted (and within its 30 days) or never existed: say which."""
        paths = {}
        for lst in missing:
            if GUID.match(lst.ident):
                paths[lst.ident] = f"/directory/deletedItems/{lst.ident}"
            else:
                paths[lst.ident] = f"/directory/deletedItems/microsoft.graph.group?$filter={by_name(lst.ident)}"
        replies = self.graph.batch_get(paths)
        steps = []
        for lst in missing:
            reply = replies[lst.ident]
            if not reply.ok and reply.status != 404:
                raise self.graph.read_failure(reply, f"deleted group {lst.ident}")
            found = ([reply.body] if "value" not in reply.body else reply.body["value"]) if reply.ok else []
            if len(found) != 1:
                out.notices.append(Notice(f"group '{lst.ident}' not found in tenant {self.settings.tenant_id} "
                                          "(nor among deleted groups) by " + ("object id" if GUID.match(lst.ident)
                                          else "mail address" if "@" in lst.ident else "display name")
                                          + "; lists[].id takes a group's object id, mail address or exact "
                                          "display name", resource=lst.ident))
                continue
            g = found[0]
            self.names.remember(group_entity(g))  # deleted, but still what the runbook's list names
            gone = dt.datetime.fromisoformat(str(g.get("deletedDateTime")).replace("Z", "+00:00"))
            until = (gone + dt.timedelta(days=SOFT_DELETE_DAYS)).isoformat(timespec="seconds")
            if lst.close == "delete":
                steps.append(Step(kind=DeleteGroup.name, resource=g["id"], needed=False,
                                  before={"exists": False, "softDeleted": True,
                                          "deletedDateTime": g.get("deletedDateTime"), "restorableUntil": until},
                                  aliases=tuple(x for x in (g.get("displayName"), g.get("mail")) if x),
                                  label=g.get("displayName") or g["id"]))
            else:
                out.notices.append(Notice(f"group '{lst.ident}' was deleted on {g.get('deletedDateTime')} "
                                          f"(restorable until {until}); nothing left to close", resource=lst.ident,
                                          severity="warning"))
        return steps

    def _list_steps(self, lst: ListTarget, g: dict[str, Any], leavers: dict[str, Subject],
                    more: dict[str, Reply]) -> list[Step]:
        gid, name = g["id"], g.get("displayName") or g["id"]
        aliases = tuple(x for x in (name, g.get("mail")) if x)
        members = more[f"members:{gid}"].body["value"]
        owners = {o["id"] for o in more[f"owners:{gid}"].body["value"]}
        mode = lst.close
        steps: list[Step] = []
        if mode == "delete":
            before = {"exists": True, "softDeleted": False}
            if is_mail_only(g) or g.get("onPremisesSyncEnabled") or "Unified" not in (g.get("groupTypes") or []):
                steps.append(Step(kind=DeleteGroup.name, resource=gid, before=before, needed=True, aliases=aliases,
                                  label=name, outcome="attention", note=self._cannot_delete(g)))
            else:
                steps.append(Step(kind=DeleteGroup.name, resource=gid, before=before, needed=True, aliases=aliases,
                                  label=name, params={"mail": g.get("mail")},
                                  note=f"soft delete: restorable for {SOFT_DELETE_DAYS} days "
                                       "(`revoke restore` or /directory/deletedItems)"))
            return steps
        if mode in ("default", "archive"):
            if _is_team(g):
                archived = bool(more[f"team:{gid}"].body.get("isArchived"))
                step = Step(kind=ArchiveTeam.name, resource=gid, before={"isArchived": archived},
                            needed=not archived, aliases=aliases, label=name)
                if not archived and not owners:
                    step = Step(kind=ArchiveTeam.name, resource=gid, before={"isArchived": archived}, needed=True,
                                aliases=aliases, label=name, outcome="attention",
                                note=f"team '{name}' has no owner and Graph refuses to archive it: add an owner, "
                                     "then re-run plan")
                steps.append(step)
                if mode == "archive":
                    return steps
            elif mode == "archive":
                steps.append(Step(kind=ArchiveTeam.name, resource=gid, before={"isArchived": None}, needed=True,
                                  aliases=aliases, label=name, outcome="attention",
                                  note=f"'{name}' is not a team, so it cannot be archived: choose another close mode"))
                return steps
        for m in members:
            mid = m["id"]
            if mode == "empty":
                if mid in owners:
                    continue
                who = "member"
            elif mid in leavers:
                who = "leaver"
            elif lst.options.get("guests") and m.get("userType") == "Guest":
                who = "guest"
            else:
                continue
            steps.append(self._removal(g, m, leavers.get(mid), who, aliases))
        present = {m["id"] for m in members}
        for uid, s in leavers.items():
            if uid not in present:
                steps.append(Step(kind=RemoveMember.name, resource=gid, principal=uid, person=s.person,
                                  before={"member": False}, needed=False, aliases=(*aliases, s.ident), label=name))
        return steps

    def _removal(self, g: dict[str, Any], m: dict[str, Any], leaver: Subject | None, who: str,
                 aliases: tuple[str, ...]) -> Step:
        upn = m.get("userPrincipalName") or m["id"]
        blocked = membership_blocker(g, upn)
        return Step(kind=RemoveMember.name, resource=g["id"], principal=m["id"], before={"member": True},
                    needed=True, person=leaver.person if leaver else None, aliases=(*aliases, upn),
                    label=g.get("displayName") or g["id"],
                    params={"userPrincipalName": upn, "why": who, **(exchange_route(g) if leaver else {})},
                    outcome=blocked[0] if blocked else None,
                    note=blocked[1] if blocked else ("" if who == "leaver" else f"{upn} ({who})"))

    @staticmethod
    def _cannot_delete(g: dict[str, Any]) -> str:
        name = g.get("displayName") or g["id"]
        if g.get("onPremisesSyncEnabled"):
            return f"'{name}' is synced from on-premises Active Directory: delete it in AD"
        if is_mail_only(g):
            return (f"needs Exchange Online: '{name}' <{g.get('mail')}> is read-only in Graph. Run: "
                    f"Remove-DistributionGroup -Identity '{g.get('mail')}' -Confirm:$false (see {EXCHANGE_RUNBOOK})")
        return (f"'{name}' is a security group: Graph deletes it permanently (no 30-day restore); use close: empty, "
                "or delete it by hand after review")

    # ---- apply ---------------------------------------------------------------------------------------------
    def _write(self, a: Action) -> Sub:
        if a.kind == ArchiveTeam.name:
            return Sub(a.id, "POST", f"/teams/{a.resource}/archive")
        if a.kind == RemoveMember.name:
            # `/$ref` removes the membership; without it Graph deletes the member object itself.
            return Sub(a.id, "DELETE", f"/groups/{a.resource}/members/{a.principal}/$ref")
        if a.kind == DeleteGroup.name:
            return Sub(a.id, "DELETE", f"/groups/{a.resource}")
        raise ActionFailed(f"m365-groups cannot apply '{a.kind}'")

    def apply(self, action: Action) -> Receipt:
        answer = self.apply_many([action])[action.id]
        if isinstance(answer, RevokeError):
            raise answer
        return answer

    def apply_many(self, actions: Sequence[Action]) -> dict[str, Receipt | RevokeError]:
        out: dict[str, Receipt | RevokeError] = {}
        subs = []
        for a in actions:
            try:
                subs.append(self._write(a))
            except RevokeError as err:
                out[a.id] = err
        by_id = {a.id: a for a in actions}
        for key, reply in self.graph.batch(subs, reads=False).items():
            out[key] = self._answer(by_id[key], reply)
        return out

    def _answer(self, a: Action, reply: Reply) -> Receipt | RevokeError:
        if not reply.ok:
            if reply.status == 404 and a.kind == RemoveMember.name:
                return Receipt(request_ids=(reply.request_id,),
                               detail={"status": 404, "note": "Graph answered 404; the read-back checks that the "
                                       "user and the group exist and the membership does not"})
            return reply.failure(self.kind(a.kind).describe(a.label or a.resource),
                                 self.kind(a.kind).permissions)
        detail: dict[str, Any] = {"status": reply.status}
        if a.kind == ArchiveTeam.name:
            return self._follow(a.resource, reply, detail)
        if a.kind == DeleteGroup.name:
            now = self.context.runtime.now()
            detail["restorableUntil"] = (now + dt.timedelta(days=SOFT_DELETE_DAYS)).isoformat(timespec="seconds")
            detail["note"] = DeleteGroup.restore_note
        return Receipt(request_ids=(reply.request_id,), detail=detail)

    def _follow(self, team: str, reply: Reply, detail: dict[str, Any]) -> Receipt:
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

    # ---- read back -----------------------------------------------------------------------------------------
    def read_back(self, actions: Sequence[Action]) -> dict[str, State]:
        for a in [a for a in actions if a.kind == ArchiveTeam.name and a.resource in self._operations]:
            # an (un)archive still running leaves the team as it was: the engine reads it again after poll_after
            op = self.graph.get(self._operations[a.resource])
            if not (op.ok and op.body.get("status") in ("notStarted", "inProgress")):
                del self._operations[a.resource]
        paths: dict[str, str] = {}
        for a in actions:
            if a.kind == ArchiveTeam.name:
                paths[f"team:{a.resource}"] = f"/teams/{a.resource}"
            elif a.kind == RemoveMember.name:
                paths[f"group:{a.resource}"] = f"/groups/{a.resource}?$select=id"
                paths[f"members:{a.resource}"] = f"/groups/{a.resource}/members?$select=id&$top=999"
                paths[f"user:{a.principal}"] = f"/users/{a.principal}?$select=id"
            elif a.kind == DeleteGroup.name:
                paths[f"group:{a.resource}"] = f"/groups/{a.resource}?$select=id"
                paths[f"deleted:{a.resource}"] = f"/directory/deletedItems/{a.resource}"
        replies = self.graph.batch_get(paths)
        for key, reply in replies.items():
            if not reply.ok and reply.status != 404:
                raise self.graph.read_failure(reply, key)
        return {a.id: self._state(a, replies) for a in actions}

    def _state(self, a: Action, replies: dict[str, Reply]) -> State:
        if a.kind == ArchiveTeam.name:
            team = replies[f"team:{a.resource}"]
            if not team.ok:
                return {"isArchived": None, "missing": "team"}
            return _archived(team, a.resource)
        group = replies[f"group:{a.resource}"]
        if group.ok and not _answers_for(group, a.resource):
            return unverifiable(f"Graph answered the read of group {a.resource} with another object or none")
        if a.kind == DeleteGroup.name:
            if group.ok:
                return {"exists": True, "softDeleted": False}
            deleted = replies[f"deleted:{a.resource}"]
            if not deleted.ok:
                # neither live nor in deleted items: a wrong id, or purged; never reported as deleted by us
                return {"exists": False, "softDeleted": False}
            when = deleted.body.get("deletedDateTime") if isinstance(deleted.body, dict) else None
            if not _answers_for(deleted, a.resource) or not isinstance(when, str):
                return unverifiable("Graph's answer from deleted items is not the group with its deletedDateTime")
            gone = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
            return {"exists": False, "softDeleted": True, "deletedDateTime": when,
                    "restorableUntil": (gone + dt.timedelta(days=SOFT_DELETE_DAYS)).isoformat(timespec="seconds")}
        user = replies[f"user:{a.principal}"]
        if not group.ok or not user.ok:
            return {"member": None, "missing": "group" if not group.ok else "user"}
        members = list_page(replies[f"members:{a.resource}"])
        if members is None:
            return unverifiable("Graph's answer to the group's members has no value list")
        return {"member": a.principal in {m["id"] for m in members}}

    # ---- restore -------------------------------------------------------------------------------------------
    def restore(self, action: Action) -> Receipt:
        a = action
        if a.kind == ArchiveTeam.name:
            if a.before.get("isArchived"):
                return Receipt(detail={"note": "the team was archived before the run; left archived"})
            reply = self.graph.send("POST", f"/teams/{a.resource}/unarchive")
            if reply.ok:
                return self._follow(a.resource, reply, {"status": reply.status})
        elif a.kind == RemoveMember.name:
            reply = self.graph.send("POST", f"/groups/{a.resource}/members/$ref",
                                    {"@odata.id": directory_object_url(self.settings, a.principal or "")})
            if reply.status == 400 and "already exist" in reply.error[1]:
                return Receipt(request_ids=(reply.request_id,), detail={"note": "already a member"})
        elif a.kind == DeleteGroup.name:
            reply = self.graph.send("POST", f"/directory/deletedItems/{a.resource}/restore")
            if reply.status == 404:
                raise ActionFailed(f"group {a.label or a.resource} is no longer in deleted items (restorable only "
                                   f"for {SOFT_DELETE_DAYS} days after deletion)", request_ids=[reply.request_id])
        else:
            raise ActionFailed(f"m365-groups cannot restore '{a.kind}'")
        if not reply.ok:
            raise reply.failure(f"restore {self.kind(a.kind).describe(a.label or a.resource)}",
                            self.kind(a.kind).permissions)
        return Receipt(request_ids=(reply.request_id,), detail={"status": reply.status})


def _answers_for(reply: Reply, oid: str) -> bool:
    """The answer is the object asked for, not another one or an empty 200."""
    return isinstance(reply.body, dict) and str(reply.body.get("id") or "").casefold() == oid.casefold()


def _archived(team: Reply, gid: str) -> State:
    archived = team.body.get("isArchived") if isinstance(team.body, dict) else None
    if not isinstance(archived, bool):  # a missing isArchived is not "not archived" (restore would read it done)
        return unverifiable("Graph's answer for the team has no isArchived")
    if not _answers_for(team, gid):
        return unverifiable(f"Graph answered the read of team {gid} with another object or none")
    return {"isArchived": archived}


def _is_team(g: dict[str, Any]) -> bool:
    return "Team" in (g.get("resourceProvisioningOptions") or [])
