"""An HTTP proxy in front of moto's server that answers AWS `Throttling` for chosen operations, and records what
reached moto. AWS's query APIs (IAM, STS) name the operation in the form body (`Action=UpdateAccessKey`)."""

from __future__ import annotations

import http.client
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

THROTTLING = """<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>
  <RequestId>{rid}</RequestId>
</ErrorResponse>
"""


@dataclass
class Seen:
    operation: str
    params: dict[str, str]
    forwarded: bool     # the request reached moto
    status: int         # what the client got


@dataclass
class _Rule:
    operation: str
    times: int
    applied: bool       # forward to moto first, then answer Throttling anyway


class ThrottlingProxy:
    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.seen: list[Seen] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def throttle(self, operation: str, times: int = 1, *, applied: bool = False) -> None:
        with self._lock:
            self._rules.append(_Rule(operation, times, applied))

    def succeeded(self, operation: str) -> list[dict[str, str]]:
        """The params of each `operation` that moto carried out and answered 2xx (as far as moto knows)."""
        with self._lock:
            return [s.params for s in self.seen if s.operation == operation and s.forwarded]

    @property
    def url(self) -> str:
        assert self._server
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "ThrottlingProxy":
        proxy = self

        class Handler(_Handler):
            state = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _rule(self, operation: str) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.operation == operation and rule.times > 0:
                    rule.times -= 1
                    return rule
        return None

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()} if body else {}
        operation = form.get("Action", "")
        params = {k: v for k, v in form.items() if k not in ("Action", "Version")}
        rule = self._rule(operation) if operation else None
        status, out_headers, out_body, forwarded = 0, [], b"", False
        if rule is None or rule.applied:
            conn = http.client.HTTPConnection(*self.upstream, timeout=30)
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                status, out_body = resp.status, resp.read()
                out_headers = [(k, v) for k, v in resp.getheaders()
                               if k.lower() not in ("transfer-encoding", "connection", "content-length")]
            finally:
                conn.close()
            forwarded = status < 300
        if rule is not None:
            rid = str(uuid.uuid4())
            status, out_body = 400, THROTTLING.format(rid=rid).encode()
            out_headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)]
        with self._lock:
            self.seen.append(Seen(operation, params, forwarded, status))
        return status, out_headers, out_body


class _Handler(BaseHTTPRequestHandler):
    state: ThrottlingProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
        pass

    def _any(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
        status, out_headers, out_body = self.state.handle(self.command, self.path, headers, body)
        self.send_response(status)
        for k, v in out_headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(out_body)))
        self.end_headers()
        self.wfile.write(out_body)

    do_GET = do_POST = do_PUT = do_DELETE = _any  # noqa: N815
