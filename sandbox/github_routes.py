"""The REST endpoints of the GitHub fake: one function per documented operation, over the fake's state.

Each handler answers `(status, body)` or, for a listing, `Listing(items)` (the dispatcher pages it with `Link`
headers), or raises `GhError`. Who may do what follows GitHub's documentation: organisation internals (members'
roles, invitations, teams, private repositories) are visible to members and to the organisation's app
installation, and answer 404 to anyone else, as GitHub does for private objects; owner-only operations answer 403
to other members; an installation needs the permission the operation names ("Resource not accessible by
integration" otherwise); credential authorizations exist only for organisations with SAML SSO and only for
owners, never for apps.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from revoke.sandbox.github_model import GhError, Invitation, Org, Repo, Team, User, node_id, not_found

if TYPE_CHECKING:
    from revoke.sandbox.github import Ctx

INTEGRATION = "Resource not accessible by integration"
LAST_OWNER = "You cannot remove the last owner of an organization."
LEVELS = {"read": 1, "write": 2, "admin": 3}


@dataclass
class Listing:
    items: list[dict[str, Any]]


Handler = Callable[["Ctx", re.Match[str]], Any]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        ROUTES.append((method, re.compile("^" + pattern + "$"), fn))
        return fn
    return register


# ---- access rules


def org_of(ctx: "Ctx", login: str) -> Org:
    org = ctx.fake.org(login)
    if org is None:
        raise not_found()
    return org


def inside(ctx: "Ctx", org: Org) -> Org:
    """The organisation's internals: members and its own installation see them; anyone else gets 404."""
    if ctx.installation is not None and ctx.installation.org.casefold() == org.login.casefold():
        return org
    if ctx.user is not None and ctx.user.id in org.members:
        return org
    raise not_found()


def require_owner(ctx: "Ctx", org: Org, permission: str = "members", level: str = "write") -> None:
    inside(ctx, org)
    if ctx.installation is not None:
        if LEVELS.get(ctx.installation.permissions.get(permission, ""), 0) < LEVELS[level]:
            raise GhError(403, INTEGRATION)
        return
    assert ctx.user is not None
    if org.members.get(ctx.user.id) != "admin":
        raise GhError(403, "You must be an organization owner to do that.")


def repo_of(ctx: "Ctx", org_login: str, name: str, *, admin: bool = False) -> tuple[Org, Repo]:
    org = org_of(ctx, org_login)
    repo = org.repo(name)
    if repo is None:
        raise not_found()
    visible = not repo.private
    if ctx.installation is not None and ctx.installation.org.casefold() == org.login.casefold():
        visible = ctx.installation.repositories is None or repo.name in ctx.installation.repositories
    elif ctx.user is not None:
        visible = visible or ctx.user.id in org.members or ctx.user.id in repo.collaborators
    if not visible:
        raise not_found()   # a private repository the token cannot see: 404, not 403
    if admin:
        if ctx.installation is not None:
            if LEVELS.get(ctx.installation.permissions.get("administration", ""), 0) < LEVELS["write"]:
                raise GhError(403, INTEGRATION)
        elif ctx.user is None or (org.members.get(ctx.user.id) != "admin"
                                  and repo.collaborators.get(ctx.user.id) != "admin"):
            raise GhError(403, "Must have admin rights to Repository.")
    return org, repo


def team_of(ctx: "Ctx", org_login: str, slug: str) -> tuple[Org, Team]:
    org = inside(ctx, org_of(ctx, org_login))
    team = org.team(slug)
    if team is None:
        raise not_found()
    return org, team


def user_of(ctx: "Ctx", login: str) -> User:
    user = ctx.fake.user(login)
    if user is None or user.type == "Organization":
        raise not_found()
    return user


def body_of(ctx: "Ctx") -> dict[str, Any]:
    return ctx.body if isinstance(ctx.body, dict) else {}


# ---- users and apps


@route("GET", r"/user")
def get_authenticated(ctx: "Ctx", m: re.Match[str]) -> Any:
    if ctx.user is None:
        raise GhError(403, INTEGRATION)
    return 200, ctx.user.full(ctx.origin)


@route("GET", r"/user/(\d+)")
def get_user_by_id(ctx: "Ctx", m: re.Match[str]) -> Any:
    user = ctx.fake.users.get(int(m.group(1)))
    if user is None:
        raise not_found()
    return 200, user.full(ctx.origin)


@route("GET", r"/users/([^/]+)")
def get_user(ctx: "Ctx", m: re.Match[str]) -> Any:
    user = ctx.fake.user(m.group(1))
    if user is None:
        raise not_found()
    return 200, user.full(ctx.origin)


@route("GET", r"/app")
def get_app(ctx: "Ctx", m: re.Match[str]) -> Any:
    app = ctx.app
    assert app is not None
    return 200, {"id": app.id, "slug": app.slug, "node_id": app.node_id, "name": app.slug.replace("-", " ").title(),
                 "owner": None, "permissions": {}, "events": []}


@route("GET", r"/orgs/([^/]+)/installation")
def get_org_installation(ctx: "Ctx", m: re.Match[str]) -> Any:
    org = org_of(ctx, m.group(1))
    assert ctx.app is not None
    inst = next((i for i in ctx.fake.installations.values()
                 if i.app_id == ctx.app.id and i.org.casefold() == org.login.casefold()), None)
    if inst is None:
        raise not_found()
    return 200, {"id": inst.id, "app_id": inst.app_id, "app_slug": ctx.app.slug, "target_type": "Organization",
                 "account": org.user.simple(ctx.origin), "permissions": inst.permissions,
                 "repository_selection": "all" if inst.repositories is None else "selected"}


@route("POST", r"/app/installations/(\d+)/access_tokens")
def create_installation_token(ctx: "Ctx", m: re.Match[str]) -> Any:
    inst = ctx.fake.installations.get(int(m.group(1)))
    if inst is None or ctx.app is None or inst.app_id != ctx.app.id:
        raise not_found()
    token = ctx.fake.issue_installation_token(inst.id)
    # expiry in real time: client libraries compare it with their own clock, whatever the fake's rate clock says
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    return 201, {"token": token, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "permissions": inst.permissions,
                 "repository_selection": "all" if inst.repositories is None else "selected"}


# ---- organisations and members


@route("GET", r"/orgs/([^/]+)")
def get_org(ctx: "Ctx", m: re.Match[str]) -> Any:
    org = org_of(ctx, m.group(1))
    return 200, {**org.user.simple(ctx.origin), "type": "Organization", "name": org.login.title(),
                 "description": ""}


@route("GET", r"/orgs/([^/]+)/members")
def list_members(ctx: "Ctx", m: re.Match[str]) -> Any:
    org = inside(ctx, org_of(ctx, m.group(1)))
    role = ctx.query.get("role", "all")
    if role not in ("all", "admin", "member"):
        raise GhError(422, "Validation Failed", errors=[{"resource": "Member", "field": "role", "code": "invalid"}])
    ids = [uid for uid, r in org.members.items() if role == "all" or r == role]
    return Listing([ctx.fake.users[uid].simple(ctx.origin) for uid in sorted(ids)])


def membership_body(ctx: "Ctx", org: Org, user: User, state: str, role: str) -> dict[str, Any]:
    return {"url": f"{ctx.origin}/orgs/{org.login}/memberships/{user.login}", "state": state, "role": role,
            "organization_url": f"{ctx.origin}/orgs/{org.login}", "organization": org.user.simple(ctx.origin),
            "user": user.simple(ctx.origin)}


def pending_of(org: Org, user: User) -> Invitation | None:
    return next((i for i in org.invitations.values() if i.invitee_id == user.id), None)


@route("GET", r"/orgs/([^/]+)/memberships/([^/]+)")
def get_membership(ctx: "Ctx", m: re.Match[str]) -> Any:
    org = inside(ctx, org_of(ctx, m.group(1)))
    user = user_of(ctx, m.group(2))
    if user.id in org.members:
        return 200, membership_body(ctx, org, user, "active", org.members[user.id])
    invitation = pending_of(org, user)
    if invitation is not None:
        return 200, membership_body(ctx, org, user, "pending", "admin" if invitation.role == "admin" else "member")
    raise not_found()


@route("DELETE", r"/orgs/([^/]+)/memberships/([^/]+)")
def remove_membership(ctx: "Ctx", m: re.Match[str]) -> Any:
    org = org_of(ctx, m.group(1))
    require_owner(ctx, org)
    user = user_of(ctx, m.group(2))
    if user.id in org.members:
        if org.members[user.id] == "admin" and org.owners() == [user.id]:
            raise GhError(403, LAST_OWNER)
        ctx.fake.drop_member(org, user.id)
        return 204, None
    invitation = pending_of(org, user)
    if invitation is not None:   # documented: for an invited user this cancels the invitation
        del org.invitations[invitation.id]
        return 204, None
    raise not_found()


@route("GET", r"/orgs/([^/]+)/invitations")
def list_invitations(ctx: "Ctx", m: re.Match[str]) -> Any:
    org = org_of(ctx, m.group(1))
    require_owner(ctx, org, level="read")
    return Listing([invitation_body(ctx, org, i) for i in sorted(org.invitations.values(), key=lambda i: i.id)])


def invitation_body(ctx: "Ctx", org: Org, inv: Invitation) -> dict[str, Any]:
    invitee = ctx.fake.users.get(inv.invitee_id) if inv.invitee_id else None
    return {"id": inv.id, "node_id": node_id("OrganizationInvitation", inv.id),
            "login": invitee.login if invitee else None, "email": inv.email, "role": inv.role,
            "created_at": inv.created_at, "failed_at": None, "failed_reason": None,
            "inviter": ctx.fake.users[inv.inviter_id].simple(ctx.origin), "team_count": len(inv.team_ids),
            "invitation_teams_url": f"{ctx.origin}/organizations/{org.user.id}/invitations/{inv.id}/teams",
            "invitation_source": "member"}


@route("POST", r"/orgs/([^/]+)/invitations")
def create_invitation(ctx: "Ctx", m: re.Match[str]) -> Any:
    org = org_of(ctx, m.group(1))
    require_owner(ctx, org)
    body = body_of(ctx)
    invitee_id, email = body.get("invitee_id"), body.get("email")
    role = body.get("role", "direct_member")
    if (invitee_id is None) == (email is None) or role not in ("admin", "direct_member", "billing_manager",
                                                               "reinstate"):
        raise GhError(422, "Validation Failed", errors=[{"resource": "OrganizationInvitation", "code": "invalid"}])
    if invitee_id is not None:
        if invitee_id not in ctx.fake.users:
            raise GhError(422, "Validation Failed", errors=[{"resource": "OrganizationInvitation",
                                                             "field": "invitee_id", "code": "invalid"}])
        if invitee_id in org.members or any(i.invitee_id == invitee_id for i in org.invitations.values()):
            raise GhError(422, "Validation Failed", errors=[{"resource": "OrganizationInvitation", "code":
                                                             "unprocessable",
                                                             "message": "Invitee is already a part of this "
                                                                        "organization"}])
    team_ids = [int(t) for t in body.get("team_ids") or []]
    if any(org.team_by_id(t) is None for t in team_ids):
        raise GhError(422, "Validation Failed", errors=[{"resource": "OrganizationInvitation", "field": "team_ids",
                                                         "code": "invalid"}])
    inv = ctx.fake.add_invitation(org.login, role="direct_member" if role == "reinstate" else role,
                                  invitee_id=invitee_id, email=email, team_ids=team_ids,
                                  inviter_id=ctx.actor_id())
    return 201, invitation_body(ctx, org, inv)


@route("GET", r"/orgs/([^/]+)/invitations/(\d+)/teams")
def list_invitation_teams(ctx: "Ctx", m: re.Match[str]) -> Any:
    org = org_of(ctx, m.group(1))
    require_owner(ctx, org, level="read")
    inv = org.invitations.get(int(m.group(2)))
    if inv is None:
        raise not_found()
    teams = [org.team_by_id(t) for t in inv.team_ids]
    return Listing([{"id": t.id, "node_id": node_id("Team", t.id), "slug": t.slug, "name": t.name,
                     "privacy": t.privacy} for t in teams if t is not None])


@route("DELETE", r"/orgs/([^/]+)/invitations/(\d+)")
def cancel_invitation(ctx: "Ctx", m: re.Match[str]) -> Any:
    org = org_of(ctx, m.group(1))
    require_owner(ctx, org)
    if org.invitations.pop(int(m.group(2)), None) is None:
        raise not_found()
    return 204, None


@route("GET", r"/orgs/([^/]+)/outside_collaborators")
def list_outside_collaborators(ctx: "Ctx", m: re.Match[str]) -> Any:
    org = org_of(ctx, m.group(1))
    require_owner(ctx, org, level="read")
    return Listing([ctx.fake.users[uid].simple(ctx.origin) for uid in sorted(org.outside_collaborators())])


@route("DELETE", r"/orgs/([^/]+)/outside_collaborators/([^/]+)")
def remove_outside_collaborator(ctx: "Ctx", m: re.Match[str]) -> Any:
    org = org_of(ctx, m.group(1))
    require_owner(ctx, org)
    user = user_of(ctx, m.group(2))
    if user.id in org.members:
        raise GhError(422, "You cannot specify an organization member to remove as an outside collaborator.")
    for repo in org.repos.values():
        repo.collaborators.pop(user.id, None)
    return 204, None


# ---- SAML SSO credential authorizations (GitHub Enterprise Cloud)


def _sso(ctx: "Ctx", org_login: str) -> Org:
    org = inside(ctx, org_of(ctx, org_login))
    if ctx.installation is not None:
        raise GhError(403, INTEGRATION)   # an organisation owner's credentials only
    if not org.saml:
        raise not_found()
    require_owner(ctx, org)
    return org


@route("GET", r"/orgs/([^/]+)/credential-authorizations")
def list_credential_authorizations(ctx: "Ctx", m: re.Match[str]) -> Any:
    org = _sso(ctx, m.group(1))
    login = (ctx.query.get("login") or "").casefold()
    out = []
    for c in sorted(org.credentials.values(), key=lambda c: c.credential_id):
        owner = ctx.fake.users[c.user_id]
        if login and owner.login.casefold() != login:
            continue
        item: dict[str, Any] = {"login": owner.login, "credential_id": c.credential_id,
                                "credential_type": c.credential_type, "credential_authorized_at": c.authorized_at,
                                "credential_accessed_at": c.accessed_at,
                                "authorized_credential_id": c.authorized_credential_id, "scopes": c.scopes}
        if c.token_last_eight:
            item["token_last_eight"] = c.token_last_eight
        if c.fingerprint:
            item["fingerprint"] = c.fingerprint
        out.append(item)
    return Listing(out)


@route("DELETE", r"/orgs/([^/]+)/credential-authorizations/(\d+)")
def remove_credential_authorization(ctx: "Ctx", m: re.Match[str]) -> Any:
    org = _sso(ctx, m.group(1))
    if org.credentials.pop(int(m.group(2)), None) is None:
        raise not_found()
    return 204, None
