"""moto as several server processes behind one loopback address, so that accounts are served in parallel as AWS
serves them.

One moto server is one Python process: it answers one call at a time, whatever the number of clients, and more
connections only slow it down (bench/aws_raw.py measures it). A benchmark of revoke's fan-out across accounts then
measures moto's single core, not revoke. The fleet runs `processes` moto servers and a router in front of them:

- a request is sent to the server of the account it acts in, with moto's own `x-moto-account-id` header, so a server
  acts in accounts whose assumed-role keys another server issued;
- the account of a request is the one its access key was issued for: the router reads the `AccessKeyId` and the
  `assumed-role` ARN of every AssumeRole answer; keys it has not seen (the base credentials) act in the management
  account, as in one moto server;
- STS and Organizations are served by the first server only (the organization and the sessions live there), and
  the management account too; member accounts are spread over the others in the order they are first seen.

The router forwards bytes and parses only the request line, the headers and AssumeRole answers; it runs in a thread
of the calling process. `python bench/aws_fleet.py serve` is one server of the fleet (it ends when its stdin closes).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import BinaryIO

from revoke.sandbox.aws import MANAGEMENT_ACCOUNT, MotoServer

_CREDENTIAL = re.compile(rb"Credential=([A-Z0-9]+)/[^/]+/[^/]+/([a-z0-9-]+)/")
_ISSUED_KEY = re.compile(rb"<AccessKeyId>([A-Z0-9]+)</AccessKeyId>")
_ASSUMED_IN = re.compile(rb"<Arn>arn:[a-z-]+:sts::(\d{12}):assumed-role/")
_FIRST_SERVER_ONLY = {b"sts", b"organizations"}


class MotoFleet:
    """`processes` moto servers behind one router on 127.0.0.1. Use as a context manager or start()/stop()."""

    def __init__(self, processes: int = 4):
        self.processes = max(1, processes)
        self.url = ""
        self._servers: list[subprocess.Popen[str]] = []
        self._addresses: list[tuple[str, int]] = []
        self._account_of_key: dict[bytes, bytes] = {}
        self._server_of_account: dict[bytes, int] = {MANAGEMENT_ACCOUNT.encode(): 0}
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()

    def start(self) -> "MotoFleet":
        try:
            for _ in range(self.processes):  # started together: each spends a second or two importing moto
                self._servers.append(subprocess.Popen(
                    [sys.executable, str(Path(__file__).resolve()), "serve"], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, text=True))
            for proc in self._servers:
                assert proc.stdout is not None
                line = proc.stdout.readline().strip()
                if not line.startswith("http://"):
                    raise RuntimeError(f"a moto server of the fleet did not start (exit {proc.poll()})")
                host, port = line.removeprefix("http://").rsplit(":", 1)
                self._addresses.append((host, int(port)))
            self._listener = socket.create_server(("127.0.0.1", 0))
            self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
            threading.Thread(target=self._accept, name="moto-fleet-router", daemon=True).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in list(self._connections):
                _close(conn)
        for proc in self._servers:
            if proc.stdin is not None:
                proc.stdin.close()  # the server's signal to stop
        for proc in self._servers:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._servers = []

    def __enter__(self) -> "MotoFleet":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def accounts_per_server(self) -> list[int]:
        counts = [0] * self.processes
        for index in self._server_of_account.values():
            counts[index] += 1
        return counts

    # ---- the router

    def _accept(self) -> None:
        listener = self._listener
        while listener is not None:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed by stop()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._connections.add(conn)
            threading.Thread(target=self._serve_client, args=(conn,), daemon=True).start()

    def _route(self, authorization: bytes | None) -> tuple[int, bytes | None, bool]:
        """(server index, account to name in x-moto-account-id or None, whether it is an STS call)."""
        match = _CREDENTIAL.search(authorization or b"")
        if match is None:
            return 0, None, False
        key, service = match.groups()
        if service in _FIRST_SERVER_ONLY:
            return 0, None, service == b"sts"
        account = self._account_of_key.get(key)
        if account is None:
            return 0, None, False
        index = self._server_of_account.get(account)
        if index is None:
            with self._lock:
                index = self._server_of_account.get(account)
                if index is None:
                    members = sum(1 for i in self._server_of_account.values() if i)
                    index = self._server_of_account[account] = (
                        1 + members % (self.processes - 1) if self.processes > 1 else 0)
        return index, account, False

    def _serve_client(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb", buffering=65536)
        try:
            while True:
                request = _read_message(reader, is_response=False)
                if request is None:
                    return
                head, body = request
                index, account, sts = self._route(_header(head, b"authorization"))
                if account is not None:
                    head = head[:-1] + [b"x-moto-account-id: " + account + b"\r\n", b"\r\n"]
                # moto's server (werkzeug) closes the connection after every answer, so each call is a new
                # connection to it; the client's own connection is kept open, as AWS keeps it
                with socket.create_connection(self._addresses[index]) as upstream:
                    upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    upstream.sendall(b"".join(head) + body)
                    response = _read_message(upstream.makefile("rb", buffering=65536), is_response=True)
                if response is None:
                    return
                rhead, rbody = response
                if sts and b"Action=AssumeRole&" in body + b"&":
                    self._learn(rbody)
                rhead = [h for h in rhead if h.lower().replace(b" ", b"") != b"connection:close\r\n"]
                conn.sendall(b"".join(rhead) + rbody)
        except OSError:
            return
        finally:
            _close(conn)
            with self._lock:
                self._connections.discard(conn)

    def _learn(self, body: bytes) -> None:
        key, account = _ISSUED_KEY.search(body), _ASSUMED_IN.search(body)
        if key and account:
            self._account_of_key[key.group(1)] = account.group(1)


def _header(head: list[bytes], name: bytes) -> bytes | None:
    for line in head[1:]:
        field, _, value = line.partition(b":")
        if field.strip().lower() == name:
            return value.strip()
    return None


def _read_message(stream: BinaryIO, *, is_response: bool) -> tuple[list[bytes], bytes] | None:
    """One HTTP/1.1 message: its head (start line, headers, blank line, each with its CRLF) and its body, read by
    Content-Length or chunks (re-sent with a Content-Length), or to the end of the stream."""
    first = stream.readline(65537)
    if not first:
        return None
    head = [first]
    while True:
        line = stream.readline(65537)
        if not line:
            raise ConnectionError("connection closed inside a message head")
        head.append(line)
        if line in (b"\r\n", b"\n"):
            break
    status = int(first.split()[1]) if is_response else 0
    if is_response and (status < 200 or status in (204, 304)):
        return head, b""
    length = _header(head, b"content-length")
    if length is not None:
        return head, stream.read(int(length))
    if (_header(head, b"transfer-encoding") or b"").lower() == b"chunked":
        parts = []
        while True:
            size = int(stream.readline().split(b";")[0], 16)
            if size == 0:
                while stream.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            parts.append(stream.read(size))
            stream.readline()
        body = b"".join(parts)
        head = [h for h in head[:-1] if not h.lower().startswith(b"transfer-encoding:")]
        return head + [b"Content-Length: %d\r\n" % len(body), b"\r\n"], body
    if is_response:
        return head, stream.read()
    return head, b""


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _serve() -> None:
    server = MotoServer().start()
    print(server.url, flush=True)
    try:
        sys.stdin.read()  # until the fleet closes it, or ends
    finally:
        server.stop()


if __name__ == "__main__":
    if sys.argv[1:] != ["serve"]:
        sys.exit("usage: python bench/aws_fleet.py serve   (one moto server of a MotoFleet)")
    _serve()
