"""What the `active-directory` connector plans for each leaver: the disable (with the last logon), the optional
expiry, move to `disabled_ou` and delete, the removal of each direct group membership (the primary group said
as kept), and a notice of the groups reached only through nesting; the runbook's lists are planned by ad_lists."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Sequence

import ldap3

from revoke.connector import Discovery, ListTarget, Notice, Step, Subject
from revoke.connectors.directory.ad_delete import DeleteAccount, delete_state
from revoke.connectors.directory.ad_directory import GROUP_ATTRS, USER_ATTRS, AdObject, from_filetime
from revoke.connectors.directory.ad_kinds import DisableAccount, ExpireAccount, MoveToDisabledOu, RemoveMembership
from revoke.connectors.directory.session import norm_dn

if TYPE_CHECKING:
    from revoke.connectors.directory.active_directory import ActiveDirectoryConnector

USER_FILTER = "(&(objectCategory=person)(objectClass=user))"


class AdDiscovery:
    def __init__(self, ad: ActiveDirectoryConnector):
        self.directory = ad.directory
        self.settings = ad.settings
        self.lists = ad.lists

    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        d = self.directory
        if not d.base_dn:
            d.load_root()
        found = Discovery()
        disabled_ou = self._check_disabled_ou(found)
        users = self._find_users(subjects, found)
        direct = d.by_dn({m for u in users.values() for m in u.all("memberOf")}, GROUP_ATTRS,
                         "read the groups of the leavers")
        primary = d.by_sid({_primary_sid(u) for u in users.values() if u.get("primaryGroupID")}, GROUP_ATTRS,
                           "read the primary groups of the leavers")
        nested = d.ancestors(direct.values())
        closing = self.lists.discover(lists, found)
        for subject, user in users.items():
            self._account_steps(subject, user, disabled_ou, found)
            self._group_steps(subject, user, direct, closing, found)
            pg = primary.get(_primary_sid(user))
            if pg is not None:
                found.steps.append(_primary_step(subject, user, pg))
            chains = _nesting(user, direct, nested)
            if chains:
                found.notices.append(Notice(
                    f"{user.sam or user.dn} also belongs, through nesting, to: " + "; ".join(chains) +
                    ". Not touched: those memberships end with the direct ones removed above",
                    person=subject.person, severity="warning"))
        return found

    def _group_steps(self, subject: Subject, user: AdObject, direct: dict[str, AdObject], closing: set[str],
                     found: Discovery) -> None:
        for group_dn in user.all("memberOf"):
            group = direct.get(norm_dn(group_dn))
            if group is None:
                found.notices.append(Notice(f"{user.dn} is a member of {group_dn}, which is not under "
                                            f"{self.directory.base_dn}: remove it in that domain",
                                            person=subject.person, severity="warning"))
                continue
            if norm_dn(group.dn) in closing:
                continue  # the whole list is emptied by its own action
            found.steps.append(self._membership_step(subject, user, group))

    def _check_disabled_ou(self, found: Discovery) -> str | None:
        ou = self.settings.disabled_ou
        if not ou:
            return None
        if not self.directory.search("check disabled_ou", "(objectClass=*)", ["objectClass"], base=ou,
                                     scope=ldap3.BASE):
            found.notices.append(Notice(f"disabled_ou {ou} does not exist: create it or fix the setting; "
                                        "accounts are not moved"))
            return None
        return ou

    def _find_users(self, subjects: Sequence[Subject], found: Discovery) -> dict[Subject, AdObject]:
        d = self.directory
        matches = d.find([s.ident for s in subjects], USER_FILTER, USER_ATTRS, "find the leavers' accounts")
        out: dict[Subject, AdObject] = {}
        for s in subjects:
            got = matches.get(s.ident, [])
            if not got:
                found.notices.append(Notice(f"no user with sAMAccountName, userPrincipalName or DN '{s.ident}' "
                                            f"under {d.base_dn}", person=s.person))
            elif len(got) > 1:
                found.notices.append(Notice(f"'{s.ident}' names {len(got)} accounts (" +
                                            ", ".join(u.dn for u in got) + "); use the DN as the id",
                                            person=s.person))
            elif (got[0].get("isCriticalSystemObject") or "").upper() == "TRUE":
                # Administrator, krbtgt, the DCs' own accounts: disabling one can lock everybody out of the domain
                found.notices.append(Notice(f"{got[0].dn} is a critical system object of the domain: revoke never "
                                            "disables it or changes its groups; remove it from the runbook",
                                            person=s.person))
            else:
                out[s] = got[0]
        return out

    def _account_steps(self, subject: Subject, user: AdObject, disabled_ou: str | None, found: Discovery) -> None:
        aliases = tuple(a for a in (user.sam, user.upn) if a)
        label = user.upn or user.sam
        params = {"user_guid": user.guid}
        state = DisableAccount.state(user, {})
        last = from_filetime(user.get("lastLogonTimestamp"))
        found.steps.append(Step(
            kind=DisableAccount.name, resource=user.dn, person=subject.person, before=state,
            needed=not state["disabled"], aliases=aliases, label=label,
            params={**params, "stamp_description": self.settings.stamp_description},
            note=_logon_note(last)))
        if self.settings.expire_account:
            state = ExpireAccount.state(user, {})
            found.steps.append(Step(kind=ExpireAccount.name, resource=user.dn, person=subject.person, before=state,
                                    needed=not state["expired"], aliases=aliases, label=label, params=params))
        if self.settings.delete_account:
            found.steps.append(Step(kind=DeleteAccount.name, resource=user.dn, person=subject.person,
                                    before=delete_state(user), needed=True, aliases=aliases, label=label,
                                    params=params))
        if disabled_ou:
            state = MoveToDisabledOu.state(user, {"disabled_ou": disabled_ou})
            found.steps.append(Step(kind=MoveToDisabledOu.name, resource=user.dn, person=subject.person,
                                    before=state, needed=not state["in_disabled_ou"], aliases=aliases,
                                    label=disabled_ou,
                                    params={**params, "disabled_ou": disabled_ou}))

    def _membership_step(self, subject: Subject, user: AdObject, group: AdObject) -> Step:
        what = "security group" if group.is_security else "distribution list"
        return Step(kind=RemoveMembership.name, resource=group.dn, principal=user.dn, person=subject.person,
                    before={"exists": True, "member": True}, needed=True, label=group.name,
                    aliases=(group.name, user.sam, user.upn), note=what,
                    params={"group_guid": group.guid, "user_guid": user.guid})


def _primary_step(subject: Subject, user: AdObject, pg: AdObject) -> Step:
    return Step(kind=RemoveMembership.name, resource=pg.dn, principal=user.dn, person=subject.person,
                before={"exists": True, "member": True, "primary": True}, needed=False,
                outcome="immutable", label=pg.name, aliases=(pg.name, user.sam, user.upn),
                params={"group_guid": pg.guid, "user_guid": user.guid},
                note=f"primary group (primaryGroupID {user.get('primaryGroupID')}), kept: AD requires one, and "
                     "it is not held in the group's member attribute")


def _logon_note(last: dt.datetime | None) -> str:
    # lastLogonTimestamp replicates lazily (up to 14 days behind), hence "about"
    return f"last logon about {last:%Y-%m-%d}" if last else "never logged on"


def _primary_sid(user: AdObject) -> str:
    return f"{user.domain_sid}-{user.get('primaryGroupID')}"


def _nesting(user: AdObject, direct: dict[str, AdObject], nested: dict[str, AdObject]) -> list[str]:
    """'Parent (through Child)' for each group the user reaches only through nesting."""
    chains: list[str] = []
    mine = {norm_dn(g) for g in user.all("memberOf")}
    frontier = [(direct[k], direct[k].name) for k in mine if k in direct]
    seen = set(mine)
    while frontier:
        group, path = frontier.pop()
        for parent_dn_ in group.all("memberOf"):
            key = norm_dn(parent_dn_)
            if key in seen or key not in nested:
                continue
            seen.add(key)
            parent = nested[key]
            chains.append(f"{parent.name} (through {path})")
            frontier.append((parent, path))
    return sorted(chains)
