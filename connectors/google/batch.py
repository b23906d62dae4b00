"""The client library's batch request, written and read without the `email` package.

`googleapiclient.http.BatchHttpRequest` builds each part with `email.mime` and a `Generator`, and reads the answer
with `FeedParser`: correct, and about 0.5 ms of CPU a call, so a run of 36,000 calls spent more time formatting
MIME than Google's quota made it wait. This subclass keeps the library's behaviour (its request ids, callbacks,
401 refresh and per-part errors: `execute` is the library's own) and replaces only the two private steps that
turn requests into the `multipart/mixed` body and the answer back into (response, content) pairs, in the format
Google's batch documentation gives: each part `Content-Type: application/http` with a `Content-ID`, holding a
request line, headers and body.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import httplib2
from googleapiclient.errors import BatchError, HttpError
from googleapiclient.http import BatchHttpRequest

BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
CONTENT_ID = re.compile(r"^content-id:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)


class FastBatch(BatchHttpRequest):  # type: ignore[misc,unused-ignore]
    def _serialize_request(self, request: Any) -> str:
        url = urlsplit(request.uri)
        target = url.path + (f"?{url.query}" if url.query else "")
        headers = {k.lower(): v for k, v in request.headers.items()}
        lines = [f"{request.method} {target} HTTP/1.1", f"Host: {url.netloc}"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k != "content-length"]
        body = request.body or ""
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        if body:
            lines.append(f"Content-Length: {len(body.encode('utf-8'))}")
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def _execute(self, http: Any, order: list[str], requests: dict[str, Any]) -> None:
        boundary = "===============" + uuid.uuid4().hex
        chunks = [f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
                  f"Content-ID: {self._id_to_header(rid)}\r\n\r\n{self._serialize_request(requests[rid])}\r\n"
                  for rid in order]
        body = "".join(chunks) + f"--{boundary}--\r\n"
        resp, content = http.request(self._batch_uri, method="POST", body=body.encode("utf-8"),
                                     headers={"content-type": f'multipart/mixed; boundary="{boundary}"'})
        if resp.status >= 300:
            raise HttpError(resp, content, uri=self._batch_uri)
        found = BOUNDARY.search(resp.get("content-type", ""))
        if found is None:
            raise BatchError("Response not in multipart/mixed format.", resp=resp, content=content)
        text = content.decode("utf-8")
        for part in text.split("--" + found.group(1)):
            head, sep, inner = part.partition("\r\n\r\n")
            cid = CONTENT_ID.search(head)
            if not sep or cid is None:
                continue
            self._responses[self._header_to_id(cid.group(1))] = _response(inner)


def _response(inner: str) -> tuple[httplib2.Response, bytes]:
    """One part's `HTTP/1.1 STATUS REASON`, headers and body, as httplib2 would have answered it."""
    head, _, body = inner.partition("\r\n\r\n")
    status_line, *header_lines = head.split("\r\n")
    _, status, *reason = status_line.split(" ", 2)
    info = {"status": status}
    for line in header_lines:
        key, _, value = line.partition(":")
        info[key.strip().lower()] = value.strip()
    resp = httplib2.Response(info)
    resp.reason = reason[0] if reason else ""
    return resp, body.removesuffix("\r\n").encode("utf-8")
