"""The HTTP client of the `okta` connector: Okta's Management API through `requests`, one attempt per call.

Why not Okta's SDK (`okta` 3.x): it is asyncio-only, and it retries and waits out 429s itself on its own clock,
which would hide throttling from revoke's engine (the one place that waits, on a clock tests can drive); its
`sslContext` option crashes (the config is deep-copied), so a CA bundle could only come through `SSL_CERT_FILE`.
The REST calls revoke needs are few and documented, so a `requests.Session` with `trust_env = False` (a custom CA
is honoured even where `REQUESTS_CA_BUNDLE` is set) serves them.

Authentication: an API token (`Authorization: SSWS <token>`), or an OAuth 2.0 service app: a private key JWT
client assertion (RS256, `iss` = `sub` = the client id, `aud` = the org's `/oauth2/v1/token`) exchanged for a
Bearer access token with the scopes the runbook's kinds need, renewed a minute before it expires (run's clock).

Throttling: Okta announces on every answer how many requests its endpoint bucket has left (`X-Rate-Limit-Remaining`)
until when (`X-Rate-Limit-Reset`, epoch seconds; Okta sends no `Retry-After`). A `ResetGate` (revoke.ratelimit)
per bucket holds a request while none are left, until the reset, through `runtime.sleep` (pacing on the run's
clock, never `time.sleep`); a 429 anyway (another client of the org spent the bucket) is `ActionFailed(retryable=True,
retry_after=reset - now)` for the engine to wait out. Buckets are tracked per top-level resource (`/api/v1/users`,
`/api/v1/groups`), which is at least as strict as Okta's per-endpoint buckets.
"""

from __future__ import annotations

import re
import threading
import uuid
from typing import Any

import requests

from revoke.connectors.okta.settings import OktaSettings
from revoke.errors import ActionFailed, ConnectionFailed
from revoke.ratelimit import ResetGate, seconds_until
from revoke.runtime import Runtime
from revoke.secrets import Secrets

NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
HINTS = {
    401: "Okta rejected the credentials: check the secret (an API token expires after 30 days unused, and dies "
         "with its administrator's deactivation)",
    403: "the admin role or the OAuth scopes lack a permission this needs: see `revoke permissions RUNBOOK`",
}


class OktaRefused(ActionFailed):
    """ActionFailed carrying Okta's status and errorCode, so the connector can tell a 404 from a refusal."""

    def __init__(self, reason: str, *, status: int, code: str, causes: list[str], **kw: Any):
        super().__init__(reason, **kw)
        self.status, self.code, self.causes = status, code, causes


def _bucket(path: str) -> str:
    return "/".join(path.split("?")[0].split("/")[:4])


def _error(resp: requests.Response) -> tuple[str, str, list[str]]:
    try:
        body = resp.json()
    except ValueError:
        return "", resp.text[:200], []
    if not isinstance(body, dict):
        return "", "", []
    causes = [str(c.get("errorSummary", "")) for c in body.get("errorCauses") or [] if isinstance(c, dict)]
    return str(body.get("errorCode") or body.get("error") or ""), \
        str(body.get("errorSummary") or body.get("error_description") or ""), causes


def request_ids(resp: requests.Response | None) -> list[str]:
    rid = resp.headers.get("X-Okta-Request-Id") if resp is not None else None
    return [rid] if rid else []


def translate(what: str, resp: requests.Response, now: float) -> ActionFailed:
    status, ids = resp.status_code, request_ids(resp)
    code, summary, causes = _error(resp)
    if status == 429:
        wait = seconds_until(resp.headers.get("X-Rate-Limit-Reset"), now)
        return ActionFailed(f"Okta's rate limit is spent for {what}: it resets in {wait:.0f}s", retryable=True,
                            retry_after=wait, request_ids=ids)
    detail = summary + (f" ({'; '.join(c for c in causes if c)})" if any(causes) else "")
    hint = HINTS.get(status, "")
    reason = f"Okta refused {what}: HTTP {status} {code} {detail}".rstrip() + (f" [{hint}]" if hint else "")
    return OktaRefused(reason, status=status, code=code, causes=causes, retryable=status >= 500, request_ids=ids)


class OktaClient:
    """The connector's one session with the org."""

    def __init__(self, settings: OktaSettings, secrets: Secrets, runtime: Runtime, scopes: list[str]):
        self.settings, self.runtime, self.scopes = settings, runtime, scopes
        self.session = requests.Session()
        self.session.trust_env = False   # REQUESTS_CA_BUNDLE must not replace the CA the runbook names
        self.session.verify = settings.ca_bundle or True
        self.session.headers.update({"Accept": "application/json", "User-Agent": "revoke"})
        self._secret = secrets.get(settings.api_token) if settings.api_token else None
        self._key = secrets.get(settings.private_key) if settings.private_key else None
        self._bearer: tuple[str, float] | None = None
        self._lock = threading.Lock()
        self._gates: dict[str, ResetGate] = {}

    def close(self) -> None:
        self.session.close()

    def url(self, path: str) -> str:
        return path if path.startswith("https://") or path.startswith("http://") else self.settings.org_url + path

    # ---- auth -------------------------------------------------------------------------------------------------
    def _authorization(self) -> str:
        if self._secret is not None:
            return f"SSWS {self._secret}"
        with self._lock:
            now = self.runtime.now().timestamp()
            if self._bearer is None or self._bearer[1] - 60 <= now:
                self._bearer = self._fetch_token(now)
            return f"Bearer {self._bearer[0]}"

    def _fetch_token(self, now: float) -> tuple[str, float]:
        import jwt  # the `okta` extra (PyJWT with cryptography)

        endpoint = f"{self.settings.org_url}/oauth2/v1/token"
        headers = {"kid": self.settings.key_id} if self.settings.key_id else None
        try:
            assertion = jwt.encode({"iss": self.settings.client_id, "sub": self.settings.client_id,
                                    "aud": endpoint, "iat": int(now), "exp": int(now) + 300,
                                    "jti": uuid.uuid4().hex}, self._key or "", algorithm="RS256", headers=headers)
        except (ValueError, TypeError, jwt.PyJWTError) as err:
            raise ConnectionFailed("okta", f"the service app's private_key is not a usable RSA key: "
                                   f"{type(err).__name__}") from None
        form = {"grant_type": "client_credentials", "scope": " ".join(self.scopes),
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion}
        try:
            resp = self.session.post(endpoint, data=form, timeout=self.settings.timeout)
        except requests.RequestException as err:
            raise ConnectionFailed("okta", f"cannot reach {endpoint}: {type(err).__name__}") from None
        if resp.status_code != 200:
            code, summary, _ = _error(resp)
            raise ConnectionFailed("okta", f"{endpoint} refused the service app {self.settings.client_id}: HTTP "
                                   f"{resp.status_code} {code} {summary} (check the app's public key in Okta, its "
                                   f"granted scopes: {' '.join(self.scopes)})")
        body = resp.json()
        return str(body["access_token"]), now + float(body.get("expires_in") or 3600)

    # ---- calls ------------------------------------------------------------------------------------------------
    def _gate(self, path: str) -> ResetGate:
        key = _bucket(path.replace(self.settings.org_url, ""))
        with self._lock:
            if key not in self._gates:
                self._gates[key] = ResetGate(self.runtime, remaining="X-Rate-Limit-Remaining",
                                             reset="X-Rate-Limit-Reset")
            return self._gates[key]

    def call(self, what: str, method: str, path: str, **params: Any) -> requests.Response:
        """One attempt, translated: an answer of 2xx is returned, anything else raised."""
        gate = self._gate(path)
        gate.enter()
        resp: requests.Response | None = None
        try:
            resp = self.session.request(method, self.url(path), params=params or None,
                                        headers={"Authorization": self._authorization()},
                                        timeout=self.settings.timeout)
        except requests.Timeout:
            raise ActionFailed(f"Okta did not answer {what} in time", retryable=True) from None
        except requests.RequestException as err:
            raise ActionFailed(f"cannot reach Okta for {what}: {type(err).__name__}", retryable=True) from None
        finally:
            gate.leave(resp.headers if resp is not None else None)
        if resp.status_code >= 300:
            raise translate(what, resp, self.runtime.now().timestamp())
        return resp

    def read(self, what: str, path: str, **params: Any) -> Any:
        """An idempotent read, repeated by the runtime while it fails retryably; the JSON body."""
        resp = self.runtime.read(lambda: self.call(what, "GET", path, **params))
        try:
            return resp.json()
        except ValueError:
            raise ActionFailed(f"Okta answered {what} with something that is not JSON") from None

    def pages(self, what: str, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a listing, following `Link: <...>; rel="next"` (Okta's `after` cursor); each page is its
        own read, so a page cut short by throttling is read again, never skipped."""
        resp = self.runtime.read(lambda: self.call(what, "GET", path, limit=self.settings.page_size, **params))
        items: list[dict[str, Any]] = []
        while True:
            try:
                data = resp.json()
            except ValueError:
                data = None
            if not isinstance(data, list):
                raise ActionFailed(f"Okta answered {what} with something that is not a list")
            items.extend(data)
            link = NEXT.search(resp.headers.get("Link") or "")
            if link is None:
                return items
            url = link.group(1)
            resp = self.runtime.read(lambda: self.call(what, "GET", url))
