"""The one Microsoft base that the Graph connectors (`entra`, `m365-groups`) and `exchange-online` share: the app
registration's settings, its sign-in (msal, one token cache per app, authority and credential), the TLS trust of
every request (`PinnedSession`) and one pacer per service, app and tenant (`pacer_for`)."""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from typing import Any

import msal
import requests
from pydantic import BaseModel, ConfigDict, Field, model_validator

from revoke.errors import ConnectionFailed
from revoke.pacing import Pacer
from revoke.runbook import SecretRef
from revoke.secrets import Secrets


class MicrosoftAppSettings(BaseModel):
    """What every Microsoft system of a runbook shares: the app registration, its credential, the authority and
    the TLS trust (Graph and Exchange Online alike). Secrets are references (`{secret: NAME}`), never values."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "tenant_id": "00000000-0000-0000-0000-000000000000", "client_id": "11111111-1111-1111-1111-111111111111",
        "client_secret": {"secret": "graph_secret"}}]})

    tenant_id: str = Field(description="the directory (tenant) id", examples=["00000000-0000-0000-0000-000000000000"])
    client_id: str = Field(description="the app registration's application (client) id",
                           examples=["11111111-1111-1111-1111-111111111111"])
    client_secret: SecretRef | None = Field(None, description="the app's client secret (or certificate_key)")
    certificate_key: SecretRef | None = Field(None, description="PEM private key of the app's certificate")
    certificate_thumbprint: str | None = Field(None, description="SHA-1 thumbprint of that certificate, as shown "
                                               "in Entra")
    authority_host: str = Field("https://login.microsoftonline.com", description="sovereign clouds: "
                                "https://login.microsoftonline.us (US Gov L4), https://login.chinacloudapi.cn "
                                "(21Vianet), with the matching service url")
    # Explicit on purpose: requests would otherwise let REQUESTS_CA_BUNDLE from the environment override it.
    ca_file: str | None = Field(None, description="a CA bundle to trust (a TLS-inspecting proxy, or a local fake)")
    instance_discovery: bool = Field(True, description="false only for an authority msal cannot validate against "
                                     "Microsoft's list (a private cloud or a local fake)")
    requests_per_second: float | None = Field(default=None, gt=0, description="most requests a second (each one "
                                              "inside a $batch counts), for a tenant whose limit is known or "
                                              "shared; without it the rate is learnt from the service's 429 answers")
    timeout_seconds: float = Field(30.0, description="seconds to wait for an answer")

    @model_validator(mode="after")
    def _one_credential(self) -> "MicrosoftAppSettings":
        if bool(self.client_secret) == bool(self.certificate_key):
            raise ValueError("give exactly one of client_secret or certificate_key (with certificate_thumbprint)")
        if self.certificate_key and not self.certificate_thumbprint:
            raise ValueError("certificate_key needs certificate_thumbprint")
        return self

class PinnedSession(requests.Session):
    """A session that verifies TLS against `ca_file` on every request. requests lets REQUESTS_CA_BUNDLE override
    a session's `verify`, but not a per-request one; proxies from the environment still apply."""

    def __init__(self, ca_file: str | None):
        super().__init__()
        self._ca_file = ca_file

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if self._ca_file:
            kwargs.setdefault("verify", self._ca_file)
        return super().request(method, url, *args, **kwargs)

class MicrosoftApp:
    """The app registration signed in with msal: one app-only token per resource (`scope`), from a token cache
    shared by every client of the same app and authority in the process (the Graph and Exchange Online systems
    of one runbook ask Entra ID once each, not once per system)."""

    def __init__(self, system: str, settings: MicrosoftAppSettings, secrets: Secrets, session: requests.Session):
        self.system = system
        self.settings = settings
        self._secrets = secrets
        self.session = session
        self._app: msal.ConfidentialClientApplication | None = None

    @property
    def authority(self) -> str:
        return f"{self.settings.authority_host.rstrip('/')}/{self.settings.tenant_id}"

    def connect(self, scope: str) -> None:
        s = self.settings
        if s.client_secret:
            credential: Any = self._secrets.get(s.client_secret)
        else:
            credential = {"private_key": self._secrets.get(s.certificate_key),
                          "thumbprint": s.certificate_thumbprint}
        try:
            self._app = msal.ConfidentialClientApplication(
                s.client_id, client_credential=credential, authority=self.authority, http_client=self.session,
                instance_discovery=None if s.instance_discovery else False, timeout=s.timeout_seconds,
                token_cache=shared_token_cache(self.authority, s.client_id, credential))
        except (ValueError, requests.RequestException) as exc:
            raise ConnectionFailed(self.system, f"cannot reach the authority {self.authority}: "
                                   f"{self._secrets.redact(str(exc))}; check authority_host, tenant_id and "
                                   "ca_file") from None
        self.token(scope)

    def token(self, scope: str) -> str:
        if self._app is None:
            raise ConnectionFailed(self.system, "not connected")
        try:
            # msal answers from the cache until the token is close to expiry: one token per resource and run
            result = self._app.acquire_token_for_client(scopes=[scope])
        except Exception as exc:  # noqa: BLE001 - msal raises requests', PyJWT's and its own errors: translated
            raise ConnectionFailed(self.system, f"token request failed ({type(exc).__name__}): "
                                   f"{self._secrets.redact(str(exc))}; check the secret or certificate") from None
        if "access_token" not in result:
            reason = self._secrets.redact(f"{result.get('error')}: {result.get('error_description', '')}")
            raise ConnectionFailed(self.system, f"Entra ID refused the app's credentials ({reason.strip()}); "
                                   "check tenant_id, client_id and the secret or certificate")
        return str(result["access_token"])


# Held weakly, like the pacers: a cache lives as long as the apps using it (one run's systems).
_caches: "weakref.WeakValueDictionary[tuple[str, str, str], msal.TokenCache]" = weakref.WeakValueDictionary()


def shared_token_cache(authority: str, client_id: str, credential: Any) -> msal.TokenCache:
    """One cache per app, authority and credential: a system given another secret or key must prove it to Entra
    ID itself, never be answered with the token another system's credential earned. The credential is kept
    only as a digest."""
    digest = hashlib.sha256(json.dumps(credential, sort_keys=True, default=str).encode()).hexdigest()
    key = (authority.casefold(), client_id, digest)
    with _pacers_lock:
        cache = _caches.get(key)
        if cache is None:
            cache = _caches[key] = msal.TokenCache()
        return cache

# Held weakly: a pacer lives as long as the clients using it (one run's systems), so what it learnt and the
# ceilings it was given do not carry into the next run of the same process (tests, `revoke demo`).
_pacers: "weakref.WeakValueDictionary[tuple[str, ...], Pacer]" = weakref.WeakValueDictionary()
_pacers_lock = threading.Lock()



def pacer_for(key: tuple[str, ...], ceiling: float | None, make: Any = Pacer) -> Pacer:
    """The process's one pacer for a service, app and tenant (`make()` builds it the first time)."""
    with _pacers_lock:
        pacer = _pacers.get(key)
        if pacer is None:
            pacer = _pacers[key] = make()
        pacer.limit(ceiling)
        return pacer
