"""The state behind the Graph fake: users, groups, teams, roles, app role assignments, deleted items.

`Directory.handle` answers one Graph v1.0 request (a top-level one or one inside `$batch`) the way the service does
for the calls revoke makes: paths, status codes and error bodies follow the Microsoft Graph documentation, including
its traps (a member DELETE without `/$ref` deletes the object itself; synced users, mail-enabled security groups and
distribution lists, and dynamic groups refuse writes; only Microsoft 365 groups are soft-deleted and restorable).
"""

from __future__ import annotations

import base64
import threading
import uuid
from typing import Any
from urllib.parse import urlencode

from revoke.sandbox.graph_answers import (  # noqa: F401 - the messages and helpers, importable from here as before
    DUPLICATE_MEMBER_MESSAGE,
    MAIL_ENABLED_MESSAGE,
    PRIVILEGES_MESSAGE,
    SYNCED_MESSAGE,
    ZERO_ROLE,
    Answer,
    GraphError,
    bad_request,
    dumps,
    error_answer,
    filtered,
    not_found,
    select,
    split_path,
    stamp,
    utcnow,
)


class Directory:
    """One tenant's objects. Thread-safe: every request runs under one lock, like a single consistent replica."""

    def __init__(self, graph_root: str = "", page_size: int = 100):
        self.graph_root = graph_root  # e.g. https://127.0.0.1:PORT/v1.0, for nextLink and Location
        self.page_size = page_size
        self.page_cap: int | None = None  # the degraded-server mode's short pages (revoke.testing.degraded)
        self.pages_cut = 0
        self.archive_polls = 1  # GETs of a teamsAsyncOperation before it reports succeeded
        self.lock = threading.RLock()
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.members: dict[str, list[str]] = {}
        self.owners: dict[str, list[str]] = {}
        self.teams: dict[str, dict[str, Any]] = {}
        self.roles: dict[str, dict[str, Any]] = {}
        self.role_members: dict[str, list[str]] = {}
        self.service_principals: dict[str, dict[str, Any]] = {}
        self.assignments: dict[str, dict[str, Any]] = {}
        self.deleted: dict[str, dict[str, Any]] = {}   # id -> {"object": ..., "kind": "group"|"user", ...}
        self.operations: dict[str, dict[str, Any]] = {}

    # ---- lookups -------------------------------------------------------------------------------------------
    def user(self, key: str) -> dict[str, Any]:
        if key in self.users:
            return self.users[key]
        for u in self.users.values():
            if u["userPrincipalName"].casefold() == key.casefold():
                return u
        raise not_found(key)

    def group(self, gid: str) -> dict[str, Any]:
        if gid not in self.groups:
            raise not_found(gid)
        return self.groups[gid]

    def object(self, oid: str) -> dict[str, Any]:
        for table in (self.users, self.groups, self.service_principals):
            if oid in table:
                return table[oid]
        raise not_found(oid)

    def typed(self, obj: dict[str, Any]) -> dict[str, Any]:
        kind = ("user" if obj["id"] in self.users else "group" if obj["id"] in self.groups
                else "directoryRole" if obj["id"] in self.roles else "servicePrincipal")
        return {"@odata.type": f"#microsoft.graph.{kind}", **obj}

    @staticmethod
    def writable_members(g: dict[str, Any]) -> None:
        """Raise the service's answer for a group whose membership cannot be changed through Graph."""
        if g.get("onPremisesSyncEnabled"):
            raise bad_request(SYNCED_MESSAGE)
        if g.get("mailEnabled") and "Unified" not in g.get("groupTypes", []):
            raise bad_request(MAIL_ENABLED_MESSAGE)
        if "DynamicMembership" in g.get("groupTypes", []):
            raise GraphError(403, "Authorization_RequestDenied", PRIVILEGES_MESSAGE)

    # ---- paging and $select --------------------------------------------------------------------------------
    def page(self, path: str, items: list[dict[str, Any]], query: dict[str, str]) -> Answer:
        try:
            top = int(query.get("$top", self.page_size))
        except ValueError:
            raise bad_request(f"Invalid page size specified: '{query.get('$top')}'.") from None
        if not 1 <= top <= 999:
            raise bad_request(f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive.")
        top = min(top, self.page_cap or top)
        token = query.get("$skiptoken")
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        except (ValueError, UnicodeDecodeError):
            raise bad_request("The specified page token value has expired or is invalid.") from None
        chosen = [select(i, query.get("$select")) for i in items[start:start + top]]
        body: dict[str, Any] = {"@odata.context": f"{self.graph_root}/$metadata", "value": chosen}
        if start + top < len(items):
            self.pages_cut += self.page_cap is not None
            nxt = {k: v for k, v in query.items() if k in ("$select", "$filter")}
            nxt["$top"] = str(top)
            nxt["$skiptoken"] = base64.urlsafe_b64encode(str(start + top).encode()).decode()
            body["@odata.nextLink"] = f"{self.graph_root}{path}?{urlencode(nxt)}"
        return Answer(200, body)

    # ---- the router ----------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> Answer:
        with self.lock:
            try:
                return self._route(method, path, split_path(path), query, body or {})
            except GraphError:
                raise
            except (KeyError, TypeError, ValueError) as exc:
                raise bad_request(f"Invalid request: {exc}") from None

    def _route(self, method: str, path: str, seg: list[str], q: dict[str, str], body: dict[str, Any]) -> Answer:
        n = len(seg)
        head = seg[0] if seg else ""
        if head == "users":
            if n == 1 and method == "GET":
                found = list(self.users.values())
                found = filtered(found, q)
                return self.page(path, [self.typed(u) for u in found], q)
            if n >= 2:
                return self._users(method, path, seg, q, body)
        if head == "groups":
            if n == 1 and method == "GET":
                found = list(self.groups.values())
                found = filtered(found, q)
                return self.page(path, [self.typed(g) for g in found], q)
            if n >= 2:
                return self._groups(method, path, seg, q, body)
        if head == "teams" and n >= 2:
            return self._teams(method, seg)
        if head == "directory" and n >= 3 and seg[1] == "deletedItems":
            return self._deleted(method, path, seg, q)
        if head == "directoryRoles":
            return self._roles(method, path, seg, q, body)
        if head == "servicePrincipals" and n == 2 and method == "GET":
            if seg[1] not in self.service_principals:
                raise not_found(seg[1])
            return Answer(200, select(self.service_principals[seg[1]], q.get("$select")))
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{seg[-1] if seg else ''}'.")

    def _users(self, method: str, path: str, seg: list[str], q: dict[str, str], body: dict[str, Any]) -> Answer:
        u = self.user(seg[1])
        uid = u["id"]
        rest = seg[2:]
        if not rest:
            if method == "GET":
                return Answer(200, self._expanded(u, select(u, q.get("$select")), q.get("$expand")))
            if method == "PATCH":
                if u.get("onPremisesSyncEnabled"):
                    raise bad_request(SYNCED_MESSAGE)
                for key, value in body.items():
                    if key not in ("accountEnabled", "displayName", "jobTitle", "department"):
                        raise bad_request(f"Property '{key}' is read-only and cannot be set.")
                    u[key] = value
                return Answer(204)
            if method == "DELETE":
                self._delete_user(uid)
                return Answer(204)
        elif rest == ["revokeSignInSessions"] and method == "POST":
            u["signInSessionsValidFromDateTime"] = stamp()
            return Answer(200, {"@odata.context": f"{self.graph_root}/$metadata#Edm.Boolean", "value": True})
        elif rest == ["memberOf"] and method == "GET":
            return self.page(path, self.member_of(uid), q)
        elif rest == ["ownedObjects"] and method == "GET":
            return self.page(path, [self.typed(self.groups[g]) for g, os in self.owners.items() if uid in os], q)
        elif rest[0] == "appRoleAssignments":
            return self._assignments(method, path, u, rest[1:], q, body)
        raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")

    def member_of(self, uid: str) -> list[dict[str, Any]]:
        found = [self.typed(self.groups[g]) for g, ms in self.members.items() if uid in ms]
        return found + [self.typed(self.roles[r]) for r, ms in self.role_members.items() if uid in ms]

    def _expanded(self, u: dict[str, Any], body: dict[str, Any], expand: str | None) -> dict[str, Any]:
        """`$expand=memberOf` on a user. Graph's known issues for query parameters: $expand on relationships of
        directory objects "returns a maximum of 20 objects", has "no support for @odata.nextLink" and "no support
        for nesting other query parameters such as $filter and $select inside an $expand query"
        (developer.microsoft.com/graph/known-issues, "Some limitations apply to query parameters")."""
        if not expand:
            return body
        if expand.strip() != "memberOf":
            raise bad_request(f"graph fake: $expand={expand} is not implemented (only memberOf, without options)")
        return {**body, "memberOf": self.member_of(u["id"])[:20]}

    def _assignments(self, method: str, path: str, u: dict[str, Any], rest: list[str], q: dict[str, str],
                     body: dict[str, Any]) -> Answer:
        uid = u["id"]
        if not rest and method == "GET":
            return self.page(path, [a for a in self.assignments.values() if a["principalId"] == uid], q)
        if not rest and method == "POST":
            sp = self.service_principals.get(body.get("resourceId", ""))
            if body.get("principalId") != uid or sp is None:
                raise bad_request("Invalid principalId or resourceId.")
            role = body.get("appRoleId")
            if role != ZERO_ROLE and role not in {r["id"] for r in sp.get("appRoles", [])}:
                raise bad_request("Permission being assigned was not found on application")
            if any(a["principalId"] == uid and a["resourceId"] == sp["id"] and a["appRoleId"] == role
                   for a in self.assignments.values()):
                raise bad_request("Permission being assigned already exists on the object")
            a = self._new_assignment(u, sp, role)
            return Answer(201, a)
        if len(rest) == 1 and method == "DELETE":
            a = self.assignments.get(rest[0])
            if a is None or a["principalId"] != uid:
                raise not_found(rest[0])
            del self.assignments[rest[0]]
            return Answer(204)
        raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")

    def _new_assignment(self, u: dict[str, Any], sp: dict[str, Any], role: str) -> dict[str, Any]:
        aid = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes[:4]).decode().rstrip("=")
        a = {"id": aid, "appRoleId": role, "createdDateTime": stamp(), "principalDisplayName": u["displayName"],
             "principalId": u["id"], "principalType": "User", "resourceDisplayName": sp["displayName"],
             "resourceId": sp["id"]}
        self.assignments[aid] = a
        return a

    def _groups(self, method: str, path: str, seg: list[str], q: dict[str, str], body: dict[str, Any]) -> Answer:
        g = self.group(seg[1])
        gid = g["id"]
        rest = seg[2:]
        if not rest:
            if method == "GET":
                return Answer(200, select(g, q.get("$select")))
            if method == "DELETE":
                if g.get("onPremisesSyncEnabled"):
                    raise bad_request(SYNCED_MESSAGE)
                if g.get("mailEnabled") and "Unified" not in g.get("groupTypes", []):
                    raise bad_request(MAIL_ENABLED_MESSAGE)
                self._delete_group(gid)
                return Answer(204)
        elif rest[0] in ("members", "owners") and method == "GET" and len(rest) == 1:
            table = self.members if rest[0] == "members" else self.owners
            return self.page(path, [self.typed(self.object(m)) for m in table.get(gid, [])], q)
        elif rest == ["members", "$ref"] and method == "POST":
            self.writable_members(g)
            oid = split_path(body["@odata.id"])[-1]
            self.object(oid)
            if oid in self.members[gid]:
                raise bad_request(DUPLICATE_MEMBER_MESSAGE)
            self.members[gid].append(oid)
            return Answer(204)
        elif len(rest) == 3 and rest[0] == "members" and rest[2] == "$ref" and method == "DELETE":
            self.writable_members(g)
            if rest[1] not in self.members[gid]:
                raise not_found(rest[1])
            self.members[gid].remove(rest[1])
            return Answer(204)
        elif len(rest) == 2 and rest[0] == "members" and method == "DELETE":
            # The documented trap: without /$ref the service deletes the member object itself.
            self.object(rest[1])
            if rest[1] in self.users:
                self._delete_user(rest[1])
            else:
                self._delete_group(rest[1])
            return Answer(204)
        raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")

    def _teams(self, method: str, seg: list[str]) -> Answer:
        gid = seg[1]
        if gid not in self.teams or gid not in self.groups:
            raise GraphError(404, "NotFound", f"No team found with Group Id {gid}")
        team = self.teams[gid]
        rest = seg[2:]
        if not rest and method == "GET":
            g = self.groups[gid]
            return Answer(200, {"id": gid, "displayName": g["displayName"], "description": g.get("description"),
                                "isArchived": team["isArchived"], "webUrl": f"https://teams.invalid/{gid}"})
        if rest in (["archive"], ["unarchive"]) and method == "POST":
            if rest == ["archive"] and not self.owners.get(gid):
                raise GraphError(400, "BadRequest", "The team has no owner. Add an owner before archiving it.")
            op = str(uuid.uuid4())
            self.operations[op] = {"id": op, "operationType": f"{rest[0]}Team", "status": "inProgress",
                                   "createdDateTime": stamp(), "lastActionDateTime": stamp(), "attemptsCount": 1,
                                   "targetResourceId": gid, "targetResourceLocation": f"/teams('{gid}')",
                                   "error": None, "_polls_left": self.archive_polls,
                                   "_archive": rest == ["archive"]}
            if self.archive_polls <= 0:
                self._finish(self.operations[op])
            location = f"/teams('{gid}')/operations('{op}')"
            return Answer(202, None, {"Location": location, "Content-Location": location})
        if len(rest) == 2 and rest[0] == "operations" and method == "GET":
            op = self.operations.get(rest[1])
            if op is None or op["targetResourceId"] != gid:
                raise GraphError(404, "NotFound", f"Operation {rest[1]} not found")
            if op["status"] == "inProgress":
                op["_polls_left"] -= 1
                if op["_polls_left"] <= 0:
                    self._finish(op)
            return Answer(200, {k: v for k, v in op.items() if not k.startswith("_")})
        raise GraphError(405, "MethodNotAllowed", "Specified HTTP method is not allowed for the request target.")

    def _finish(self, op: dict[str, Any]) -> None:
        self.teams[op["targetResourceId"]]["isArchived"] = op["_archive"]
        op["status"], op["lastActionDateTime"] = "succeeded", stamp()

    def _deleted(self, method: str, path: str, seg: list[str], q: dict[str, str]) -> Answer:
        rest = seg[2:]
        if rest in (["microsoft.graph.group"], ["microsoft.graph.user"]) and method == "GET":
            kind = rest[0].rsplit(".", 1)[1]
            items = [self.typed_deleted(d) for d in self.deleted.values() if d["kind"] == kind]
            items = filtered(items, q)
            return self.page(path, items, q)
        if len(rest) == 1 and method == "GET":
            if rest[0] not in self.deleted:
                raise not_found(rest[0])
            return Answer(200, self.typed_deleted(self.deleted[rest[0]]))
        if len(rest) == 2 and rest[1] == "restore" and method == "POST":
            d = self.deleted.pop(rest[0], None)
            if d is None:
                raise not_found(rest[0])
            obj = {**d["object"], "deletedDateTime": None}
            if d["kind"] == "group":
                self.groups[obj["id"]] = obj
                self.members[obj["id"]] = d["members"]
                self.owners[obj["id"]] = d["owners"]
                if d.get("team") is not None:
                    self.teams[obj["id"]] = d["team"]
            else:
                self.users[obj["id"]] = obj
            return Answer(200, self.typed(obj))
        raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")

    def typed_deleted(self, d: dict[str, Any]) -> dict[str, Any]:
        return {"@odata.type": f"#microsoft.graph.{d['kind']}", **d["object"]}

    def _roles(self, method: str, path: str, seg: list[str], q: dict[str, str], body: dict[str, Any]) -> Answer:
        rest = seg[1:]
        if not rest and method == "GET":
            return self.page(path, [self.typed(r) for r in self.roles.values()], q)
        rid = rest[0]
        if rid not in self.roles:
            raise not_found(rid)
        if len(rest) == 1 and method == "GET":
            return Answer(200, self.roles[rid])
        if rest[1:] == ["members"] and method == "GET":
            return self.page(path, [self.typed(self.object(m)) for m in self.role_members[rid]], q)
        if rest[1:] == ["members", "$ref"] and method == "POST":
            oid = split_path(body["@odata.id"])[-1]
            self.object(oid)
            if oid in self.role_members[rid]:
                raise bad_request(DUPLICATE_MEMBER_MESSAGE)
            self.role_members[rid].append(oid)
            return Answer(204)
        if len(rest) == 4 and rest[1] == "members" and rest[3] == "$ref" and method == "DELETE":
            if rest[2] not in self.role_members[rid]:
                raise not_found(rest[2])
            self.role_members[rid].remove(rest[2])
            return Answer(204)
        raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")

    # ---- deletion ------------------------------------------------------------------------------------------
    def _delete_user(self, uid: str) -> None:
        u = self.users.pop(uid)
        for table in (self.members, self.owners, self.role_members):
            for ms in table.values():
                if uid in ms:
                    ms.remove(uid)
        self.assignments = {k: a for k, a in self.assignments.items() if a["principalId"] != uid}
        self.deleted[uid] = {"kind": "user", "object": {**u, "deletedDateTime": stamp()}}

    def _delete_group(self, gid: str) -> None:
        g = self.groups.pop(gid)
        members, owners = self.members.pop(gid, []), self.owners.pop(gid, [])
        team = self.teams.pop(gid, None)
        for ms in self.members.values():
            if gid in ms:
                ms.remove(gid)
        # Only Microsoft 365 groups are soft-deleted (restorable for 30 days); security groups are gone for good.
        if "Unified" in g.get("groupTypes", []):
            self.deleted[gid] = {"kind": "group", "object": {**g, "deletedDateTime": stamp()},
                                 "members": members, "owners": owners, "team": team}
