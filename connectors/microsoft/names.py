"""What a name denotes in a Microsoft Entra tenant: the Graph connectors' answer to `identify`.

A user is described by its object id, userPrincipalName, mail and proxy addresses and, for a user synced from
on-premises AD, its sAMAccountName and DN (so an AD account the engine routes work to traces to the same person);
a group by its object id, mail, proxy addresses and mail nickname. Objects the connector already read in this
phase (discovery, read-back) answer from memory; the rest are read in `$batch`es: a user by id or UPN, by `mail`
when that finds none, then a group by id or mail. The app the connector signs in as is an "application".
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence
from urllib.parse import quote

from revoke.connector import Entity
from revoke.connectors.microsoft.graph import GraphClient, seg

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
USER_ID_FIELDS = "id,userPrincipalName,mail,proxyAddresses,displayName,onPremisesSamAccountName," \
                 "onPremisesDistinguishedName"
GROUP_ID_FIELDS = "id,mail,proxyAddresses,mailNickname,displayName"


def _addresses(obj: dict[str, Any]) -> list[str]:
    # proxyAddresses are "SMTP:primary@..." / "smtp:alias@...": the address after the prefix names the object
    return [p.split(":", 1)[1] for p in obj.get("proxyAddresses") or [] if ":" in p]


def user_entity(user: dict[str, Any]) -> Entity:
    idents = [user.get("id"), user.get("userPrincipalName"), user.get("mail"), *_addresses(user),
              user.get("onPremisesSamAccountName"), user.get("onPremisesDistinguishedName")]
    return Entity(frozenset(i for i in idents if i), "account",
                  display=str(user.get("userPrincipalName") or user.get("id")))


def group_entity(group: dict[str, Any]) -> Entity:
    idents = [group.get("id"), group.get("mail"), *_addresses(group), group.get("mailNickname")]
    return Entity(frozenset(i for i in idents if i), "group", display=str(group.get("displayName") or group["id"]))


class DirectoryNames:
    """A Graph connector's memory of the directory objects it read in this phase, and its `identify`."""

    def __init__(self, graph: GraphClient, own: Iterable[str] = ()):
        self.graph = graph
        self.own = {n.casefold() for n in own if n}
        self._seen: dict[str, Entity] = {}

    def remember(self, entity: Entity) -> None:
        for ident in entity.identifiers:
            self._seen[ident.casefold()] = entity

    def remember_user(self, user: dict[str, Any] | None) -> None:
        if isinstance(user, dict) and user.get("id") and user.get("userPrincipalName"):
            self.remember(user_entity(user))

    def identify(self, names: Sequence[str]) -> dict[str, Entity | None]:
        out: dict[str, Entity | None] = {}
        missing = []
        for name in names:
            if name.casefold() in self.own:
                out[name] = Entity(frozenset(self.own), "application", display=name)
            elif name.casefold() in self._seen:
                out[name] = self._seen[name.casefold()]
            else:
                missing.append(name)
        found = self._users(missing)
        found.update(self._groups([n for n in missing if n not in found]))
        # a group deleted (softly, restorable for 30 days) is still what a runbook's list names: restore needs it
        found.update(self._groups([n for n in missing if n not in found], deleted=True))
        for name in missing:
            out[name] = found.get(name)
            if out[name] is not None:
                self.remember(out[name])  # type: ignore[arg-type]
        return out

    def _users(self, names: list[str]) -> dict[str, Entity]:
        wanted = [n for n in names if "@" in n or GUID.match(n)]
        replies = self.graph.batch_get({n: f"/users/{seg(n)}?$select={USER_ID_FIELDS}" for n in wanted})
        self._raise_unreadable(replies)
        out = {n: user_entity(r.body) for n, r in replies.items() if r.ok}
        by_mail = [n for n in wanted if n not in out and "@" in n]
        replies = self.graph.batch_get({n: f"/users?$filter={_eq('mail', n)}&$select={USER_ID_FIELDS}"
                                        for n in by_mail})
        for n, r in replies.items():
            users = r.body.get("value", []) if r.ok else []
            if users:
                out[n] = _merged([user_entity(u) for u in users])
        self._raise_unreadable(replies)
        return out

    def _groups(self, names: list[str], deleted: bool = False) -> dict[str, Entity]:
        where = "/directory/deletedItems" if deleted else "/groups"
        listing = "/directory/deletedItems/microsoft.graph.group" if deleted else "/groups"
        # a group is also named by its display name (a runbook's lists[].id); several groups of one name answer as
        # one "ambiguous" entity, which no guardrail accepts as a list
        paths = {n: (f"{where}/{n}" if GUID.match(n) else
                     f"{listing}?$filter={_eq('mail' if '@' in n else 'displayName', n)}") for n in names}
        replies = self.graph.batch_get(paths)
        self._raise_unreadable(replies)
        out = {}
        for n, r in replies.items():
            if not r.ok:
                continue
            groups = r.body["value"] if "value" in r.body else [r.body]
            groups = [g for g in groups if str(g.get("@odata.type", "#microsoft.graph.group")).endswith(".group")]
            if groups:
                out[n] = _merged([group_entity(g) for g in groups])
        return out

    def _raise_unreadable(self, replies: dict[str, Any]) -> None:
        for key, reply in replies.items():
            if not reply.ok and reply.status != 404:
                raise self.graph.read_failure(reply, f"directory object {key}")


def _eq(field: str, value: str) -> str:
    return quote(f"{field} eq '" + value.replace("'", "''") + "'", safe="'@")


def _merged(entities: list[Entity]) -> Entity:
    """Several objects for one name (two users with one mail): the name denotes all of them."""
    if len(entities) == 1:
        return entities[0]
    kinds = {e.type for e in entities}
    return Entity(frozenset().union(*(e.identifiers for e in entities)),
                  kinds.pop() if len(kinds) == 1 else "ambiguous", display=", ".join(e.display for e in entities))
