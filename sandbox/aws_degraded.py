"""The degraded-server mode (revoke.testing.degraded) for the AWS connectors against moto.

moto's answers are degraded where botocore hands them over (`BaseClient._make_api_call`), after parsing, as a
service would have answered:

- `field-dropped M`: member M missing at any depth of the answer;
- `empty-200`: an answer with no members but its ResponseMetadata;
- `short-page`: a listing of two or more items cut to its first item, marked truncated with a marker that brings
  the rest on the next call (a connector that ignores IsTruncated/NextToken misses them);
- `stale-once`: a read answers what it answered the first time, once, after the state changed.

Writes (every operation but Get*/List*/Describe* and the STS calls that sign the session in) are answered with
an empty success and not sent, except in `stale-once`.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Iterator

from botocore.client import BaseClient

READS = ("Get", "List", "Describe")
PASS = ("AssumeRole", "GetCallerIdentity", "ListAccounts", "DescribeOrganization", "ListInstances")
MARK = "revoke-degraded:"


@contextlib.contextmanager
def degraded_aws(degrader: Any) -> Iterator[None]:
    original = BaseClient._make_api_call

    def call(self: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if operation in PASS:
            return original(self, operation, params)
        if not operation.startswith(READS):
            if degrader.swallow:
                return {"ResponseMetadata": {"RequestId": "degraded", "HTTPStatusCode": 200}}
            return original(self, operation, params)
        marker = next((k for k, v in params.items() if isinstance(v, str) and v.startswith(MARK)), None)
        if marker is not None:  # the rest of a page this shim cut short
            full = original(self, operation, {k: v for k, v in params.items() if k != marker})
            return _rest(full, int(params[marker][len(MARK):]))
        answer = original(self, operation, params)
        meta = answer.get("ResponseMetadata", {})
        body = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
        if degrader.mode == "short-page":
            out = _cut(self, operation, body)
            if out is not body:
                degrader.cut()
        elif degrader.mode == "empty-200":
            out = {}
            degrader.cut()
        else:
            key = f"{self.meta.service_model.service_name}:{operation}:{sorted(params.items())!r}"
            out = copy.deepcopy(degrader.answer(key, body))
        return {**out, "ResponseMetadata": meta}

    BaseClient._make_api_call = call  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


def _token_member(client: Any, operation: str) -> str | None:
    shape = client.meta.service_model.operation_model(operation).output_shape
    members = shape.members if shape is not None else {}
    return next((m for m in ("Marker", "NextToken") if m in members), None)


def _cut(client: Any, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    token = _token_member(client, operation)
    lists = [k for k, v in body.items() if isinstance(v, list) and len(v) >= 2]
    if token is None or not lists or body.get(token) or body.get("IsTruncated"):
        return body
    out = {**body, **{k: body[k][:1] for k in lists}, token: f"{MARK}1"}
    if "IsTruncated" in _members(client, operation):
        out["IsTruncated"] = True
    return out


def _members(client: Any, operation: str) -> dict[str, Any]:
    shape = client.meta.service_model.operation_model(operation).output_shape
    return dict(shape.members) if shape is not None else {}


def _rest(full: dict[str, Any], skip: int) -> dict[str, Any]:
    return {k: (v[skip:] if isinstance(v, list) else v) for k, v in full.items()}
