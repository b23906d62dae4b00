"""How the `ldap` connector reads its targets back, batched: one search per parent entry for up to CHUNK accounts,
one per group for up to CHUNK members (in the check phase that is a few dozen searches for thousands of actions,
not one per action). A read that does not prove a state says so (`unverifiable`), never "removed"."""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

import ldap3

from revoke.actions import State, unverifiable
from revoke.connectors.directory.ldap_kinds import DeleteMailGroup, LockAccount, RemoveMembership, ScramblePassword
from revoke.connectors.directory.ldap_settings import Lock
from revoke.connectors.directory.session import (
    NO_SUCH_OBJECT,
    SUCCESS,
    LdapSession,
    entry_attrs,
    escape,
    first,
    norm_dn,
    values,
)

MEMBER_ATTRS = ("member", "uniqueMember", "memberUid")
CHUNK = 100  # subjects per OR-filter: a few searches in total, not one per person or group


class LdapReader:
    def __init__(self, session: LdapSession, lock: Lock):
        self.session = session
        self.lock = lock

    def read_back(self, actions: Sequence[Any]) -> dict[str, State]:
        out: dict[str, State] = {}
        locks = [a for a in actions if a.kind in (LockAccount.name, ScramblePassword.name)]
        members: dict[str, list[Any]] = {}
        for a in actions:
            if a.kind == RemoveMembership.name:
                members.setdefault(norm_dn(a.resource), []).append(a)
            elif a.kind == DeleteMailGroup.name:
                res = self.session.search(f"read {a.resource}", a.resource, "(objectClass=*)", ["*"],
                                          scope=ldap3.BASE, ok=(SUCCESS, NO_SUCH_OBJECT))
                out[a.id] = base_entry(res, a.resource, lambda e: {"dn": a.resource, "exists": True,
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
            term = rdn_filter(a.resource)
            if term is None:
                by_parent.setdefault("", []).append((a, ""))
            else:
                by_parent.setdefault(a.resource.split(",", 1)[1].strip(), []).append((a, term))
        for parent, items in by_parent.items():
            if not parent:
                for a, _ in items:
                    out[a.id] = self._read_lock(a.resource)
                continue
            for i in range(0, len(items), CHUNK):
                self._read_lock_chunk(parent, items[i:i + CHUNK], out)

    def _read_lock(self, dn: str) -> State:
        attr = self.lock.attr
        res = self.session.search(f"read {dn}", dn, "(objectClass=*)", [attr], scope=ldap3.BASE,
                                  ok=(SUCCESS, NO_SUCH_OBJECT))
        return base_entry(res, dn, lambda e: self.lock.state(dn, first(entry_attrs(e), attr)))

    def _read_lock_chunk(self, parent: str, chunk: list[tuple[Any, str]], out: dict[str, State]) -> None:
        attr = self.lock.attr
        flt = "(|" + "".join(term for _, term in chunk) + ")"
        res = self.session.search(f"read {len(chunk)} accounts under {parent}", parent, flt, [attr],
                                  scope=ldap3.LEVEL, ok=(SUCCESS, NO_SUCH_OBJECT))
        found = {norm_dn(e["dn"]): entry_attrs(e) for e in res["entries"] if e.get("type") == "searchResEntry"}
        for a, _ in chunk:
            attrs = found.get(norm_dn(a.resource))
            out[a.id] = (self.lock.state(a.resource, first(attrs, attr)) if attrs is not None
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
            out.update({a.id: {"group": a.resource, "exists": False} for a in actions})
            return
        entries = [e for e in res["entries"] if e.get("type") == "searchResEntry"]
        index = member_index(entry_attrs(entries[0]) if entries else {})  # once: each action is then a lookup
        if entries and norm_dn(entries[0].get("dn", "")) != norm_dn(group):
            why = f"the server answered the read of {group} with {entries[0].get('dn')}"
            out.update({a.id: unverifiable(why) for a in actions})
            return
        states: dict[str, State] = {}
        for a in actions:
            held: dict[str, str] = a.before.get("values", {})
            still = any(holds(index, attr, v) for attr, v in held.items())
            states[a.id] = {"group": a.resource, "exists": True, "values": held if still else {}, "member": still}
        unseen = None if entries else self._values_unseen(group, {attr for a in actions
                                                                  for attr in a.before.get("values", {})})
        if unseen:
            states = {a.id: unverifiable(unseen) for a in actions}
        elif entries and terms and not any(st["member"] for st in states.values()):
            # the server matched a value that our comparison does not see: never call that removed, ask per action
            states = {a.id: self._read_membership(a) for a in actions}
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


def base_entry(res: dict[str, Any], dn: str, state: Callable[[dict[str, Any]], State]) -> State:
    """The state of a base-scope read: noSuchObject is absence; a success must bring that very entry."""
    if res["result"] == NO_SUCH_OBJECT:
        return {"dn": dn, "exists": False}
    entries = [e for e in res["entries"] if e.get("type") == "searchResEntry"]
    if not entries:
        return unverifiable(f"the server answered the read of {dn} with success and no entry")
    if norm_dn(entries[0].get("dn", "")) != norm_dn(dn):
        return unverifiable(f"the server answered the read of {dn} with {entries[0].get('dn')}")
    return state(entries[0])


def member_index(gattrs: dict[str, list[str]]) -> dict[str, Any]:
    """A group's member values by normalised DN (and its memberUid values), as found in the entry."""
    index: dict[str, Any] = {attr: {norm_dn(v): v for v in values(gattrs, attr)}
                             for attr in ("member", "uniqueMember")}
    index["memberUid"] = set(values(gattrs, "memberUid"))
    return index


def holds(index: dict[str, Any], attr: str, value: str) -> bool:
    if attr == "memberUid":
        return value in index["memberUid"]
    return norm_dn(value) in index.get(attr, {})


def rdn_filter(dn: str) -> str | None:
    """`(uid=alice)` for `uid=alice,ou=people,...`; None when the RDN is multi-valued or escaped (read it alone)."""
    rdn, sep, _ = dn.partition(",")
    if not sep or "+" in rdn or "\\" in rdn or "=" not in rdn:
        return None
    attr, value = (x.strip() for x in rdn.split("=", 1))
    if not re.fullmatch(r"[A-Za-z][\w-]*", attr) or not value:
        return None
    return f"({attr}={escape(value)})"
