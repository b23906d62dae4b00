"""The runbook's `lists:` for the `github` connector: repositories to archive and teams to delete.

A list id is `ORG/REPO` (a repository; a team of that slug when the organisation has no such repository),
`@ORG/TEAM` or `ORG/teams/TEAM` (a team). Anything else, a user's login above all, is no list: the plan refuses it
(`Notice(severity="refused")`, a located runbook error), so a leaver's account can never be "closed" by mistake.
A repository or team that does not answer is reported, never planned: a private one answers 404 to credentials
that cannot see it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from revoke.connector import Discovery, Entity, ListTarget, Notice, Step
from revoke.connectors.github.client import Api, GitHubRefused
from revoke.connectors.github.kinds import ArchiveRepository, DeleteTeam

if TYPE_CHECKING:
    from revoke.connectors.github.connector import GitHubConnector
    from revoke.connectors.github.discovery import OrgView

NAME = r"[A-Za-z0-9_.-]+"
FORMS = [(re.compile(rf"^@({NAME})/({NAME})$"), "team"), (re.compile(rf"^({NAME})/teams/({NAME})$"), "team"),
         (re.compile(rf"^({NAME})/credential-authorizations/(\d+)$"), "credential"),
         (re.compile(rf"^({NAME})/({NAME})$"), "repo-or-team")]
API_PERMISSION = {"read": "pull", "write": "push"}   # role names as GitHub lists them -> the API's permission words


def split_target(name: str) -> tuple[str, str, str] | None:
    for pattern, kind in FORMS:
        m = pattern.match(name.strip())
        if m:
            return kind, m.group(1), m.group(2)
    return None


@dataclass
class Found:
    type: str                 # "repository" or "team"
    org: str
    body: dict[str, Any]

    def entity(self) -> Entity:
        b = self.body
        if self.type == "repository":
            names = {b["full_name"], str(b["id"]), b["node_id"]}
            return Entity(frozenset(names), "repository", b["full_name"])
        names = {f"@{self.org}/{b['slug']}", f"{self.org}/teams/{b['slug']}", str(b["id"]), b["node_id"]}
        return Entity(frozenset(names), "team", f"@{self.org}/{b['slug']}")


def _api(conn: "GitHubConnector", org: str) -> Api:
    configured = {o.casefold() for o in conn.settings.organizations}
    return conn.creds.for_org(org) if org.casefold() in configured else conn.creds.any


def lookup(conn: "GitHubConnector", name: str) -> Found | None:
    """The repository or team a list id names, read live; None when none answers."""
    target = split_target(name)
    if target is None or target[0] == "credential":
        return None
    kind, org, rest = target
    api = _api(conn, org)
    if kind == "repo-or-team":
        try:
            repo = api.json(f"repository {org}/{rest}", lambda: api.rest.repos.get(org, rest))
            return Found("repository", repo["owner"]["login"], repo)
        except GitHubRefused as err:
            if err.status != 404:
                raise
    try:
        team = api.json(f"team @{org}/{rest}", lambda: api.rest.teams.get_by_name(org, rest))
        return Found("team", org, team)
    except GitHubRefused as err:
        if err.status != 404:
            raise
    return None


def identify_target(conn: "GitHubConnector", name: str) -> Entity | None:
    found = lookup(conn, name)
    return found.entity() if found else None


def plan_list(conn: "GitHubConnector", lst: ListTarget, views: dict[str, "OrgView"], found: Discovery) -> None:
    target = split_target(lst.ident)
    if target is None or target[0] == "credential":
        entity = conn.identify([lst.ident]).get(lst.ident) if target is None else None
        what = (f"a GitHub {'organisation' if entity.type == 'organization' else 'user account'}" if entity
                else "no repository or team")
        found.notices.append(Notice(f"'{lst.ident}' is {what}, not a list: name a repository (ORG/REPO) or a team "
                                    "(@ORG/TEAM) to close", resource=lst.ident, severity="refused"))
        return
    org = target[1]
    view = views.get(org.casefold())
    if view is None:
        found.notices.append(Notice(f"{lst.ident}: the organisation {org} is not in this system's organizations "
                                    "setting", resource=lst.ident))
        return
    hit = lookup(conn, lst.ident)
    if hit is None:
        found.notices.append(Notice(f"{lst.ident}: no such repository or team in {org}, or it is not visible to "
                                    "these credentials (a GitHub App installed on selected repositories sees only "
                                    "those)", resource=lst.ident))
        return
    if hit.type == "repository":
        _plan_repository(lst, view, hit, found)
    else:
        _plan_team(conn, lst, view, hit, found)


def _plan_repository(lst: ListTarget, view: "OrgView", hit: Found, found: Discovery) -> None:
    if lst.close not in ("default", "archive"):
        found.notices.append(Notice(f"{lst.ident}: close: {lst.close} is not supported for a repository (archive: "
                                    "revoke never deletes a repository)", resource=lst.ident))
        return
    repo = hit.body
    archived = bool(repo.get("archived"))
    found.steps.append(Step(kind=ArchiveRepository.name, resource=repo["full_name"], needed=not archived,
                            before={"exists": True, "archived": archived},
                            params={"org": view.login, "repo": repo["name"], "repo_id": repo["id"]},
                            aliases=(lst.ident, str(repo["id"]), repo["node_id"]), label=repo["full_name"],
                            note=("private" if repo.get("private") else "public") +
                            "; archived, it is read-only for everyone and restorable"))


def _plan_team(conn: "GitHubConnector", lst: ListTarget, view: "OrgView", hit: Found, found: Discovery) -> None:
    if lst.close not in ("default", "delete"):
        found.notices.append(Notice(f"{lst.ident}: close: {lst.close} is not supported for a team (delete)",
                                    resource=lst.ident))
        return
    team, org = hit.body, view.login
    slug = team["slug"]
    api = conn.creds.for_org(org)
    roles = (view.teams.get(slug) or {}).get("_members", {})
    members = [{"login": view.users[uid]["login"], "role": role} for uid, role in sorted(roles.items())
               if uid in view.users]
    repos = [{"name": r["name"], "permission": API_PERMISSION.get(r.get("role_name", "read"), r.get("role_name"))}
             for r in api.pages(f"the repositories of team @{org}/{slug}",
                                lambda n: api.rest.teams.list_repos_in_org(org, slug, per_page=n))]
    children = sorted(s for s, t in view.teams.items() if (t.get("parent") or {}).get("slug") == slug)
    parent = (team.get("parent") or {}).get("slug")
    note = f"{len(members)} members, {len(repos)} repositories" + (
        f"; GitHub deletes its child teams with it: {', '.join(children)}" if children else "")
    found.steps.append(Step(
        kind=DeleteTeam.name, resource=f"@{org}/{slug}", needed=True, before={"exists": True, "id": team["id"]},
        params={"org": org, "slug": slug, "team_id": team["id"], "name": team["name"],
                "description": team.get("description") or "", "privacy": team.get("privacy") or "closed",
                "notification_setting": team.get("notification_setting"), "parent": parent, "members": members,
                "repos": repos, "children": children},
        aliases=(lst.ident, f"{org}/teams/{slug}", str(team["id"]), team["node_id"]), label=f"@{org}/{slug}",
        note=note))
