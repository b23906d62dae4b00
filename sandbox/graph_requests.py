"""How the Graph fake carries out requests: one Graph request (top level or inside `$batch`), the `$batch` envelope,
throttling (the token-bucket rate limiter of each app in the tenant, and injected answers), the degraded-server
mode and the request log. A mixin of `GraphFake`, whose `directory` answers each request."""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from revoke.sandbox.graph_answers import Answer, GraphError
from revoke.sandbox.graph_answers import error_answer as _error
from revoke.sandbox.graph_directory import Directory
from revoke.testing.degraded import swallowed

MAX_BATCH = 20

# what a swallowed write must leave as it was
DIRECTORY_STATE = ("users", "groups", "members", "owners", "teams", "roles", "role_members", "service_principals",
                   "assignments", "deleted", "operations")


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str            # path relative to the Graph version root (`/users/x`), or the token endpoint's path
    query: str
    in_batch: bool
    status: int
    request_id: str
    at: float = 0.0      # time.monotonic() when it was answered (benchmarks measure how busy the service was)
    app: str = ""        # the client id of the token it came with ("" for the token endpoint)


@dataclass
class _Injection:
    method: str | None
    path: re.Pattern[str]
    times: int
    applied: bool
    status: int
    retry_after: int


class GraphRequests:
    tenant_id: str
    directory: Directory
    log: list[LoggedRequest]
    degrader: Any
    clock: Callable[[], float]
    _lock: threading.Lock
    _injections: list[_Injection]
    _rate: int | None
    _rate_retry_after: int
    _buckets: dict[str, tuple[float, float]]

    # ---- the request log ----------------------------------------------------------------------------------
    def requests(self, *, in_batch: bool | None = None, graph_only: bool = True) -> list[LoggedRequest]:
        with self._lock:
            out = list(self.log)
        if graph_only:
            out = [r for r in out if r.path.startswith("/") and not r.path.startswith("/" + self.tenant_id)]
        if in_batch is not None:
            out = [r for r in out if r.in_batch == in_batch]
        return out

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def _log(self, method: str, path: str, in_batch: bool, status: int, request_id: str, query: str = "",
             app: str = "") -> None:
        with self._lock:
            self.log.append(LoggedRequest(method, path, query, in_batch, status, request_id, time.monotonic(), app))

    # ---- throttling ----------------------------------------------------------------------------------------
    def rate_limit(self, per_second: int | None, retry_after: int = 1) -> None:
        """Answer 429 + Retry-After past `per_second` Graph requests a second of one app in this tenant (each
        one inside a $batch counts). None turns the limiter off (the default).

        Graph's identity limits are per app and tenant ("limits per app per tenant": another app, or the same
        app in another tenant, has a budget of its own) and a token bucket: "Throttling is based on a token
        bucket algorithm, which works by adding individual costs of requests ... Only the requests exceeding the
        limits are throttled" (learn.microsoft.com/graph/throttling-limits, Identity and access service limits),
        and "Microsoft Graph continues to log resource usage while a client is being throttled"
        (learn.microsoft.com/graph/throttling). So: for each app, a bucket of one second of requests, refilled
        continuously at `per_second`; every request costs one token, a throttled one too (the debt is capped at
        one more second); Retry-After is `retry_after` seconds or, when the debt is deeper, the whole seconds
        until a token is back (HTTP's Retry-After is in seconds). Each request costs 1 here: Graph's own costs
        vary by request (the fake does not model them)."""
        with self._lock:
            self._rate, self._rate_retry_after = per_second, retry_after
            self._buckets = {}

    def throttle(self, path: str, *, method: str | None = None, times: int = 1, applied: bool = False,
                 status: int = 429, retry_after: int = 1) -> None:
        """The next `times` requests whose path matches the regex `path` (and method) are answered `status` (429
        and 503 with Retry-After; 403 as a missing permission). With applied=True the request is carried out
        first and answered as throttled anyway, as the service may do inside a $batch."""
        with self._lock:
            self._injections.append(_Injection(method, re.compile(path), times, applied, status, retry_after))

    def _injected(self, method: str, path: str) -> _Injection | None:
        with self._lock:
            for inj in self._injections:
                if inj.times > 0 and (inj.method in (None, method)) and inj.path.search(path):
                    inj.times -= 1
                    return inj
        return None

    def _over_rate(self, app: str = "") -> int | None:
        """None when the request is within the app's limit, else the Retry-After (seconds) to answer it with."""
        with self._lock:
            if self._rate is None:
                return None
            now = self.clock()
            tokens, then = self._buckets.get(app, (float(self._rate), now))  # a bucket starts full
            tokens = min(float(self._rate), tokens + (now - then) * self._rate)
            allowed = tokens >= 1.0
            tokens = max(-float(self._rate), tokens - 1.0)
            self._buckets[app] = (tokens, now)
            if allowed:
                return None
            return max(self._rate_retry_after, math.ceil((1.0 - tokens) / self._rate))

    # ---- one Graph request (top level or inside $batch) ---------------------------------------------------
    def call(self, method: str, path: str, query: dict[str, str], body: Any, request_id: str,
             client_request_id: str, app: str = "") -> Answer:
        inj = self._injected(method, path)
        wait = self._over_rate(app) if inj is None else None
        if wait is not None:
            return _error(429, "TooManyRequests", "Too many requests.", request_id, client_request_id,
                          {"Retry-After": str(wait)})
        if inj is not None:
            if inj.applied:
                try:
                    self.directory.handle(method, path, query, body)
                except GraphError:
                    pass
            code, message = {429: ("TooManyRequests", "Too many requests."),
                             403: ("Authorization_RequestDenied", "Insufficient privileges to complete the "
                                   "operation.")}.get(inj.status, ("ServiceUnavailable", "Service unavailable."))
            headers = {"Retry-After": str(inj.retry_after)} if inj.status in (429, 503) else {}
            return _error(inj.status, code, message, request_id, client_request_id, headers)
        try:
            if self.degrader is not None:
                return self._degraded(method, path, query, body)
            return self.directory.handle(method, path, query, body)
        except GraphError as err:
            return _error(err.status, err.code, err.message, request_id, client_request_id)

    def _degraded(self, method: str, path: str, query: dict[str, str], body: Any) -> Answer:
        """The degraded-server mode: writes answered as the service does but not applied, reads answered badly."""
        d = self.degrader
        if method != "GET":
            if not d.swallow:
                return self.directory.handle(method, path, query, body)
            with self.directory.lock, swallowed(self.directory, DIRECTORY_STATE):
                return self.directory.handle(method, path, query, body)
        self.directory.page_cap, cut = d.page_cap, self.directory.pages_cut
        answer = self.directory.handle(method, path, query, body)
        if self.directory.pages_cut > cut:
            d.cut()
        if answer.status == 200 and answer.body is not None:
            key = f"{path}?{urlencode(sorted(query.items()))}"
            answer = Answer(answer.status, d.answer(key, answer.body), answer.headers)
        return answer

    # ---- $batch --------------------------------------------------------------------------------------------
    def batch(self, body: Any, request_id: str, client_request_id: str, app: str = "") -> Answer:
        reqs = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(reqs, list) or not reqs:
            return _error(400, "BadRequest", "Invalid batch payload format.", request_id, client_request_id)
        if len(reqs) > MAX_BATCH:
            return _error(400, "BadRequest", f"The batch request contains {len(reqs)} requests; the limit is "
                          f"{MAX_BATCH}.", request_id, client_request_id)
        ids = [str(r.get("id")) for r in reqs if isinstance(r, dict)]
        if len(ids) != len(reqs) or len({i.casefold() for i in ids}) != len(ids):
            return _error(400, "BadRequest", "Batch request ids must be present and unique.", request_id,
                          client_request_id)
        known: set[str] = set()
        for r in reqs:
            deps = r.get("dependsOn") or []
            if any(d not in known for d in deps):
                return _error(400, "BadRequest", f"Request {r['id']} depends on an id that is not earlier in the "
                              "batch.", request_id, client_request_id)
            known.add(r["id"])
        results: dict[str, int] = {}
        responses = []
        for r in reqs:
            rid = r["id"]
            if any(results.get(d, 200) >= 400 for d in r.get("dependsOn") or []):
                answer = _error(424, "FailedDependency", "The request could not be processed because a request it "
                                "depends on failed.", request_id, client_request_id)
                self._log(r.get("method", ""), r.get("url", ""), True, 424, request_id, app=app)
            else:
                answer = self._sub(r, request_id, client_request_id, app)
            results[rid] = answer.status
            sub: dict[str, Any] = {"id": rid, "status": answer.status,
                                   "headers": {"Cache-Control": "no-cache", **answer.headers}}
            if answer.body is not None:
                sub["headers"].setdefault("Content-Type", "application/json")
                sub["body"] = answer.body
            responses.append(sub)
        # The service may answer in any order; reversing makes a client that relies on order fail its tests.
        return Answer(200, {"responses": list(reversed(responses))})

    def _sub(self, r: dict[str, Any], request_id: str, client_request_id: str, app: str = "") -> Answer:
        method = str(r.get("method", "")).upper()
        parts = urlsplit("/" + str(r.get("url", "")).lstrip("/"))
        headers = {k.casefold(): v for k, v in (r.get("headers") or {}).items()}
        if "body" in r and "content-type" not in headers:
            answer = _error(400, "BadRequest", f"Write request id : {r['id']} does not contain Content-Type header "
                            "or body.", request_id, client_request_id)
        elif method not in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            answer = _error(400, "BadRequest", f"Invalid method '{method}'.", request_id, client_request_id)
        else:
            answer = self.call(method, unquote(parts.path), dict(parse_qsl(parts.query)), r.get("body"),
                               request_id, client_request_id, app)
        self._log(method, unquote(parts.path), True, answer.status, request_id, parts.query, app)
        return answer
