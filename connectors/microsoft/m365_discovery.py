"""What the `m365-groups` connector plans for each runbook list: the group it names (by object id, mail address
or unique display name; a deleted one found in deleted items), and by its `close:` mode the team's archive, the
group's soft delete, or the removal of leavers, guests or every member; what Graph cannot do is said with the
manual step (needs Exchange Online, synced from AD, no owner)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Sequence
from urllib.parse import quote

from revoke.connector import Discovery, ListTarget, Notice, Step, Subject
from revoke.connectors.microsoft.directory_objects import found_users, user_key
from revoke.connectors.microsoft.graph import (
    EXCHANGE_RUNBOOK,
    Reply,
    exchange_route,
    is_mail_only,
    membership_blocker,
    seg,
)
from revoke.connectors.microsoft.m365_kinds import (
    SOFT_DELETE_DAYS,
    ArchiveTeam,
    DeleteGroup,
    RemoveMember,
    is_team,
    restorable_until,
)
from revoke.connectors.microsoft.names import USER_ID_FIELDS, group_entity

if TYPE_CHECKING:
    from revoke.connectors.microsoft.m365_groups import M365GroupsConnector

GROUP_FIELDS = ("id,displayName,mail,mailEnabled,securityEnabled,groupTypes,membershipRule,onPremisesSyncEnabled,"
                "resourceProvisioningOptions")
MEMBER_FIELDS = "id,userPrincipalName,displayName,userType"
CLOSE_MODES = ("default", "archive", "remove-leavers", "empty", "delete")
GUID = re.compile(r"^[0-9a-fA-F-]{36}$")


def by_name(ident: str) -> str:
    """The `$filter` that finds a group a runbook names by mail address, or else by its display name."""
    field = "mail" if "@" in ident else "displayName"
    return quote(f"{field} eq '" + ident.replace("'", "''") + "'", safe="'@")


class ListDiscovery:
    def __init__(self, connector: M365GroupsConnector):
        self.graph = connector.graph
        self.names = connector.names
        self.settings = connector.settings
        self.connector = connector

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
            lookups[user_key(s)] = f"/users/{seg(s.ident)}?$select={USER_ID_FIELDS},userType"
        return lookups

    def _leavers(self, subjects: Sequence[Subject], replies: dict[str, Reply], out: Discovery) -> dict[str, Subject]:
        """The leavers found, by object id; a notice for each one the tenant does not have."""
        return {uid: s for uid, (s, _) in found_users(self.connector, subjects, replies, out).items()}

    def _group_details(self, groups: list[dict[str, Any]]) -> dict[str, Reply]:
        """Members, owners and (for a team) the team of each group, in batches."""
        detail = {}
        for g in groups:
            detail[f"members:{g['id']}"] = f"/groups/{g['id']}/members?$select={MEMBER_FIELDS}&$top=999"
            detail[f"owners:{g['id']}"] = f"/groups/{g['id']}/owners?$select=id&$top=999"
            if is_team(g):
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
            until = restorable_until(str(g.get("deletedDateTime")))
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
        gid = g["id"]
        members = more[f"members:{gid}"].body["value"]
        owners = {o["id"] for o in more[f"owners:{gid}"].body["value"]}
        if lst.close == "delete":
            return [self._delete_step(g)]
        steps: list[Step] = []
        if lst.close in ("default", "archive"):
            archive = self._archive_step(g, owners, more) if is_team(g) or lst.close == "archive" else None
            steps += [archive] if archive else []
            if lst.close == "archive":
                return steps
        return steps + self._removal_steps(lst, g, members, owners, leavers)

    def _delete_step(self, g: dict[str, Any]) -> Step:
        gid, name = g["id"], g.get("displayName") or g["id"]
        aliases = tuple(x for x in (name, g.get("mail")) if x)
        before = {"exists": True, "softDeleted": False}
        if is_mail_only(g) or g.get("onPremisesSyncEnabled") or "Unified" not in (g.get("groupTypes") or []):
            return Step(kind=DeleteGroup.name, resource=gid, before=before, needed=True, aliases=aliases,
                        label=name, outcome="attention", note=self._cannot_delete(g))
        return Step(kind=DeleteGroup.name, resource=gid, before=before, needed=True, aliases=aliases,
                    label=name, params={"mail": g.get("mail")},
                    note=f"soft delete: restorable for {SOFT_DELETE_DAYS} days "
                         "(`revoke restore` or /directory/deletedItems)")

    @staticmethod
    def _archive_step(g: dict[str, Any], owners: set[str], more: dict[str, Reply]) -> Step:
        gid, name = g["id"], g.get("displayName") or g["id"]
        aliases = tuple(x for x in (name, g.get("mail")) if x)
        if not is_team(g):
            return Step(kind=ArchiveTeam.name, resource=gid, before={"isArchived": None}, needed=True,
                        aliases=aliases, label=name, outcome="attention",
                        note=f"'{name}' is not a team, so it cannot be archived: choose another close mode")
        archived = bool(more[f"team:{gid}"].body.get("isArchived"))
        if not archived and not owners:
            return Step(kind=ArchiveTeam.name, resource=gid, before={"isArchived": archived}, needed=True,
                        aliases=aliases, label=name, outcome="attention",
                        note=f"team '{name}' has no owner and Graph refuses to archive it: add an owner, "
                             "then re-run plan")
        return Step(kind=ArchiveTeam.name, resource=gid, before={"isArchived": archived}, needed=not archived,
                    aliases=aliases, label=name)

    def _removal_steps(self, lst: ListTarget, g: dict[str, Any], members: list[dict[str, Any]], owners: set[str],
                       leavers: dict[str, Subject]) -> list[Step]:
        """Who leaves the group by its close mode (every member but the owners, or the leavers and with
        `guests` every guest), and a settled step for each leaver who is not in it."""
        gid, name = g["id"], g.get("displayName") or g["id"]
        aliases = tuple(x for x in (name, g.get("mail")) if x)
        steps = []
        for m in members:
            mid = m["id"]
            if lst.close == "empty":
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
