"""What a name denotes in AWS: the `aws-iam` and `aws-identity-center` connectors' answers to `identify`.

IAM: a user name names every IAM user of that name in the accounts revoke acts in (each described by its ARN,
path included, and its unique id); a user ARN names that user; a role ARN that role; any other ARN (an account root,
a federated principal) only itself. Users are listed once per account and phase (`iam:ListUsers`, 1,000 a page).

Identity Center: a user name, an email address or a user id names one identity-store user, described by its id,
user name and email addresses; an ARN (the caller) only itself.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Mapping, Sequence

from revoke.connector import Entity


def iam_user_entity(user: Mapping[str, Any]) -> Entity:
    idents = {user.get("Arn"), user.get("UserId"), user.get("UserName")}
    return Entity(frozenset(str(i) for i in idents if i), "account", display=str(user.get("Arn")))


def iam_identify(names: Sequence[str], users_by_account: Mapping[str, Iterable[Mapping[str, Any]]]
                 ) -> dict[str, Entity | None]:
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    by_arn: dict[str, Mapping[str, Any]] = {}
    for users in users_by_account.values():
        for user in users:
            by_name.setdefault(str(user["UserName"]).casefold(), []).append(user)
            by_arn[str(user["Arn"]).casefold()] = user
    out: dict[str, Entity | None] = {}
    for name in names:
        key = name.casefold()
        if key.startswith("arn:"):
            match = by_arn.get(key) or _by_pathless_arn(key, by_arn)
            if match is not None:
                out[name] = Entity(frozenset({name, str(match["Arn"]), str(match["UserId"])}), "account",
                                   display=str(match["Arn"]))
            elif ":role/" in key:
                out[name] = Entity(frozenset({name}), "role", display=name)
            elif ":user/" in key:
                out[name] = None  # a user ARN of an account revoke acts in that names nobody there
            else:
                out[name] = Entity(frozenset({name}), "principal", display=name)
            continue
        found = by_name.get(key, [])
        out[name] = (Entity(frozenset({name}).union(*(iam_user_entity(u).identifiers for u in found)), "account",
                            display=", ".join(str(u["Arn"]) for u in found)) if found else None)
    return out


def _by_pathless_arn(arn: str, by_arn: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    # arn:aws:iam::123:user/alice names the user whose real ARN has a path (arn:aws:iam::123:user/ops/alice)
    prefix, sep, name = arn.rpartition(":user/")
    if not sep or "/" in name:
        return None
    return next((u for a, u in by_arn.items() if a.startswith(prefix + ":user/") and a.rsplit("/", 1)[1] == name),
                None)


STORE_ID = re.compile(r"([0-9a-f]{10}-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def store_user_entity(user: Mapping[str, Any]) -> Entity:
    emails = [e.get("Value") for e in user.get("Emails") or []]
    idents = {user.get("UserId"), user.get("UserName"), *emails}
    return Entity(frozenset(str(i) for i in idents if i), "account", display=str(user.get("UserName")))


def store_identify(names: Sequence[str], user_id_of: Callable[[str], str | None],
                   describe: Callable[[str], Any]) -> dict[str, Entity | None]:
    """`user_id_of(name)` finds a user id by user name or email; `describe(id)` reads the user (a missing user is
    anything that is not a mapping)."""
    out: dict[str, Entity | None] = {}
    for name in names:
        if name.startswith("arn:"):
            out[name] = Entity(frozenset({name}), "principal", display=name)
            continue
        user_id = user_id_of(name)
        user = describe(user_id) if user_id else describe(name) if STORE_ID.fullmatch(name) else None
        out[name] = store_user_entity(user) if isinstance(user, Mapping) and user.get("UserId") else None
    return out
