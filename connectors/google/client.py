"""The Google client layer of the `google-workspace` connector: google-api-python-client and google-auth, set up for
revoke, and Google's errors translated once.

- **Services** are built from the discovery documents bundled with google-api-python-client (`static_discovery=
  True`: no network for them), pointed at the settings' endpoints through `client_options={"api_endpoint": ...}`.
- **Credentials** are the service account's, with domain-wide delegation: `with_subject(admin)`, the scopes the
  planned kinds need, and the key's `token_uri` replaced by the settings' (a private proxy, a test fake).
- **Transport**: a `requests` session (google-auth's `AuthorizedSession`) behind the small httplib2-shaped
  interface the client library calls. It trusts exactly the settings' CA bundle (`trust_env = False`, so
  `REQUESTS_CA_BUNDLE` cannot override it) and never retries: no `urllib3` retries, and every `execute` is called
  with `num_retries=0`. A retry is the engine's decision (`ActionFailed(retryable=True)`; reads go through
  `runtime.read`), made after it read the target back.
- **Batches**: Directory API calls go out as batch requests (`multipart/mixed`, at most `batch_calls` calls, Google's
  limit being 1000); each call of a batch answers for itself, so one throttled call fails only its own action.
- **Quota**: a `Quota` shared by the run paces calls to the project's quota per minute, counting each call of a batch
  (Google counts them so), waiting through `runtime.sleep`.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import deque
from typing import Any, Callable, Hashable, Mapping, Sequence

import httplib2
import requests
from google.auth.exceptions import GoogleAuthError, RefreshError, TransportError
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest
from requests.adapters import HTTPAdapter

from revoke.connectors.google.batch import FastBatch
from revoke.connectors.google.settings import GoogleSettings
from revoke.errors import ActionFailed, ConnectionFailed
from revoke.runtime import Runtime

THROTTLED = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "backendError"}
HINTS = {
    401: "the access token was refused: check the service account key and that the key is not disabled",
    403: "not allowed: check the scopes granted to the service account's client id (revoke permissions RUNBOOK) "
         "and that `admin` is a super administrator",
    404: "not found",
}


class GoogleRefused(ActionFailed):
    """ActionFailed with Google's status and error reason, so the connector can tell a 404 from a refusal."""

    def __init__(self, text: str, *, status: int, why: str, message: str, **kw: Any):
        super().__init__(text, **kw)
        self.status = status
        self.why = why
        self.message = message


def translate(what: str, status: int, content: bytes | str, headers: Mapping[str, str]) -> ActionFailed:
    """One Google error answer (its JSON error shape: {"error": {"code", "message", "errors": [{"reason"}],
    "status"}}) as revoke's error."""
    try:
        body = json.loads(content or b"{}")
        err = body.get("error") or {} if isinstance(body, dict) else {}
    except (ValueError, TypeError):
        err = {}
    err = err if isinstance(err, dict) else {"message": str(err)}
    reasons = [e.get("reason", "") for e in err.get("errors") or [] if isinstance(e, dict)]
    why = reasons[0] if reasons else str(err.get("status") or "")
    message = str(err.get("message") or "")[:300]
    after = headers.get("retry-after")
    wait: float | None = None
    if after:
        try:
            wait = max(1.0, float(after))
        except ValueError:
            wait = None
    if status == 429 or (status == 403 and THROTTLED & set(reasons)) or status >= 500:
        return ActionFailed(f"Google throttled {what} (HTTP {status} {why}): {message}".rstrip(": "),
                            retryable=True, retry_after=wait)
    hint = HINTS.get(status, "")
    text = f"Google refused {what}: HTTP {status} {why} {message}".rstrip() + (f" ({hint})" if hint else "")
    return GoogleRefused(text, status=status, why=why, message=message)


class Quota:
    """The project's per-minute quota, shared by every thread and system of the run that uses one service
    account: `take(n)` before sending n calls waits, through the runtime, until the last minute holds room.

    Google counts a call when it reaches it, revoke when it sends it; a batch waiting behind another on the way
    arrives later than it left, and Google's minute may have started later than revoke's. So the window revoke
    keeps is a little longer than Google's (`MARGIN` of it, at most `MAX_MARGIN` seconds): 5% less throughput,
    instead of answers refused at every window's edge."""

    MARGIN = 0.05
    MAX_MARGIN = 2.0

    def __init__(self, per_window: int, runtime: Runtime, window: float = 60.0):
        self.per_window = per_window
        self.window = window + min(window * self.MARGIN, self.MAX_MARGIN)
        self.runtime = runtime
        self._lock = threading.Lock()
        self._sent: deque[tuple[float, int]] = deque()
        self._count = 0
        self.held = 0.0

    def take(self, n: int) -> None:
        n = min(n, self.per_window)
        while True:
            with self._lock:
                now = self.runtime.monotonic()
                while self._sent and self._sent[0][0] <= now - self.window:
                    self._count -= self._sent.popleft()[1]
                if self._count + n <= self.per_window:
                    self._sent.append((now, n))
                    self._count += n
                    return
                room, wait = self._count + n - self.per_window, self.window
                for at, k in self._sent:   # the time until enough of the window's calls have aged out
                    room -= k
                    if room <= 0:
                        wait = at + self.window - now
                        break
                self.held += wait
            self.runtime.sleep(max(wait, 0.001))


class Transport:
    """The httplib2-shaped object googleapiclient calls (`request(uri, method, body, headers)`), over an
    AuthorizedSession that adds the delegated access token and refreshes it at the token endpoint."""

    def __init__(self, credentials: Any, settings: GoogleSettings):
        verify: str | bool = settings.ca_bundle or True
        plain = requests.Session()
        plain.trust_env = False
        plain.verify = verify
        plain.mount("https://", HTTPAdapter(max_retries=0))
        self.session = AuthorizedSession(credentials, auth_request=Request(plain))
        self.session.trust_env = False
        self.session.verify = verify
        self.session.mount("https://", HTTPAdapter(max_retries=0, pool_maxsize=16))
        self.timeout = settings.timeout
        self._plain = plain

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: Mapping[str, str] | None = None,
                **_: Any) -> tuple[httplib2.Response, bytes]:
        try:
            resp = self.session.request(method, uri, data=body, headers=dict(headers or {}), timeout=self.timeout)
        except RefreshError as err:
            raise ConnectionFailed("google-workspace", f"the token endpoint refused the service account: "
                                   f"{_first(err)} (check the key, the client id's domain-wide delegation and its "
                                   "scopes in the Admin console)") from None
        except (TransportError, GoogleAuthError) as err:
            raise ActionFailed(f"cannot get an access token: {type(err).__name__}", retryable=True) from None
        except requests.Timeout:
            raise ActionFailed(f"Google did not answer {method} {uri} in time", retryable=True) from None
        except requests.RequestException as err:
            raise ActionFailed(f"cannot reach {uri}: {type(err).__name__}", retryable=True) from None
        info = {k.lower(): v for k, v in resp.headers.items()}
        info["status"] = str(resp.status_code)
        return httplib2.Response(info), resp.content

    def close(self) -> None:
        self.session.close()
        self._plain.close()


def _first(err: Exception) -> str:
    return str(err.args[0]) if err.args else type(err).__name__


def credentials_from(settings: GoogleSettings, key_json: str, scopes: Sequence[str]) -> Any:
    try:
        info = json.loads(key_json)
    except ValueError:
        raise ConnectionFailed("google-workspace", "service_account_key is not JSON: give the service account's "
                               "key file's whole text") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ConnectionFailed("google-workspace", "service_account_key is not a service account key (its "
                               "\"type\" must be \"service_account\")")
    info = {**info, "token_uri": settings.token_uri}
    try:
        creds = service_account.Credentials.from_service_account_info(info, scopes=list(scopes))
    except (ValueError, KeyError) as err:
        raise ConnectionFailed("google-workspace", f"service_account_key is unusable: {_first(err)}") from None
    return creds.with_subject(settings.admin)


Outcome = Any   # a call's JSON answer, or the ActionFailed it failed with


class Resources:
    """A service whose resource collections (`users()`, `asps()`...) are made once: the client library builds
    each one anew from the discovery document on every call, which costs more than the request itself when a run
    makes thousands (measured: about 0.7 ms a request, 4.6 s of client time for 6,000 read-backs)."""

    def __init__(self, service: Any):
        self._service = service
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Callable[[], Any]:
        def collection() -> Any:
            with self._lock:
                if name not in self._made:
                    self._made[name] = getattr(self._service, name)()
                return self._made[name]
        return collection


class Google:
    """The connector's services and calls: one attempt each, paced, translated."""

    def __init__(self, settings: GoogleSettings, key_json: str, scopes: Sequence[str], runtime: Runtime,
                 quota_key: Hashable):
        self.settings = settings
        self.runtime = runtime
        self.credentials = credentials_from(settings, key_json, scopes)
        self.http = Transport(self.credentials, settings)
        self.quota: Quota = runtime.shared(("google-quota", quota_key), lambda: Quota(
            settings.queries_per_minute, runtime, settings.quota_window_seconds))
        opts = {"static_discovery": True, "cache_discovery": False, "num_retries": 0}
        self.directory = Resources(build("admin", "directory_v1", http=self.http, client_options={
            "api_endpoint": settings.api_endpoint}, **opts))
        self.groups_settings = build("groupssettings", "v1", http=self.http, client_options={
            "api_endpoint": settings.groups_settings_endpoint + "groups/v1/groups/"}, **opts)
        self.chat = build("chat", "v1", http=self.http, client_options={"api_endpoint": settings.chat_endpoint},
                          **opts)
        self.batch_uri = settings.api_endpoint + "batch"
        # groups that answered under their id during this run: a membership's 404 then means "not a member"
        self.groups_seen: set[str] = set()   # the discovery document's batchPath, at our endpoint

    def close(self) -> None:
        self.http.close()

    def call(self, what: str, request: HttpRequest) -> Any:
        """One attempt of one call."""
        self.quota.take(1)
        try:
            return request.execute(num_retries=0)
        except HttpError as err:
            raise translate(what, err.resp.status, err.content, err.resp) from None

    def read(self, what: str, make: Callable[[], HttpRequest]) -> Any:
        """An idempotent read, repeated by the runtime while it fails retryably."""
        return self.runtime.read(lambda: self.call(what, make()))

    def pages(self, what: str, make: Callable[[str | None], HttpRequest], field: str) -> list[dict[str, Any]]:
        """Every item of a listing, page by page (`nextPageToken`); each page is its own read, so a page cut short by
        throttling is read again, never skipped."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self.read(what, functools.partial(make, token))
            if not isinstance(page, dict):
                raise ActionFailed(f"Google answered {what} with something that is not a page")
            items.extend(page.get(field) or [])
            token = page.get("nextPageToken")
            if not token:
                return items

    def batch(self, calls: Sequence[tuple[str, str, HttpRequest]]) -> dict[str, Outcome]:
        """Directory API calls (key, what, request) in batch requests; answers each call's JSON or its error."""
        out: dict[str, Outcome] = {}
        size = min(self.settings.batch_calls, self.settings.queries_per_minute)   # a batch fits one minute's quota
        for start in range(0, len(calls), size):
            chunk = calls[start:start + size]
            if len(chunk) == 1:
                key, what, request = chunk[0]
                try:
                    out[key] = self.call(what, request)
                except ActionFailed as err:
                    out[key] = err
                continue
            self._send(chunk, out)
        return out

    def _send(self, chunk: Sequence[tuple[str, str, HttpRequest]], out: dict[str, Outcome]) -> None:
        whats = {str(i): (key, what) for i, (key, what, _) in enumerate(chunk)}

        def answered(request_id: str, response: Any, exception: Exception | None) -> None:
            key, what = whats[request_id]
            if isinstance(exception, HttpError):
                out[key] = translate(what, exception.resp.status, exception.content, exception.resp)
            elif exception is not None:
                out[key] = ActionFailed(f"{what}: {type(exception).__name__}: {exception}")
            else:
                out[key] = response

        batch = FastBatch(callback=answered, batch_uri=self.batch_uri)
        for i, (_, _, request) in enumerate(chunk):
            batch.add(request, request_id=str(i))
        self.quota.take(len(chunk))
        try:
            batch.execute(http=self.http)
        except HttpError as err:
            failure = translate("a batch request", err.resp.status, err.content, err.resp)
            for key, _ in whats.values():
                out.setdefault(key, failure)
        except ActionFailed as err:
            for key, _ in whats.values():
                out.setdefault(key, err)
        for key, what in whats.values():
            out.setdefault(key, ActionFailed(f"the batch answer has nothing for {what}", retryable=True))

    def read_batch(self, calls: Sequence[tuple[str, str, HttpRequest]]) -> dict[str, Outcome]:
        """Idempotent reads in batches: the ones throttled are sent again (through the runtime's budget) until
        each answers or fails for good."""
        out: dict[str, Outcome] = {}
        todo = list(calls)

        def once() -> None:
            nonlocal todo
            answers = self.batch(todo)
            out.update(answers)
            retry = [c for c in todo if isinstance(answers[c[0]], ActionFailed) and answers[c[0]].retryable]
            if retry:
                todo = [(k, w, _fresh(r)) for k, w, r in retry]
                first = answers[retry[0][0]]
                raise ActionFailed(first.reason, retryable=True, retry_after=first.retry_after)

        try:
            self.runtime.read(once)
        except ActionFailed:
            pass   # what is still throttled stays in `out` as its ActionFailed
        return out


def pages_many(g: Google, listings: Mapping[str, tuple[str, Callable[[str | None], HttpRequest]]],
               field: str) -> dict[str, list[dict[str, Any]] | ActionFailed]:
    """Many listings at once (key -> (what, make(pageToken))): each round sends the next page of every listing
    not yet finished in one batch, so n listings of p pages cost p round trips, not n x p."""
    items: dict[str, list[dict[str, Any]] | ActionFailed] = {k: [] for k in listings}
    tokens: dict[str, str | None] = {k: None for k in listings}
    while tokens:
        answers = g.read_batch([(k, listings[k][0], listings[k][1](t)) for k, t in tokens.items()])
        nxt: dict[str, str | None] = {}
        for k in tokens:
            page = answers[k]
            if isinstance(page, ActionFailed):
                items[k] = page
                continue
            if not isinstance(page, dict):
                items[k] = ActionFailed(f"Google answered {listings[k][0]} with something that is not a page")
                continue
            got = items[k]
            assert isinstance(got, list)
            got.extend(page.get(field) or [])
            if page.get("nextPageToken"):
                nxt[k] = page["nextPageToken"]
        tokens = nxt
    return items


def _fresh(request: HttpRequest) -> HttpRequest:
    """A request object can be sent once in a batch; a copy for another attempt."""
    return HttpRequest(request.http, request.postproc, request.uri, method=request.method, body=request.body,
                       headers=dict(request.headers), methodId=request.methodId, resumable=request.resumable)
