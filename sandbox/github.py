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

import hashlib
import json
import math
import re
import secrets as pysecrets
import time
from dataclasses import dataclass
from typing import Any, ContextManager
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from revoke.sandbox import github_repos  # noqa: F401 - registers the repository and team routes
from revoke.sandbox.github_model import App, GhError, Grant, Installation, User
from revoke.sandbox.github_routes import ROUTES, Listing
from revoke.sandbox.github_state import WRITES, GitHubState, Injection
from revoke.sandbox.https_fake import HttpsFake, JsonFakeHandler
from revoke.testing.degraded import swallowed

PRIMARY_MESSAGE = "API rate limit exceeded for {who}."
SECONDARY_MESSAGE = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
JWT_ROUTES = re.compile(r"^/(app|orgs/[^/]+/installation|app/installations/\d+/access_tokens)$")


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
class Ctx:
    """One request as the route handlers see it."""

    fake: GitHubFake
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


class _Handler(JsonFakeHandler):
    fake: GitHubFake
    server_version = "github-fake"
    content_type = "application/json; charset=utf-8"

    def crash_body(self, exc: Exception) -> Any:
        return {"message": f"github fake: {type(exc).__name__}: {exc}"}


class GitHubFake(HttpsFake, GitHubState):
    """The fake service: the HTTP side (start()/stop() from HttpsFake); seeding and inspection from GitHubState."""

    handler_class = _Handler
    server_name = "github-fake"

    def __init__(self, *, page_cap: int = 100, prefix: str = ""):
        super().__init__()
        self.page_cap = page_cap
        self.degrader: Any = None  # revoke.testing.degraded.Degrader: reads answered badly, writes swallowed
        self.prefix = prefix.rstrip("/")   # "/api/v3": GitHub Enterprise Server's REST root
        self.log: list[Logged] = []
        self._used: dict[tuple[str, int], int] = {}
        self._writes: dict[tuple[str, int], int] = {}

    @property
    def base_url(self) -> str:
        return f"{self.origin}{self.prefix}/"

    def writes(self) -> list[Logged]:
        """Every request that could change something (the app's token exchange aside), answered or not."""
        with self.lock:
            return [r for r in self.log if r.method in WRITES and not JWT_ROUTES.match(r.path)]

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
            app = self.apps.get(int(str(issuer)))
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
            if self.degrader is not None and ctx.method != "GET" and self.degrader.swallow \
                    and not ctx.path.startswith("/app"):  # installation tokens are still issued
                with swallowed(self, ("users", "orgs")):
                    answer = handler(ctx, m)
            else:
                answer = handler(ctx, m)
            if injection is not None:
                out.update(injection.headers)
                return injection.status, GhError(injection.status, injection.message).body()
            if isinstance(answer, Listing):
                page = self._page(ctx, answer.items, out)
                return 200, self._degraded(ctx, page, 'rel="next"' in out.get("Link", ""))
            status, body = answer
            if ctx.method == "GET" and status == 200:
                body = self._degraded(ctx, body)
            if ctx.method == "GET" and status == 200:
                out["Cache-Control"] = "private, max-age=60, s-maxage=60"
                out["ETag"] = 'W/"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest() + '"'
            return status, body
        raise GhError(404, "Not Found")

    def _degraded(self, ctx: Ctx, body: Any, more: bool = False) -> Any:
        """A read's answer through the degraded-server mode's degrader (revoke.testing.degraded), if any."""
        d = self.degrader
        if d is None:
            return body
        if more and d.page_cap:
            d.cut()
        return d.answer(f"{ctx.path}?{urlencode(sorted(ctx.query.items()))}", body)

    def degraded(self, degrader: Any) -> ContextManager[None]:
        """Answer through `degrader` inside the block (revoke.testing.degraded.serving)."""
        from revoke.testing.degraded import serving

        return serving(self, degrader)

    def _injection(self, ctx: Ctx) -> Injection | None:
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
