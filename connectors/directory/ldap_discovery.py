"""How the `ldap` connector finds what to change: each leaver's entry (by DN, or through `user_filter`, a hundred
to an OR-filter), the groups that hold them (`member`, `uniqueMember`, `memberUid`) and the runbook's mail groups,
which must be group entries with `list_attribute` before anything plans to delete them."""

from __future__ import annotations

import re
from typing import Any, Sequence

import ldap3

from revoke.connector import Discovery, ListTarget, Notice, Step, Subject
from revoke.connectors.directory import ldap_names
from revoke.connectors.directory.ldap_kinds import DeleteMailGroup, RemoveMembership, lock_kind
from revoke.connectors.directory.ldap_readback import CHUNK, MEMBER_ATTRS, member_index
from revoke.connectors.directory.ldap_settings import LdapSettings, Lock
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
from revoke.errors import ActionFailed

Entry = tuple[str, dict[str, list[str]]]  # a DN and its attributes


class LdapDiscovery:
    def __init__(self, session: LdapSession, settings: LdapSettings):
        self.session = session
        self.settings = settings
        self.lock = Lock(settings)

    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        found = Discovery()
        accounts = self._find_accounts(subjects, found)
        kind = lock_kind(self.settings.lock_method)
        for subject, (dn, attrs) in accounts.items():
            lock_value = first(attrs, self.lock.attr)
            aliases = tuple(v for v in (first(attrs, "uid"), *values(attrs, "mail")) if v)
            found.steps.append(Step(kind=kind.name, resource=dn, principal=dn, person=subject.person,
                                    before=self.lock.state(dn, lock_value), needed=not self.lock.is_locked(lock_value),
                                    aliases=aliases, label=dn))
        closing = {norm_dn(t.ident) for t in lists}
        for group_dn, gattrs in self._groups_of(accounts):
            if norm_dn(group_dn) in closing:
                continue  # the group itself is deleted; removing members first would only add writes
            found.steps.extend(_membership_steps(group_dn, gattrs, accounts))
        for target in lists:
            self._discover_list(target, found)
        return found

    def _find_accounts(self, subjects: Sequence[Subject], found: Discovery) -> dict[Subject, Entry]:
        s = self.settings
        attrs = sorted({"uid", "mail", "cn", "objectClass", self.lock.attr, *_filter_attributes(s.user_filter)})
        out: dict[Subject, Entry] = {}
        by_name = [x for x in subjects if not ("=" in x.ident and "," in x.ident)]
        for subject in subjects:
            if subject not in by_name:
                self._find_by_dn(subject, attrs, found, out)
        for i in range(0, len(by_name), CHUNK):
            self._find_by_name(by_name[i:i + CHUNK], attrs, found, out)
        return out

    def _find_by_dn(self, subject: Subject, attrs: list[str], found: Discovery, out: dict[Subject, Entry]) -> None:
        try:
            res = self.session.search(f"find {subject.ident}", norm_spacing(subject.ident), "(objectClass=*)",
                                      attrs, scope=ldap3.BASE, ok=(SUCCESS, NO_SUCH_OBJECT))
        except ActionFailed as err:  # one malformed id is that person's problem, not the whole system's
            found.notices.append(Notice(f"cannot look up {subject.ident}: {err}", person=subject.person))
            return
        entries = [e for e in res["entries"] if e.get("type") == "searchResEntry"]
        if not entries:
            found.notices.append(Notice(f"no entry {subject.ident} in {self.settings.url}", person=subject.person))
            return
        out[subject] = (entries[0]["dn"], entry_attrs(entries[0]))

    def _find_by_name(self, chunk: list[Subject], attrs: list[str], found: Discovery,
                      out: dict[Subject, Entry]) -> None:
        s = self.settings
        base = s.people_base or s.base_dn
        flt = "(|" + "".join(s.user_filter.replace("{id}", escape(x.ident)) for x in chunk) + ")"
        res = self.session.search("find people", base, flt, attrs)
        entries = [(e["dn"], entry_attrs(e)) for e in res["entries"] if e.get("type") == "searchResEntry"]
        by_value, by_dn = _match_index(s.user_filter, entries)
        for subject in chunk:
            # entries whose filter attribute holds the id, or whose DN is it, in search order: looked up, not scanned
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

    def _groups_of(self, accounts: dict[Subject, Entry]) -> list[Entry]:
        s = self.settings
        base = s.group_base or s.base_dn
        items = list(accounts.values())
        groups: dict[str, Entry] = {}
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


def _membership_steps(group_dn: str, gattrs: dict[str, list[str]], accounts: dict[Subject, Entry]) -> list[Step]:
    index = member_index(gattrs)  # once per group: matching each account is then a lookup
    steps = []
    for subject, (dn, attrs) in accounts.items():
        held = _membership_values(index, dn, first(attrs, "uid"))
        if held:
            steps.append(Step(kind=RemoveMembership.name, resource=group_dn, principal=dn, person=subject.person,
                              before={"group": group_dn, "exists": True, "values": held, "member": True},
                              needed=True, label=group_dn))
    return steps


def _membership_values(index: dict[str, Any], dn: str, uid: str | None) -> dict[str, str]:
    held: dict[str, str] = {}
    key = norm_dn(dn)
    for attr in ("member", "uniqueMember"):
        if key in index[attr]:
            held[attr] = index[attr][key]
    if uid and uid in index["memberUid"]:
        held["memberUid"] = uid
    return held


def _match_index(user_filter: str, entries: list[Entry]) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Positions of the entries by each value of the attributes the filter names (casefolded), and by DN."""
    by_value: dict[str, list[int]] = {}
    by_dn: dict[str, list[int]] = {}
    names = _filter_attributes(user_filter)
    for i, (dn, attrs) in enumerate(entries):
        for key in {v.casefold() for name in names for v in values(attrs, name)}:
            by_value.setdefault(key, []).append(i)
        by_dn.setdefault(norm_dn(dn), []).append(i)
    return by_value, by_dn


def norm_spacing(dn: str) -> str:
    """`uid=alice, ou=people` as `uid=alice,ou=people`: ldap3 refuses spaces after an unescaped comma."""
    return re.sub(r"(?<!\\)\s*,\s*", ",", dn.strip())


def _filter_attributes(flt: str) -> list[str]:
    return re.findall(r"\(([A-Za-z][\w-]*)=[^()]*\{id\}", flt)
