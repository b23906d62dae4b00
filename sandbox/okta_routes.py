"""The routes of the Okta fake (sandbox/okta.py): each `(method, pattern, scope, handler)` answers as Okta's
Management API documentation says, on the state in sandbox/okta_state.py.

Where revoke depends on it: `GET /api/v1/users` without `search`/`filter`/`q` leaves out deactivated
(DEPROVISIONED) users, while `GET /api/v1/users/{id or login}` and a search find them; suspend answers 400 E0000001
for a user who is not ACTIVE; `DELETE /api/v1/users/{id}/sessions?oauthTokens=true` also revokes the user's OAuth
tokens; membership of a group that is not an OKTA_GROUP is refused (403), and removing a user from a group an
active rule fills adds them to the rule's exclusions (Okta help, "Manual group user management"); a deleted grant
or user answers 404 E0000007.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from revoke.sandbox.okta_state import Group, OktaError, User, not_found

if TYPE_CHECKING:
    from revoke.sandbox.okta import Ctx

READ_USERS, MANAGE_USERS = "okta.users.read", "okta.users.manage"
READ_GROUPS, MANAGE_GROUPS = "okta.groups.read", "okta.groups.manage"
READ_ROLES = "okta.roles.read"


@dataclass
class Listing:
    """A list answer, paged by the server with `limit` and an `after` cursor (the last item's id)."""

    items: list[dict[str, Any]]
    default_limit: int = 200


Handler = Callable[["Ctx", re.Match[str]], "Listing | tuple[int, Any]"]
ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = []


def route(method: str, pattern: str, scope: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        ROUTES.append((method, re.compile(f"^{pattern}$"), scope, fn))
        return fn
    return register


def _user(ctx: "Ctx", key: str) -> User:
    u = ctx.fake.user(key)
    if u is None:
        raise not_found(key, "User")
    return u


def _group(ctx: "Ctx", gid: str) -> Group:
    g = ctx.fake.groups.get(gid)
    if g is None:
        raise not_found(gid, "UserGroup")
    return g


# ---- users --------------------------------------------------------------------------------------------------

CLAUSE = re.compile(r'^\s*(id|status|profile\.login|profile\.email)\s+eq\s+"([^"]*)"\s*$')


def _matcher(expr: str) -> Callable[[User], bool]:
    """Okta's `search`/`filter` expressions, the subset revoke sends: `FIELD eq "VALUE"` joined by `or`."""
    clauses = []
    for part in re.split(r"\s+or\s+", expr.strip()):
        m = CLAUSE.match(part)
        if m is None:
            raise OktaError(400, "E0000031", "Invalid search criteria.", [f"unsupported expression: {part}"])
        clauses.append((m.group(1), m.group(2)))

    def value(u: User, name: str) -> str:
        return {"id": u.id, "status": u.status, "profile.login": u.login, "profile.email": u.email}[name]

    # profile attributes compare case-insensitively, as Okta's search does for login and email
    return lambda u: any(value(u, f).casefold() == v.casefold() for f, v in clauses)


@route("GET", r"/api/v1/users", READ_USERS)
def list_users(ctx: "Ctx", m: re.Match[str]) -> Listing:
    users = list(ctx.fake.users.values())
    expr = ctx.query.get("search") or ctx.query.get("filter")
    if expr:
        users = [u for u in users if _matcher(expr)(u)]
    elif ctx.query.get("q"):
        q = ctx.query["q"].casefold()
        users = [u for u in users if u.status != "DEPROVISIONED" and any(
            s.casefold().startswith(q) for s in (u.login, u.email, u.first, u.last))]
    else:   # the default list: every user that is not deactivated
        users = [u for u in users if u.status != "DEPROVISIONED"]
    return Listing([u.body() for u in users])


@route("GET", r"/api/v1/users/me", READ_USERS)
def me(ctx: "Ctx", m: re.Match[str]) -> tuple[int, Any]:
    if ctx.admin is None:
        raise OktaError(400, "E0000001", "Api validation failed: me", ["an OAuth service app has no current user"])
    return 200, ctx.admin.body()


@route("GET", r"/api/v1/users/([^/]+)", READ_USERS)
def get_user(ctx: "Ctx", m: re.Match[str]) -> tuple[int, Any]:
    return 200, _user(ctx, m.group(1)).body()


@route("DELETE", r"/api/v1/users/([^/]+)", MANAGE_USERS)
def delete_user(ctx: "Ctx", m: re.Match[str]) -> tuple[int, Any]:
    ctx.fake.delete_user(_user(ctx, m.group(1)))
    return 204, None


@route("POST", r"/api/v1/users/([^/]+)/lifecycle/(suspend|unsuspend|deactivate|activate|reset_factors)",
       MANAGE_USERS)
def lifecycle(ctx: "Ctx", m: re.Match[str]) -> tuple[int, Any]:
    u, op = _user(ctx, m.group(1)), m.group(2)
    if "SUPER_ADMIN" in u.admin_roles and "SUPER_ADMIN" not in ctx.roles():
        # only a Super Administrator acts on one (Okta's standard admin roles)
        raise OktaError(403, "E0000006", "You do not have permission to perform the requested action")
    if op == "reset_factors":
        u.factors = []
    else:
        getattr(ctx.fake, op)(u)
    return 200, ({} if op in ("activate", "reset_factors") else None)


@route("DELETE", r"/api/v1/users/([^/]+)/sessions", MANAGE_USERS)
def clear_sessions(ctx: "Ctx", m: re.Match[str]) -> tuple[int, Any]:
    u = _user(ctx, m.group(1))
    u.sessions = 0
    if ctx.query.get("oauthTokens", "false").lower() == "true":
        ctx.fake.clear_tokens(u)
    return 204, None


@route("GET", r"/api/v1/users/([^/]+)/grants", MANAGE_USERS)
def list_grants(ctx: "Ctx", m: re.Match[str]) -> Listing:
    u = _user(ctx, m.group(1))
    return Listing([g.body() for g in ctx.fake.user_grants(u)], default_limit=20)


@route("GET", r"/api/v1/users/([^/]+)/grants/([^/]+)", MANAGE_USERS)
def get_grant(ctx: "Ctx", m: re.Match[str]) -> tuple[int, Any]:
    u = _user(ctx, m.group(1))
    g = ctx.fake.grants.get(m.group(2))
    if g is None or g.user_id != u.id:
        raise not_found(m.group(2), "OAuth2ScopeConsentGrant")
    return 200, g.body()


@route("DELETE", r"/api/v1/users/([^/]+)/grants/([^/]+)", MANAGE_USERS)
def revoke_grant(ctx: "Ctx", m: re.Match[str]) -> tuple[int, Any]:
    u = _user(ctx, m.group(1))
    g = ctx.fake.grants.get(m.group(2))
    if g is None or g.user_id != u.id:
        raise not_found(m.group(2), "OAuth2ScopeConsentGrant")
    del ctx.fake.grants[g.id]
    return 204, None


@route("GET", r"/api/v1/users/([^/]+)/groups", READ_USERS)
def user_groups(ctx: "Ctx", m: re.Match[str]) -> Listing:
    u = _user(ctx, m.group(1))
    return Listing([g.body() for g in ctx.fake.groups.values() if u.id in g.members])


@route("GET", r"/api/v1/users/([^/]+)/factors", READ_USERS)
def factors(ctx: "Ctx", m: re.Match[str]) -> tuple[int, Any]:
    return 200, list(_user(ctx, m.group(1)).factors)


@route("GET", r"/api/v1/users/([^/]+)/clients", MANAGE_USERS)
def user_clients(ctx: "Ctx", m: re.Match[str]) -> tuple[int, Any]:
    u = _user(ctx, m.group(1))
    ids = set(u.tokens) | {g.client_id for g in ctx.fake.user_grants(u)}
    return 200, [{"client_id": c, "client_name": c, "_links": {}} for c in sorted(ids)]


@route("GET", r"/api/v1/users/([^/]+)/clients/([^/]+)/tokens", MANAGE_USERS)
def client_tokens(ctx: "Ctx", m: re.Match[str]) -> Listing:
    u = _user(ctx, m.group(1))
    n = u.tokens.get(m.group(2), 0)
    return Listing([{"id": f"oar{u.id[-6:]}{i:04d}", "status": "ACTIVE", "clientId": m.group(2),
                     "userId": u.id} for i in range(n)], default_limit=20)


@route("GET", r"/api/v1/users/([^/]+)/roles", READ_ROLES)
def user_roles(ctx: "Ctx", m: re.Match[str]) -> tuple[int, Any]:
    return 200, [{"id": f"ra{i}", "type": r, "status": "ACTIVE", "assignmentType": "USER"}
                 for i, r in enumerate(_user(ctx, m.group(1)).admin_roles)]


# ---- groups -------------------------------------------------------------------------------------------------

@route("GET", r"/api/v1/groups", READ_GROUPS)
def list_groups(ctx: "Ctx", m: re.Match[str]) -> Listing:
    groups = list(ctx.fake.groups.values())
    if ctx.query.get("q"):
        groups = [g for g in groups if g.name.casefold().startswith(ctx.query["q"].casefold())]
    return Listing([g.body() for g in groups], default_limit=10000)


@route("GET", r"/api/v1/groups/rules", READ_GROUPS)
def list_rules(ctx: "Ctx", m: re.Match[str]) -> Listing:
    return Listing([r.body() for r in ctx.fake.rules.values()], default_limit=50)


@route("GET", r"/api/v1/groups/(00g[^/]+)", READ_GROUPS)
def get_group(ctx: "Ctx", m: re.Match[str]) -> tuple[int, Any]:
    return 200, _group(ctx, m.group(1)).body()


@route("GET", r"/api/v1/groups/(00g[^/]+)/users", READ_GROUPS)
def group_users(ctx: "Ctx", m: re.Match[str]) -> Listing:
    g = _group(ctx, m.group(1))
    return Listing([ctx.fake.users[uid].body() for uid in g.members if uid in ctx.fake.users], default_limit=1000)


@route("PUT", r"/api/v1/groups/(00g[^/]+)/users/([^/]+)", MANAGE_GROUPS)
def add_member(ctx: "Ctx", m: re.Match[str]) -> tuple[int, Any]:
    g, u = _group(ctx, m.group(1)), _user(ctx, m.group(2))
    if g.type != "OKTA_GROUP":
        raise OktaError(403, "E0000006", "You do not have permission to perform the requested action")
    if u.id not in g.members:
        g.members.append(u.id)
    return 204, None


@route("DELETE", r"/api/v1/groups/(00g[^/]+)/users/([^/]+)", MANAGE_GROUPS)
def remove_member(ctx: "Ctx", m: re.Match[str]) -> tuple[int, Any]:
    g, u = _group(ctx, m.group(1)), _user(ctx, m.group(2))
    ctx.fake.remove_member(g, u)
    return 204, None
