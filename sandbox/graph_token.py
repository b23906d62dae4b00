"""The Entra ID side of the Graph fake: app registrations, the client-credentials token endpoint
(`/{tenant}/oauth2/v2.0/token`, a secret or a certificate's signed assertion) and the checks of the bearer tokens it
issued. A mixin of `GraphFake`: the state (`apps`, `tokens`, `audiences`, `token_apps`) lives on the fake."""

from __future__ import annotations

import secrets as pysecrets
import threading
import time
import uuid
from typing import Any

from revoke.sandbox.graph_answers import stamp


class TokenEndpoint:
    tenant_id: str
    apps: dict[str, dict[str, Any]]
    tokens: dict[str, float]
    audiences: dict[str, str]    # token -> the resource it was issued for (its `aud`)
    token_apps: dict[str, str]   # token -> the client id it was issued to (its `appid`)
    token_lifetime: int
    _lock: threading.Lock

    def _issued(self, token: str) -> None:
        """Hook: a tenant hosted by another fake tells the host which tenant a token belongs to."""

    def token(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        def fail(status: int, error: str, code: str, text: str) -> tuple[int, dict[str, Any]]:
            return status, {"error": error, "error_description": f"{code}: {text}", "error_codes": [int(code[6:])],
                            "timestamp": stamp(), "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4())}

        if tenant != self.tenant_id:
            return fail(400, "invalid_request", "AADSTS90002", f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return fail(400, "unsupported_grant_type", "AADSTS70003", "The app requested an unsupported grant type.")
        app = self.apps.get(form.get("client_id", ""))
        if app is None:
            return fail(400, "unauthorized_client", "AADSTS700016",
                        f"Application with identifier '{form.get('client_id')}' was not found in the directory.")
        if not form.get("scope", "").endswith("/.default"):
            return fail(400, "invalid_scope", "AADSTS1002012", "The provided value for scope is not valid.")
        if "client_assertion" in form:
            if not self._assertion_ok(app, form["client_assertion"], form.get("client_id", "")):
                return fail(401, "invalid_client", "AADSTS700027", "Client assertion failed signature validation.")
        elif form.get("client_secret") != app["secret"]:
            return fail(401, "invalid_client", "AADSTS7000215", "Invalid client secret provided. Ensure the secret "
                        "being sent in the request is the client secret value, not the client secret ID.")
        access = pysecrets.token_urlsafe(32)
        with self._lock:
            self.tokens[access] = time.monotonic() + self.token_lifetime
            self.audiences[access] = form["scope"][:-len("/.default")]
            self.token_apps[access] = form.get("client_id", "")
        self._issued(access)
        return 200, {"token_type": "Bearer", "expires_in": self.token_lifetime,
                     "ext_expires_in": self.token_lifetime, "access_token": access}

    def _assertion_ok(self, app: dict[str, Any], assertion: str, client_id: str) -> bool:
        if not app.get("certificate"):
            return False
        import jwt
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(app["certificate"])
        try:
            claims = jwt.decode(assertion, cert.public_key(), algorithms=["RS256", "PS256"],  # type: ignore[arg-type]
                                options={"verify_aud": False})
        except jwt.PyJWTError:
            return False
        return claims.get("iss") == client_id and claims.get("sub") == client_id

    def token_audience(self, token: str) -> str | None:
        """The resource a live token of this authority was issued for, or None (unknown or expired): what
        another service's fake (Exchange Online) checks, as the real one checks the token's `aud` claim."""
        with self._lock:
            expiry = self.tokens.get(token)
            return self.audiences.get(token) if expiry is not None and expiry >= time.monotonic() else None

    def bearer_ok(self, header: str | None) -> str | None:
        """None if the Authorization header carries a live token, else the service's complaint."""
        if not header or not header.startswith("Bearer ") or not header[7:].strip():
            return "Access token is empty."
        with self._lock:
            expiry = self.tokens.get(header[7:].strip())
        if expiry is None:
            return "CompactToken parsing failed with error code: 80049217"
        if expiry < time.monotonic():
            return "Lifetime validation failed, the token is expired."
        return None
