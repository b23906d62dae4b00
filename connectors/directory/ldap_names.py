"""What a name denotes in a plain LDAP directory: the `ldap` connector's answer to `identify`.

A name is a DN, or a value that the people filter, `uid` or `mail` holds. Each entry found is described by every
identifier revoke or a runbook may use for it (its DN, uid, cn for groups, every mail value, entryUUID) and its
type: "group" for the group object classes revoke edits or deletes, "account" for person-like entries, else the
entry's structural object class. Look-ups are batched: DNs under one parent share a one-level search, other names
go a hundred to an OR-filter.
"""

from __future__ import annotations

import re
from typing import Sequence

import ldap3

from revoke.connector import Entity
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

GROUP_CLASSES = {"groupofnames", "groupofuniquenames", "posixgroup", "groupofurls", "group"}
PERSON_CLASSES = {"person", "organizationalperson", "inetorgperson", "posixaccount", "account", "shadowaccount"}
ATTRS = ["uid", "mail", "cn", "objectClass", "entryUUID", "structuralObjectClass"]
CHUNK = 100


def is_dn(name: str) -> bool:
    return "=" in name and "," in name


def describe(dn: str, attrs: dict[str, list[str]], id_attrs: Sequence[str] = ()) -> Entity:
    classes = {c.casefold() for c in values(attrs, "objectClass")}
    if classes & GROUP_CLASSES:
        kind = "group"
    elif classes & PERSON_CLASSES:
        kind = "account"
    else:
        kind = (first(attrs, "structuralObjectClass") or "entry").casefold()
    idents = {dn, norm_dn(dn), *values(attrs, "uid"), *values(attrs, "mail"), *values(attrs, "entryUUID")}
    for attr in id_attrs:  # what the runbook's people filter matches on (employeeNumber={id}) names the entry too
        idents.update(values(attrs, attr))
    if kind == "group":
        idents.update(values(attrs, "cn"))
    return Entity(frozenset(i for i in idents if i), kind, display=dn)


def identify(session: LdapSession, names: Sequence[str], base: str, user_filter: str) -> dict[str, Entity | None]:
    """`user_filter` is the people filter with `{id}` (e.g. `(uid={id})`): a name it matches names that entry."""
    out: dict[str, Entity | None] = {n: None for n in names}
    dns = [n for n in names if is_dn(n)]
    others = [n for n in names if not is_dn(n)]
    _by_dn(session, dns, out)
    for i in range(0, len(others), CHUNK):
        _by_value(session, others[i:i + CHUNK], base, user_filter, out)
    return out


def _by_dn(session: LdapSession, dns: list[str], out: dict[str, Entity | None]) -> None:
    by_parent: dict[str, list[tuple[str, str]]] = {}
    for dn in dns:
        rdn, _, parent = _spacing(dn).partition(",")
        attr, _, value = rdn.partition("=")
        if "+" in rdn or "\\" in rdn or not attr.strip().isidentifier() or not value.strip():
            by_parent.setdefault("", []).append((dn, ""))
        else:
            by_parent.setdefault(parent.strip(), []).append((dn, f"({attr.strip()}={escape(value.strip())})"))
    for parent, items in by_parent.items():
        if not parent:
            for dn, _ in items:
                res = session.search(f"identify {dn}", _spacing(dn), "(objectClass=*)", ATTRS, scope=ldap3.BASE,
                                     ok=(SUCCESS, NO_SUCH_OBJECT))
                for e in res["entries"]:
                    if e.get("type") == "searchResEntry":
                        out[dn] = describe(e["dn"], entry_attrs(e))
            continue
        for i in range(0, len(items), CHUNK):
            chunk = items[i:i + CHUNK]
            res = session.search(f"identify {len(chunk)} entries under {parent}", parent,
                                 "(|" + "".join(t for _, t in chunk) + ")", ATTRS, scope=ldap3.LEVEL,
                                 ok=(SUCCESS, NO_SUCH_OBJECT))
            found = {norm_dn(e["dn"]): describe(e["dn"], entry_attrs(e)) for e in res["entries"]
                     if e.get("type") == "searchResEntry"}
            for dn, _ in chunk:
                out[dn] = found.get(norm_dn(dn))


def _by_value(session: LdapSession, names: list[str], base: str, user_filter: str,
              out: dict[str, Entity | None]) -> None:
    terms = "".join(user_filter.replace("{id}", escape(n)) + f"(uid={escape(n)})(mail={escape(n)})" for n in names)
    id_attrs = filter_attributes(user_filter)
    res = session.search(f"identify {len(names)} names", base, f"(|{terms})", sorted({*ATTRS, *id_attrs}))
    entities = [describe(e["dn"], entry_attrs(e), id_attrs) for e in res["entries"]
                if e.get("type") == "searchResEntry"]
    for name in names:
        key = name.casefold()
        matches = [e for e in entities if key in {i.casefold() for i in e.identifiers}]
        if matches:
            # several entries for one name: every one of them is what the name may denote (protection covers all)
            out[name] = Entity(frozenset().union(*(m.identifiers for m in matches)),
                               matches[0].type if len({m.type for m in matches}) == 1 else "ambiguous",
                               display=", ".join(m.display for m in matches))


def _spacing(dn: str) -> str:
    """`uid=alice, ou=people` as `uid=alice,ou=people`: ldap3 refuses spaces after an unescaped comma."""
    return re.sub(r"(?<!\\)\s*,\s*", ",", dn.strip())


def filter_attributes(flt: str) -> list[str]:
    """The attributes a filter compares with `{id}`: `(|(uid={id})(mail={id}))` -> uid, mail."""
    return re.findall(r"\(([A-Za-z][\w-]*)=[^()]*\{id\}", flt)
