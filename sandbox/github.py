"""A local, stateful HTTPS fake of the GitHub REST API (version 2022-11-28) for tests, benchmarks and `revoke demo`.

It answers as GitHub's REST documentation says GitHub does, where revoke depends on it:

- auth: personal access tokens (`token X` / `Bearer X`; classic ones answer `X-OAuth-Scopes`), GitHub Apps (an RS256
  JWT whose `iss` is the app id, checked against the app's public key, for `/app`, `/orgs/{org}/installation` and
  `POST /app/installations/{id}/access_tokens`) and the installation tokens those mint (`ghs_...`);
- organisations with owners and members, pending invitations (by user or email, with teams), outside
  collaborators, teams (with maintainers and repository permissions), repositories (archive), and SAML SSO
  credential authorizations (Enterprise Cloud; owners only, never apps; 404 where the organisation has no SAML);
- paging by `per_page`/`page` with a `Link` header (`rel="next"`, `rel="last"`); `page_cap` forces small pages;
- the primary rate limit per token (`x-ratelimit-limit/-remaining/-used/-reset/-resource` on every answer; past it
  403 with `x-ratelimit-remaining: 0` and the reset epoch), and a secondary limit on writes (403 with
  `Retry-After`), both on a settable clock (`fake.now`, epoch seconds) so tests never sleep;
- `Cache-Control: private, max-age=60` and an `ETag` on reads, `X-GitHub-Request-Id` on every answer;
- error shapes: BasicError `{message, documentation_url, status}` and 422 ValidationError with `errors`; 404 for a
  private object the token cannot see; the last owner of an organisation is never removed (403);
- removing a member drops their teams and direct repository access but leaves a pending repository invitation to
  them (it is addressed to them, not sent by them); removing an invited user's membership cancels the invitation;
- `inject(...)`: the next matching requests answer an error, optionally after carrying the write out (a write
  applied but answered with an error).

    fake = GitHubFake().start()
    owner = fake.add_user("owner"); token = fake.add_token("owner")
    fake.add_org("acme", owners=["owner"])
    ...  # point a client at fake.base_url, trusting fake.ca_file
    fake.stop()

Exact error texts the documentation does not give (the last-owner refusal, the secondary-limit message) are
GitHub's as commonly reported; the status codes and shapes are the documented ones.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import itertools
import json
import math
import re
import secrets as pysecrets
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from revoke.sandbox.github_model import (App, Credential, GhError, Grant, Installation, Invitation, Org, Repo,
                                         RepoInvitation, Team, User)
from revoke.sandbox.github_routes import ROUTES, Listing

PRIMARY_MESSAGE = "API rate limit exceeded for {who}."
SECONDARY_MESSAGE = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
JWT_ROUTES = re.compile(r"^/(app|orgs/[^/]+/installation|app/installations/\d+/access_tokens)$")
WRITES = ("POST", "PATCH", "PUT", "DELETE")


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    query: str
    status: int
    at: float            # time.monotonic() when answered (benchmarks measure how busy the service was)
    grant: str           # whose limit it counted against ("user:1", "installation:2", "app:3")
    throttled: bool = False


@dataclass
class _Injection:
    method: str
    path: re.Pattern[str]
    times: int
    status: int
    applied: bool
    message: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    """One request as the route handlers see it."""

    fake: "GitHubFake"
    method: str
    path: str
    query: dict[str, str]
    body: Any
    origin: str
    grant: Grant | None = None
    user: User | None = None
    installation: Installation | None = None
    app: App | None = None

    def actor_id(self) -> int:
        if self.user is not None:
            return self.user.id
        app = self.app or (self.fake.apps.get(self.installation.app_id) if self.installation else None)
        return app.bot.id if app else 0


class GitHubFake:
    """The fake service: start()/stop(), a seeding API, and inspection of its state and of the requests it saw."""

    def __init__(self, *, page_cap: int = 100, prefix: str = ""):
        self.page_cap = page_cap
        self.prefix = prefix.rstrip("/")   # "/api/v3": GitHub Enterprise Server's REST root
        self.users: dict[int, User] = {}
        self.orgs: dict[str, Org] = {}
        self.apps: dict[int, App] = {}
        self.installations: dict[int, Installation] = {}
        self.grants: dict[str, Grant] = {}
        self.log: list[Logged] = []
        self.now: Callable[[], float] = time.time   # the rate limits' clock, epoch seconds; tests set their own
        self.lock = threading.RLock()
        self._ids = itertools.count(1001)
        self._limit: tuple[int, int, int] | None = None        # (requests, window seconds, status)
        self._secondary: tuple[int, int] | None = None          # (writes, window seconds)
        self._used: dict[tuple[str, int], int] = {}
        self._writes: dict[tuple[str, int], int] = {}
        self._injections: list[_Injection] = []
        self._server: ThreadingHTTPServer | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file = ""
        self.port = 0

    # ---- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> "GitHubFake":
        import trustme  # the sandbox extra; imported here so `revoke` itself does not need it

        self._tmp = tempfile.TemporaryDirectory(prefix="revoke-github-fake-")
        ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
        cert = ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.ECDSA)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        self.ca_file = str(Path(self._tmp.name) / "github-fake-ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="github-fake",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._tmp:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "GitHubFake":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}{self.prefix}/"

    # ---- seeding -------------------------------------------------------------------------------------------
    def new_id(self) -> int:
        return next(self._ids)

    def add_user(self, login: str, *, email: str | None = None, kind: str = "User") -> User:
        with self.lock:
            if self.user(login) is not None:
                raise ValueError(f"login {login} is taken")
            user = User(self.new_id(), login, kind, email)
            self.users[user.id] = user
            return user

    def add_token(self, login: str, *, scopes: Iterable[str] | None = ("admin:org", "repo", "read:user")) -> str:
        """A personal access token of `login`: classic with these scopes, or fine-grained with `scopes=None`."""
        with self.lock:
            token = ("ghp_" if scopes is not None else "github_pat_") + pysecrets.token_hex(18)
            self.grants[token] = Grant(user_id=self._need_user(login).id,
                                       scopes=tuple(scopes) if scopes is not None else None)
            return token

    def add_org(self, login: str, *, owners: Iterable[str] = (), members: Iterable[str] = (),
                saml: bool = False) -> Org:
        with self.lock:
            org = Org(self.add_user(login, kind="Organization"), saml=saml)
            self.orgs[login.casefold()] = org
            for name in owners:
                org.members[self._need_user(name).id] = "admin"
            for name in members:
                org.members[self._need_user(name).id] = "member"
            return org

    def add_member(self, org: str, login: str, role: str = "member") -> None:
        with self.lock:
            self._need_org(org).members[self._need_user(login).id] = role

    def add_invitation(self, org: str, *, role: str = "direct_member", invitee_id: int | None = None,
                       login: str | None = None, email: str | None = None, team_ids: Iterable[int] = (),
                       inviter_id: int | None = None) -> Invitation:
        with self.lock:
            o = self._need_org(org)
            if login is not None:
                invitee_id = self._need_user(login).id
            inviter = inviter_id or next(iter(o.owners()), 0)
            inv = Invitation(self.new_id(), role, invitee_id, email, list(team_ids), inviter, self._stamp())
            o.invitations[inv.id] = inv
            return inv

    def add_repo(self, org: str, name: str, *, private: bool = True, archived: bool = False,
                 collaborators: dict[str, str] | None = None) -> Repo:
        with self.lock:
            repo = Repo(self.new_id(), name, private, archived,
                        {self._need_user(u).id: p for u, p in (collaborators or {}).items()})
            self._need_org(org).repos[name] = repo
            return repo

    def add_repo_invitation(self, org: str, repo: str, invitee_id: int, permissions: str = "write", *,
                            inviter_id: int | None = None) -> RepoInvitation:
        with self.lock:
            o = self._need_org(org)
            r = o.repo(repo)
            assert r is not None, repo
            inv = RepoInvitation(self.new_id(), invitee_id, permissions, inviter_id or next(iter(o.owners()), 0),
                                 self._stamp())
            r.invitations[inv.id] = inv
            return inv

    def add_team(self, org: str, name: str, *, members: dict[str, str] | None = None,
                 repos: dict[str, str] | None = None, parent_id: int | None = None, description: str = "",
                 privacy: str = "closed", notification_setting: str = "notifications_enabled") -> Team:
        with self.lock:
            o = self._need_org(org)
            slug = re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")
            team = Team(self.new_id(), slug, name, description, privacy, parent_id, notification_setting,
                        {self._need_user(u).id: r for u, r in (members or {}).items()}, dict(repos or {}))
            o.teams[slug] = team
            return team

    def add_credential(self, org: str, login: str, kind: str = "personal access token") -> Credential:
        """A credential `login` authorised for `org` through SAML SSO."""
        with self.lock:
            cid = self.new_id()
            ssh = kind == "SSH key"
            cred = Credential(cid, self._need_user(login).id, kind, self._stamp(), cid + 500_000,
                              token_last_eight=None if ssh else pysecrets.token_hex(4),
                              fingerprint=hashlib.sha256(str(cid).encode()).hexdigest()[:47] if ssh else None,
                              scopes=[] if ssh else ["repo"])
            self._need_org(org).credentials[cid] = cred
            return cred

    def add_app(self, slug: str) -> tuple[App, str]:
        """A GitHub App and its private key (PEM), with its bot account `<slug>[bot]`."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        with self.lock:
            app = App(self.new_id(), slug, public, self.add_user(f"{slug}[bot]", kind="Bot"))
            self.apps[app.id] = app
            return app, pem

    def install(self, app: App, org: str, *, permissions: dict[str, str] | None = None,
                repositories: Iterable[str] | None = None) -> Installation:
        with self.lock:
            inst = Installation(self.new_id(), app.id, self._need_org(org).login,
                                dict(permissions or {"members": "write", "administration": "write",
                                                     "metadata": "read"}),
                                set(repositories) if repositories is not None else None)
            self.installations[inst.id] = inst
            return inst

    def issue_installation_token(self, installation_id: int) -> str:
        with self.lock:
            token = "ghs_" + pysecrets.token_hex(18)
            self.grants[token] = Grant(installation_id=installation_id)
            return token

    def rate_limit(self, requests: int | None, window: int = 3600, *, status: int = 403) -> None:
        """The primary limit: `requests` per token per fixed window of `window` seconds (None: no limit)."""
        with self.lock:
            self._limit = (requests, window, status) if requests else None

    def secondary_limit(self, writes: int | None, window: int = 60) -> None:
        """At most `writes` content-changing requests per token per `window` seconds; past it 403 + Retry-After."""
        with self.lock:
            self._secondary = (writes, window) if writes else None

    def inject(self, method: str, path: str, status: int = 502, *, times: int = 1, applied: bool = False,
               message: str = "Server Error", headers: dict[str, str] | None = None) -> None:
        """The next `times` requests matching `method` and the `path` regex answer `status`; with `applied` the
        write is carried out first (a write applied but answered with an error)."""
        with self.lock:
            self._injections.append(_Injection(method, re.compile(path), times, status, applied, message,
                                               dict(headers or {})))

    # ---- state, read independently of any client ------------------------------------------------------------
    def user(self, login: str) -> User | None:
        return next((u for u in self.users.values() if u.login.casefold() == login.casefold()), None)

    def org(self, login: str) -> Org | None:
        return self.orgs.get(login.casefold())

    def role(self, org: str, login: str) -> str | None:
        """'admin' (owner), 'member', 'pending' (invited) or None."""
        with self.lock:
            o, u = self._need_org(org), self._need_user(login)
            if u.id in o.members:
                return o.members[u.id]
            return "pending" if any(i.invitee_id == u.id for i in o.invitations.values()) else None

    def snapshot(self) -> dict[str, Any]:
        """Everything a write could change, for comparing before and after (the conformance suite's state)."""
        with self.lock:
            out: dict[str, Any] = {}
            for key, o in self.orgs.items():
                teams = {t.slug: (t.name, t.description, t.privacy, t.parent_id, sorted(t.members.items()),
                                  sorted(t.repos.items())) for t in o.teams.values()}
                out[key] = {
                    "members": sorted(o.members.items()),
                    "invitations": sorted((i.invitee_id or 0, i.email or "", i.role, tuple(sorted(i.team_ids)))
                                          for i in o.invitations.values()),
                    "repos": {r.name: (r.archived, sorted(r.collaborators.items()),
                                       sorted((i.invitee_id, i.permissions) for i in r.invitations.values()))
                              for r in o.repos.values()},
                    "teams": teams, "credentials": sorted(o.credentials)}
            return copy.deepcopy(out)

    def writes(self) -> list[Logged]:
        with self.lock:
            return [r for r in self.log if r.method in WRITES and not JWT_ROUTES.match(r.path)]

    def drop_member(self, org: Org, user_id: int) -> None:
        org.members.pop(user_id, None)
        for team in org.teams.values():
            team.members.pop(user_id, None)
        for repo in org.repos.values():
            repo.collaborators.pop(user_id, None)

    def drop_team(self, org: Org, team: Team) -> None:
        for child in [t for t in org.teams.values() if t.parent_id == team.id]:
            self.drop_team(org, child)
        org.teams.pop(team.slug, None)
        for inv in org.invitations.values():
            if team.id in inv.team_ids:
                inv.team_ids.remove(team.id)

    def _need_user(self, login: str) -> User:
        user = self.user(login)
        if user is None:
            raise KeyError(f"no user {login}")
        return user

    def _need_org(self, login: str) -> Org:
        org = self.org(login)
        if org is None:
            raise KeyError(f"no organisation {login}")
        return org

    def _stamp(self) -> str:
        return dt.datetime.fromtimestamp(self.now(), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    # ---- one request ---------------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict, Any]:
        url = urlsplit(raw_path)
        path = unquote(url.path)
        query = dict(parse_qsl(url.query))
        out: dict[str, str] = {"X-GitHub-Request-Id": f"{pysecrets.token_hex(2).upper()}:"
                               f"{pysecrets.token_hex(4).upper()}:{pysecrets.token_hex(3).upper()}",
                               "X-GitHub-Api-Version-Selected": headers.get("x-github-api-version", "2022-11-28")}
        with self.lock:
            status, body, grant_key, throttled = self._answer(method, path, query, headers, raw, out)
            self.log.append(Logged(method, path[len(self.prefix):] if path.startswith(self.prefix) else path,
                                   url.query, status, time.monotonic(), grant_key, throttled))
        return status, out, body

    def _answer(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes,
                out: dict[str, str]) -> tuple[int, Any, str, bool]:
        if not path.startswith(self.prefix + "/"):
            return 404, GhError(404, "Not Found").body(), "", False
        path = path[len(self.prefix):].rstrip("/") or "/"
        ctx = Ctx(self, method, path, query, None, self.origin)
        try:
            ctx.body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return 400, GhError(400, "Problems parsing JSON").body(), "", False
        try:
            key = self._authenticate(ctx, headers.get("authorization", ""), out)
            throttled = self._throttle(ctx, key, out)
            if throttled is not None:
                out.update(throttled.headers)
                return throttled.status, throttled.body(), key, True
            return (*self._route(ctx, out), key, False)
        except GhError as err:
            out.update(err.headers)
            return err.status, err.body(), getattr(ctx.grant, "key", ""), False

    def _authenticate(self, ctx: Ctx, authorization: str, out: dict[str, str]) -> str:
        scheme, _, token = authorization.partition(" ")
        if not token or scheme.lower() not in ("token", "bearer"):
            raise GhError(401, "Requires authentication")
        if token.count(".") == 2 and token.startswith("ey"):
            ctx.app = self._verify_jwt(token)
            if not JWT_ROUTES.match(ctx.path):
                raise GhError(403, "Resource not accessible by integration")  # a JWT only works on the app's routes
            return f"app:{ctx.app.id}"
        grant = self.grants.get(token)
        if grant is None:
            raise GhError(401, "Bad credentials")
        if JWT_ROUTES.match(ctx.path):
            raise GhError(401, "A JSON web token could not be decoded")
        ctx.grant = grant
        if grant.user_id is not None:
            ctx.user = self.users[grant.user_id]
            if grant.scopes is not None:
                out["X-OAuth-Scopes"] = ", ".join(grant.scopes)
        else:
            ctx.installation = self.installations[grant.installation_id or 0]
        return grant.key

    def _verify_jwt(self, token: str) -> App:
        import jwt

        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
            app = self.apps.get(int(issuer))
            if app is None:
                raise GhError(401, "'Issuer' claim ('iss') must be an Integer")
            jwt.decode(token, app.public_key_pem, algorithms=["RS256"])
            return app
        except (jwt.PyJWTError, ValueError, TypeError):
            raise GhError(401, "A JSON web token could not be decoded") from None

    def _throttle(self, ctx: Ctx, key: str, out: dict[str, str]) -> GhError | None:
        if ctx.grant is None:
            return None   # the app's own JWT routes are not counted against an installation
        now = self.now()
        if self._limit is not None:
            limit, window, status = self._limit
            start = int(now // window) * window
            used = self._used.get((key, start), 0)
            reset = start + window
            out.update({"x-ratelimit-limit": str(limit), "x-ratelimit-resource": "core",
                        "x-ratelimit-reset": str(reset)})
            if used >= limit:
                out.update({"x-ratelimit-remaining": "0", "x-ratelimit-used": str(used)})
                who = f"user ID {ctx.user.id}" if ctx.user else f"installation ID {ctx.grant.installation_id}"
                return GhError(status, PRIMARY_MESSAGE.format(who=who),
                               docs="https://docs.github.com/rest/overview/rate-limits-for-the-rest-api")
            self._used[(key, start)] = used + 1
            out.update({"x-ratelimit-remaining": str(limit - used - 1), "x-ratelimit-used": str(used + 1)})
        else:
            out.update({"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999", "x-ratelimit-used": "1",
                        "x-ratelimit-reset": str(int(now) + 3600), "x-ratelimit-resource": "core"})
        if self._secondary is not None and ctx.method in WRITES:
            writes, window = self._secondary
            start = int(now // window) * window
            done = self._writes.get((key, start), 0)
            if done >= writes:
                return GhError(403, SECONDARY_MESSAGE, headers={"Retry-After": str(max(1, math.ceil(
                    start + window - now)))},
                               docs="https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                                    "#about-secondary-rate-limits")
            self._writes[(key, start)] = done + 1
        return None

    def _route(self, ctx: Ctx, out: dict[str, str]) -> tuple[int, Any]:
        for method, pattern, handler in ROUTES:
            m = pattern.match(ctx.path)
            if m is None or method != ctx.method:
                continue
            injection = self._injection(ctx)
            if injection is not None and not injection.applied:
                out.update(injection.headers)
                return injection.status, GhError(injection.status, injection.message).body()
            answer = handler(ctx, m)
            if injection is not None:
                out.update(injection.headers)
                return injection.status, GhError(injection.status, injection.message).body()
            if isinstance(answer, Listing):
                return 200, self._page(ctx, answer.items, out)
            status, body = answer
            if ctx.method == "GET" and status == 200:
                out["Cache-Control"] = "private, max-age=60, s-maxage=60"
                out["ETag"] = 'W/"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest() + '"'
            return status, body
        raise GhError(404, "Not Found")

    def _injection(self, ctx: Ctx) -> _Injection | None:
        for inj in self._injections:
            if inj.times > 0 and inj.method == ctx.method and inj.path.search(ctx.path):
                inj.times -= 1
                return inj
        return None

    def _page(self, ctx: Ctx, items: list[dict[str, Any]], out: dict[str, str]) -> list[dict[str, Any]]:
        try:
            per_page = max(1, min(int(ctx.query.get("per_page", 30)), 100, self.page_cap))
            page = max(1, int(ctx.query.get("page", 1)))
        except ValueError:
            raise GhError(422, "Validation Failed") from None
        last = max(1, math.ceil(len(items) / per_page))
        links = []

        def link(n: int, rel: str) -> str:
            query = urlencode({**ctx.query, "per_page": per_page, "page": n})
            return f'<{self.origin}{self.prefix}{ctx.path}?{query}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if links:
            out["Link"] = ", ".join(links)
        out["Cache-Control"] = "private, max-age=60, s-maxage=60"
        return items[(page - 1) * per_page:page * per_page]


class _Handler(BaseHTTPRequestHandler):
    fake: GitHubFake
    protocol_version = "HTTP/1.1"
    server_version = "github-fake"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: tests read the fake's log
        pass

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, out, body = self.fake.handle(method, self.path, headers, raw)
        except Exception as exc:  # a fake bug answers 500 instead of dropping the connection
            status, out, body = 500, {}, {"message": f"github fake: {type(exc).__name__}: {exc}"}
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for k, v in out.items():
            self.send_header(k, v)
        if payload:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve("PATCH")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")
