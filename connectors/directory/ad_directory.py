"""Active Directory over LDAP: the reads and writes the `active-directory` connector needs.

It runs on the shared ldap3 session (`_ldapconn.LdapSession`: TLS, thread-local binds, error translation) and
adds what is particular to AD: objectGUID and objectSid decoding, the FILETIME clock of accountExpires, batched
look-ups by name, DN, GUID and SID, and ranged retrieval of large `member` attributes.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable

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
from revoke.errors import ActionFailed

# userAccountControl (MS-ADTS 2.2.16)
ACCOUNTDISABLE = 0x2
# groupType (MS-ADTS 2.2.12): without this bit a group is a distribution group
SECURITY_ENABLED = 0x80000000
# accountExpires: 0 and 2**63-1 both mean "never"
NEVER = (0, 0x7FFFFFFFFFFFFFFF)
_FILETIME_EPOCH = dt.datetime(1601, 1, 1, tzinfo=dt.timezone.utc)
BATCH = 50  # terms per OR filter: a few searches for a whole runbook, none near AD's filter limits

USER_ATTRS = ["objectGUID", "objectSid", "sAMAccountName", "userPrincipalName", "userAccountControl", "memberOf",
              "primaryGroupID", "accountExpires", "lastLogonTimestamp", "manager", "description", "mail",
              "displayName", "isCriticalSystemObject"]
GROUP_ATTRS = ["objectGUID", "objectSid", "sAMAccountName", "cn", "groupType", "mail", "memberOf",
               "isCriticalSystemObject"]
# attributes that change on every write: kept out of recorded entries so a before-state stays comparable
VOLATILE = {"whenchanged", "usnchanged", "dscorepropagationdata", "member", "msexchhidefromaddresslists"}


def sid_str(raw: bytes) -> str:
    """objectSid (binary, MS-DTYP 2.4.2) as S-1-5-21-..."""
    count = raw[1]
    authority = int.from_bytes(raw[2:8], "big")
    subs = struct.unpack(f"<{count}I", raw[8:8 + 4 * count])
    return f"S-{raw[0]}-{authority}" + "".join(f"-{s}" for s in subs)


def guid_str(raw: bytes) -> str:
    return str(uuid.UUID(bytes_le=raw))


def guid_dn(guid: str) -> str:
    """The extended DN form AD accepts wherever a DN goes (MS-ADTS 3.1.1.3.1.2.4): it names the object even after
    a concurrent move or rename, which a DN read a moment ago does not."""
    return f"<GUID={guid}>"


def guid_filter(guid: str) -> str:
    """objectGUID in a search filter: every byte escaped."""
    return "".join(f"\\{b:02x}" for b in uuid.UUID(guid).bytes_le)


def filetime(when: dt.datetime) -> int:
    return int((when - _FILETIME_EPOCH).total_seconds() * 10_000_000)


def from_filetime(value: str | int | None) -> dt.datetime | None:
    if value in (None, ""):
        return None
    n = int(value)
    if n in NEVER:
        return None
    return _FILETIME_EPOCH + dt.timedelta(microseconds=n // 10)


def is_dn(ident: str) -> bool:
    return bool(re.match(r"^\s*[A-Za-z][\w-]*=.+,", ident))


def _split_dn(dn: str) -> list[str]:
    return [p.strip() for p in re.split(r"(?<!\\),", dn)]


def parent_dn(dn: str) -> str:
    return ",".join(_split_dn(dn)[1:])


def rdn(dn: str) -> str:
    return _split_dn(dn)[0]


@dataclass
class AdObject:
    dn: str
    guid: str
    sid: str
    attrs: dict[str, list[str]]
    raw: dict[str, list[bytes]] = field(default_factory=dict, repr=False)

    def get(self, name: str) -> str | None:
        return first(self.attrs, name)

    def all(self, name: str) -> list[str]:
        return values(self.attrs, name)

    @property
    def sam(self) -> str:
        return self.get("sAMAccountName") or ""

    @property
    def upn(self) -> str:
        return self.get("userPrincipalName") or ""

    @property
    def uac(self) -> int:
        return int(self.get("userAccountControl") or 0)

    @property
    def group_type(self) -> int:
        return int(self.get("groupType") or 0) & 0xFFFFFFFF

    @property
    def is_security(self) -> bool:
        return bool(self.group_type & SECURITY_ENABLED)

    @property
    def domain_sid(self) -> str:
        return self.sid.rsplit("-", 1)[0]

    @property
    def name(self) -> str:
        return self.sam or self.get("cn") or rdn(self.dn)

    def entry(self) -> dict[str, list[str]]:
        """The entry as recorded in evidence: every attribute except the ones each write changes."""
        return {k: v for k, v in sorted(self.attrs.items()) if k.lower() not in VOLATILE
                and not k.lower().startswith("member;")}


class AdDirectory:
    def __init__(self, session: LdapSession, base_dn: str | None):
        self.session = session
        self.base_dn = base_dn or ""
        self.schema_dn = ""
        self._has_attr: dict[str, bool] = {}

    # --- reads -------------------------------------------------------------------------------------------------

    def load_root(self) -> dict[str, list[str]]:
        result = self.session.search("read the rootDSE", "", "(objectClass=*)",
                                     ["defaultNamingContext", "schemaNamingContext", "dnsHostName"],
                                     scope=ldap3.BASE)
        attrs = entry_attrs(result["entries"][0]) if result["entries"] else {}
        self.base_dn = self.base_dn or (first(attrs, "defaultNamingContext") or "")
        self.schema_dn = first(attrs, "schemaNamingContext") or ""
        return attrs

    def has_attribute(self, name: str) -> bool:
        """Does the schema define this attribute? (msExchHideFromAddressLists exists only with Exchange.)"""
        if name not in self._has_attr:
            result = self.session.search(f"look up {name} in the schema", self.schema_dn,
                                         f"(&(objectClass=attributeSchema)(lDAPDisplayName={escape(name)}))",
                                         ["lDAPDisplayName"], scope=ldap3.LEVEL)
            self._has_attr[name] = bool(_entries(result))
        return self._has_attr[name]

    def search(self, what: str, flt: str, attributes: list[str], base: str | None = None,
               scope: str = ldap3.SUBTREE) -> list[AdObject]:
        result = self.session.search(what, base or self.base_dn, flt, attributes, scope=scope,
                                     ok=(SUCCESS, NO_SUCH_OBJECT))
        return self.objects(result)

    @staticmethod
    def objects(result: dict[str, Any]) -> list[AdObject]:
        """The entries of a search answer, with objectGUID and objectSid decoded to their string forms."""
        out = []
        for e in _entries(result):
            raw = e.get("raw_attributes") or {}
            guid = raw.get("objectGUID") or raw.get("objectguid") or []
            sid = raw.get("objectSid") or raw.get("objectsid") or []
            attrs = entry_attrs(e)
            for binary in ("objectGUID", "objectSid"):
                attrs.pop(binary, None)
            if guid:
                attrs["objectGUID"] = [guid_str(guid[0])]
            if sid:
                attrs["objectSid"] = [sid_str(sid[0])]
            out.append(AdObject(e["dn"], guid_str(guid[0]) if guid else "", sid_str(sid[0]) if sid else "",
                                attrs, raw))
        return out

    def find(self, idents: Iterable[str], object_filter: str, attributes: list[str],
             what: str) -> dict[str, list[AdObject]]:
        """Objects by sAMAccountName, userPrincipalName, mail or DN, in batched OR searches. Each identifier
        maps to every object it names (more than one is ambiguous, and the caller says so)."""
        idents = list(dict.fromkeys(idents))
        found: dict[str, list[AdObject]] = {i: [] for i in idents}
        for chunk in _chunks(idents, BATCH):
            terms = []
            for ident in chunk:
                if is_dn(ident):
                    terms.append(f"(distinguishedName={escape(ident)})")
                else:
                    name = ident.split("\\", 1)[1] if "\\" in ident else ident
                    terms.append(f"(sAMAccountName={escape(name)})")
                    if "@" in ident:
                        terms.append(f"(userPrincipalName={escape(ident)})(mail={escape(ident)})")
            flt = f"(&{object_filter}(|{''.join(terms)}))"
            for obj in self.search(what, flt, attributes):
                for ident in chunk:
                    if _names(obj, ident):
                        found[ident].append(obj)
        return found

    def identify(self, names: Iterable[str]) -> dict[str, Entity | None]:
        """What each name denotes (a DN, sAMAccountName, DOMAIN\\name, UPN, mail, objectGUID or `<GUID=...>`),
        described by every identifier of the object: the `active-directory` connector's answer to `identify`."""
        names = list(dict.fromkeys(names))
        out: dict[str, Entity | None] = {n: None for n in names}
        guids = {n: _guid_of(n) for n in names}
        by_guid = self.by_guid([g for g in guids.values() if g], IDENTIFY_ATTRS, "identify objects by objectGUID")
        for name, guid in guids.items():
            if guid:
                obj = by_guid.get(guid)
                out[name] = entity(obj) if obj is not None else None
        others = [n for n in names if not guids[n]]
        found = self.find(others, "(|(objectClass=user)(objectClass=group))", IDENTIFY_ATTRS, "identify names")
        for name, objs in found.items():
            if objs:
                described = [entity(o) for o in objs]
                kinds = {e.type for e in described}
                out[name] = Entity(frozenset().union(*(e.identifiers for e in described)),
                                   kinds.pop() if len(kinds) == 1 else "ambiguous",
                                   display=", ".join(o.dn for o in objs))
        return out

    def by_dn(self, dns: Iterable[str], attributes: list[str], what: str) -> dict[str, AdObject]:
        """Objects by DN, keyed by normalised DN; missing ones are simply not in the answer."""
        out: dict[str, AdObject] = {}
        for chunk in _chunks(list(dict.fromkeys(dns)), BATCH):
            flt = "(|" + "".join(f"(distinguishedName={escape(dn)})" for dn in chunk) + ")"
            for obj in self.search(what, flt, attributes):
                out[norm_dn(obj.dn)] = obj
        return out

    def by_guid(self, guids: Iterable[str], attributes: list[str], what: str) -> dict[str, AdObject]:
        out: dict[str, AdObject] = {}
        for chunk in _chunks(list(dict.fromkeys(g for g in guids if g)), BATCH):
            flt = "(|" + "".join(f"(objectGUID={guid_filter(g)})" for g in chunk) + ")"
            for obj in self.search(what, flt, attributes):
                out[obj.guid] = obj
        return out

    def unproven_absence(self, guid: str) -> str | None:
        """Why a GUID the batched search did not bring back cannot be called gone, or None when it is: only the
        directory's own noSuchObject for a base read of `<GUID=...>` proves the object absent."""
        result = self.session.search(f"read <GUID={guid}>", guid_dn(guid), "(objectClass=*)", ["1.1"],
                                     scope=ldap3.BASE, ok=(SUCCESS, NO_SUCH_OBJECT))
        if result.get("result") == NO_SUCH_OBJECT:
            return None
        found = "an entry" if _entries(result) else "no entry"
        return f"the search by objectGUID missed {guid}, but its base read answered success with {found}"

    def by_sid(self, sids: Iterable[str], attributes: list[str], what: str) -> dict[str, AdObject]:
        out: dict[str, AdObject] = {}
        for chunk in _chunks(list(dict.fromkeys(sids)), BATCH):
            flt = "(|" + "".join(f"(objectSid={escape(s)})" for s in chunk) + ")"
            for obj in self.search(what, flt, attributes):
                out[obj.sid] = obj
        return out

    def ancestors(self, groups: Iterable[AdObject], max_depth: int = 16) -> dict[str, AdObject]:
        """Every group the given groups are nested in, one batched search per level of nesting."""
        seen: dict[str, AdObject] = {norm_dn(g.dn): g for g in groups}
        out: dict[str, AdObject] = {}
        level = list(seen.values())
        for _ in range(max_depth):
            parents = {norm_dn(p): p for g in level for p in g.all("memberOf") if norm_dn(p) not in seen}
            if not parents:
                break
            found = self.by_dn(parents.values(), GROUP_ATTRS, "read the groups these groups are nested in")
            seen.update(found)
            out.update(found)
            level = list(found.values())
        return out

    def members(self, group: AdObject) -> list[str]:
        """All values of a group's `member`. Past MaxValRange values (1500) AD answers `member;range=0-1499` instead
        of `member`, and the rest must be asked for range by range until one ends in `-*` (MS-ADTS 3.1.1.3.1.3.3)."""
        key = _ranged_key(group)
        if key is None:
            return list(group.all("member"))
        got = list(group.attrs[key])
        while not key.endswith("-*"):
            answer = self.search(f"read the members of {group.dn}", "(objectClass=*)",
                                 [f"member;range={len(got)}-*"], base=guid_dn(group.guid) if group.guid else group.dn,
                                 scope=ldap3.BASE)
            if not answer:
                raise ActionFailed(f"{group.dn} disappeared while its members were being read")
            next_key = _ranged_key(answer[0])
            if next_key is None:  # the server answered the rest without a range
                got.extend(answer[0].all("member"))
                break
            key = next_key
            got.extend(answer[0].attrs[key])
        return got

    # --- writes ------------------------------------------------------------------------------------------------

    def modify(self, what: str, dn: str, changes: dict[str, Any], ok: tuple[int, ...] = (SUCCESS,)) -> dict[str, Any]:
        return self.session.call(what, lambda conn: conn.modify(dn, changes), ok=ok)

    def move(self, what: str, obj: AdObject, new_parent: str) -> dict[str, Any]:
        return self.session.call(what, lambda conn: conn.modify_dn(guid_dn(obj.guid), rdn(obj.dn),
                                                                   new_superior=new_parent))

    def delete(self, what: str, dn: str) -> dict[str, Any]:
        return self.session.call(what, lambda conn: conn.delete(dn))


def _ranged_key(obj: AdObject) -> str | None:
    # ldap3 also lists a requested attribute the server did not send, empty: only a key with values counts
    return next((k for k, v in obj.attrs.items() if k.lower().startswith("member;range=") and v), None)


IDENTIFY_ATTRS = ["objectGUID", "objectSid", "sAMAccountName", "userPrincipalName", "mail", "objectClass", "cn"]
_GUID = re.compile(r"<?(?:GUID=)?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})>?")


def _guid_of(name: str) -> str | None:
    m = _GUID.fullmatch(name.strip())
    return m.group(1).lower() if m else None


def entity(obj: AdObject) -> Entity:
    classes = {c.casefold() for c in obj.all("objectClass")}
    kind = "group" if "group" in classes else "account" if classes & {"user", "computer"} else "object"
    idents = {obj.dn, norm_dn(obj.dn), obj.sam, obj.upn, *obj.all("mail"), obj.guid, guid_dn(obj.guid), obj.sid}
    return Entity(frozenset(i for i in idents if i), kind, display=obj.dn)


def _names(obj: AdObject, ident: str) -> bool:
    key = ident.casefold()
    if is_dn(ident):
        return norm_dn(obj.dn) == norm_dn(ident)
    name = key.split("\\", 1)[1] if "\\" in key else key
    return (obj.sam.casefold() == name or obj.upn.casefold() == key
            or any(m.casefold() == key for m in obj.all("mail")))


def _entries(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in result.get("entries", []) if e.get("type") == "searchResEntry"]


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
