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
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable, Iterator
from urllib.parse import parse_qsl, urlsplit

from revoke.sandbox._slack_methods import METHODS, SlackError, scopes_needed
from revoke.testing.degraded import swallowed

# Everything the `slack` connector can need; tests take scopes away to see `missing_scope`.
BOT_SCOPES = ("channels:read", "groups:read", "users:read", "users:read.email", "channels:join",
              "channels:manage", "groups:write", "chat:write", "channels:history", "groups:history")
WRITE_METHODS = ("conversations.join", "chat.postMessage", "conversations.archive", "conversations.unarchive",
                 "conversations.kick", "conversations.invite")


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


class SlackFake:
    """The workspace: users, channels, tokens, and what each request did to them."""

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
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------------------------------------- lifecycle

    def start(self) -> "SlackFake":
        fake = self

        class Handler(_Handler):
            state = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="slack-fake", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "SlackFake":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server, "start the fake first"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def scim_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/scim/v2/"

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
            status, answer = self._scim(verb, user_id, grant, body)
            self.calls.append(Call(f"scim.{verb.lower()}", {"id": user_id, "body": body or {}}, status,
                                   status < 300, None if status < 300 else answer.get("detail"),
                                   self._new_id("req-").lower()))
            return status, answer

    def _scim(self, verb: str, user_id: str, grant: Token | None, body: dict | None) -> tuple[int, dict]:
        if grant is None:
            return 401, _scim_error(401, "invalid_authentication")
        if "admin" not in grant.scopes:
            return 403, _scim_error(403, "missing_scope: admin")
        user = self.users.get(user_id)
        if user is None or user.is_bot:
            return 404, _scim_error(404, "User not found")
        if self.degrader is not None and verb == "GET":
            return 200, self.degrader.answer(f"scim/{user_id}", scim_user(user))
        if self.degrader is not None and self.degrader.swallow and verb != "GET":
            return (204, {}) if verb == "DELETE" else (200, scim_user(user))
        if verb == "PATCH":
            for op in (body or {}).get("Operations", []):
                value = op.get("value")
                if op.get("path") == "active":
                    user.deleted = not bool(value)
                elif isinstance(value, dict) and "active" in value:
                    user.deleted = not bool(value["active"])
        elif verb == "DELETE":
            user.deleted = True
            return 204, {}
        return 200, scim_user(user)


def seed_engagement(fake: SlackFake, token: str, *, prefix: str = "acme-",
                    leavers: dict[str, str] | None = None, stays: dict[str, str] | None = None) -> dict[str, str]:
    """A workspace for rehearsing a runbook (and for `revoke demo`): the app's bot with `token`, the leavers and the
    colleagues who stay (name -> email), and the engagement's channels: `<prefix>general` and `<prefix>dev` to
    archive, a private `<prefix>leads`, an archived `<prefix>kickoff`, a Slack Connect `<prefix>partner`, plus
    `client-team` and `#general`, which stay open. Answers name -> id for people and channels."""
    leavers = leavers or {"alice": "alice@consult.example", "bob": "bob@consult.example"}
    stays = stays or {"carol": "carol@client.example"}
    ids: dict[str, str] = {"bot": fake.add_bot("revoke")}
    fake.add_token(token, ids["bot"])
    for name, email in {**leavers, **stays}.items():
        ids[name] = fake.add_user(name, email)
    people = [ids[n] for n in (*leavers, *stays)]
    first_leaver, first_stay = ids[next(iter(leavers))], ids[next(iter(stays))]
    ids["general"] = fake.add_channel("general", members=people, general=True)
    ids[f"{prefix}general"] = fake.add_channel(f"{prefix}general", members=people)
    ids[f"{prefix}dev"] = fake.add_channel(f"{prefix}dev", members=people)
    ids[f"{prefix}leads"] = fake.add_channel(f"{prefix}leads", members=[first_leaver, first_stay, ids["bot"]],
                                             private=True)
    ids[f"{prefix}kickoff"] = fake.add_channel(f"{prefix}kickoff", members=people, archived=True)
    ids[f"{prefix}partner"] = fake.add_channel(f"{prefix}partner", members=[first_leaver, first_stay], shared=True)
    ids["client-team"] = fake.add_channel("client-team", members=people)
    return ids


def scim_user(user: User) -> dict:
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": user.id, "userName": user.name,
            "displayName": user.real_name, "active": not user.deleted,
            "emails": [{"value": user.email, "primary": True}] if user.email else []}


def _scim_error(status: int, detail: str) -> dict:
    return {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": str(status), "detail": detail}


class _Handler(BaseHTTPRequestHandler):
    state: SlackFake
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
        pass

    def _body(self) -> tuple[bytes, str]:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b"", self.headers.get("Content-Type", "")

    def _token(self, params: dict[str, Any]) -> str | None:
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return params.get("token")

    def _send(self, status: int, headers: dict[str, str], body: dict | None, content_type: str) -> None:
        raw = json.dumps(body).encode() if body is not None and status != 204 else b""
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if raw:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _handle(self, verb: str) -> None:
        url = urlsplit(self.path)
        raw, ctype = self._body()
        if url.path.startswith("/scim/v2/Users/"):
            body = json.loads(raw) if raw else None
            auth = self.headers.get("Authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
            status, answer = self.state.scim(verb, url.path.rsplit("/", 1)[-1], token, body)
            self._send(status, {}, answer, "application/scim+json")
            return
        if not url.path.startswith("/api/"):
            self._send(404, {}, {"ok": False, "error": "unknown_method"}, "application/json")
            return
        params: dict[str, Any] = dict(parse_qsl(url.query))
        if raw and "json" in ctype:
            params.update(json.loads(raw))
        elif raw:
            params.update(parse_qsl(raw.decode()))
        status, headers, body = self.state.call(url.path[len("/api/"):], self._token(params), params)
        self._send(status, headers, body, "application/json; charset=utf-8")

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")
