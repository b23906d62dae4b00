"""The `ldap` connector: OpenLDAP, 389-DS and other directories that speak plain LDAP.

Locks accounts (ppolicy `pwdAccountLockedTime`, `nsAccountLock`, a configured attribute, or a scrambled password),
removes group memberships (`groupOfNames` member, `groupOfUniqueNames` uniqueMember, `posixGroup` memberUid) and
closes mail groups by deleting their entry, with the full entry kept as the before-state.

`groupOfNames` and `groupOfUniqueNames` require at least one member. When a leaver is the last member, the
connector swaps them for the placeholder `empty_group_member` (default `cn=nobody`) in one modify, so the group
stays schema-valid and grants nothing; restore puts the leaver back and takes the placeholder out.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar, Literal, Sequence

import ldap3
from pydantic import ConfigDict, Field

from revoke.actions import LISTS, ActionKind, State, unverifiable
from revoke.connector import Connector, Discovery, Entity, Identity, ListTarget, Notice, Receipt, Step, Subject
from revoke.connectors.directory import ldap_names
from revoke.connectors.directory.session import (
    NO_SUCH_ATTRIBUTE,
    NO_SUCH_OBJECT,
    OBJECT_CLASS_VIOLATION,
    SUCCESS,
    VALUE_EXISTS,
    LdapConnectionSettings,
    LdapSession,
    connection_warnings,
    entry_attrs,
    escape,
    first,
    norm_dn,
    values,
)
from revoke.errors import ActionFailed, NotSupported
from revoke.exposure import ExposureRule

PPOLICY_LOCKED = "000001010000Z"  # ppolicy's "locked until an administrator unlocks"
PASSWORD_LOCKED = "{CRYPT}!revoke-locked"  # matches no password; crypt() never yields a leading '!'
MEMBER_ATTRS = ("member", "uniqueMember", "memberUid")
CHUNK = 100  # subjects per OR-filter: a few searches in total, not one per person or group


class LdapSettings(LdapConnectionSettings):
    """OpenLDAP, 389-DS and other LDAP directories: lock accounts, remove group memberships, delete mail groups."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "url": "ldaps://ldap.corp.example", "bind_dn": "uid=revoke-svc,ou=services,dc=example,dc=org",
        "bind_password": {"secret": "corp_ldap"}, "base_dn": "dc=example,dc=org",
        "people_base": "ou=people,dc=example,dc=org"}]})

    base_dn: str = Field(description="the directory's suffix; people and groups are searched under it",
                         examples=["dc=example,dc=org"])
    people_base: str | None = Field(None, description="where people are (default: base_dn)",
                                    examples=["ou=people,dc=example,dc=org"])
    group_base: str | None = Field(None, description="where groups are (default: base_dn)")
    user_filter: str = Field("(uid={id})", description="how a person's id finds their entry; {id} is replaced")
    lock_method: Literal["ppolicy", "nsAccountLock", "attribute", "password"] = Field(
        "ppolicy", description="ppolicy: pwdAccountLockedTime (OpenLDAP, needs pwdLockout in the policy); "
        "nsAccountLock (389-DS, FreeIPA); attribute: lock_attribute set to lock_value; password: replace it")
    lock_attribute: str | None = Field(None, description="for lock_method: attribute",
                                       examples=["ds-pwp-account-disabled"])
    lock_value: str = Field("TRUE", description="the value lock_attribute is set to")
    empty_group_member: str = Field("cn=nobody", description="the placeholder member left in a groupOfNames "
                                    "whose last member leaves (the schema needs one)")
    # what makes a group a mail group that a runbook list may delete: a group object class and this attribute
    # (None: any group); anything else named in `lists:` is refused at plan time
    list_attribute: str | None = Field("mail", description="a group is a list revoke may delete only if it has "
                                       "this attribute (null: any group)")


class LockAccount(ActionKind):
    name = "lock-account"
    summary = "lock account"
    done_summary = "already locked"
    shows_resource = False
    permissions = ("write on the lock attribute (pwdAccountLockedTime / nsAccountLock) of people entries",
                   "read on people entries and the lock attribute")
    desired = {"locked": True}


class ScramblePassword(ActionKind):
    name = "scramble-password"
    summary = "replace password with a locked marker"
    done_summary = "password already locked"
    shows_resource = False
    permissions = ("write on userPassword of people entries",)
    desired = {"locked": True}
    restorable = False
    restore_note = "the old password hash is not kept (it is a secret); restore needs a password reset"


class RemoveMembership(ActionKind):
    name = "remove-membership"
    summary = "remove from"
    done_summary = "not a member of"
    permissions = ("write on member, uniqueMember and memberUid of group entries", "search on group entries")
    desired = {"exists": True, "member": False}


class DeleteMailGroup(ActionKind):
    name = "delete-group"
    item = LISTS
    summary = "delete mail group"
    done_summary = "mail group already gone:"
    permissions = ("delete on mail group entries", "read on all attributes of mail group entries")
    desired = {"exists": False}
    restore_note = "restore re-adds the entry from its recorded attributes"
    resource_types = ("group",)


class LdapConnector(Connector):
    name: ClassVar[str] = "ldap"
    version: ClassVar[str] = "1.0"
    Settings = LdapSettings
    kinds = (LockAccount, ScramblePassword, RemoveMembership, DeleteMailGroup)
    read_permissions = ("bind as a service account", "search under base_dn", "whoami extended operation")
    # apply_many still writes one by one; a batch lets the engine read back (and journal, with one fsync) 50
    # actions at once: a read-back search covers up to 100 accounts, and 2,000 leavers cost 320 fsyncs, not 800
    batch_size: ClassVar[int] = 50

    settings: LdapSettings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._session: LdapSession | None = None

    @classmethod
    def permissions_document(cls, kinds: Sequence[type[ActionKind]]) -> str:
        """OpenLDAP access rules for the bind DN, in slapd.conf form (olcAccess takes the same text)."""
        names = {k.name for k in kinds}
        rules = ["# OpenLDAP access rules for revoke's bind DN; put them before your other rules,",
                 "# with <bind_dn>, <people_base>, <group_base> and <list_base> from the runbook's settings."]
        if LockAccount.name in names:
            rules.append('access to dn.subtree="<people_base>" attrs=pwdAccountLockedTime,nsAccountLock\n'
                         '  by dn.exact="<bind_dn>" manage\n  by * break')
        if ScramblePassword.name in names:
            rules.append('access to dn.subtree="<people_base>" attrs=userPassword\n'
                         '  by dn.exact="<bind_dn>" write\n  by * break')
        if RemoveMembership.name in names:
            rules.append('access to dn.subtree="<group_base>" attrs=member,uniqueMember,memberUid\n'
                         '  by dn.exact="<bind_dn>" write\n  by * break')
        if DeleteMailGroup.name in names:
            rules.append('access to dn.subtree="<list_base>" attrs=entry,children\n'
                         '  by dn.exact="<bind_dn>" write\n  by * break')
        rules.append('access to *\n  by dn.exact="<bind_dn>" read\n  by * break')
        return "\n".join(rules)

    # ---- connection

    @property
    def session(self) -> LdapSession:
        if self._session is None:
            self._session = LdapSession(self.system, self.settings, self.secrets.get(self.settings.bind_password))
        return self._session

    def warnings(self) -> list[str]:
        return connection_warnings(self.settings)

    def exposure(self) -> list[ExposureRule]:
        return [ExposureRule("sessions of applications that authenticated against the directory before the lock",
                             self._lock_kind().name, None, "LDAP has no session revocation; each application's own "
                             "session lifetime applies")]

    def connect(self) -> Identity:
        self.session.conn()
        me = self.session.whoami()
        return Identity(display=self.settings.bind_dn, aliases=tuple(a for a in (me,) if a),
                        detail={"bind_dn": self.settings.bind_dn, "whoami": me or None, "url": self.settings.url})

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def identify(self, names: Sequence[str]) -> dict[str, Entity | None]:
        return ldap_names.identify(self.session, names, self.settings.base_dn, self.settings.user_filter)

    # ---- discovery

    @property
    def _lock_attr(self) -> str:
        s = self.settings
        return {"ppolicy": "pwdAccountLockedTime", "nsAccountLock": "nsAccountLock",
                "password": "userPassword"}.get(s.lock_method) or (s.lock_attribute or "")

    def _lock_kind(self) -> type[ActionKind]:
        return ScramblePassword if self.settings.lock_method == "password" else LockAccount

    def _is_locked(self, value: str | None) -> bool:
        method = self.settings.lock_method
        if value is None:
            return False
        if method == "ppolicy":
            return value == PPOLICY_LOCKED
        if method == "password":
            return value == PASSWORD_LOCKED
        expected = "TRUE" if method == "nsAccountLock" else self.settings.lock_value
        return value.casefold() == expected.casefold()

    def _lock_state(self, dn: str, value: str | None) -> State:
        if self.settings.lock_method == "password":
            # never record a password hash, only whether it is the locked marker and a fingerprint to see change
            shown = None if value is None else ("locked-marker" if value == PASSWORD_LOCKED else
                                                "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16])
            return {"dn": dn, "exists": True, "attribute": self._lock_attr, "value": shown,
                    "locked": self._is_locked(value)}
        return {"dn": dn, "exists": True, "attribute": self._lock_attr, "value": value,
                "locked": self._is_locked(value)}

    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        if self.settings.lock_method == "attribute" and not self.settings.lock_attribute:
            raise NotSupported("lock_method: attribute needs lock_attribute (e.g. ds-pwp-account-disabled)")
        found = Discovery()
        accounts = self._find_accounts(subjects, found)
        closing = {norm_dn(t.ident) for t in lists}
        for subject, (dn, attrs) in accounts.items():
            lock_value = first(attrs, self._lock_attr)
            aliases = tuple(v for v in (first(attrs, "uid"), *values(attrs, "mail")) if v)
            found.steps.append(Step(kind=self._lock_kind().name, resource=dn, principal=dn, person=subject.person,
                                    before=self._lock_state(dn, lock_value), needed=not self._is_locked(lock_value),
                                    aliases=aliases, label=dn))
        for group_dn, gattrs in self._groups_of(accounts):
            if norm_dn(group_dn) in closing:
                continue  # the group itself is deleted; removing members first would only add writes
            index = _member_index(gattrs)  # once per group: matching each account is then a lookup
            for subject, (dn, attrs) in accounts.items():
                held = self._membership_values(index, dn, first(attrs, "uid"))
                if not held:
                    continue
                found.steps.append(Step(
                    kind=RemoveMembership.name, resource=group_dn, principal=dn, person=subject.person,
                    before={"group": group_dn, "exists": True, "values": held, "member": True},
                    needed=True, label=group_dn))
        for target in lists:
            self._discover_list(target, found)
        return found

    def _find_accounts(self, subjects: Sequence[Subject],
                       found: Discovery) -> dict[Subject, tuple[str, dict[str, list[str]]]]:
        s = self.settings
        base = s.people_base or s.base_dn
        attrs = sorted({"uid", "mail", "cn", "objectClass", self._lock_attr, *_filter_attributes(s.user_filter)})
        out: dict[Subject, tuple[str, dict[str, list[str]]]] = {}
        dns = [x for x in subjects if "=" in x.ident and "," in x.ident]
        by_name = [x for x in subjects if x not in dns]
        for subject in dns:
            try:
                res = self.session.search(f"find {subject.ident}", norm_spacing(subject.ident), "(objectClass=*)",
                                          attrs, scope=ldap3.BASE, ok=(SUCCESS, NO_SUCH_OBJECT))
            except ActionFailed as err:  # one malformed id is that person's problem, not the whole system's
                found.notices.append(Notice(f"cannot look up {subject.ident}: {err}", person=subject.person))
                continue
            entries = [e for e in res["entries"] if e.get("type") == "searchResEntry"]
            if not entries:
                found.notices.append(Notice(f"no entry {subject.ident} in {s.url}", person=subject.person))
                continue
            out[subject] = (entries[0]["dn"], entry_attrs(entries[0]))
        for i in range(0, len(by_name), CHUNK):
            chunk = by_name[i:i + CHUNK]
            flt = "(|" + "".join(s.user_filter.replace("{id}", escape(x.ident)) for x in chunk) + ")"
            res = self.session.search("find people", base, flt, attrs)
            entries = [(e["dn"], entry_attrs(e)) for e in res["entries"] if e.get("type") == "searchResEntry"]
            by_value, by_dn = _match_index(s.user_filter, entries)
            for subject in chunk:
                # entries whose filter attribute holds the id, or whose DN is it, in search order: looked up,
                # not scanned
                picked = {**{i: None for i in by_value.get(subject.ident.casefold(), [])},
                          **{i: None for i in by_dn.get(norm_dn(subject.ident), [])}}
                matches = [entries[i] for i in sorted(picked)]
                if not matches:
                    found.notices.append(Notice(f"no account matches '{subject.ident}' under {base}",
                                                person=subject.person))
                elif len(matches) > 1:
                    found.notices.append(Notice(f"'{subject.ident}' matches {len(matches)} entries under {base}: "
                                                + ", ".join(dn for dn, _ in matches) + "; use the DN as the id",
                                                person=subject.person))
                else:
                    out[subject] = matches[0]
        return out

    def _groups_of(self, accounts: dict[Subject, tuple[str, dict[str, list[str]]]]
                   ) -> list[tuple[str, dict[str, list[str]]]]:
        s = self.settings
        base = s.group_base or s.base_dn
        items = list(accounts.values())
        groups: dict[str, tuple[str, dict[str, list[str]]]] = {}
        for i in range(0, len(items), CHUNK):
            parts = []
            for dn, attrs in items[i:i + CHUNK]:
                parts.append(f"(member={escape(dn)})(uniqueMember={escape(dn)})")
                uid = first(attrs, "uid")
                if uid:
                    parts.append(f"(memberUid={escape(uid)})")
            res = self.session.search("find memberships", base, "(|" + "".join(parts) + ")",
                                      ["objectClass", "cn", *MEMBER_ATTRS])
            for e in res["entries"]:
                if e.get("type") == "searchResEntry":
                    groups[norm_dn(e["dn"])] = (e["dn"], entry_attrs(e))
        return list(groups.values())

    @staticmethod
    def _membership_values(index: dict[str, Any], dn: str, uid: str | None) -> dict[str, str]:
        held: dict[str, str] = {}
        key = norm_dn(dn)
        for attr in ("member", "uniqueMember"):
            if key in index[attr]:
                held[attr] = index[attr][key]
        if uid and uid in index["memberUid"]:
            held["memberUid"] = uid
        return held

    def _discover_list(self, target: ListTarget, found: Discovery) -> None:
        res = self.session.search(f"read list {target.ident}", target.ident, "(objectClass=*)", ["*"],
                                  scope=ldap3.BASE, ok=(SUCCESS, NO_SUCH_OBJECT))
        entries = [e for e in res["entries"] if e.get("type") == "searchResEntry"]
        if not entries:
            # gone is what closing wants, but a wrong id also reads as gone: say so, so a typo cannot pass quietly
            found.steps.append(Step(kind=DeleteMailGroup.name, resource=target.ident, label=target.ident,
                                    needed=False, before={"dn": target.ident, "exists": False}))
            found.notices.append(Notice(f"mail group {target.ident} does not exist: already deleted, or the id in "
                                        "the runbook is wrong", resource=target.ident, severity="warning"))
            return
        if target.close not in ("default", "delete"):
            found.notices.append(Notice(f"close: {target.close} is not supported by the ldap connector "
                                        "(it deletes mail groups)", resource=target.ident))
            return
        dn = entries[0]["dn"]
        attrs = entry_attrs(entries[0])
        entity = ldap_names.describe(dn, attrs)
        wanted = self.settings.list_attribute
        if entity.type != "group" or (wanted and not values(attrs, wanted)):
            what = f"a {entity.type} entry" if entity.type != "group" else f"a group without {wanted}"
            found.notices.append(Notice(f"{target.ident} is {what}, not a mail group: it is not closed",
                                        resource=target.ident, severity="refused"))
            return
        found.steps.append(Step(kind=DeleteMailGroup.name, resource=dn, label=dn, needed=True,
                                before={"dn": dn, "exists": True, "entry": entry_attrs(entries[0])}))

    # ---- apply, read back, restore

    def apply(self, action: Any) -> Receipt:
        kind = action.kind
        if kind in (LockAccount.name, ScramblePassword.name):
            value = PASSWORD_LOCKED if kind == ScramblePassword.name else (
                PPOLICY_LOCKED if self.settings.lock_method == "ppolicy" else
                "TRUE" if self.settings.lock_method == "nsAccountLock" else self.settings.lock_value)
            self._modify(f"lock {action.resource}", action.resource,
                         {self._lock_attr: [(ldap3.MODIFY_REPLACE, [value])]})
            return Receipt(detail={"attribute": self._lock_attr})
        if kind == RemoveMembership.name:
            return self._remove_member(action)
        if kind == DeleteMailGroup.name:
            self.session.call(f"delete {action.resource}", lambda c: c.delete(action.resource),
                              ok=(SUCCESS, NO_SUCH_OBJECT))
            return Receipt()
        raise NotSupported(f"ldap has no action '{kind}'")

    def _modify(self, what: str, dn: str, changes: dict[str, Any], ok: tuple[int, ...] = (SUCCESS,)) -> dict:
        return self.session.call(what, lambda c: c.modify(dn, changes), ok=ok)

    def _remove_member(self, action: Any) -> Receipt:
        held: dict[str, str] = action.before.get("values", {})
        changes = {attr: [(ldap3.MODIFY_DELETE, [value])] for attr, value in held.items()}
        result = self._modify(f"remove from {action.resource}", action.resource, changes,
                              ok=(SUCCESS, NO_SUCH_ATTRIBUTE, OBJECT_CLASS_VIOLATION))
        if result["result"] == OBJECT_CLASS_VIOLATION:
            # the leaver was the last member of a group that must have one: swap in the placeholder
            placeholder = self.settings.empty_group_member
            for attr in ("member", "uniqueMember"):
                if attr in changes:
                    changes[attr] = [(ldap3.MODIFY_ADD, [placeholder]), (ldap3.MODIFY_DELETE, [held[attr]])]
            self._modify(f"remove last member of {action.resource}", action.resource, changes)
            return Receipt(detail={"placeholder": placeholder})
        if result["result"] == NO_SUCH_ATTRIBUTE:
            # gone already; the read-back confirms the group exists before this counts as done
            return Receipt(detail={"note": "value was already absent"})
        return Receipt()

    def read_back(self, actions: Sequence[Any]) -> dict[str, State]:
        """Batched: one search per parent entry for up to CHUNK accounts, one per group for up to CHUNK members
        (in the check phase that is a few dozen searches for thousands of actions, not one per action)."""
        out: dict[str, State] = {}
        locks = [a for a in actions if a.kind in (LockAccount.name, ScramblePassword.name)]
        members: dict[str, list[Any]] = {}
        for a in actions:
            if a.kind == RemoveMembership.name:
                members.setdefault(norm_dn(a.resource), []).append(a)
            elif a.kind == DeleteMailGroup.name:
                res = self.session.search(f"read {a.resource}", a.resource, "(objectClass=*)", ["*"],
                                          scope=ldap3.BASE, ok=(SUCCESS, NO_SUCH_OBJECT))
                out[a.id] = _base_entry(res, a.resource, lambda e: {"dn": a.resource, "exists": True,
                                                                    "entry": entry_attrs(e)})
        self._read_locks(locks, out)
        for group in members.values():
            for i in range(0, len(group), CHUNK):
                self._read_memberships(group[i:i + CHUNK], out)
        return out

    def _read_locks(self, actions: list[Any], out: dict[str, State]) -> None:
        """Accounts under one parent are read with one one-level search whose OR-filter names their RDNs; an
        account whose RDN does not make a plain filter is read on its own."""
        by_parent: dict[str, list[tuple[Any, str]]] = {}
        for a in actions:
            term = _rdn_filter(a.resource)
            if term is None:
                by_parent.setdefault("", []).append((a, ""))
            else:
                by_parent.setdefault(a.resource.split(",", 1)[1].strip(), []).append((a, term))
        for parent, items in by_parent.items():
            if not parent:
                for a, _ in items:
                    res = self.session.search(f"read {a.resource}", a.resource, "(objectClass=*)",
                                              [self._lock_attr], scope=ldap3.BASE, ok=(SUCCESS, NO_SUCH_OBJECT))
                    out[a.id] = _base_entry(res, a.resource, lambda e: self._lock_state(
                        a.resource, first(entry_attrs(e), self._lock_attr)))
                continue
            for i in range(0, len(items), CHUNK):
                chunk = items[i:i + CHUNK]
                flt = "(|" + "".join(term for _, term in chunk) + ")"
                res = self.session.search(f"read {len(chunk)} accounts under {parent}", parent, flt,
                                          [self._lock_attr], scope=ldap3.LEVEL, ok=(SUCCESS, NO_SUCH_OBJECT))
                found = {norm_dn(e["dn"]): entry_attrs(e) for e in res["entries"]
                         if e.get("type") == "searchResEntry"}
                for a, _ in chunk:
                    attrs = found.get(norm_dn(a.resource))
                    out[a.id] = (self._lock_state(a.resource, first(attrs, self._lock_attr)) if attrs is not None
                                 else {"dn": a.resource, "exists": False})

    def _read_memberships(self, actions: list[Any], out: dict[str, State]) -> None:
        """Several leavers of one group in one base search: no entry means none of them is still a member (and
        the group exists, or the answer would be noSuchObject); an entry brings the values to check each one."""
        group = actions[0].resource
        terms = "".join(f"({attr}={escape(v)})" for a in actions
                        for attr, v in a.before.get("values", {}).items())
        res = self.session.search(f"read {group}", group, f"(|{terms})" if terms else "(objectClass=*)",
                                  list(MEMBER_ATTRS), scope=ldap3.BASE, ok=(SUCCESS, NO_SUCH_OBJECT))
        if res["result"] == NO_SUCH_OBJECT:
            for a in actions:
                out[a.id] = {"group": a.resource, "exists": False}
            return
        entries = [e for e in res["entries"] if e.get("type") == "searchResEntry"]
        index = _member_index(entry_attrs(entries[0]) if entries else {})  # once: each action is then a lookup
        if entries and norm_dn(entries[0].get("dn", "")) != norm_dn(group):
            for a in actions:
                out[a.id] = unverifiable(f"the server answered the read of {group} with {entries[0].get('dn')}")
            return
        states: dict[str, State] = {}
        for a in actions:
            held: dict[str, str] = a.before.get("values", {})
            still = any(_holds(index, attr, v) for attr, v in held.items())
            states[a.id] = {"group": a.resource, "exists": True, "values": held if still else {}, "member": still}
        unseen = None if entries else self._values_unseen(group, {attr for a in actions
                                                                  for attr in a.before.get("values", {})})
        if unseen:
            for a in actions:
                states[a.id] = unverifiable(unseen)
            out.update(states)
            return
        if entries and terms and not any(st["member"] for st in states.values()):
            # the server matched a value that our comparison does not see: never call that removed, ask per action
            for a in actions:
                states[a.id] = self._read_membership(a)
        out.update(states)

    def _read_membership(self, a: Any) -> State:
        held: dict[str, str] = a.before.get("values", {})
        flt = "(|" + "".join(f"({attr}={escape(v)})" for attr, v in held.items()) + ")"
        res = self.session.search(f"read {a.resource}", a.resource, flt, ["1.1"], scope=ldap3.BASE,
                                  ok=(SUCCESS, NO_SUCH_OBJECT))
        if res["result"] == NO_SUCH_OBJECT:
            return {"group": a.resource, "exists": False}
        still = any(e.get("type") == "searchResEntry" for e in res["entries"])
        unseen = None if still else self._values_unseen(a.resource, set(held))
        if unseen:
            return unverifiable(unseen)
        return {"group": a.resource, "exists": True, "values": held if still else {}, "member": still}

    def _values_unseen(self, group: str, attrs: set[str]) -> str | None:
        """Why "no entry matched the member values" proves nothing here, or None when it proves removal: the
        group must show this bind some value of those attributes (a filter on an attribute the bind may not read
        matches nothing, which would read as removed). A groupOfNames always keeps one member (the placeholder)."""
        if not attrs:
            return None
        flt = "(|" + "".join(f"({attr}=*)" for attr in sorted(attrs)) + ")"
        res = self.session.search(f"read {group}", group, flt, ["1.1"], scope=ldap3.BASE,
                                  ok=(SUCCESS, NO_SUCH_OBJECT))
        if any(e.get("type") == "searchResEntry" for e in res["entries"]):
            return None
        return (f"{group} shows no {'/'.join(sorted(attrs))} values to this bind at all (unreadable, or the group "
                "is empty): removal not proven")

    def restore(self, action: Any) -> Receipt:
        before = action.before
        if action.kind == LockAccount.name:
            attr, value = before["attribute"], before.get("value")
            change = [(ldap3.MODIFY_REPLACE, [value])] if value is not None else [(ldap3.MODIFY_DELETE, [])]
            self._modify(f"unlock {action.resource}", action.resource, {attr: change},
                         ok=(SUCCESS, NO_SUCH_ATTRIBUTE))
            return Receipt()
        if action.kind == RemoveMembership.name:
            held: dict[str, str] = before.get("values", {})
            for attr, value in held.items():
                self._modify(f"re-add to {action.resource}", action.resource, {attr: [(ldap3.MODIFY_ADD, [value])]},
                             ok=(SUCCESS, VALUE_EXISTS))
                if attr in ("member", "uniqueMember"):
                    self._modify(f"drop placeholder from {action.resource}", action.resource,
                                 {attr: [(ldap3.MODIFY_DELETE, [self.settings.empty_group_member])]},
                                 ok=(SUCCESS, NO_SUCH_ATTRIBUTE))
            return Receipt()
        if action.kind == DeleteMailGroup.name:
            entry = {k: v for k, v in before["entry"].items() if not _operational(k)}
            classes = entry.pop("objectClass", None) or entry.pop("objectclass", [])
            self.session.call(f"re-create {action.resource}", lambda c: c.add(action.resource, classes, entry))
            return Receipt()
        raise NotSupported(f"{action.kind} cannot be restored: {ScramblePassword.restore_note}")


def _base_entry(res: dict[str, Any], dn: str, state: Any) -> State:
    """The state of a base-scope read: noSuchObject is absence; a success must bring that very entry."""
    if res["result"] == NO_SUCH_OBJECT:
        return {"dn": dn, "exists": False}
    entries = [e for e in res["entries"] if e.get("type") == "searchResEntry"]
    if not entries:
        return unverifiable(f"the server answered the read of {dn} with success and no entry")
    if norm_dn(entries[0].get("dn", "")) != norm_dn(dn):
        return unverifiable(f"the server answered the read of {dn} with {entries[0].get('dn')}")
    return state(entries[0])


def _member_index(gattrs: dict[str, list[str]]) -> dict[str, Any]:
    """A group's member values by normalised DN (and its memberUid values), as found in the entry."""
    index: dict[str, Any] = {attr: {norm_dn(v): v for v in values(gattrs, attr)}
                             for attr in ("member", "uniqueMember")}
    index["memberUid"] = set(values(gattrs, "memberUid"))
    return index


def _match_index(user_filter: str, entries: list[tuple[str, dict[str, list[str]]]]
                 ) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Positions of the entries by each value of the attributes the filter names (casefolded), and by DN."""
    by_value: dict[str, list[int]] = {}
    by_dn: dict[str, list[int]] = {}
    names = _filter_attributes(user_filter)
    for i, (dn, attrs) in enumerate(entries):
        for key in {v.casefold() for name in names for v in values(attrs, name)}:
            by_value.setdefault(key, []).append(i)
        by_dn.setdefault(norm_dn(dn), []).append(i)
    return by_value, by_dn


def _rdn_filter(dn: str) -> str | None:
    """`(uid=alice)` for `uid=alice,ou=people,...`; None when the RDN is multi-valued or escaped (read it alone)."""
    rdn, sep, _ = dn.partition(",")
    if not sep or "+" in rdn or "\\" in rdn or "=" not in rdn:
        return None
    attr, value = (x.strip() for x in rdn.split("=", 1))
    if not re.fullmatch(r"[A-Za-z][\w-]*", attr) or not value:
        return None
    return f"({attr}={escape(value)})"


def _holds(index: dict[str, Any], attr: str, value: str) -> bool:
    if attr == "memberUid":
        return value in index["memberUid"]
    return norm_dn(value) in index.get(attr, {})


def norm_spacing(dn: str) -> str:
    """`uid=alice, ou=people` as `uid=alice,ou=people`: ldap3 refuses spaces after an unescaped comma."""
    return re.sub(r"(?<!\\)\s*,\s*", ",", dn.strip())


def _operational(attr: str) -> bool:
    return attr.lower() in {"entryuuid", "entrycsn", "createtimestamp", "modifytimestamp", "creatorsname",
                            "modifiersname", "structuralobjectclass", "entrydn", "subschemasubentry",
                            "hassubordinates", "memberof"}


def _filter_attributes(flt: str) -> list[str]:
    return re.findall(r"\(([A-Za-z][\w-]*)=[^()]*\{id\}", flt)
