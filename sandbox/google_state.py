"""The Google Workspace fake's data: users (with backup codes, app passwords, OAuth grants, sessions), groups (members
with roles, Groups Settings), Chat spaces (memberships), and the service accounts allowed domain-wide delegation.
Seeding and inspection for tests; `snapshot()` is what a test compares before and after, read independently of
revoke."""

from __future__ import annotations

import copy
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
          503: "UNAVAILABLE"}


class GError(Exception):
    """An answer in Google's JSON error shape (Directory, Groups Settings and Chat all use it)."""

    def __init__(self, status: int, message: str, reason: str = "", headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason or {404: "notFound", 403: "forbidden", 400: "invalid", 409: "duplicate",
                                 401: "authError", 412: "conditionNotMet"}.get(status, "backendError")
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.status, "message": self.message,
                          "errors": [{"message": self.message, "domain": "global", "reason": self.reason}],
                          "status": STATUS.get(self.status, "UNKNOWN")}}


@dataclass
class User:
    id: str
    email: str
    aliases: list[str] = field(default_factory=list)
    is_admin: bool = False
    suspended: bool = False
    suspension_reason: str | None = None
    codes: list[str] = field(default_factory=list)
    asps: dict[int, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)   # resourceId -> mobile device
    sessions: int = 1
    signed_out: list[float] = field(default_factory=list)   # when signOut was called (not in snapshots)

    def names(self) -> set[str]:
        return {self.id, self.email.casefold(), *(a.casefold() for a in self.aliases)}

    def resource(self) -> dict[str, Any]:
        local = self.email.partition("@")[0]
        body: dict[str, Any] = {"kind": "admin#directory#user", "id": self.id, "primaryEmail": self.email,
                                "name": {"givenName": local.title(), "familyName": "Example",
                                         "fullName": f"{local.title()} Example"},
                                "isAdmin": self.is_admin, "isDelegatedAdmin": False, "suspended": self.suspended,
                                "emails": [{"address": self.email, "primary": True},
                                           *({"address": a} for a in self.aliases)],
                                "customerId": "C0fake", "orgUnitPath": "/", "isEnrolledIn2Sv": bool(self.codes)}
        if self.aliases:
            body["aliases"] = list(self.aliases)
        if self.suspended:
            body["suspensionReason"] = self.suspension_reason or "ADMIN"
        return body


@dataclass
class Group:
    id: str
    email: str
    name: str
    aliases: list[str] = field(default_factory=list)
    members: dict[str, str] = field(default_factory=dict)     # user id -> OWNER / MANAGER / MEMBER
    settings: dict[str, str] = field(default_factory=lambda: {"archiveOnly": "false",
                                                               "whoCanPostMessage": "ALL_MEMBERS_CAN_POST"})

    def names(self) -> set[str]:
        return {self.id, self.email.casefold(), *(a.casefold() for a in self.aliases)}

    def resource(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": "admin#directory#group", "id": self.id, "email": self.email,
                                "name": self.name, "directMembersCount": str(len(self.members)),
                                "adminCreated": True}
        if self.aliases:
            body["aliases"] = list(self.aliases)
        return body


@dataclass
class Space:
    name: str                       # spaces/AAAA...
    display: str
    members: dict[str, str] = field(default_factory=dict)     # user id -> ROLE_MEMBER / ROLE_MANAGER


@dataclass
class ServiceAccount:
    email: str
    public_pem: bytes
    scopes: set[str]                # what the Admin console granted its client id (domain-wide delegation)
    client_id: str


class GoogleState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.spaces: dict[str, Space] = {}
        self.service_accounts: dict[str, ServiceAccount] = {}
        self._user_names: dict[str, str] = {}    # every identifier (casefolded) -> user id: 2,000 users stay fast
        self._group_names: dict[str, str] = {}
        self._ids = itertools.count(100000000000000000001)

    def _id(self) -> str:
        return str(next(self._ids))

    # ---- seeding
    def add_user(self, email: str, *, admin: bool = False, aliases: list[str] | None = None,
                 suspended: bool = False, codes: int = 0) -> User:
        with self.lock:
            u = User(self._id(), email, list(aliases or []), admin, suspended, "ADMIN" if suspended else None)
            u.codes = [f"{k:04d}{int(u.id) % 10000:04d}" for k in range(codes)]
            self.users[u.id] = u
            self._user_names.update(dict.fromkeys(u.names(), u.id))
            return u

    def add_asp(self, email: str, name: str) -> int:
        with self.lock:
            u = self.user(email)
            assert u is not None
            code = max(u.asps, default=0) + 1
            u.asps[code] = {"codeId": code, "name": name, "creationTime": "1700000000000", "lastTimeUsed": "-1"}
            return code

    def add_device(self, email: str, model: str = "Pixel 8") -> str:
        with self.lock:
            u = self.user(email)
            assert u is not None
            rid = f"AFiQxQ{self._id()[-8:]}"
            u.devices[rid] = {"kind": "admin#directory#mobiledevice", "resourceId": rid, "deviceId": rid.lower(),
                              "model": model, "type": "ANDROID", "status": "APPROVED", "email": [u.email]}
            return rid

    def add_token(self, email: str, client_id: str, app: str, scopes: list[str]) -> None:
        with self.lock:
            u = self.user(email)
            assert u is not None
            u.tokens[client_id] = {"clientId": client_id, "displayText": app, "scopes": list(scopes),
                                   "anonymous": False, "nativeApp": False}

    def add_group(self, email: str, name: str = "", members: dict[str, str] | None = None,
                  aliases: list[str] | None = None) -> Group:
        with self.lock:
            g = Group(self._id()[-8:] + "grp", email, name or email.split("@")[0], list(aliases or []))
            for who, role in (members or {}).items():
                u = self.user(who)
                assert u is not None, who
                g.members[u.id] = role
            self.groups[g.id] = g
            self._group_names.update(dict.fromkeys(g.names(), g.id))
            return g

    def add_space(self, display: str, members: dict[str, str]) -> Space:
        with self.lock:
            s = Space(f"spaces/AAA{self._id()[-7:]}", display)
            for who, role in members.items():
                u = self.user(who)
                assert u is not None, who
                s.members[u.id] = role
            self.spaces[s.name] = s
            return s

    def add_service_account(self, email: str, public_pem: bytes, scopes: list[str]) -> ServiceAccount:
        with self.lock:
            sa = ServiceAccount(email, public_pem, set(scopes), self._id()[-12:])
            self.service_accounts[email] = sa
            return sa

    # ---- lookup
    def user(self, key: str) -> User | None:
        return self.users.get(self._user_names.get(key.strip().casefold(), ""))

    def group(self, key: str) -> Group | None:
        return self.groups.get(self._group_names.get(key.strip().casefold(), ""))   # a deleted one: None

    def role(self, group: str, user: str) -> str | None:
        g, u = self.group(group), self.user(user)
        return g.members.get(u.id) if g and u else None

    def snapshot(self) -> dict[str, Any]:
        """Everything a write could change, read straight from the fake's data."""
        with self.lock:
            users = {u.id: {"suspended": u.suspended, "codes": list(u.codes), "asps": sorted(u.asps),
                            "tokens": sorted(u.tokens), "sessions": u.sessions,
                            "devices": {k: d["status"] for k, d in u.devices.items()}} for u in self.users.values()}
            groups = {g.id: {"members": dict(g.members), "settings": dict(g.settings)} for g in self.groups.values()}
            spaces = {s.name: dict(s.members) for s in self.spaces.values()}
            return copy.deepcopy({"users": users, "groups": groups, "spaces": spaces})
