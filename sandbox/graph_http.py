"""The HTTP side of the Graph fake: one handler for the token endpoint, OpenID discovery and Graph v1.0."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import uuid
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from revoke.sandbox.graph_answers import Answer
from revoke.sandbox.graph_answers import error_answer as _error

if TYPE_CHECKING:
    from revoke.sandbox.graph import GraphFake


class GraphHandler(BaseHTTPRequestHandler):
    fake: GraphFake
    protocol_version = "HTTP/1.1"
    server_version = "graph-fake"

    def setup(self) -> None:
        super().setup()
        # headers and body go out as two writes; without NODELAY, Nagle and delayed ACKs add ~40 ms to each answer
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the request log instead
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        try:
            self._serve(method)
        except Exception as exc:  # noqa: BLE001 - a fake bug answers 500 instead of dropping the connection
            rid = str(uuid.uuid4())
            self._send(_error(500, "InternalServerError", f"graph fake: {type(exc).__name__}: {exc}", rid, rid),
                       rid, rid)

    def _serve(self, method: str) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        request_id = str(uuid.uuid4())
        client_request_id = self.headers.get("client-request-id") or request_id
        tenant = re.fullmatch(r"/([^/]+)/(v2\.0/\.well-known/openid-configuration|oauth2/v2\.0/token)", path)
        if tenant and tenant.group(2).startswith("v2.0") and method == "GET":
            t = tenant.group(1)
            base = f"{fake.origin}/{t}"
            ok = t in fake.tenants
            body = ({"token_endpoint": f"{base}/oauth2/v2.0/token", "authorization_endpoint":
                     f"{base}/oauth2/v2.0/authorize", "issuer": f"{fake.origin}/{t}/v2.0",
                     "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"]}
                    if ok else {"error": "invalid_tenant", "error_description": f"AADSTS90002: Tenant '{t}' not "
                                "found."})
            fake.tenants.get(t, fake)._log(method, path, False, 200 if ok else 400, request_id)
            return self._send(Answer(200 if ok else 400, body), request_id, client_request_id)
        if tenant and method == "POST":
            form = dict(parse_qsl(raw.decode()))
            issuer = fake.tenants.get(tenant.group(1), fake)  # one authority for every tenant, as Entra ID
            status, body = issuer.token(tenant.group(1), form)
            issuer._log(method, path, False, status, request_id)
            return self._send(Answer(status, body), request_id, client_request_id)
        if not path.startswith("/v1.0/"):
            fake._log(method, path, False, 404, request_id)
            return self._send(_error(404, "BadRequest", "Invalid version.", request_id, client_request_id),
                              request_id, client_request_id)
        gpath = path[len("/v1.0"):]
        auth = self.headers.get("Authorization")
        fake = fake.tenant_for(auth)  # the tenant the token was issued in: one Graph endpoint for all, as Graph
        app = fake.token_apps.get((auth or "")[7:].strip(), "")
        problem = fake.bearer_ok(auth)
        if problem:
            answer = _error(401, "InvalidAuthenticationToken", problem, request_id, client_request_id)
        else:
            try:
                body = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                body = None
                answer = _error(400, "BadRequest", "Unable to read JSON request payload.", request_id,
                                client_request_id)
            else:
                if gpath == "/$batch" and method == "POST":
                    answer = fake.batch(body, request_id, client_request_id, app)
                else:
                    answer = fake.call(method, gpath, dict(parse_qsl(parts.query)), body, request_id,
                                       client_request_id, app)
        fake._log(method, gpath, False, answer.status, request_id, parts.query, app)
        self._send(answer, request_id, client_request_id)

    def _send(self, answer: Answer, request_id: str, client_request_id: str) -> None:
        payload = json.dumps(answer.body).encode() if answer.body is not None else b""
        self.send_response(answer.status)
        self.send_header("request-id", request_id)
        self.send_header("client-request-id", client_request_id)
        self.send_header("x-ms-ags-diagnostic", json.dumps({"ServerInfo": {"DataCenter": "Loopback"}}))
        for k, v in answer.headers.items():
            if k.lower() != "content-type":
                self.send_header(k, v)
        if payload:
            self.send_header("Content-Type", "application/json;odata.metadata=minimal;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def thumbprint(cert_pem: bytes) -> str:
    """SHA-1 thumbprint of a PEM certificate, as msal's client_credential wants it."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(Encoding.DER)
    return hashlib.sha1(der).hexdigest().upper()  # noqa: S324 - the thumbprint format is SHA-1 by definition
