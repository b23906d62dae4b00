"""The Slack fake's workspace objects: users, channels, tokens, injected failures and the calls it answered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Everything the `slack` connector can need; tests take scopes away to see `missing_scope`.
BOT_SCOPES = ("channels:read", "groups:read", "users:read", "users:read.email", "channels:join",
              "channels:manage", "groups:write", "chat:write", "channels:history", "groups:history")


@dataclass
class User:
    id: str
    name: str
    email: str | None
    real_name: str = ""
    is_bot: bool = False
    deleted: bool = False
    is_restricted: bool = False   # a multi-channel guest
    bot_id: str | None = None


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    is_ext_shared: bool = False
    is_general: bool = False
    created: int = 0
    creator: str = ""
    members: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Token:
    user_id: str
    scopes: tuple[str, ...]


@dataclass
class Injection:
    method: str
    times: int
    error: str = "ratelimited"
    status: int = 429
    retry_after: int | None = 1
    applied: bool = False


@dataclass
class Call:
    """One request the fake answered: what the test asserts on (the token is never kept)."""

    method: str
    params: dict[str, Any]
    status: int
    ok: bool
    error: str | None
    request_id: str


WRITE_METHODS = {"conversations.join", "chat.postMessage", "conversations.archive", "conversations.unarchive",
                 "conversations.kick", "conversations.invite"}
