"""What the Graph fake answers with: the service's error bodies and messages, `Answer`, and the OData helpers
(`$select`, `$filter`, key syntax in paths) that the directory and the request handling share."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

SYNCED_MESSAGE = ("Unable to update the specified properties for on-premises mastered Directory Sync objects or "
                  "objects currently undergoing migration.")
MAIL_ENABLED_MESSAGE = "Cannot Update a mail-enabled security groups and or distribution list."
DUPLICATE_MEMBER_MESSAGE = ("One or more added object references already exist for the following modified "
                            "properties: 'members'.")
PRIVILEGES_MESSAGE = "Insufficient privileges to complete the operation."


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def stamp(t: dt.datetime | None = None) -> str:
    return (t or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def not_found(ident: str) -> GraphError:
    return GraphError(404, "Request_ResourceNotFound",
                      f"Resource '{ident}' does not exist or one of its queried reference-property objects are not "
                      "present.")


def bad_request(message: str) -> GraphError:
    return GraphError(400, "Request_BadRequest", message)


# OData key syntax (`/teams('x')/operations('y')`, as in Location headers) is the same resource as `/teams/x/...`
_KEY = re.compile(r"([A-Za-z.]+)\('([^']*)'\)")


def split_path(path: str) -> list[str]:
    path = _KEY.sub(r"\1/\2", path)
    return [p for p in path.split("/") if p]


def error_answer(status: int, code: str, message: str, request_id: str, client_request_id: str,
           headers: dict[str, str] | None = None) -> Answer:
    body = {"error": {"code": code, "message": message,
                      "innerError": {"date": stamp(), "request-id": request_id,
                                     "client-request-id": client_request_id}}}
    return Answer(status, body, {"Content-Type": "application/json", **(headers or {})})


ZERO_ROLE = "00000000-0000-0000-0000-000000000000"  # the default access role of an app with no roles


def select(obj: dict[str, Any], fields: str | None) -> dict[str, Any]:
    if not fields:
        return dict(obj)
    wanted = {f.strip() for f in fields.split(",")} | {"id", "@odata.type"}
    return {k: v for k, v in obj.items() if k in wanted}


def dumps(body: Any) -> bytes:
    return json.dumps(body).encode()


def filtered(items: list[dict[str, Any]], q: dict[str, str]) -> list[dict[str, Any]]:
    """`$filter=mail eq '...'` or `displayName eq '...'` (a quote doubled inside the value), compared without case
    as Graph compares these properties."""
    m = re.fullmatch(r"(mail|displayName) eq '((?:[^']|'')*)'", q.get("$filter", "").strip())
    if not m:
        return items
    field, value = m.group(1), m.group(2).replace("''", "'").casefold()
    return [i for i in items if str(i.get(field) or "").casefold() == value]
