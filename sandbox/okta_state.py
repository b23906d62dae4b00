"""The data of the Okta fake (sandbox/okta.py): users, groups, group rules, grants, factors, sessions and OAuth
tokens, with seeding and inspection helpers for tests. Lifecycle rules live here too, where the HTTP routes and the
tests both reach them: suspend only from ACTIVE, unsuspend only from SUSPENDED, deactivation unassigns apps and ends
sessions and tokens, a user is deleted only once deactivated."""

from __future__ import annotations

import itertools
import re
import secrets as pysecrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

WRITES = ("POST", "PUT", "DELETE")
NOT_ACTIVE_ERROR = "Cannot suspend a user that is not active"


class OktaError(Exception):
    """An Okta error answer: `{errorCode, errorSummary, errorLink, errorId, errorCauses}`."""

    def __init__(self, status: int, code: str, summary: str, causes: list[str] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(summary)
        self.status, self.code, self.summary = status, code, summary
        self.causes = causes or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"errorCode": self.code, "errorSummary": self.summary, "errorLink": self.code,
                "errorId": "oae" + pysecrets.token_urlsafe(16), "errorCauses": [{"errorSummary": c}
                                                                                  for c in self.causes]}


def not_found(what: str, kind: str) -> OktaError:
    return OktaError(404, "E0000007", f"Not found: Resource not found: {what} ({kind})")


_ids = itertools.count(1)


def okta_id(prefix: str) -> str:
    """Okta's ids: a 3-character type prefix (00u user, 00g group, 0pr rule, oag grant) and 17 more."""
    return f"{prefix}{next(_ids):06d}{pysecrets.token_hex(6)[:11]}"


@dataclass
class User:
    id: str
    login: str
    email: str
    first: str
    last: str
    status: str = "ACTIVE"
    apps: list[str] = field(default_factory=list)       # direct app assignments (deactivation removes them)
    sessions: int = 0                                   # Okta sessions (not listable through the API)
    tokens: dict[str, int] = field(default_factory=dict)  # client id -> refresh tokens
    factors: list[dict[str, Any]] = field(default_factory=list)
    admin_roles: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "created": "2025-01-01T00:00:00.000Z",
                "activated": "2025-01-01T00:00:00.000Z", "statusChanged": None, "lastLogin": None,
                "lastUpdated": "2026-01-01T00:00:00.000Z", "passwordChanged": None,
                "type": {"id": "oty000000000000000001"}, "transitioningToStatus": None,
                "profile": {"firstName": self.first, "lastName": self.last, "login": self.login,
                            "email": self.email, "mobilePhone": None, "secondEmail": None},
                "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
                "_links": {"self": {"href": f"/api/v1/users/{self.id}"}}}


@dataclass
class Group:
    id: str
    name: str
    type: str = "OKTA_GROUP"            # OKTA_GROUP, APP_GROUP (imported from a directory or app), BUILT_IN
    description: str = ""
    members: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "objectClass": ["okta:user_group"],
                "created": "2025-01-01T00:00:00.000Z", "lastUpdated": "2026-01-01T00:00:00.000Z",
                "lastMembershipUpdated": "2026-01-01T00:00:00.000Z",
                "profile": {"name": self.name, "description": self.description},
                "_links": {"self": {"href": f"/api/v1/groups/{self.id}"}}}


@dataclass
class Rule:
    id: str
    name: str
    group_ids: list[str]
    expression: str
    status: str = "ACTIVE"
    exclude: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {"id": self.id, "type": "group_rule", "status": self.status, "name": self.name,
                "created": "2025-01-01T00:00:00.000Z", "lastUpdated": "2026-01-01T00:00:00.000Z",
                "conditions": {"people": {"users": {"exclude": list(self.exclude)}, "groups": {"exclude": []}},
                               "expression": {"value": self.expression, "type": "urn:okta:expression:1.0"}},
                "actions": {"assignUserToGroups": {"groupIds": list(self.group_ids)}}}


@dataclass
class Grant:
    id: str
    user_id: str
    client_id: str
    scope: str
    issuer: str
    status: str = "ACTIVE"

    def body(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "created": "2026-01-01T00:00:00.000Z",
                "lastUpdated": "2026-01-01T00:00:00.000Z", "issuer": self.issuer, "clientId": self.client_id,
                "userId": self.user_id, "scopeId": self.scope, "source": "END_USER",
                "_links": {"app": {"href": f"/api/v1/apps/{self.client_id}"},
                           "client": {"href": f"/oauth2/v1/clients/{self.client_id}"}}}


@dataclass
class ServiceApp:
    """An OAuth service app: private key JWT client authentication, granted scopes."""

    client_id: str
    public_key_pem: bytes
    scopes: tuple[str, ...]
    kid: str = "revoke-test-key"
    roles: tuple[str, ...] = ("SUPER_ADMIN",)   # the admin roles assigned to the app


class OktaState:
    """Everything the fake holds, behind one lock; the HTTP layer and tests read and change it through here."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.rules: dict[str, Rule] = {}
        self.grants: dict[str, Grant] = {}
        self.api_tokens: dict[str, str] = {}          # SSWS token -> the admin user's id
        self.service_apps: dict[str, ServiceApp] = {}
        self.access_tokens: dict[str, tuple[str, tuple[str, ...], float]] = {}  # bearer -> (client, scopes, exp)
        self.now: Callable[[], float] = time.time     # the rate-limit windows' clock (tests set revoke's fake)
        self._limit: tuple[int, int] | None = None    # requests per window (seconds) per bucket
        self._injections: list[Injection] = []

    # ---- seeding -----------------------------------------------------------------------------------------------
    def add_user(self, login: str, *, email: str | None = None, first: str = "", last: str = "",
                 status: str = "ACTIVE", sessions: int = 1) -> User:
        with self.lock:
            u = User(okta_id("00u"), login, email or login, first or login.split("@")[0].title(), last or "Example",
                     status=status, sessions=sessions)
            self.users[u.id] = u
            return u

    def add_admin(self, login: str, role: str = "SUPER_ADMIN") -> tuple[User, str]:
        """An administrator and an API token (SSWS) made by them."""
        u = self.add_user(login)
        u.admin_roles.append(role)
        token = "00" + pysecrets.token_urlsafe(30)
        with self.lock:
            self.api_tokens[token] = u.id
        return u, token

    def add_service_app(self, public_key_pem: bytes, scopes: tuple[str, ...], kid: str = "revoke-test-key") -> str:
        client_id = "0oa" + pysecrets.token_hex(8)
        with self.lock:
            self.service_apps[client_id] = ServiceApp(client_id, public_key_pem, scopes, kid)
        return client_id

    def add_group(self, name: str, *, members: list[User] = (), type: str = "OKTA_GROUP",  # type: ignore[assignment]
                  description: str = "") -> Group:
        with self.lock:
            g = Group(okta_id("00g"), name, type, description, [m.id for m in members])
            self.groups[g.id] = g
            return g

    def add_rule(self, name: str, groups: list[Group], expression: str, members: list[User] = ()  # type: ignore
                 ) -> Rule:
        """A group rule and the memberships it has given (the fake does not evaluate expressions)."""
        with self.lock:
            r = Rule(okta_id("0pr"), name, [g.id for g in groups], expression)
            self.rules[r.id] = r
            for g in groups:
                g.members += [m.id for m in members if m.id not in g.members]
            return r

    def add_grant(self, user: User, client_id: str = "0oaengagementapp", scope: str = "okta.users.read.self",
                  issuer: str = "https://example.okta.com") -> Grant:
        with self.lock:
            g = Grant(okta_id("oag"), user.id, client_id, scope, issuer)
            self.grants[g.id] = g
            user.tokens[client_id] = user.tokens.get(client_id, 0) + 1
            return g

    def add_factor(self, user: User, factor_type: str = "token:software:totp", provider: str = "GOOGLE") -> None:
        with self.lock:
            user.factors.append({"id": okta_id("uft"), "factorType": factor_type, "provider": provider,
                                 "status": "ACTIVE", "vendorName": provider})

    # ---- inspection --------------------------------------------------------------------------------------------
    def user(self, key: str) -> User | None:
        """A user by id, login or login shortname (any case), as Okta's `GET /api/v1/users/{id}` finds them,
        deactivated included."""
        with self.lock:
            if key in self.users:
                return self.users[key]
            hit = next((u for u in self.users.values() if u.login.casefold() == key.casefold()), None)
            if hit is not None or "@" in key:
                return hit
            # a login shortname, as long as it is unambiguous (Okta's documented rule for `{id}`)
            short = [u for u in self.users.values() if u.login.split("@")[0].casefold() == key.casefold()]
            return short[0] if len(short) == 1 else None

    def group_named(self, name: str) -> Group | None:
        with self.lock:
            return next((g for g in self.groups.values() if g.name == name), None)

    def groups_of(self, user: User) -> list[str]:
        with self.lock:
            return sorted(g.name for g in self.groups.values() if user.id in g.members)

    def user_grants(self, user: User) -> list[Grant]:
        with self.lock:
            return [g for g in self.grants.values() if g.user_id == user.id]

    def snapshot(self) -> Any:
        """Everything a write could change, for the conformance suite's 'plan writes nothing' checks."""
        with self.lock:
            return (sorted((u.id, u.status, tuple(u.apps), u.sessions, tuple(sorted(u.tokens.items())),
                            len(u.factors)) for u in self.users.values()),
                    sorted((g.id, tuple(sorted(g.members))) for g in self.groups.values()),
                    sorted((r.id, r.status, tuple(r.exclude)) for r in self.rules.values()),
                    sorted(self.grants))

    # ---- lifecycle (Okta's rules) ------------------------------------------------------------------------------
    def suspend(self, u: User) -> None:
        if u.status != "ACTIVE":
            raise OktaError(400, "E0000001", "Api validation failed: suspend", [NOT_ACTIVE_ERROR])
        u.status = "SUSPENDED"

    def unsuspend(self, u: User) -> None:
        if u.status != "SUSPENDED":
            raise OktaError(400, "E0000001", "Api validation failed: unsuspend",
                            ["Cannot unsuspend a user that is not suspended"])
        u.status = "ACTIVE"

    def deactivate(self, u: User) -> None:
        if u.status == "DEPROVISIONED":
            raise OktaError(403, "E0000038", "This operation is not allowed in the user's current status.")
        u.status, u.apps, u.sessions = "DEPROVISIONED", [], 0
        self.clear_tokens(u)

    def activate(self, u: User) -> None:
        if u.status not in ("STAGED", "DEPROVISIONED"):
            raise OktaError(403, "E0000016", "Activation failed because the user is already active")
        u.status = "ACTIVE"

    def clear_tokens(self, u: User) -> None:
        u.tokens = {}

    def delete_user(self, u: User) -> None:
        if u.status != "DEPROVISIONED":   # the first DELETE of a live user deactivates it, as Okta's does
            self.deactivate(u)
            return
        del self.users[u.id]
        for g in self.groups.values():
            if u.id in g.members:
                g.members.remove(u.id)
        for gid in [k for k, g in self.grants.items() if g.user_id == u.id]:
            del self.grants[gid]

    def remove_member(self, g: Group, u: User) -> None:
        if g.type != "OKTA_GROUP":
            raise OktaError(403, "E0000006", "You do not have permission to perform the requested action",
                            [f"Group memberships of a {g.type} group are managed by its source"])
        if u.id in g.members:
            g.members.remove(u.id)
        for r in self.rules.values():   # Okta help: removing a rule's member adds them to its exclusions
            if r.status == "ACTIVE" and g.id in r.group_ids and u.id not in r.exclude:
                r.exclude.append(u.id)

    # ---- throttling and failures -------------------------------------------------------------------------------
    def rate_limit(self, limit: int | None, window: int = 60) -> None:
        """Okta's org-wide limits per endpoint bucket: `limit` requests per `window` seconds (None: off)."""
        with self.lock:
            self._limit = None if limit is None else (limit, window)

    def inject(self, method: str, path: str, status: int, code: str = "E0000009",
               summary: str = "Internal Server Error", *, times: int = 1, applied: bool = False) -> None:
        """The next `times` requests matching answer this error; `applied`: after carrying the write out."""
        with self.lock:
            self._injections.append(Injection(method, re.compile(path), status, code, summary, times, applied))


@dataclass
class Injection:
    method: str
    path: re.Pattern[str]
    status: int
    code: str
    summary: str
    times: int
    applied: bool
