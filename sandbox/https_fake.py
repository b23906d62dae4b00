"""What every sandbox fake shares: a threaded HTTP server on 127.0.0.1 (port 0), TLS from a throwaway CA, and the
request handler's plumbing. A fake says what it answers; how it is served is written once, here.

    class AcmeFake(HttpsFake):
        handler_class = AcmeHandler          # a FakeHandler (or JsonFakeHandler) subclass; gets `fake` = the fake
        server_name = "acme-fake"

    with AcmeFake() as fake:                 # start(): listening, `fake.origin`, `fake.ca_file` set
        client = Client(fake.origin, verify=fake.ca_file)

TLS: `trustme` makes an ECDSA CA at start (a fraction of RSA key generation time) and issues the server's
certificate for 127.0.0.1 and localhost; `ca_file` is the CA's PEM, for clients to trust. A fake that must share
another's CA (Exchange Online and Graph: one `ca_file` for both) returns it from `issuing_ca()`. A fake whose real
service a client reaches over plain HTTP in tests (Slack: slack_sdk's `base_url`) sets `tls = False`.

`FakeServer` is the server alone, for a fake that cannot take the mixin (its own `start()` does more): Graph can
adopt it by holding one `FakeServer(GraphHandler, name="graph-fake")` and reading `ca`, `ca_file` and `port` from it.
"""

from __future__ import annotations

import json
import socket
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar


class FakeServer:
    """One ThreadingHTTPServer on 127.0.0.1, an OS-chosen port, answering in a daemon thread; TLS unless `tls`
    is False, with a certificate from `ca` or from a new throwaway CA."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, name: str, tls: bool = True, ca: Any = None):
        self.handler, self.name, self.tls = handler, name, tls
        self.ca: Any = ca          # trustme.CA once started with TLS
        self.ca_file = ""          # the CA's PEM, written when this server made the CA
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> "FakeServer":
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        server.daemon_threads = True
        if self.tls:
            server.socket = self._tls_context().wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.name, daemon=True)
        self._thread.start()
        return self

    def _tls_context(self) -> ssl.SSLContext:
        import trustme  # the sandbox extra; imported here so `revoke` itself does not need it

        if self.ca is None:
            self.ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
            self._tmp = tempfile.TemporaryDirectory(prefix=f"revoke-{self.name}-")
            self.ca_file = str(Path(self._tmp.name) / f"{self.name}-ca.pem")
            self.ca.cert_pem.write_to_path(self.ca_file)
        cert = self.ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.ECDSA)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        return ctx

    def stop(self) -> None:
        """Stop answering and release the port and the CA's file; safe to call twice or before start()."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self.name} is not started: call start() first")
        return self._server.server_address[1]

    @property
    def origin(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class HttpsFake:
    """Mixin for a fake service: start()/stop(), a context manager, and `port`, `origin`, `ca`, `ca_file`.
    A subclass names its `handler_class`; each request's handler finds the fake as `self.fake`."""

    handler_class: ClassVar[type[BaseHTTPRequestHandler]]
    server_name: ClassVar[str] = "fake"
    tls: ClassVar[bool] = True
    _served: FakeServer | None = None

    def issuing_ca(self) -> Any:
        """The trustme CA to issue the server's certificate from; None makes a new one."""
        return None

    def start(self) -> Any:
        if self._served is None:
            handler = type("Handler", (self.handler_class,), {"fake": self})
            self._served = FakeServer(handler, name=self.server_name, tls=self.tls, ca=self.issuing_ca()).start()
        return self

    def stop(self) -> None:
        if self._served is not None:
            self._served.stop()
            self._served = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _server(self) -> FakeServer:
        if self._served is None:
            raise RuntimeError(f"{self.server_name} is not started: call start() first")
        return self._served

    @property
    def port(self) -> int:
        return self._server().port

    @property
    def origin(self) -> str:
        return self._server().origin

    @property
    def ca(self) -> Any:
        return self._server().ca

    @property
    def ca_file(self) -> str:
        """The PEM of the CA a client must trust ("" before start, and when the CA is another fake's)."""
        return self._served.ca_file if self._served is not None else ""


class FakeHandler(BaseHTTPRequestHandler):
    """A fake's request handler: HTTP/1.1 keep-alive, no Nagle delay, quiet; every method goes to `serve`."""

    fake: Any
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name; quiet in tests
        pass

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status: int, headers: dict[str, str], payload: bytes, content_type: str | None = None) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if payload and content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def serve(self, method: str) -> None:
        raise NotImplementedError

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        self.serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.serve("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self.serve("PATCH")

    def do_PUT(self) -> None:  # noqa: N802
        self.serve("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self.serve("DELETE")


class JsonFakeHandler(FakeHandler):
    """Hands each request to `fake.handle(method, path, headers (lower-cased), body) -> (status, headers, answer)`
    and sends the answer: bytes as they are, anything else as JSON (None: no body). A bug in the fake answers 500
    with `crash_body(exc)` in the service's error shape, instead of dropping the connection."""

    content_type = "application/json"

    def crash_body(self, exc: Exception) -> Any:
        return {"message": f"{self.server_version}: {type(exc).__name__}: {exc}"}

    def serve(self, method: str) -> None:
        raw = self.read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, out, answer = self.fake.handle(method, self.path, headers, raw)
        except Exception as exc:  # noqa: BLE001 - a fake bug answers 500 instead of dropping the connection
            status, out, answer = 500, {}, self.crash_body(exc)
        if isinstance(answer, bytes):
            self.send(status, out, answer)
        else:
            self.send(status, out, json.dumps(answer).encode() if answer is not None else b"", self.content_type)
