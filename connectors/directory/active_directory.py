"""The `active-directory` connector: Active Directory (or Samba AD) over LDAP with ldap3.

Disables accounts by setting ACCOUNTDISABLE in `userAccountControl` (read, OR, write, read back: every other bit is
kept), optionally expires them, moves them to a `disabled_ou` and stamps their description with the run id. Removes
group memberships by writing the group's `member` (AD maintains `memberOf`; it is read, never written). The
primary group (`primaryGroupID`, usually Domain Users) is not in `member` and AD requires one, so it is reported
and kept. Distribution lists named in the runbook are emptied and hidden from the address lists
(`msExchHideFromAddressLists`, when the schema has it) with their full entry recorded; deletion is explicit.

Every target is read by objectGUID and written as `<GUID=...>`, so a user moved to the disabled OU by one action is
still found by the others, whatever order the engine runs them in. Distribution lists live in `_ad_lists`.
AD refuses simple binds without TLS; the shared connection layer (`_ldapconn`) does LDAPS or StartTLS and says so
plainly when the server refuses.

A disable does not end Kerberos tickets already issued (10 h at AD's default maxTicketAge) nor sessions of apps that
authenticated earlier: each disable records when it happened and until when such tickets may still be valid.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Sequence

import ldap3
from pydantic import BaseModel, ConfigDict, Field

from revoke.actions import ActionKind, State, unverifiable
from revoke.connector import Connector, Discovery, Entity, Identity, ListTarget, Notice, Receipt, Step, Subject
from revoke.connectors.directory.ad_delete import DeleteAccount, delete_state, delete_user
from revoke.connectors.directory.ad_directory import (
    ACCOUNTDISABLE,
    GROUP_ATTRS,
    NEVER,
    USER_ATTRS,
    AdDirectory,
    AdObject,
    filetime,
    from_filetime,
    guid_dn,
    parent_dn,
)
from revoke.connectors.directory.ad_lists import (
    LIST_KINDS,
    CloseDistributionList,
    DeleteDistributionList,
    DistributionLists,
)
from revoke.connectors.directory.session import (
    ENTRY_EXISTS,
    NO_SUCH_ATTRIBUTE,
    SUCCESS,
    UNWILLING,
    VALUE_EXISTS,
    LdapConnectionSettings,
    LdapSession,
    connection_warnings,
    norm_dn,
)
from revoke.errors import ActionFailed, NotSupported
from revoke.exposure import ExposureRule

USER_FILTER = "(&(objectCategory=person)(objectClass=user))"
STAMP = "by revoke run"  # marks a description revoke wrote: never stamped twice, taken back by restore


class ActiveDirectorySettings(LdapConnectionSettings):
    """`bind_dn` may be a DN, a userPrincipalName (svc-revoke@corp.example.org) or DOMAIN\\name."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "url": "ldaps://dc1.corp.example", "bind_dn": "svc-revoke@corp.example",
        "bind_password": {"secret": "corp_ad"}, "disabled_ou": "OU=Disabled Users,DC=corp,DC=example"}]})

    base_dn: str | None = Field(None, description="default: the domain's defaultNamingContext")
    disabled_ou: str | None = Field(None, description="move disabled accounts here, e.g. OU=Disabled Users,DC=...")
    expire_account: bool = Field(False, description="also set accountExpires to the time of the disable")
    stamp_description: bool = Field(False, description="write 'disabled by revoke run ...' into description")
    delete_account: bool = Field(False, description="also plan delete-account for each leaver (never the default; "
                                 "put it in a later stage: stages: [{after: 30d, kinds: [delete-account]}])")
    kerberos_ticket_hours: float = Field(10.0, gt=0, description="the domain's maximum ticket lifetime "
                                         "(maxTicketAge, 10 h by default): how long issued tickets outlive a disable")


class DisableAccount(ActionKind):
    name = "disable-account"
    summary = "disable account"
    done_summary = "account already disabled"
    shows_resource = False
    permissions = ("Read/Write Property userAccountControl on user objects",
                   "Write Property description on user objects (only with stamp_description)")
    desired = {"exists": True, "disabled": True}
    restore_note = "re-enables the account and puts the old description back; Kerberos tickets are not re-issued"


class ExpireAccount(ActionKind):
    name = "expire-account"
    summary = "expire account now"
    done_summary = "account already expired"
    shows_resource = False
    permissions = ("Write Property accountExpires on user objects",)
    desired = {"exists": True, "expired": True}


class MoveToDisabledOu(ActionKind):
    name = "move-to-disabled-ou"
    summary = "move account to"
    done_summary = "account already in"
    permissions = ("Delete Child user objects on the account's current container",
                   "Create Child user objects on disabled_ou", "Write Property name and cn on user objects")
    desired = {"exists": True, "in_disabled_ou": True}


class RemoveMembership(ActionKind):
    name = "remove-membership"
    summary = "remove from"
    done_summary = "not a member of"
    permissions = ("Write Property member on group objects (Write Members)",)
    desired = {"exists": True, "member": False}


class AdListOptions(BaseModel):
    """A runbook list's `options:` in an active-directory system."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # hide the closed list from the address lists, where the schema has Exchange's msExchHideFromAddressLists
    hide: bool = True


class ActiveDirectoryConnector(Connector):
    name: ClassVar[str] = "active-directory"
    version: ClassVar[str] = "1.0"
    Settings = ActiveDirectorySettings
    ListOptions = AdListOptions
    kinds = (DisableAccount, ExpireAccount, MoveToDisabledOu, RemoveMembership, CloseDistributionList,
             DeleteDistributionList, DeleteAccount)
    read_permissions = ("simple bind over LDAPS or StartTLS as a service account",
                        "Read Property on user and group objects under base_dn (Authenticated Users have it)",
                        "read the rootDSE and attributeSchema objects in the schema naming context")

    settings: ActiveDirectorySettings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._directory: AdDirectory | None = None

    # ---- connection

    @property
    def directory(self) -> AdDirectory:
        if self._directory is None:
            session = LdapSession(self.system, self.settings, self.secrets.get(self.settings.bind_password))
            self._directory = AdDirectory(session, self.settings.base_dn)
        return self._directory

    @property
    def lists(self) -> DistributionLists:
        return DistributionLists(self.directory)

    def warnings(self) -> list[str]:
        return connection_warnings(self.settings)

    def exposure(self) -> list[ExposureRule]:
        hours = self.settings.kerberos_ticket_hours
        basis = ("AD's default maximum user ticket lifetime (maxTicketAge, 10 h)" if hours == 10 else
                 f"this domain's maximum user ticket lifetime (kerberos_ticket_hours: {hours:g} h)")
        return [
            ExposureRule("Kerberos tickets issued before the disable", DisableAccount.name, round(hours * 60),
                         f"{basis}; a disable refuses new tickets and renewals, not tickets already issued"),
            ExposureRule("logons already open (desktop, RDP, file shares) and sessions applications keep after an AD "
                         "sign-in", DisableAccount.name, None,
                         "Windows does not log off an open session when its account is disabled; each "
                         "application's own session lifetime applies"),
        ]

    @classmethod
    def routed_subject(cls, step: Step) -> Subject | None:
        """An Entra user synced from this AD is disabled here: found by its sAMAccountName (or DN). A leaver's
        membership of a list synced from here (Exchange Online refuses it) is removed here: found by UPN."""
        if not step.person:
            return None
        if step.kind == DisableAccount.name:
            ident = step.params.get("onPremisesSamAccountName") or step.params.get("onPremisesDistinguishedName")
            return Subject(person=step.person, ident=str(ident or ""))
        if step.params.get("groupName") and step.params.get("userPrincipalName"):
            return Subject(person=step.person, ident=str(step.params["userPrincipalName"]))
        return None

    @classmethod
    def fulfils(cls, routed: Step, own: Step) -> bool:
        if own.person != routed.person:
            return False
        if routed.kind == DisableAccount.name:
            return own.kind == DisableAccount.name
        group = str(routed.params.get("groupName") or "").casefold()
        return own.kind == RemoveMembership.name and bool(group) and group in {
            own.label.casefold(), *(a.casefold() for a in own.aliases if a)}

    def identify(self, names: Sequence[str]) -> dict[str, Entity | None]:
        if not self.directory.base_dn:
            self.directory.load_root()
        return self.directory.identify(names)

    def subject(self, action: Any) -> str:
        # writes address the account by objectGUID: a user moved to the disabled OU is still the same one
        guid = action.params.get("user_guid")
        return guid_dn(guid) if guid else super().subject(action)

    def addressed(self, action: Any) -> list[str]:
        guids = [guid_dn(g) for g in (action.params.get("user_guid"), action.params.get("group_guid")) if g]
        return [*super().addressed(action), *guids]

    def connect(self) -> Identity:
        d = self.directory
        d.session.conn()
        root = d.load_root()
        bind = self.settings.bind_dn
        # any account can bind (a user, a computer, a managed service account): not only people
        me = d.find([bind], "(objectClass=user)", USER_ATTRS, "find the bind account").get(bind, [])
        aliases: tuple[str, ...] = ()
        if len(me) == 1:
            aliases = tuple(a for a in (me[0].dn, me[0].sam, me[0].upn) if a)
        return Identity(display=bind, aliases=aliases,
                        detail={"bind_dn": bind, "dn": me[0].dn if len(me) == 1 else None, "url": self.settings.url,
                                "domain": d.base_dn, "dc": next(iter(root.get("dnsHostName") or []), None)})

    def close(self) -> None:
        if self._directory is not None:
            self._directory.session.close()

    # ---- discovery

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
            for group_dn in user.all("memberOf"):
                group = direct.get(norm_dn(group_dn))
                if group is None:
                    found.notices.append(Notice(f"{user.dn} is a member of {group_dn}, which is not under "
                                                f"{d.base_dn}: remove it in that domain", person=subject.person,
                                                severity="warning"))
                    continue
                if norm_dn(group.dn) in closing:
                    continue  # the whole list is emptied by its own action
                found.steps.append(self._membership_step(subject, user, group))
            pg = primary.get(_primary_sid(user))
            if pg is not None:
                found.steps.append(Step(
                    kind=RemoveMembership.name, resource=pg.dn, principal=user.dn, person=subject.person,
                    before={"exists": True, "member": True, "primary": True}, needed=False,
                    outcome="immutable", label=pg.name, aliases=(pg.name, user.sam, user.upn),
                    params={"group_guid": pg.guid, "user_guid": user.guid},
                    note=f"primary group (primaryGroupID {user.get('primaryGroupID')}), kept: AD requires one, and "
                         "it is not held in the group's member attribute"))
            chains = _nesting(user, direct, nested)
            if chains:
                found.notices.append(Notice(
                    f"{user.sam or user.dn} also belongs, through nesting, to: " + "; ".join(chains) +
                    ". Not touched: those memberships end with the direct ones removed above",
                    person=subject.person, severity="warning"))
        return found

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
        state = self._disable_state(user)
        last = from_filetime(user.get("lastLogonTimestamp"))
        found.steps.append(Step(
            kind=DisableAccount.name, resource=user.dn, person=subject.person, before=state,
            needed=not state["disabled"], aliases=aliases, label=label,
            params={**params, "stamp_description": self.settings.stamp_description},
            note=_logon_note(last)))
        if self.settings.expire_account:
            state = self._expire_state(user)
            found.steps.append(Step(kind=ExpireAccount.name, resource=user.dn, person=subject.person, before=state,
                                    needed=not state["expired"], aliases=aliases, label=label, params=params))
        if self.settings.delete_account:
            found.steps.append(Step(kind=DeleteAccount.name, resource=user.dn, person=subject.person,
                                    before=delete_state(user), needed=True, aliases=aliases, label=label,
                                    params=params))
        if disabled_ou:
            state = self._move_state(user, disabled_ou)
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

    # ---- states: the same shape in discovery and read-back, so the engine can compare them

    @staticmethod
    def _disable_state(user: AdObject) -> State:
        uac = user.uac
        return {"exists": True, "userAccountControl": uac, "disabled": bool(uac & ACCOUNTDISABLE),
                "description": user.get("description")}

    @staticmethod
    def _expire_state(user: AdObject) -> State:
        raw = user.get("accountExpires") or "0"
        when = from_filetime(raw)
        return {"exists": True, "accountExpires": raw, "expired": when is not None and when <= _now()}

    @staticmethod
    def _move_state(user: AdObject, disabled_ou: str) -> State:
        parent = parent_dn(user.dn)
        return {"exists": True, "parent": parent, "in_disabled_ou": norm_dn(parent) == norm_dn(disabled_ou)}

    # ---- read back

    def read_back(self, actions: Sequence[Any]) -> dict[str, State]:
        d = self.directory
        if not d.base_dn:
            d.load_root()
        out = self.lists.read_back([a for a in actions if a.kind in LIST_KINDS])
        others = [a for a in actions if a.kind not in LIST_KINDS]
        guids = {a.params.get(k) for a in others for k in ("user_guid", "group_guid")} - {None}
        objs = d.by_guid(guids, USER_ATTRS + GROUP_ATTRS, "read the targets back")
        for a in others:
            user = objs.get(a.params.get("user_guid", ""))
            if a.kind == RemoveMembership.name:
                group = objs.get(a.params.get("group_guid", ""))
                if user is None or group is None:
                    out[a.id] = {"exists": False, "member": None}  # a missing side is not proof of removal
                elif a.before.get("primary"):
                    out[a.id] = {"exists": True, "member": True, "primary": True}
                else:
                    held = any(norm_dn(g) == norm_dn(group.dn) for g in user.all("memberOf"))
                    out[a.id] = {"exists": True, "member": held}
            elif user is None:
                why = d.unproven_absence(a.params.get("user_guid", ""))
                out[a.id] = unverifiable(why) if why else {"exists": False}
            elif a.kind == DeleteAccount.name:
                out[a.id] = delete_state(user)
            elif a.kind == DisableAccount.name and user.get("userAccountControl") is None:
                out[a.id] = unverifiable(f"the directory's answer for {user.dn} has no userAccountControl")
            elif a.kind == DisableAccount.name:
                out[a.id] = self._disable_state(user)
            elif a.kind == ExpireAccount.name:
                out[a.id] = self._expire_state(user)
            elif a.kind == MoveToDisabledOu.name:
                out[a.id] = self._move_state(user, a.params["disabled_ou"])
        return out

    # ---- apply

    def apply(self, action: Any) -> Receipt:
        handler = {DisableAccount.name: self._disable, ExpireAccount.name: self._expire,
                   MoveToDisabledOu.name: self._move, RemoveMembership.name: self._remove_member,
                   CloseDistributionList.name: self.lists.close, DeleteDistributionList.name: self.lists.delete,
                   DeleteAccount.name: lambda a: delete_user(self.directory, self._user(a))}
        if action.kind not in handler:
            raise NotSupported(f"active-directory has no action '{action.kind}'")
        return handler[action.kind](action)

    def _user(self, action: Any) -> AdObject:
        got = self.directory.by_guid([action.params["user_guid"]], USER_ATTRS, f"read {action.resource}")
        user = got.get(action.params["user_guid"])
        if user is None:
            raise ActionFailed(f"{action.resource} (objectGUID {action.params['user_guid']}) no longer exists")
        return user

    def _group(self, action: Any, attributes: list[str] = GROUP_ATTRS) -> AdObject:
        got = self.directory.by_guid([action.params["group_guid"]], attributes, f"read {action.resource}")
        group = got.get(action.params["group_guid"])
        if group is None:
            raise ActionFailed(f"group {action.resource} (objectGUID {action.params['group_guid']}) no longer exists")
        return group

    def _disable(self, action: Any) -> Receipt:
        user = self._user(action)
        old = user.uac
        new = old | ACCOUNTDISABLE  # read, OR, write: every other bit stays as it was
        when = _now()
        changes: dict[str, Any] = {"userAccountControl": [(ldap3.MODIFY_REPLACE, [str(new)])]}
        previous = user.get("description") or ""
        if action.params.get("stamp_description") and STAMP not in previous:
            stamp = f"disabled {_iso(when)} {STAMP} {self.context.run_id}"
            changes["description"] = [(ldap3.MODIFY_REPLACE, [f"{stamp} | {previous}" if previous else stamp])]
        self.directory.modify(f"disable {user.dn}", guid_dn(user.guid), changes)
        # what stays valid after this time (Kerberos tickets, open logons) is stated by `exposure()`
        return Receipt(detail={"userAccountControl": {"before": hex(old), "written": hex(new)},
                               "disabled_at": _iso(when)})

    def _expire(self, action: Any) -> Receipt:
        user = self._user(action)
        when = _now()
        self.directory.modify(f"expire {user.dn}", guid_dn(user.guid),
                              {"accountExpires": [(ldap3.MODIFY_REPLACE, [str(filetime(when))])]})
        return Receipt(detail={"accountExpires": _iso(when)})

    def _move(self, action: Any) -> Receipt:
        user = self._user(action)
        target = action.params["disabled_ou"]
        if norm_dn(parent_dn(user.dn)) == norm_dn(target):
            return Receipt(detail={"note": "already there"})
        self.directory.move(f"move {user.dn} to {target}", user, target)
        return Receipt(detail={"from": parent_dn(user.dn), "to": target})

    def _remove_member(self, action: Any) -> Receipt:
        user, group = self._user(action), self._group(action)
        result = self.directory.modify(f"remove {user.dn} from {group.dn}", guid_dn(group.guid),
                                       {"member": [(ldap3.MODIFY_DELETE, [guid_dn(user.guid)])]},
                                       ok=(SUCCESS, UNWILLING, NO_SUCH_ATTRIBUTE))
        if result["result"] != SUCCESS:
            # AD answers unwillingToPerform (Samba: noSuchAttribute) for a value that is not there; both sides were
            # just read by GUID, so this is "already absent" only if memberOf agrees
            if any(norm_dn(g) == norm_dn(group.dn) for g in self._user(action).all("memberOf")):
                raise ActionFailed(f"remove {user.dn} from {group.dn}: {result.get('description')}: "
                                   f"{result.get('message')}")
            return Receipt(detail={"note": "was no longer a member"})
        return Receipt()

    # ---- restore

    def restore(self, action: Any) -> Receipt:
        before, d = action.before, self.directory
        if action.kind == DisableAccount.name:
            user = self._user(action)
            # only the bit this action set goes back; any other change made since is kept
            uac = (user.uac & ~ACCOUNTDISABLE) | (int(before["userAccountControl"]) & ACCOUNTDISABLE)
            changes: dict[str, Any] = {"userAccountControl": [(ldap3.MODIFY_REPLACE, [str(uac)])]}
            current = user.get("description") or ""
            if STAMP in current and current != (before.get("description") or ""):
                # only our own stamp is taken back; a description someone wrote since is theirs to keep
                changes["description"] = [(ldap3.MODIFY_REPLACE, [before["description"]] if before.get("description")
                                           else [])]
            d.modify(f"re-enable {user.dn}", guid_dn(user.guid), changes)
            return Receipt(detail={"userAccountControl": hex(uac)})
        if action.kind == ExpireAccount.name:
            user = self._user(action)
            d.modify(f"restore accountExpires of {user.dn}", guid_dn(user.guid),
                     {"accountExpires": [(ldap3.MODIFY_REPLACE, [str(before.get("accountExpires") or NEVER[1])])]})
            return Receipt()
        if action.kind == MoveToDisabledOu.name:
            user = self._user(action)
            if norm_dn(parent_dn(user.dn)) != norm_dn(before["parent"]):
                d.move(f"move {user.dn} back to {before['parent']}", user, before["parent"])
            return Receipt(detail={"to": before["parent"]})
        if action.kind == RemoveMembership.name:
            user, group = self._user(action), self._group(action)
            d.modify(f"re-add {user.dn} to {group.dn}", guid_dn(group.guid),
                     {"member": [(ldap3.MODIFY_ADD, [guid_dn(user.guid)])]},
                     ok=(SUCCESS, VALUE_EXISTS, ENTRY_EXISTS))
            return Receipt()
        if action.kind == CloseDistributionList.name:
            return self.lists.reopen(action)
        raise NotSupported(f"{action.kind} cannot be restored: {DeleteDistributionList.restore_note}")


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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
