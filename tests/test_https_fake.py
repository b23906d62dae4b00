"""The sandbox's one HTTPS-fake base (revoke.sandbox.https_fake): what a client of any fake relies on, checked with
a plain HTTP client, not with the fakes' own code."""

from __future__ import annotations

import json
import os
import socket
import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest

from revoke.sandbox.https_fake import HttpsFake, JsonFakeHandler


class _Echo(JsonFakeHandler):
    server_version = "echo-fake"

    def crash_body(self, exc: Exception) -> Any:
        return {"error": {"code": "InternalError", "message": str(exc)}}


class EchoFake(HttpsFake):
    handler_class = _Echo
    server_name = "echo-fake"

    def __init__(self, ca: Any = None):
        self.seen: list[tuple[str, str, bytes]] = []
        self._ca = ca

    def issuing_ca(self) -> Any:
        return self._ca

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict, Any]:
        if path == "/boom":
            raise ValueError("the fake has a bug")
        self.seen.append((method, path, raw))
        return 201, {"X-Echo": method}, {"path": path, "auth": headers.get("authorization")}


class PlainFake(EchoFake):
    tls = False


def get(url: str, cafile: str | None, *, method: str = "GET", data: bytes | None = None) -> tuple[int, dict, Any]:
    """One request, trusting only `cafile` (None: the machine's usual trust store)."""
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https:") else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": "Bearer t"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def test_a_client_trusting_the_fakes_ca_file_reaches_it_and_one_that_does_not_is_refused() -> None:
    with EchoFake() as fake:
        assert fake.origin == f"https://127.0.0.1:{fake.port}"
        status, headers, body = get(f"{fake.origin}/users?x=1", fake.ca_file, method="POST", data=b"{}")
        assert (status, headers["X-Echo"], body) == (201, "POST", {"path": "/users?x=1", "auth": "Bearer t"})
        assert fake.seen == [("POST", "/users?x=1", b"{}")]
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            get(f"{fake.origin}/", None)   # the machine's trust store does not know a throwaway CA


def test_stop_releases_the_port_and_the_ca_file_and_may_be_called_twice() -> None:
    fake = EchoFake().start()
    port, ca_file = fake.port, fake.ca_file
    assert os.path.isfile(ca_file)
    fake.stop()
    fake.stop()
    assert not os.path.exists(ca_file) and fake.ca_file == ""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(RuntimeError, match="not started"):
        _ = fake.port


def test_a_fake_issuing_from_anothers_ca_is_trusted_through_the_first_ones_ca_file() -> None:
    with EchoFake() as first, EchoFake(ca=first.ca) as second:   # Exchange Online's fake on the Graph fake's CA
        assert second.ca_file == ""   # the CA is the first fake's: clients trust first.ca_file
        assert get(f"{second.origin}/shared", first.ca_file)[0] == 201


def test_a_bug_in_a_fake_answers_500_in_the_services_shape_instead_of_dropping_the_connection() -> None:
    with EchoFake() as fake:
        status, _, body = get(f"{fake.origin}/boom", fake.ca_file)
    assert status == 500 and body == {"error": {"code": "InternalError", "message": "the fake has a bug"}}


def test_a_plain_http_fake_serves_http() -> None:
    with PlainFake() as fake:
        assert fake.origin.startswith("http://") and fake.ca_file == ""
        assert get(f"{fake.origin}/plain", None)[0] == 201
