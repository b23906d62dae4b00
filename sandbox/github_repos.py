"""The repository and team endpoints of the GitHub fake (see github_routes for the rules they follow)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from revoke.sandbox.github_model import GhError, Org, Repo, RepoInvitation, Team, node_id, not_found
from revoke.sandbox.github_routes import (Listing, body_of, inside, org_of, pending_of, repo_of, require_owner, route,
                                          team_of, user_of)

if TYPE_CHECKING:
    from revoke.sandbox.github import Ctx


# ---- repositories


def repo_body(ctx: "Ctx", org: Org, repo: Repo) -> dict[str, Any]:
    return {"id": repo.id, "node_id": node_id("Repository", repo.id), "name": repo.name,
            "full_name": f"{org.login}/{repo.name}", "private": repo.private,
            "visibility": "private" if repo.private else "public", "archived": repo.archived, "disabled": False,
            "fork": False, "owner": org.user.simple(ctx.origin), "html_url": f"https://github.example/{org.login}/"
            f"{repo.name}", "url": f"{ctx.origin}/repos/{org.login}/{repo.name}"}


@route("GET", r"/orgs/([^/]+)/repos")
def list_org_repos(ctx: "Ctx", m: re.Match[str]) -> Any:
    org = org_of(ctx, m.group(1))
    out = []
    for repo in sorted(org.repos.values(), key=lambda r: r.id):
        try:
            repo_of(ctx, org.login, repo.name)
        except GhError:
            continue
        out.append(repo_body(ctx, org, repo))
    return Listing(out)


@route("GET", r"/repos/([^/]+)/([^/]+)")
def get_repo(ctx: "Ctx", m: re.Match[str]) -> Any:
    org, repo = repo_of(ctx, m.group(1), m.group(2))
    return 200, repo_body(ctx, org, repo)


@route("PATCH", r"/repos/([^/]+)/([^/]+)")
def update_repo(ctx: "Ctx", m: re.Match[str]) -> Any:
    org, repo = repo_of(ctx, m.group(1), m.group(2), admin=True)
    body = body_of(ctx)
    if "archived" in body:
        repo.archived = bool(body["archived"])
    return 200, repo_body(ctx, org, repo)


@route("GET", r"/repos/([^/]+)/([^/]+)/collaborators")
def list_collaborators(ctx: "Ctx", m: re.Match[str]) -> Any:
    org, repo = repo_of(ctx, m.group(1), m.group(2))
    affiliation = ctx.query.get("affiliation", "all")
    direct = dict(repo.collaborators)
    if affiliation == "outside":
        ids = {uid: p for uid, p in direct.items() if uid not in org.members}
    elif affiliation == "direct":
        ids = direct
    else:   # members have access through the organisation's base permission and its teams
        ids = {**{uid: ("admin" if r == "admin" else "pull") for uid, r in org.members.items()}, **direct}
    return Listing([{**ctx.fake.users[uid].simple(ctx.origin), "role_name": role_name(p),
                     "permissions": permission_map(p)} for uid, p in sorted(ids.items())])


def role_name(permission: str) -> str:
    return {"pull": "read", "push": "write"}.get(permission, permission)


def permission_map(permission: str) -> dict[str, bool]:
    order = ["pull", "triage", "push", "maintain", "admin"]
    level = order.index(permission) if permission in order else 0
    return {p: i <= level for i, p in enumerate(order)}


@route("GET", r"/repos/([^/]+)/([^/]+)/collaborators/([^/]+)")
def check_collaborator(ctx: "Ctx", m: re.Match[str]) -> Any:
    org, repo = repo_of(ctx, m.group(1), m.group(2))
    user = user_of(ctx, m.group(3))
    if user.id in repo.collaborators or user.id in org.members:
        return 204, None
    raise not_found()


@route("PUT", r"/repos/([^/]+)/([^/]+)/collaborators/([^/]+)")
def add_collaborator(ctx: "Ctx", m: re.Match[str]) -> Any:
    org, repo = repo_of(ctx, m.group(1), m.group(2), admin=True)
    user = user_of(ctx, m.group(3))
    permission = {"read": "pull", "write": "push"}.get(body_of(ctx).get("permission", "push"),
                                                       body_of(ctx).get("permission", "push"))
    if user.id in repo.collaborators or user.id in org.members:
        repo.collaborators[user.id] = permission
        return 204, None
    existing = next((i for i in repo.invitations.values() if i.invitee_id == user.id), None)
    inv = existing or ctx.fake.add_repo_invitation(org.login, repo.name, user.id, role_name(permission),
                                                   inviter_id=ctx.actor_id())
    inv.permissions = role_name(permission)
    return 201, repo_invitation_body(ctx, org, repo, inv)


@route("DELETE", r"/repos/([^/]+)/([^/]+)/collaborators/([^/]+)")
def remove_collaborator(ctx: "Ctx", m: re.Match[str]) -> Any:
    org, repo = repo_of(ctx, m.group(1), m.group(2), admin=True)
    user = user_of(ctx, m.group(3))
    repo.collaborators.pop(user.id, None)
    # documented: cancels invitations sent *by* the collaborator; an invitation *to* them stays
    for key in [k for k, i in repo.invitations.items() if i.inviter_id == user.id]:
        del repo.invitations[key]
    return 204, None


def repo_invitation_body(ctx: "Ctx", org: Org, repo: Repo, inv: RepoInvitation) -> dict[str, Any]:
    return {"id": inv.id, "node_id": node_id("RepositoryInvitation", inv.id),
            "repository": repo_body(ctx, org, repo), "invitee": ctx.fake.users[inv.invitee_id].simple(ctx.origin),
            "inviter": ctx.fake.users[inv.inviter_id].simple(ctx.origin), "permissions": inv.permissions,
            "created_at": inv.created_at, "expired": False}


@route("GET", r"/repos/([^/]+)/([^/]+)/invitations")
def list_repo_invitations(ctx: "Ctx", m: re.Match[str]) -> Any:
    org, repo = repo_of(ctx, m.group(1), m.group(2), admin=True)
    return Listing([repo_invitation_body(ctx, org, repo, i)
                    for i in sorted(repo.invitations.values(), key=lambda i: i.id)])


@route("DELETE", r"/repos/([^/]+)/([^/]+)/invitations/(\d+)")
def delete_repo_invitation(ctx: "Ctx", m: re.Match[str]) -> Any:
    org, repo = repo_of(ctx, m.group(1), m.group(2), admin=True)
    repo.invitations.pop(int(m.group(3)), None)
    return 204, None


# ---- teams


def team_body(ctx: "Ctx", org: Org, team: Team, full: bool = False) -> dict[str, Any]:
    parent = org.team_by_id(team.parent_id) if team.parent_id else None
    out: dict[str, Any] = {"id": team.id, "node_id": node_id("Team", team.id), "name": team.name, "slug": team.slug,
                           "description": team.description, "privacy": team.privacy,
                           "notification_setting": team.notification_setting, "permission": "pull",
                           "parent": team_body(ctx, org, parent) if parent else None,
                           "url": f"{ctx.origin}/orgs/{org.login}/teams/{team.slug}"}
    if full:
        out.update(members_count=len(team.members), repos_count=len(team.repos),
                   organization=org.user.simple(ctx.origin))
    return out


@route("GET", r"/orgs/([^/]+)/teams")
def list_teams(ctx: "Ctx", m: re.Match[str]) -> Any:
    org = inside(ctx, org_of(ctx, m.group(1)))
    return Listing([team_body(ctx, org, t) for t in sorted(org.teams.values(), key=lambda t: t.id)])


@route("POST", r"/orgs/([^/]+)/teams")
def create_team(ctx: "Ctx", m: re.Match[str]) -> Any:
    org = org_of(ctx, m.group(1))
    require_owner(ctx, org)
    body = body_of(ctx)
    name = str(body.get("name") or "")
    slug = re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")
    if not slug or org.team(slug) is not None:
        raise GhError(422, "Validation Failed", errors=[{"resource": "Team", "field": "name", "code":
                                                         "already_exists" if slug else "missing_field"}])
    parent = body.get("parent_team_id")
    if parent is not None and org.team_by_id(int(parent)) is None:
        raise GhError(422, "Validation Failed", errors=[{"resource": "Team", "field": "parent_team_id",
                                                         "code": "invalid"}])
    team = ctx.fake.add_team(org.login, name, description=body.get("description") or "",
                             privacy=body.get("privacy") or "closed", parent_id=parent,
                             notification_setting=body.get("notification_setting") or "notifications_enabled")
    for login in body.get("maintainers") or []:
        team.members[user_of(ctx, login).id] = "maintainer"
    return 201, team_body(ctx, org, team, full=True)


@route("GET", r"/orgs/([^/]+)/teams/([^/]+)")
def get_team(ctx: "Ctx", m: re.Match[str]) -> Any:
    org, team = team_of(ctx, m.group(1), m.group(2))
    return 200, team_body(ctx, org, team, full=True)


@route("DELETE", r"/orgs/([^/]+)/teams/([^/]+)")
def delete_team(ctx: "Ctx", m: re.Match[str]) -> Any:
    org, team = team_of(ctx, m.group(1), m.group(2))
    require_owner(ctx, org)
    ctx.fake.drop_team(org, team)   # child teams go with it, as documented for owners
    return 204, None


@route("GET", r"/orgs/([^/]+)/teams/([^/]+)/members")
def list_team_members(ctx: "Ctx", m: re.Match[str]) -> Any:
    org, team = team_of(ctx, m.group(1), m.group(2))
    role = ctx.query.get("role", "all")
    ids = [uid for uid, r in team.members.items() if role == "all" or r == role]
    return Listing([ctx.fake.users[uid].simple(ctx.origin) for uid in sorted(ids)])


@route("PUT", r"/orgs/([^/]+)/teams/([^/]+)/memberships/([^/]+)")
def set_team_membership(ctx: "Ctx", m: re.Match[str]) -> Any:
    org, team = team_of(ctx, m.group(1), m.group(2))
    require_owner(ctx, org)
    user = user_of(ctx, m.group(3))
    role = body_of(ctx).get("role", "member")
    if user.id in org.members:
        team.members[user.id] = role
        return 200, {"url": f"{ctx.origin}/orgs/{org.login}/teams/{team.slug}/memberships/{user.login}",
                     "role": role, "state": "active"}
    # someone outside the organisation: an owner's request invites them (to the organisation and the team)
    pending = pending_of(org, user)
    if pending is None:
        ctx.fake.add_invitation(org.login, role="direct_member", invitee_id=user.id, team_ids=[team.id],
                                inviter_id=ctx.actor_id())
    elif team.id not in pending.team_ids:
        pending.team_ids.append(team.id)
    return 200, {"url": f"{ctx.origin}/orgs/{org.login}/teams/{team.slug}/memberships/{user.login}",
                 "role": role, "state": "pending"}


@route("GET", r"/orgs/([^/]+)/teams/([^/]+)/repos")
def list_team_repos(ctx: "Ctx", m: re.Match[str]) -> Any:
    org, team = team_of(ctx, m.group(1), m.group(2))
    out = []
    for name, permission in sorted(team.repos.items()):
        repo = org.repo(name)
        if repo is not None:
            out.append({**repo_body(ctx, org, repo), "role_name": role_name(permission),
                        "permissions": permission_map(permission)})
    return Listing(out)


@route("PUT", r"/orgs/([^/]+)/teams/([^/]+)/repos/([^/]+)/([^/]+)")
def set_team_repo(ctx: "Ctx", m: re.Match[str]) -> Any:
    org, team = team_of(ctx, m.group(1), m.group(2))
    require_owner(ctx, org)
    _, repo = repo_of(ctx, m.group(3), m.group(4))
    team.repos[repo.name] = body_of(ctx).get("permission", "push")
    return 204, None
