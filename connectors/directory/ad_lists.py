"""Distribution lists in Active Directory: the part of the `active-directory` connector that closes them.

A distribution list is a group without the security bit in `groupType`. Closing one (the default) removes every
member and, where the schema has Exchange's `msExchHideFromAddressLists`, hides it from the address lists; the
full entry and member list are recorded so restore can re-open it. Deleting is an explicit `close: delete`.
A security group named as a list is refused at plan time: emptying it would take access from everyone in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import ldap3

from revoke.actions import LISTS, State, unverifiable
from revoke.connector import Discovery, ListTarget, Notice, Receipt, Step
from revoke.connectors.directory.ad_directory import GROUP_ATTRS, AdDirectory, AdObject, guid_dn
from revoke.connectors.directory.ad_kinds import AdKind
from revoke.connectors.directory.session import NO_SUCH_ATTRIBUTE, SUCCESS, VALUE_EXISTS, norm_dn
from revoke.errors import ActionFailed

if TYPE_CHECKING:
    from revoke.connectors.directory.active_directory import ActiveDirectoryConnector

HIDE_ATTR = "msExchHideFromAddressLists"
GROUP_FILTER = "(objectClass=group)"
LIST_ATTRS = GROUP_ATTRS + ["*", "member"]
MEMBER_CHUNK = 1000  # values per modify when AD refuses to drop them all at once (adminLimitExceeded)
ADMIN_LIMIT_EXCEEDED = 11


class CloseDistributionList(AdKind):
    name = "close-distribution-list"
    item = LISTS
    resource_types = ("group",)
    summary = "close distribution list"
    done_summary = "distribution list already closed:"
    permissions = ("Write Property member on group objects (Write Members)",
                   "Write Property msExchHideFromAddressLists on group objects (schemas with Exchange)")
    desired = {"exists": True, "closed": True}
    restore_note = "re-adds the recorded members that still exist and shows the list again"

    @classmethod
    def apply(cls, ad: ActiveDirectoryConnector, a: Any) -> Receipt:
        return ad.lists.close(a)

    @classmethod
    def restore(cls, ad: ActiveDirectoryConnector, a: Any) -> Receipt:
        return ad.lists.reopen(a)


class DeleteDistributionList(AdKind):
    name = "delete-distribution-list"
    item = LISTS
    resource_types = ("group",)
    summary = "delete distribution list"
    done_summary = "distribution list already gone:"
    permissions = ("Delete group objects",)
    desired = {"exists": False}
    restorable = False
    restore_note = ("a deleted group comes back only from the AD Recycle Bin (Restore-ADObject), with its SID; "
                    "the evidence holds its full entry and members")

    @classmethod
    def apply(cls, ad: ActiveDirectoryConnector, a: Any) -> Receipt:
        return ad.lists.delete(a)


LIST_KINDS = (CloseDistributionList.name, DeleteDistributionList.name)


class DistributionLists:
    def __init__(self, directory: AdDirectory):
        self.directory = directory

    # ---- discovery

    def discover(self, lists: Sequence[ListTarget], found: Discovery) -> set[str]:
        """Steps for the lists the runbook closes; answers their normalised DNs, whose members need no
        separate removal."""
        d = self.directory
        if not lists:
            return set()
        groups = d.find([t.ident for t in lists], GROUP_FILTER, LIST_ATTRS, "find the distribution lists")
        schema_has_hide = d.has_attribute(HIDE_ATTR)
        closing: set[str] = set()
        for t in lists:
            group = self._check(t, groups.get(t.ident, []), found)
            if group is None:
                continue
            closing.add(norm_dn(group.dn))
            members = sorted(d.members(group), key=str.casefold)
            if t.close == "delete":
                found.steps.append(Step(kind=DeleteDistributionList.name, resource=group.dn, label=group.name,
                                        aliases=(group.name,), needed=True, params={"group_guid": group.guid},
                                        before={"exists": True, "members": members, "entry": group.entry()}))
                continue
            hide = schema_has_hide and bool(t.options.get("hide", True))
            state = list_state(group, members, hide, schema_has_hide)
            # members by objectGUID too: restore re-adds them wherever they have been moved since
            guids = {k: o.guid for k, o in d.by_dn(members, ["objectGUID"], f"read the members of {group.dn}").items()}
            note = f"remove all {len(members)} members" + (
                " and hide it from address lists" if hide else
                "" if schema_has_hide else f"; not hidden: this schema has no {HIDE_ATTR} (no Exchange)")
            found.steps.append(Step(kind=CloseDistributionList.name, resource=group.dn, label=group.name,
                                    aliases=(group.name,), needed=not state["closed"], before=state, note=note,
                                    params={"group_guid": group.guid, "hide": hide,
                                            "schema_has_hide": schema_has_hide, "member_guids": guids}))
        return closing

    def _check(self, target: ListTarget, got: list[AdObject], found: Discovery) -> AdObject | None:
        if not got:
            other = self.directory.identify([target.ident]).get(target.ident)
            if other is not None and other.type != "group":
                found.notices.append(Notice(f"{target.ident} is an {other.type} ({other.display}), not a "
                                            "distribution list: it is not closed", resource=target.ident,
                                            severity="refused"))
                return None
        if len(got) != 1:
            what = "does not exist" if not got else f"is ambiguous ({len(got)} groups)"
            found.notices.append(Notice(f"distribution list '{target.ident}' {what} under "
                                        f"{self.directory.base_dn}; give its sAMAccountName, mail or DN",
                                        resource=target.ident))
            return None
        group = got[0]
        if group.is_security:
            found.notices.append(Notice(
                f"{group.dn} is a security group, not a distribution list: closing it would take access from "
                "everyone in it. Remove it from lists: (the leavers' own memberships are removed anyway)",
                resource=target.ident))
            return None
        if target.close not in ("default", "empty", "delete"):
            found.notices.append(Notice(f"close: {target.close} is not known for {group.dn}: use default (empty "
                                        "and hide) or delete", resource=target.ident))
            return None
        return group

    # ---- read back

    def read_back(self, actions: Sequence[Any]) -> dict[str, State]:
        d = self.directory
        groups = d.by_guid({a.params.get("group_guid") for a in actions}, LIST_ATTRS,
                           "read the distribution lists back")
        out: dict[str, State] = {}
        for a in actions:
            group = groups.get(a.params.get("group_guid", ""))
            if group is None:
                why = d.unproven_absence(a.params.get("group_guid", ""))
                out[a.id] = unverifiable(why) if why else {"exists": False}
                continue
            members = sorted(d.members(group), key=str.casefold)
            if a.kind == DeleteDistributionList.name:
                out[a.id] = {"exists": True, "members": members, "entry": group.entry()}
            else:
                out[a.id] = list_state(group, members, a.params.get("hide", False),
                                       a.params.get("schema_has_hide", False))
        return out

    # ---- apply and restore

    def _group(self, action: Any) -> AdObject:
        guid = action.params["group_guid"]
        group = self.directory.by_guid([guid], LIST_ATTRS, f"read {action.resource}").get(guid)
        if group is None:
            raise ActionFailed(f"group {action.resource} (objectGUID {guid}) no longer exists")
        return group

    def close(self, action: Any) -> Receipt:
        d = self.directory
        group = self._group(action)
        target = guid_dn(group.guid)
        count = len(d.members(group))
        # replacing with nothing drops every value without naming one, so a member moved meanwhile (by this
        # very run's move to the disabled OU) cannot make the write fail
        result = d.modify(f"empty {group.dn}", target, {"member": [(ldap3.MODIFY_REPLACE, [])]},
                          ok=(SUCCESS, ADMIN_LIMIT_EXCEEDED))
        if result["result"] == ADMIN_LIMIT_EXCEEDED:
            members = d.members(self._group(action))
            for i in range(0, len(members), MEMBER_CHUNK):
                d.modify(f"empty {group.dn}", target, {"member": [(ldap3.MODIFY_DELETE, members[i:i + MEMBER_CHUNK])]})
        if action.params.get("hide"):
            d.modify(f"hide {group.dn}", target, {HIDE_ATTR: [(ldap3.MODIFY_REPLACE, ["TRUE"])]})
        return Receipt(detail={"removed_members": count, "hidden": bool(action.params.get("hide"))})

    def delete(self, action: Any) -> Receipt:
        group = self._group(action)
        if group.is_security:
            raise ActionFailed(f"{group.dn} has become a security group since the plan; not deleted")
        self.directory.delete(f"delete {group.dn}", guid_dn(group.guid))
        return Receipt()

    def reopen(self, action: Any) -> Receipt:
        d, before = self.directory, action.before
        group = self._group(action)
        recorded: dict[str, str] = action.params.get("member_guids", {})
        current = d.by_dn(d.members(group), ["objectGUID"], f"read the members of {group.dn}")
        present = {o.guid for o in current.values()}
        wanted = [(m, recorded.get(norm_dn(m))) for m in before.get("members", [])]
        alive = d.by_guid([g for _, g in wanted if g], ["objectGUID"], "check the recorded members still exist")
        readd = [guid_dn(g) for _, g in wanted if g in alive and g not in present]
        readd += [m for m, g in wanted if not g and norm_dn(m) not in current]  # outside this domain: by DN
        missing = [m for m, g in wanted if g and g not in alive]
        for i in range(0, len(readd), MEMBER_CHUNK):
            d.modify(f"re-add members to {group.dn}", guid_dn(group.guid),
                     {"member": [(ldap3.MODIFY_ADD, readd[i:i + MEMBER_CHUNK])]}, ok=(SUCCESS, VALUE_EXISTS))
        if action.params.get("hide") and before.get("hidden") is not True:
            d.modify(f"show {group.dn} again", guid_dn(group.guid), {HIDE_ATTR: [(ldap3.MODIFY_DELETE, [])]},
                     ok=(SUCCESS, NO_SUCH_ATTRIBUTE))
        return Receipt(detail={"re_added": len(readd), "gone_since": missing})


def list_state(group: AdObject, members: list[str], hide: bool, schema_has_hide: bool) -> State:
    """The same shape at discovery and read-back, so the engine can compare them."""
    hidden = (group.get(HIDE_ATTR) or "").upper() == "TRUE" if schema_has_hide else None
    return {"exists": True, "members": members, "hidden": hidden,
            "closed": not members and (hidden is True or not hide), "entry": group.entry()}
