"""A local, stateful HTTPS fake of Google Workspace's Directory, Groups Settings and Chat APIs, with the OAuth token
endpoint a service account uses, for tests, benchmarks and `revoke demo`.

It answers as Google's reference pages say, where revoke depends on it:

- **OAuth**: `POST /token` takes the service account's signed JWT (`grant_type=urn:ietf:params:oauth:grant-type:
  jwt-bearer`), checks its RS256 signature with the key registered for `iss`, its `aud` (Google's token endpoint), its
  expiry, that `sub` is a super administrator of the domain, and that every scope asked for was granted to the
  service account (domain-wide delegation); else 400/401 `{"error": "unauthorized_client", ...}` as Google's
  token endpoint answers. The access token it gives carries those scopes; every route checks them;
- **batch requests** (`POST /batch`, `multipart/mixed` of `application/http` parts): each part is answered for
  itself, in a part with its `Content-ID` (`response-...`), in an order of the fake's choosing (reversed), as
  Google warns it may; the outer request's authorization applies to every part;
- **paging** by `page_cap` (default 2 in tests) with `pageToken`/`nextPageToken`; **404** after delete; errors in
  Google's JSON shape (`{"error": {"code", "message", "errors": [{"domain", "reason", "message"}], "status"}}`);
- **quota**: `quota(n, window)` lets n calls (each part of a batch counts) per window and answers the rest 429
  `rateLimitExceeded`; `throttle_share(k)` answers every k-th call 429 `rateLimitExceeded` (or 403
  `userRateLimitExceeded`);
- `inject(method, pattern, status, reason, apply=True)`: the next matching calls answer an error, after carrying
  the write out when `apply` (a write applied but answered with an error).
"""

from __future__ import annotations

import json
import re
import secrets as pysecrets
import time
from dataclasses import dataclass
from typing import Any, Callable, ContextManager
from urllib.parse import parse_qsl, unquote, urlsplit

from revoke.sandbox.google_routes import ROUTES, Ctx
from revoke.sandbox.google_state import GError, GoogleState
from revoke.sandbox.https_fake import HttpsFake, JsonFakeHandler

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
WRITES = {"POST", "PATCH", "PUT", "DELETE"}
AUDIENCE = "https://oauth2.googleapis.com/token"   # what Google's token endpoint requires as `aud`, wherever it runs


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    status: int
    at: float             # time.monotonic() when answered
    batch: str = ""       # the batch request it came in, if any ("" for a request of its own)
    throttled: bool = False


@dataclass
class Injection:
    method: str
    pattern: re.Pattern[str]
    status: int
    reason: str
    apply: bool
    times: int


class _Handler(JsonFakeHandler):
    fake: GoogleFake
    server_version = "google-fake"

    def crash_body(self, exc: Exception) -> Any:
        return GError(500, f"google fake: {type(exc).__name__}: {exc}").body()


class GoogleFake(HttpsFake, GoogleState):
    handler_class = _Handler
    server_name = "google-fake"

    def __init__(self, *, page_cap: int = 200, domain: str = "acme.test"):
        super().__init__()
        self.page_cap = page_cap
        self.domain = domain
        self.degrader: Any = None  # revoke.testing.degraded.Degrader: reads answered badly, writes swallowed
        self.clock: Callable[[], float] = time.time
        self.log: list[Logged] = []
        self.round_trips: list[tuple[float, int]] = []   # (when, calls in it) for every HTTP request but /token
        self.issued: dict[str, tuple[str, str, set[str]]] = {}   # access token -> (service account, sub, scopes)
        self.injections: list[Injection] = []
        self._quota: tuple[int, float] | None = None
        self._window: tuple[float, int] = (0.0, 0)
        self._share = 0
        self._share_status = 429
        self._calls = 0

    @property
    def base_url(self) -> str:
        return f"{self.origin}/"

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}token"

    # ---- test controls
    def quota(self, per_window: int | None, window: float = 60.0) -> None:
        with self.lock:
            self._quota = (per_window, window) if per_window else None
            self._window = (0.0, 0)

    def throttle_share(self, every: int, status: int = 429) -> None:
        """Every `every`-th call (0: none) answers 429 rateLimitExceeded, or 403 userRateLimitExceeded."""
        with self.lock:
            self._share, self._calls, self._share_status = every, 0, status

    def inject(self, method: str, pattern: str, status: int, reason: str, *, apply: bool = False,
               times: int = 1) -> None:
        with self.lock:
            self.injections.append(Injection(method, re.compile(pattern), status, reason, apply, times))

    def writes(self) -> list[Logged]:
        with self.lock:
            return [r for r in self.log if r.method in WRITES and r.path != "/token"]

    # ---- HTTP
    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict, bytes]:
        url = urlsplit(raw_path)
        path = unquote(url.path)
        if path == "/token" and method == "POST":
            with self.lock:
                status, answer = self._token(raw)
                self.log.append(Logged(method, path, status, time.monotonic()))
            return status, {"Content-Type": "application/json"}, json.dumps(answer).encode()
        with self.lock:
            try:
                scopes = self._authenticate(headers.get("authorization", ""))
            except GError as err:
                return err.status, {"Content-Type": "application/json"}, json.dumps(err.body()).encode()
            if path == "/batch" and method == "POST":
                return self._batch(headers.get("content-type", ""), raw, scopes)
            self.round_trips.append((time.monotonic(), 1))
            status, out, body = self._call(method, raw_path, raw, scopes, "")
        return status, out, body

    def _call(self, method: str, raw_path: str, raw: bytes, scopes: set[str], batch: str) -> tuple[int, dict, bytes]:
        url = urlsplit(raw_path)
        path, query = unquote(url.path), dict(parse_qsl(url.query))
        out = {"Content-Type": "application/json; charset=UTF-8"}
        throttled = False
        try:
            self._throttle()
            status, body = self._route(method, path, query, raw, scopes)
        except GError as err:
            status, body, throttled = err.status, err.body(), err.reason in ("rateLimitExceeded",
                                                                              "userRateLimitExceeded")
            out.update(err.headers)
        self.log.append(Logged(method, path, status, time.monotonic(), batch, throttled))
        return status, out, (json.dumps(body).encode() if body is not None else b"")

    def _throttle(self) -> None:
        self._calls += 1
        if self._quota is not None:
            limit, window = self._quota
            now = self.clock()   # settable: a test moves the quota's windows with revoke's fake clock
            start, used = self._window
            if not start or now - start >= window:
                start, used = now, 0
            if used >= limit:
                self._window = (start, used)
                raise GError(429, "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per "
                             "user' of service 'admin.googleapis.com'", "rateLimitExceeded")
            self._window = (start, used + 1)
        if self._share and self._calls % self._share == 0:
            if self._share_status == 403:
                raise GError(403, "User Rate Limit Exceeded", "userRateLimitExceeded")
            raise GError(429, "Rate Limit Exceeded", "rateLimitExceeded")

    def _route(self, method: str, path: str, query: dict[str, str], raw: bytes, scopes: set[str]) -> tuple[int, Any]:
        try:
            body = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError:
            raise GError(400, "Invalid JSON payload received.", "parseError") from None
        for m, pattern, allowed, fn in ROUTES:
            match = pattern.match(path)
            if m != method or match is None:
                continue
            if not scopes & set(allowed):
                raise GError(403, "Request had insufficient authentication scopes.", "insufficientPermissions")
            injection = self._injection(method, path)
            if injection is not None and not injection.apply:
                raise GError(injection.status, f"injected {injection.reason}", injection.reason)
            if self.degrader is not None and self.degrader.swallow and method != "GET":
                from revoke.testing.degraded import swallowed

                with swallowed(self, ("users", "groups", "spaces", "_user_names", "_group_names")):
                    status, answer = fn(Ctx(self, method, path, query, body, match))
            else:
                status, answer = fn(Ctx(self, method, path, query, body, match))
            if self.degrader is not None and method == "GET" and status == 200:
                if isinstance(answer, dict) and answer.get("nextPageToken") and self.degrader.page_cap:
                    self.degrader.cut()
                answer = self.degrader.answer(f"{path}?{sorted(query.items())}", answer)
            if injection is not None:
                raise GError(injection.status, f"injected {injection.reason} (the write was carried out)",
                             injection.reason)
            return status, answer
        raise GError(404, f"The requested URL {path} was not found on this server.", "notFound")

    def degraded(self, degrader: Any) -> ContextManager[None]:
        """Answer through `degrader` inside the block (revoke.testing.degraded.serving)."""
        from revoke.testing.degraded import serving

        return serving(self, degrader)

    def _injection(self, method: str, path: str) -> Injection | None:
        for inj in self.injections:
            if inj.method == method and inj.pattern.search(path) and inj.times > 0:
                inj.times -= 1
                return inj
        return None

    # ---- auth
    def _authenticate(self, authorization: str) -> set[str]:
        scheme, _, token = authorization.partition(" ")
        grant = self.issued.get(token) if scheme.lower() == "bearer" else None
        if grant is None:
            raise GError(401, "Request had invalid authentication credentials.", "authError")
        return grant[2]

    def _token(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        from google.auth import jwt as gjwt  # the google extra: verifies RS256 with the registered public key

        form = dict(parse_qsl(raw.decode()))
        if form.get("grant_type") != JWT_BEARER or not form.get("assertion"):
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}
        try:
            claims = gjwt.decode(form["assertion"], verify=False)
            sa = self.service_accounts.get(str(claims.get("iss")))
            if sa is None:
                return 401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
            claims = gjwt.decode(form["assertion"], certs=sa.public_pem.decode(), audience=AUDIENCE)
        except ValueError as err:
            return 400, {"error": "invalid_grant", "error_description": f"Invalid JWT Signature. ({err})"}
        sub = self.user(str(claims.get("sub") or ""))
        if sub is None or not sub.is_admin or sub.suspended:
            return 400, {"error": "invalid_grant", "error_description": "Invalid email or User ID"}
        asked = set(str(claims.get("scope") or "").split())
        if not asked or not asked <= sa.scopes:
            return 401, {"error": "unauthorized_client", "error_description": "Client is unauthorized to retrieve "
                         "access tokens using this method, or client not authorized for any of the scopes "
                         "requested."}
        token = "ya29.fake-" + pysecrets.token_urlsafe(24)
        self.issued[token] = (sa.email, sub.id, asked)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    # ---- batch
    def _batch(self, content_type: str, raw: bytes, scopes: set[str]) -> tuple[int, dict, bytes]:
        m = re.search(r'boundary="?([^";]+)"?', content_type)
        if not content_type.startswith("multipart/mixed") or m is None:
            err = GError(400, "Batch requests need Content-Type: multipart/mixed with a boundary", "invalid")
            return 400, {"Content-Type": "application/json"}, json.dumps(err.body()).encode()
        boundary = m.group(1).encode()
        parts = [p for p in raw.split(b"--" + boundary) if p.strip() and p.strip() != b"--"]
        batch_id = pysecrets.token_hex(4)
        self.round_trips.append((time.monotonic(), len(parts)))
        if len(parts) > 1000:
            err = GError(400, "A batch request holds at most 1000 calls", "invalid")
            return 400, {"Content-Type": "application/json"}, json.dumps(err.body()).encode()
        answers = []
        for part in parts:
            head, _, inner = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
            if not inner:
                head, _, inner = part.lstrip(b"\n").partition(b"\n\n")
            cid = re.search(rb"(?im)^content-id:\s*<?([^>\r\n]+)>?", head)
            request_line, _, rest = inner.replace(b"\r\n", b"\n").partition(b"\n")
            method, target = request_line.decode().split(" ")[:2]
            _, _, body = rest.partition(b"\n\n")
            status, out, answer = self._call(method, target, body.strip(), scopes, batch_id)
            reason = {200: "OK", 204: "No Content"}.get(status, "Error")
            lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in out.items())]
            answers.append((cid.group(1).decode() if cid else "", "\r\n".join(lines).encode() + b"\r\n\r\n" + answer))
        answers.reverse()   # Google answers in an order of its own: a client must match parts by Content-ID
        out_boundary = "batch_" + pysecrets.token_hex(8)
        chunks = [f"--{out_boundary}\r\nContent-Type: application/http\r\nContent-ID: <response-{cid}>\r\n\r\n"
                  .encode() + payload + b"\r\n" for cid, payload in answers]
        return 200, {"Content-Type": f"multipart/mixed; boundary={out_boundary}"}, b"".join(chunks) + \
            f"--{out_boundary}--\r\n".encode()
