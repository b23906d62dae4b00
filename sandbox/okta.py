"""A local, stateful HTTPS fake of Okta's Management API for tests, benchmarks and `revoke demo`.

It answers as Okta's documentation says Okta does, where revoke depends on it:

- auth: API tokens (`Authorization: SSWS <token>`) and OAuth 2.0 service apps: `POST /oauth2/v1/token` with
  `grant_type=client_credentials` and a private key JWT client assertion (RS256, `iss` = `sub` = the client id,
  `aud` = the token endpoint), checked against the app's public key; the access token then works as
  `Authorization: Bearer`, within the scopes the app was granted and asked for (403 E0000006 outside them);
- users with Okta's statuses and lifecycle rules, groups (OKTA_GROUP, APP_GROUP, BUILT_IN), group rules, OAuth
  grants, enrolled factors, sessions and refresh tokens (the last two only as counts: Okta lists neither per user,
  except refresh tokens per client), in sandbox/okta_state.py; the routes in sandbox/okta_routes.py;
- paging by `limit` and an `after` cursor, with `Link: <...>; rel="self"` and `<...>; rel="next"`; `page_cap`
  forces small pages;
- rate limits per endpoint bucket (`X-Rate-Limit-Limit`, `-Remaining`, `-Reset` in epoch seconds on every answer,
  429 E0000047 past it, no `Retry-After`), on a settable clock (`fake.now`) so tests never sleep;
- errors as `{errorCode, errorSummary, errorLink, errorId, errorCauses}`, `X-Okta-Request-Id` on every answer;
- `inject(...)`: the next matching requests answer an error, optionally after carrying the write out.

    fake = OktaFake().start()
    admin, token = fake.add_admin("revoke-admin@acme.example")
    alice = fake.add_user("alice@acme.example")
    ...  # point a client at fake.org_url, trusting fake.ca_file
    fake.stop()
"""

from __future__ import annotations

import json
import secrets as pysecrets
import time
from dataclasses import dataclass
from typing import Any, ContextManager
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from revoke.sandbox.https_fake import HttpsFake, JsonFakeHandler
from revoke.sandbox.okta_routes import ROUTES, Listing
from revoke.sandbox.okta_state import WRITES, OktaError, OktaState, User

RATE_LIMITED = "API call exceeded rate limit due to too many requests."


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    query: str
    status: int
    at: float            # time.monotonic() when answered
    throttled: bool = False


@dataclass
class Ctx:
    fake: "OktaFake"
    method: str
    path: str
    query: dict[str, str]
    body: Any
    admin: User | None = None
    scopes: tuple[str, ...] | None = None   # None: an API token, which acts with its admin's role
    app_roles: tuple[str, ...] = ()

    def roles(self) -> tuple[str, ...]:
        return tuple(self.admin.admin_roles) if self.admin is not None else self.app_roles


class _Handler(JsonFakeHandler):
    fake: OktaFake
    server_version = "okta-fake"

    def crash_body(self, exc: Exception) -> Any:
        return {"errorCode": "E0000009", "errorSummary": f"okta fake: {exc!r}"}


class OktaFake(HttpsFake, OktaState):
    handler_class = _Handler
    server_name = "okta-fake"

    def __init__(self, *, page_cap: int = 200):
        super().__init__()
        self.page_cap = page_cap
        self.degrader: Any = None  # revoke.testing.degraded.Degrader: reads answered badly, writes swallowed
        self.log: list[Logged] = []
        self._used: dict[tuple[str, int], int] = {}

    @property
    def org_url(self) -> str:
        return self.origin

    def writes(self) -> list[Logged]:
        """Every request that could change something (the OAuth token exchange aside), answered or not."""
        with self.lock:
            return [r for r in self.log if r.method in WRITES and not r.path.startswith("/oauth2/")]

    # ---- one request ---------------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict, Any]:
        url = urlsplit(raw_path)
        path = unquote(url.path).rstrip("/") or "/"
        query = dict(parse_qsl(url.query))
        out = {"X-Okta-Request-Id": pysecrets.token_urlsafe(18)}
        with self.lock:
            status, body, throttled = self._answer(method, path, query, headers, raw, out)
            self.log.append(Logged(method, path, url.query, status, time.monotonic(), throttled))
        return status, out, body

    def _answer(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes,
                out: dict[str, str]) -> tuple[int, Any, bool]:
        if path == "/oauth2/v1/token" and method == "POST":
            try:
                return (*self._token(dict(parse_qsl(raw.decode()))), False)
            except OktaError as err:
                return err.status, {"error": err.code, "error_description": err.summary}, False
        ctx = Ctx(self, method, path, query, None)
        try:
            ctx.body = json.loads(raw) if raw else None
            self._authenticate(ctx, headers.get("authorization", ""))
            limited = self._throttle(path, out)
            if limited is not None:
                return limited.status, limited.body(), True
            return (*self._route(ctx, out), False)
        except json.JSONDecodeError:
            return 400, OktaError(400, "E0000003", "The request body was not well-formed.").body(), False
        except OktaError as err:
            out.update(err.headers)
            return err.status, err.body(), False

    def _authenticate(self, ctx: Ctx, authorization: str) -> None:
        scheme, _, token = authorization.partition(" ")
        if scheme == "SSWS" and token in self.api_tokens:
            ctx.admin = self.users.get(self.api_tokens[token])
            if ctx.admin is None or ctx.admin.status != "ACTIVE":   # a token dies with its admin's activity
                raise OktaError(401, "E0000011", "Invalid token provided")
            return
        if scheme == "Bearer" and token in self.access_tokens:
            client, scopes, expires = self.access_tokens[token]
            if expires > self.now():
                ctx.scopes, ctx.app_roles = scopes, self.service_apps[client].roles
                return
        raise OktaError(401, "E0000011", "Invalid token provided")

    def _token(self, form: dict[str, str]) -> tuple[int, Any]:
        import jwt

        if form.get("grant_type") != "client_credentials":
            raise OktaError(400, "unsupported_grant_type", "The authorization grant type is not supported.")
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            raise OktaError(401, "invalid_client", "A client_assertion (private key JWT) is required.")
        assertion = form.get("client_assertion", "")
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
            app = self.service_apps.get(str(claims.get("iss")))
            if app is None or claims.get("sub") != app.client_id:
                raise OktaError(401, "invalid_client", "The client_assertion's issuer is not a known client.")
            jwt.decode(assertion, app.public_key_pem, algorithms=["RS256"],
                       audience=f"{self.org_url}/oauth2/v1/token")
        except jwt.PyJWTError as err:
            raise OktaError(401, "invalid_client", f"The client_assertion token is invalid: {err}") from None
        asked = tuple(form.get("scope", "").split())
        if not asked or set(asked) - set(app.scopes):
            raise OktaError(400, "invalid_scope", "One or more scopes are not configured for the authorization "
                            "server resource.")
        token = pysecrets.token_urlsafe(32)
        self.access_tokens[token] = (app.client_id, asked, self.now() + 3600)
        return 200, {"token_type": "Bearer", "expires_in": 3600, "access_token": token, "scope": " ".join(asked)}

    def _throttle(self, path: str, out: dict[str, str]) -> OktaError | None:
        if self._limit is None:
            out.update({"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": "599",
                        "X-Rate-Limit-Reset": str(int(self.now()) + 60)})
            return None
        limit, window = self._limit
        bucket = "/".join(path.split("/")[:4])      # /api/v1/users, /api/v1/groups: one bucket each
        now = self.now()
        start = int(now // window) * window
        used = self._used.get((bucket, start), 0)
        out.update({"X-Rate-Limit-Limit": str(limit), "X-Rate-Limit-Reset": str(start + window)})
        if used >= limit:
            out["X-Rate-Limit-Remaining"] = "0"
            return OktaError(429, "E0000047", RATE_LIMITED)
        self._used[(bucket, start)] = used + 1
        out["X-Rate-Limit-Remaining"] = str(limit - used - 1)
        return None

    def _route(self, ctx: Ctx, out: dict[str, str]) -> tuple[int, Any]:
        for method, pattern, scope, handler in ROUTES:
            m = pattern.match(ctx.path)
            if m is None or method != ctx.method:
                continue
            if ctx.scopes is not None and scope not in ctx.scopes and \
                    scope.replace(".read", ".manage") not in ctx.scopes:
                raise OktaError(403, "E0000006", "You do not have permission to perform the requested action",
                                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'})
            injection = self._injection(ctx)
            if injection is not None and not injection.applied:
                return injection.status, OktaError(injection.status, injection.code, injection.summary).body()
            if self.degrader is not None and ctx.method in WRITES and self.degrader.swallow:
                from revoke.testing.degraded import swallowed

                with swallowed(self, ("users", "groups", "rules", "grants")):
                    answer = handler(ctx, m)
            else:
                answer = handler(ctx, m)
            if injection is not None:
                return injection.status, OktaError(injection.status, injection.code, injection.summary).body()
            if isinstance(answer, Listing):
                page = self._page(ctx, answer, out)
                if self.degrader is not None and 'rel="next"' in out.get("Link", "") and self.degrader.page_cap:
                    self.degrader.cut()
                return 200, self._degraded(ctx, page)
            status, body = answer
            return status, (self._degraded(ctx, body) if ctx.method == "GET" and status == 200 else body)
        raise OktaError(404, "E0000007", f"Not found: Resource not found: {ctx.path} (Resource)")

    def _degraded(self, ctx: Ctx, body: Any) -> Any:
        """A read's answer through the degraded-server mode's degrader (revoke.testing.degraded), if any."""
        if self.degrader is None:
            return body
        return self.degrader.answer(f"{ctx.path}?{urlencode(sorted(ctx.query.items()))}", body)

    def degraded(self, degrader: Any) -> ContextManager[None]:
        """Answer through `degrader` inside the block (revoke.testing.degraded.serving)."""
        from revoke.testing.degraded import serving

        return serving(self, degrader)

    def _injection(self, ctx: Ctx) -> Any:
        for inj in self._injections:
            if inj.times > 0 and inj.method == ctx.method and inj.path.search(ctx.path):
                inj.times -= 1
                return inj
        return None

    def _page(self, ctx: Ctx, listing: Listing, out: dict[str, str]) -> list[dict[str, Any]]:
        try:
            limit = max(1, min(int(ctx.query.get("limit", listing.default_limit)), self.page_cap))
        except ValueError:
            raise OktaError(400, "E0000001", "Api validation failed: limit") from None
        items = listing.items
        after = ctx.query.get("after")
        start = 0
        if after:
            ids = [str(i.get("id")) for i in items]
            start = ids.index(after) + 1 if after in ids else len(items)
        page = items[start:start + limit]
        links = [f'<{self.org_url}{ctx.path}?{urlencode(ctx.query)}>; rel="self"']
        if start + limit < len(items) and page:
            query = urlencode({**ctx.query, "limit": limit, "after": page[-1]["id"]})
            links.append(f'<{self.org_url}{ctx.path}?{query}>; rel="next"')
        out["Link"] = ", ".join(links)
        return page
