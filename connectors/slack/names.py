"""What a name denotes in a Slack workspace: the `slack` connector's answer to `identify`.

Users are named by email or user id (U.../W.../B...); channels by id, name, `#name` or a `prefix-*` pattern
(which denotes every channel it matches). A user is described by its id, email and user name, of type "account"
("bot" for bot users); a channel by its id, name and `#name`, of type "group". Channels come from one listing of
`conversations.list`, users from `find_users` (few look-ups, or one pass over `users.list` for many).
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Sequence

from revoke.connector import Entity
from revoke.connectors.slack.api import SlackApi, SlackChannel

USER_ID = re.compile(r"[UWB][A-Z0-9]{2,}")


def is_user_name(name: str) -> bool:
    return "@" in name or bool(USER_ID.fullmatch(name))


def describe_user(user: dict[str, Any]) -> Entity:
    email = (user.get("profile") or {}).get("email")
    idents = {user["id"], email, user.get("name")}
    return Entity(frozenset(i for i in idents if i), "bot" if user.get("is_bot") else "account",
                  display=str(user.get("real_name") or user.get("name") or user["id"]))


def describe_channels(channels: list[SlackChannel]) -> Entity:
    idents = {i for c in channels for i in (c.id, c.name, f"#{c.name}")}
    return Entity(frozenset(idents), "group", display=", ".join(f"#{c.name}" for c in channels))


def identify(api: SlackApi, names: Sequence[str]) -> dict[str, Entity | None]:
    out: dict[str, Entity | None] = {n: None for n in names}
    users = [n for n in names if is_user_name(n)]
    for name, user in api.find_users(users).items() if users else ():
        out[name] = describe_user(user) if user else None
    others = [n for n in names if not is_user_name(n)]
    if others:
        channels = [SlackChannel(c) for c in api.channels()]
        for name in others:
            matched = match_channels(channels, name)
            out[name] = None if not matched else describe_channels(matched) if not ambiguous(name, matched) else \
                Entity(describe_channels(matched).identifiers, "ambiguous")  # never accepted as a list
    return out


def match_channels(channels: list[SlackChannel], ref: str) -> list[SlackChannel]:
    """The channels a runbook's reference names: a pattern (`acme-*`), an id, a name in any case, or the name as
    people say it ("Acme Dev" for #acme-dev: spaces and underscores read as Slack's hyphens) when nothing is
    named exactly so. More than one channel for a name that is not a pattern is ambiguous: see `ambiguous`."""
    key = ref.strip().lstrip("#")
    if "*" in key:
        return [c for c in channels if fnmatch.fnmatchcase(c.name.casefold(), key.casefold())]
    exact = [c for c in channels if c.id == key or c.name.casefold() == key.casefold()]
    if exact:
        return exact
    spoken = _spoken(key)
    return [c for c in channels if _spoken(c.name) == spoken]


def ambiguous(ref: str, matched: list[SlackChannel]) -> bool:
    return "*" not in ref and len(matched) > 1


def _spoken(name: str) -> str:
    return re.sub(r"[\s_-]+", "-", name.strip().casefold())
