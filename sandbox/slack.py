"""A stateful fake of the Slack Web API methods revoke uses, on 127.0.0.1, for tests and `revoke demo`.

slack_sdk talks to it unmodified: `WebClient(token=..., base_url=fake.base_url)`. It answers the way Slack's
documentation says Slack answers: every method call is an HTTP POST (or GET) to `/api/<method>` whose JSON body has
`ok`; failures are `ok: false` with an `error` code (`missing_scope` adds `needed` and `provided`); lists page with
`cursor` and `response_metadata.next_cursor` (empty on the last page); every answer carries `x-slack-req-id`,
and `x-oauth-scopes` names the token's scopes. A bot sees private channels only when it is a member, and must be in
a channel to post, archive or kick there (it may join public ones). Throttling is injected per method: HTTP 429
with `Retry-After`, or, as Slack also does, `ratelimited` inside an HTTP 200 with no `Retry-After`; an injected
throttle may be `applied` first, which is the case of a write whose outcome the caller cannot know.

The SCIM v2 `Users` resource (`/scim/v2/Users/<id>`: GET, PATCH `active`, DELETE) is modelled too, for the
deactivation that ends a leaver's Slack sessions; it needs a token with the `admin` scope.

Seed it, start it, point a client at it, then inspect its state independently of the code under test:

    fake = SlackFake().start()
    fake.add_token("xoxb-...", fake.add_bot("revoke"), scopes=BOT_SCOPES)
    alice = fake.add_user("alice", "alice@example.com")
    fake.add_channel("acme-general", members=[alice, bot])

Its parts: the workspace's objects in slack_model, one function per Web API method in slack_methods, the SCIM
resource in slack_scim, a rehearsal workspace in slack_seed; serving in https_fake (plain HTTP here).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import threading
import time
from typing import Any, Iterable, Iterator
from urllib.parse import parse_qsl, urlsplit

from revoke.sandbox import slack_scim
from revoke.sandbox.https_fake import FakeHandler, HttpsFake
from revoke.sandbox.slack_methods import METHODS, SlackError, scopes_needed
from revoke.sandbox.slack_model import BOT_SCOPES, WRITE_METHODS, Call, Channel, Injection, Token, User
from revoke.sandbox.slack_seed import seed_engagement
from revoke.testing.degraded import swallowed

__all__ = ["BOT_SCOPES", "WRITE_METHODS", "Call", "Channel", "Injection", "SlackFake", "Token", "User",
           "seed_engagement"]


class _Handler(FakeHandler):
    fake: SlackFake

    def _token(self, params: dict[str, Any]) -> str | None:
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return params.get("token")

    def _json(self, status: int, headers: dict[str, str], body: dict | None, content_type: str) -> None:
        self.send(status, headers, json.dumps(body).encode() if body is not None and status != 204 else b"",
                  content_type)

    def serve(self, method: str) -> None:
        url = urlsplit(self.path)
        raw, ctype = self.read_body(), self.headers.get("Content-Type", "")
        if url.path.startswith("/scim/v2/Users/"):
            body = json.loads(raw) if raw else None
            auth = self.headers.get("Authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
            status, answer = self.fake.scim(method, url.path.rsplit("/", 1)[-1], token, body)
            self._json(status, {}, answer, "application/scim+json")
            return
        if not url.path.startswith("/api/"):
            self._json(404, {}, {"ok": False, "error": "unknown_method"}, "application/json")
            return
        params: dict[str, Any] = dict(parse_qsl(url.query))
        if raw and "json" in ctype:
            params.update(json.loads(raw))
        elif raw:
            params.update(parse_qsl(raw.decode()))
        status, headers, body = self.fake.call(url.path[len("/api/"):], self._token(params), params)
        self._json(status, headers, body, "application/json; charset=utf-8")


class SlackFake(HttpsFake):
    """The workspace: users, channels, tokens, and what each request did to them."""

    handler_class = _Handler
    server_name = "slack-fake"
    tls = False   # slack_sdk is pointed at it by `base_url`; plain HTTP on loopback keeps its client unchanged

    def __init__(self, team: str = "Acme Consulting", team_id: str = "T0ACME001", domain: str = "acme-consulting",
                 page_cap: int = 1000):
        self.team, self.team_id, self.domain = team, team_id, domain
        self.page_cap = page_cap          # Slack may return fewer items than `limit`; tests force small pages
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.tokens: dict[str, Token] = {}
        self.calls: list[Call] = []
        self.injections: list[Injection] = []
        self.degrader: Any = None  # revoke.testing.degraded.Degrader: reads answered badly, writes swallowed
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self._clock = itertools.count(int(time.time()) * 1_000_000)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/api/"

    @property
    def scim_url(self) -> str:
        return f"{self.origin}/scim/v2/"

    # ---------------------------------------------------------------------------------------------- seeding

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08X}"

    def add_user(self, name: str, email: str | None, *, real_name: str = "", deleted: bool = False,
                 guest: bool = False) -> str:
        with self.lock:
            user = User(self._new_id("U"), name, email, real_name or name.title(), deleted=deleted,
                        is_restricted=guest)
            self.users[user.id] = user
            return user.id

    def add_bot(self, name: str = "revoke") -> str:
        """The app's bot user; pair it with a token through `add_token`."""
        with self.lock:
            user = User(self._new_id("U"), name, None, name, is_bot=True, bot_id=self._new_id("B"))
            self.users[user.id] = user
            return user.id

    def add_token(self, token: str, user_id: str, scopes: Iterable[str] = BOT_SCOPES) -> None:
        with self.lock:
            self.tokens[token] = Token(user_id, tuple(scopes))

    def set_scopes(self, token: str, scopes: Iterable[str]) -> None:
        with self.lock:
            self.tokens[token].scopes = tuple(scopes)

    def add_channel(self, name: str, *, members: Iterable[str] = (), private: bool = False, archived: bool = False,
                    shared: bool = False, general: bool = False) -> str:
        with self.lock:
            members = list(dict.fromkeys(members))
            ch = Channel(self._new_id("C"), name, is_private=private, is_archived=archived, is_ext_shared=shared,
                         is_general=general, created=int(time.time()), creator=members[0] if members else "",
                         members=members)
            self.channels[ch.id] = ch
            return ch.id

    def throttle(self, method: str, times: int = 1, *, retry_after: int | None = 1, http_200: bool = False,
                 applied: bool = False) -> None:
        """The next `times` calls of `method` are answered `ratelimited`: with HTTP 429 and `Retry-After`, or
        (`http_200`) inside an HTTP 200 without it. `applied` carries the call out before answering so."""
        with self.lock:
            self.injections.append(Injection(method, times, "ratelimited", 200 if http_200 else 429,
                                             None if http_200 else retry_after, applied))

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """The next `times` calls of `method` answer `ok: false` with `error` (e.g. internal_error)."""
        with self.lock:
            self.injections.append(Injection(method, times, error, 200, None, False))

    # ---------------------------------------------------------------------------------------------- inspection

    def channel(self, name_or_id: str) -> Channel:
        with self.lock:
            key = name_or_id.lstrip("#")
            for ch in self.channels.values():
                if key in (ch.id, ch.name):
                    return ch
            raise KeyError(name_or_id)

    def members(self, name_or_id: str) -> list[str]:
        with self.lock:
            return list(self.channel(name_or_id).members)

    def messages(self, name_or_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(m) for m in self.channel(name_or_id).messages]

    def user_by_email(self, email: str) -> User:
        with self.lock:
            return next(u for u in self.users.values() if u.email and u.email.casefold() == email.casefold())

    def calls_to(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    def writes(self) -> list[Call]:
        """Every call that could change the workspace, answered or not."""
        with self.lock:
            return [c for c in self.calls
                    if c.method in WRITE_METHODS or (c.method.startswith("scim.") and c.method != "scim.get")]

    # ---------------------------------------------------------------------------------------------- dispatch

    def next_ts(self) -> str:
        micro = next(self._clock)
        return f"{micro // 1_000_000}.{micro % 1_000_000:06d}"

    def _injection(self, method: str) -> Injection | None:
        for inj in self.injections:
            if inj.method == method and inj.times > 0:
                inj.times -= 1
                return inj
        return None

    def call(self, method: str, token: str | None, params: dict[str, Any]) -> tuple[int, dict[str, str], dict]:
        """Answer one Web API call: (HTTP status, extra headers, JSON body)."""
        request_id = self._new_id("req-").lower()
        headers = {"x-slack-req-id": request_id}
        with self.lock:
            status, body = self._answer(method, token, params, headers)
            self.calls.append(Call(method, {k: v for k, v in params.items() if k != "token"}, status,
                                   bool(body.get("ok")), body.get("error"), request_id))
        return status, headers, body

    def _answer(self, method: str, token: str | None, params: dict[str, Any],
                headers: dict[str, str]) -> tuple[int, dict]:
        handler = METHODS.get(method)
        if handler is None:
            return 404, {"ok": False, "error": "unknown_method"}
        if not token:
            return 200, {"ok": False, "error": "not_authed"}
        grant = self.tokens.get(token)
        if grant is None:
            return 200, {"ok": False, "error": "invalid_auth"}
        headers["x-oauth-scopes"] = ",".join(grant.scopes)
        try:
            needed = scopes_needed(self, method, params)
            headers["x-accepted-oauth-scopes"] = ",".join(needed)
            missing = [s for s in needed if s not in grant.scopes]
            if missing:
                return 200, {"ok": False, "error": "missing_scope", "needed": ",".join(missing),
                             "provided": ",".join(grant.scopes)}
            inj = self._injection(method)
            if inj is not None:
                if inj.applied:
                    handler(self, grant, params)
                if inj.retry_after is not None:
                    headers["Retry-After"] = str(inj.retry_after)
                return inj.status, {"ok": False, "error": inj.error}
            if self.degrader is not None:
                return 200, {"ok": True, **self._degraded(method, handler, grant, params)}
            return 200, {"ok": True, **handler(self, grant, params)}
        except SlackError as err:
            return 200, {"ok": False, "error": err.code, **err.extra}

    @contextlib.contextmanager
    def degraded(self, degrader: Any) -> Iterator[None]:
        """Answer through `degrader` (revoke.testing.degraded) inside the block."""
        self.degrader, cap = degrader, self.page_cap
        self.page_cap = degrader.page_cap or cap
        try:
            yield
        finally:
            self.degrader, self.page_cap = None, cap

    def _degraded(self, method: str, handler: Any, grant: Token, params: dict[str, Any]) -> dict[str, Any]:
        if method in WRITE_METHODS:
            if not self.degrader.swallow:
                return handler(self, grant, params)
            with swallowed(self, ("users", "channels")):
                return handler(self, grant, params)
        body = handler(self, grant, params)
        if self.degrader.page_cap and (body.get("response_metadata") or {}).get("next_cursor"):
            self.degrader.cut()
        key = method + "?" + "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "token")
        return self.degrader.answer(key, body)

    # ---------------------------------------------------------------------------------------------- paging

    def page(self, items: list[Any], params: dict[str, Any], default_limit: int = 100) -> tuple[list[Any], str]:
        """Cursor paging as Slack does it: an opaque cursor, `limit` at most 1000, fewer items allowed."""
        try:
            limit = int(params.get("limit") or default_limit)
        except ValueError:
            raise SlackError("invalid_limit") from None
        if limit < 1 or limit > 1000:
            raise SlackError("invalid_limit")
        start = 0
        cursor = params.get("cursor")
        if cursor:
            try:
                kind, offset = base64.b64decode(cursor.encode(), validate=True).decode().split(":", 1)
                start = int(offset)
                if kind != "next" or start < 0:
                    raise ValueError
            except (ValueError, UnicodeDecodeError):
                raise SlackError("invalid_cursor") from None
        size = min(limit, self.page_cap)
        chunk = items[start:start + size]
        more = start + size < len(items)
        return chunk, base64.b64encode(f"next:{start + size}".encode()).decode() if more else ""

    # ---------------------------------------------------------------------------------------------- SCIM

    def scim(self, verb: str, user_id: str, token: str | None, body: dict | None) -> tuple[int, dict]:
        with self.lock:
            grant = self.tokens.get(token or "")
            status, answer = slack_scim.answer(self, verb, user_id, grant, body)
            self.calls.append(Call(f"scim.{verb.lower()}", {"id": user_id, "body": body or {}}, status,
                                   status < 300, None if status < 300 else answer.get("detail"),
                                   self._new_id("req-").lower()))
            return status, answer
