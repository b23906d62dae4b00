"""Restoring what the `github` connector changed, from the before-states and parameters in the plan.

GitHub never adds anyone to an organisation or a repository without their consent: a restored membership is a new
invitation with the former role and the teams that still exist (looked up by slug, so a team restored in the same
run is found under its new id), a restored repository access a new repository invitation with the former
permission. Both read back as pending until the person accepts, which counts as restored (the kinds' restore notes
say so). A deleted team is created again with its members, maintainers and repository permissions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from revoke.connector import Receipt
from revoke.connectors.github.client import Api, GitHubRefused, request_ids
from revoke.connectors.github.kinds import (
    ArchiveRepository,
    CancelOrgInvitation,
    DeleteTeam,
    RemoveFromOrganization,
    RemoveFromRepository,
)
from revoke.errors import NotSupported

if TYPE_CHECKING:
    from revoke.connectors.github.connector import GitHubConnector

PERMISSION = {"read": "pull", "write": "push"}


def _already(err: GitHubRefused) -> bool:
    return err.status == 422   # already a member, already invited, a team of that name exists


class Restorer:
    def __init__(self, conn: "GitHubConnector"):
        self.conn = conn

    def restore(self, a: Any) -> Receipt:
        api = self.conn.creds.for_org(a.params["org"])
        if a.kind == RemoveFromOrganization.name:
            return self.membership(api, a)
        if a.kind == CancelOrgInvitation.name:
            return self.invite(api, a.params["org"], {"email": a.params["email"],
                                                      "role": a.params.get("role") or "direct_member"},
                               [t["slug"] for t in a.params.get("teams") or []])
        if a.kind == RemoveFromRepository.name:
            return self.repository(api, a)
        if a.kind == ArchiveRepository.name:
            if a.before.get("archived"):
                return Receipt(detail={"note": "archived before the run; left archived"})
            org, repo = a.params["org"], a.params["repo"]
            return Receipt(request_ids=tuple(request_ids(api.call(
                f"unarchive {org}/{repo}", lambda: api.rest.repos.update(org, repo, archived=False)))))
        if a.kind == DeleteTeam.name:
            return self.team(api, a)
        raise NotSupported(f"github cannot restore '{a.kind}'")

    def _team_ids(self, api: Api, org: str, slugs: list[str]) -> list[int]:
        current = {t["slug"].casefold(): t["id"] for t in api.pages(f"the teams of {org}",
                                                                     lambda n: api.rest.teams.list(org, per_page=n))}
        return [current[s.casefold()] for s in slugs if s.casefold() in current]

    def invite(self, api: Api, org: str, body: dict[str, Any], slugs: list[str]) -> Receipt:
        team_ids = self._team_ids(api, org, slugs) if slugs else []
        try:
            resp = api.call(f"invite to {org}", lambda: api.rest.orgs.create_invitation(
                org, **body, team_ids=team_ids))
        except GitHubRefused as err:
            if not _already(err):
                raise
            return Receipt(request_ids=tuple(err.request_ids), detail={"answer": err.message or "422"})
        return Receipt(request_ids=tuple(request_ids(resp)),
                       detail={"note": "re-invited: pending until the person accepts the invitation",
                               "invitation_id": resp.json().get("id"), "team_ids": team_ids})

    def membership(self, api: Api, a: Any) -> Receipt:
        if not a.before.get("member"):
            return Receipt(detail={"note": "was not in the organisation before the run"})
        role = "admin" if a.before.get("role") == "admin" else "direct_member"
        slugs = [t["slug"] for t in a.params.get("teams") or []]
        return self.invite(api, a.params["org"], {"invitee_id": int(a.params["user_id"]), "role": role}, slugs)

    def repository(self, api: Api, a: Any) -> Receipt:
        org, repo = a.params["org"], a.params["repo"]
        login = self.conn.login_of(a)
        permission = PERMISSION.get(a.params.get("permission") or "write", a.params.get("permission") or "push")
        resp = api.call(f"invite {login} to {org}/{repo}", lambda: api.rest.repos.add_collaborator(
            org, repo, login, permission=permission))
        return Receipt(request_ids=tuple(request_ids(resp)),
                       detail={"note": "re-invited: pending until the person accepts the invitation"})

    def team(self, api: Api, a: Any) -> Receipt:
        p = a.params
        org = p["org"]
        ids: list[str] = []
        parent = self._team_ids(api, org, [p["parent"]]) if p.get("parent") else []
        body = {"name": p["name"], "description": p.get("description") or "", "privacy": p.get("privacy") or "closed"}
        if p.get("notification_setting"):
            body["notification_setting"] = p["notification_setting"]
        if parent:
            body["parent_team_id"] = parent[0]
        try:
            created = api.call(f"re-create team @{org}/{p['slug']}", lambda: api.rest.teams.create(org, **body))
            slug, ids = created.json()["slug"], request_ids(created)
        except GitHubRefused as err:
            if not _already(err):
                raise
            slug = p["slug"]   # a team of that name exists again: complete it
        for m in p.get("members") or []:
            resp = api.call(f"add {m['login']} to @{org}/{slug}", lambda: api.rest.teams.
                            add_or_update_membership_for_user_in_org(org, slug, m["login"], role=m["role"]))
            ids += request_ids(resp)
        for r in p.get("repos") or []:
            resp = api.call(f"give @{org}/{slug} {r['permission']} on {org}/{r['name']}",
                            lambda: api.rest.teams.add_or_update_repo_permissions_in_org(
                                org, slug, org, r["name"], permission=r["permission"]))
            ids += request_ids(resp)
        return Receipt(request_ids=tuple(ids), detail={"note": "re-created: a new team id; "
                                                       "see the restore note for what is lost"})
