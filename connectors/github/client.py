"""The GitHub client layer of the `github` connector: githubkit, configured for revoke, and errors translated once.

githubkit is set up to make one attempt per call: `auto_retry=False` (its retry waits out rate limits on its own
clock), `http_cache=False` (GitHub answers `Cache-Control: private, max-age=60`, so a cache would serve a read-back
from before the write) and a transport with no connection retries. The REST namespace is the Enterprise Cloud
schema of API version 2022-11-28 (`githubkit-schemas-ghec-2022-11-28`): the only one with the SAML SSO
credential-authorization endpoints, a superset of github.com's, and a version GitHub Enterprise Server accepts.

Every provider failure becomes revoke's error here: the primary rate limit (`x-ratelimit-remaining: 0`, wait until
`x-ratelimit-reset`, measured with the run's clock) and the secondary one (403 or 429 with `Retry-After`) are
`ActionFailed(retryable=True, retry_after=...)`; other answers are `GitHubRefused` with the status, so the
connector can tell a 404 from a refusal. Idempotent reads, each page of a listing included, go through
`runtime.read`, which repeats a retryable failure within the system's budget; writes are made once. Before
sending, a `ResetGate` (revoke.ratelimit) holds a request while GitHub's own headers say the primary limit is
spent until its reset.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
from typing import Any, Callable, Final

import httpx
from githubkit import AppAuthStrategy, AppInstallationAuthStrategy, GitHub, TokenAuthStrategy
from githubkit.cache import MemCacheStrategy
from githubkit.exception import AuthCredentialError, GitHubException, RequestError, RequestFailed, RequestTimeout
from githubkit.response import Response

from revoke.connectors.github.settings import GitHubSettings
from revoke.errors import ActionFailed, ConnectionFailed
from revoke.ratelimit import ResetGate, seconds_until
from revoke.runtime import Runtime
from revoke.secrets import Secrets

API_VERSION: Final = "ghec-2022-11-28"   # a Literal: mypy checks every REST call against this schema
NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
HINTS = {
    401: "GitHub rejected the credentials: check the secret (a token may have expired or been revoked)",
    404: "not found, or not visible to these credentials (GitHub answers 404 for a private object the caller "
         "cannot see)",
}


class GitHubRefused(ActionFailed):
    """ActionFailed carrying GitHub's status and message, so the connector can tell a 404 from a refusal."""

    def __init__(self, reason: str, *, status: int, message: str, **kw: Any):
        super().__init__(reason, **kw)
        self.status = status
        self.message = message


def _header(resp: httpx.Response, name: str) -> str | None:
    value = resp.headers.get(name)
    return value if value is None else str(value)


def request_ids(resp: httpx.Response | Response | None) -> list[str]:
    raw = resp.raw_response if isinstance(resp, Response) else resp
    rid = _header(raw, "x-github-request-id") if raw is not None else None
    return [rid] if rid else []


def _message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except (json.JSONDecodeError, ValueError):
        return resp.text[:200]
    return str(body.get("message") or "") if isinstance(body, dict) else ""


def translate(what: str, resp: httpx.Response, now: float) -> ActionFailed:
    """One GitHub error answer as revoke's error, with what to do about it."""
    status, message, ids = resp.status_code, _message(resp), request_ids(resp)
    if status in (403, 429):
        after = _header(resp, "retry-after")
        if after is not None:
            try:
                wait = max(1.0, float(after))
            except ValueError:
                wait = 60.0
            return ActionFailed(f"GitHub's secondary rate limit stopped {what}: retry after {wait:g}s",
                                retryable=True, retry_after=wait, request_ids=ids)
        if _header(resp, "x-ratelimit-remaining") == "0":
            wait = seconds_until(_header(resp, "x-ratelimit-reset"), now)
            return ActionFailed(f"GitHub's primary rate limit is spent for {what}: it resets in {wait:.0f}s",
                                retryable=True, retry_after=wait, request_ids=ids)
        if "secondary rate limit" in message.casefold():
            return ActionFailed(f"GitHub's secondary rate limit stopped {what} (no Retry-After: waiting a minute)",
                                retryable=True, retry_after=60.0, request_ids=ids)
    hint = HINTS.get(status, "")
    if message == "Resource not accessible by integration":
        hint = "the GitHub App lacks a permission this needs: see `revoke permissions RUNBOOK`"
    reason = f"GitHub refused {what}: HTTP {status} {message}".rstrip() + (f" ({hint})" if hint else "")
    return GitHubRefused(reason, status=status, message=message, retryable=status >= 500, request_ids=ids)


class _Transport(httpx.BaseTransport):
    """One connection pool shared by every client of the connector. githubkit opens and closes an httpx client
    per request (outside a `with` block, and those blocks are per thread); closing this transport's clients must
    not close the pool, which `shutdown` does once."""

    def __init__(self, context: ssl.SSLContext):
        self._inner = httpx.HTTPTransport(verify=context, retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)

    def close(self) -> None:
        pass

    def shutdown(self) -> None:
        self._inner.close()


class Api:
    """One credential's client: typed REST calls through `rest`, each made once and translated."""

    def __init__(self, label: str, auth: Any, settings: GitHubSettings, transport: _Transport,
                 context: ssl.SSLContext, runtime: Runtime):
        self.label = label
        self.runtime = runtime
        # its own cache strategy: githubkit keeps JWTs and installation tokens there, and the default one is shared
        # by every client in the process (two runbooks' apps would share tokens by app and installation id)
        self.github = GitHub(auth, base_url=settings.base_url, timeout=settings.timeout, ssl_verify=context,
                             transport=transport, http_cache=False, auto_retry=False, user_agent="revoke",
                             cache_strategy=MemCacheStrategy(), rest_api_validate_body=False)
        self.rest = self.github.rest(API_VERSION)
        self.page_size = settings.page_size
        # GitHub asks integrations not to send into a spent primary limit: requests wait for its reset instead
        self.gate = ResetGate(runtime, remaining="x-ratelimit-remaining", reset="x-ratelimit-reset")

    def call(self, what: str, fn: Callable[[], Response]) -> Response:
        """One attempt, translated."""
        self.gate.enter()
        answer: httpx.Response | None = None
        try:
            resp = fn()
            answer = resp.raw_response
            return resp
        except RequestFailed as err:
            answer = err.response.raw_response
            raise translate(what, answer, self.runtime.now().timestamp()) from None
        except RequestTimeout:
            raise ActionFailed(f"GitHub did not answer {what} in time", retryable=True) from None
        except RequestError as err:
            inner = err.exc
            if isinstance(inner, RequestFailed):   # failed inside githubkit's auth flow (an installation token)
                raise translate(f"{what} (getting an installation token)", inner.response.raw_response,
                                self.runtime.now().timestamp()) from None
            raise ActionFailed(f"cannot reach GitHub for {what}: {type(inner).__name__}", retryable=True) from None
        except (AuthCredentialError, GitHubException) as err:
            raise ActionFailed(f"GitHub credentials for {what} are unusable: {type(err).__name__}: {err}") from None
        finally:
            self.gate.leave(answer.headers if answer is not None else None)

    def read(self, what: str, fn: Callable[[], Response]) -> Response:
        """An idempotent read: repeated by the runtime while it fails retryably."""
        return self.runtime.read(lambda: self.call(what, fn))

    def json(self, what: str, fn: Callable[[], Response]) -> Any:
        resp = self.read(what, fn)
        return resp.json() if resp.status_code != 204 else None

    def pages(self, what: str, fn: Callable[[int], Response]) -> list[dict[str, Any]]:
        """Every item of a listing, following `Link: <...>; rel="next"`; each page is its own read, so a page cut
        short by throttling is read again, never skipped. `fn(per_page)` makes the first request."""
        resp = self.read(what, lambda: fn(self.page_size))
        items: list[dict[str, Any]] = []
        while True:
            data = resp.json()
            if not isinstance(data, list):
                raise ActionFailed(f"GitHub answered {what} with something that is not a list")
            items.extend(data)
            link = NEXT.search(resp.headers.get("link") or "")
            if link is None:
                return items
            url = link.group(1)
            resp = self.read(what, lambda: self.github.request("GET", url))


class Credentials:
    """The connector's clients: one per credential. A token serves every organisation; a GitHub App acts in each
    organisation as that organisation's installation, and as itself (JWT) only to find those installations."""

    def __init__(self, settings: GitHubSettings, secrets: Secrets, runtime: Runtime):
        self.settings = settings
        self.secrets = secrets
        self.runtime = runtime
        try:
            self.context = (ssl.create_default_context(cafile=settings.ca_bundle) if settings.ca_bundle
                            else ssl.create_default_context())
        except (OSError, ssl.SSLError) as err:
            raise ConnectionFailed("github", f"ca_bundle {settings.ca_bundle}: {err}") from None
        self.transport = _Transport(self.context)
        self._lock = threading.Lock()
        self._installations: dict[str, Api] = {}
        self.token_api = self._api("token", TokenAuthStrategy(self._secret(settings.token))) if settings.token \
            else None
        self.app_api = (self._api("app", AppAuthStrategy(settings.app_id, self._secret(settings.private_key)))
                        if settings.app_id is not None else None)
        self.owner_api = (self._api("owner_token", TokenAuthStrategy(self._secret(settings.owner_token)))
                          if settings.owner_token else self.token_api)

    def _secret(self, ref: Any) -> str:
        return self.secrets.get(ref) or ""

    def _api(self, label: str, auth: Any) -> Api:
        return Api(label, auth, self.settings, self.transport, self.context, self.runtime)

    @property
    def any(self) -> Api:
        """A client for public reads (users, repositories by name)."""
        if self.token_api is not None:
            return self.token_api
        return self.for_org(self.settings.organizations[0])

    def for_org(self, org: str) -> Api:
        """The client that acts in `org`."""
        if self.token_api is not None:
            return self.token_api
        key = org.casefold()
        with self._lock:
            if key in self._installations:
                return self._installations[key]
        assert self.app_api is not None and self.settings.app_id is not None
        installation = self.settings.installation_id
        if installation is None:
            found = self.app_api.json(f"the app's installation in {org}",
                                      lambda: self.app_api.rest.apps.get_org_installation(org))  # type: ignore
            installation = int(found["id"])
        api = self._api(f"installation {installation}",
                        AppInstallationAuthStrategy(self.settings.app_id, self._secret(self.settings.private_key),
                                                    installation))
        with self._lock:
            return self._installations.setdefault(key, api)

    def close(self) -> None:
        self.transport.shutdown()
