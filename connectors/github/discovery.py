"""What the `github` connector finds in each organisation, read-only, and the steps it plans from it.

One pass per organisation reads its owners and members, pending invitations, teams (with their members, for the
restore), outside collaborators and their repositories, pending repository invitations, and, with SAML SSO, the
credential authorizations; then each leaver's steps follow from that picture, in the order they run: SSO
authorizations first (so nothing already issued keeps working), the membership (or pending invitation), invitations
by email, direct repository access. Leavers are matched by numeric id, so a renamed account is still found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from revoke.connector import Discovery, Notice, Step, Subject
from revoke.connectors.github.client import Api, Credentials, GitHubRefused
from revoke.connectors.github.kinds import (
    CancelOrgInvitation,
    RemoveFromOrganization,
    RemoveFromRepository,
    RevokeSsoAuthorization,
)
from revoke.connectors.github.settings import GitHubSettings

BULK = 20  # more people than this in one organisation: list everything once instead of asking per person


@dataclass
class Person:
    subject: Subject
    id: int
    login: str
    node_id: str

    @property
    def aliases(self) -> tuple[str, ...]:
        return (self.login, str(self.id), self.node_id)


@dataclass
class OrgView:
    """One organisation as the connector's credentials see it."""

    login: str
    id: int
    node_id: str
    members: dict[int, str] = field(default_factory=dict)            # user id -> admin / member
    users: dict[int, dict[str, Any]] = field(default_factory=dict)   # every account seen, by id
    invitations: list[dict[str, Any]] = field(default_factory=list)
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)   # slug -> team, with "_members"
    outside: dict[str, dict[int, str]] = field(default_factory=dict)  # repo -> outside collaborator -> permission
    repo_invitations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    credentials: list[dict[str, Any]] | None = None                  # None: no SAML SSO (or not readable)

    @property
    def aliases(self) -> tuple[str, ...]:
        return (self.login, str(self.id), self.node_id)

    def pending(self, login: str) -> dict[str, Any] | None:
        """The pending invitation of this account (org invitations name the invitee by login, not id)."""
        return next((i for i in self.invitations if (i.get("login") or "").casefold() == login.casefold()), None)

    def owners(self) -> set[int]:
        return {uid for uid, role in self.members.items() if role == "admin"}


def membership_state(view: OrgView, uid: int, login: str) -> dict[str, Any]:
    """The state remove-from-organization reads back: an active membership, a pending invitation, or none."""
    if uid in view.members:
        return {"member": True, "state": "active", "role": view.members[uid]}
    invitation = view.pending(login)
    if invitation is not None:
        return pending_state(invitation.get("role"))
    return {"member": False, "state": None, "role": None}


def pending_state(role: str | None) -> dict[str, Any]:
    # the membership endpoint calls an invited owner "admin" and anyone else invited "member"
    return {"member": True, "state": "pending", "role": "admin" if role == "admin" else "member"}


def repo_state(view: OrgView, repo: str, uid: int) -> dict[str, Any]:
    invited = any((i.get("invitee") or {}).get("id") == uid for i in view.repo_invitations.get(repo, []))
    return {"collaborator": uid in view.outside.get(repo, {}) or invited, "pending": invited}


def load_org(api: Api, owner: Api | None, settings: GitHubSettings, org: str, found: Discovery,
             repo_scan: bool) -> OrgView:
    rest = api.rest
    info = api.json(f"organisation {org}", lambda: rest.orgs.get(org))
    view = OrgView(info["login"], int(info["id"]), info["node_id"])
    for role in ("all", "admin"):
        for u in api.pages(f"the members of {org}", lambda n: rest.orgs.list_members(org, role=role, per_page=n)):
            view.users[u["id"]] = u
            view.members[u["id"]] = "admin" if role == "admin" else view.members.get(u["id"], "member")
    view.invitations = api.pages(f"the pending invitations of {org}",
                                 lambda n: rest.orgs.list_pending_invitations(org, per_page=n))
    for inv in view.invitations:   # the teams an invitation adds the person to, for a restore to invite again
        inv["_teams"] = [{"slug": t["slug"], "id": t["id"], "role": "member"} for t in api.pages(
            f"the teams of invitation {inv['id']} to {org}", lambda n: rest.orgs.list_invitation_teams(
                org, inv["id"], per_page=n))] if inv.get("team_count") else []
    for team in api.pages(f"the teams of {org}", lambda n: rest.teams.list(org, per_page=n)):
        roles: dict[int, str] = {}
        for role in ("all", "maintainer"):
            for u in api.pages(f"the members of team {team['slug']}", lambda n: rest.teams.list_members_in_org(
                    org, team["slug"], role=role, per_page=n)):  # type: ignore[arg-type]
                roles[u["id"]] = "maintainer" if role == "maintainer" else roles.get(u["id"], "member")
        view.teams[team["slug"]] = {**team, "_members": roles}
    outside = api.pages(f"the outside collaborators of {org}",
                        lambda n: rest.orgs.list_outside_collaborators(org, per_page=n))
    for u in outside:
        view.users[u["id"]] = u
    if outside or repo_scan:
        _load_repositories(api, view, bool(outside), repo_scan and settings.scan_repository_invitations)
    view.credentials = _load_credentials(owner, settings, view, found)
    return view


def _load_repositories(api: Api, view: OrgView, collaborators: bool, invitations: bool) -> None:
    org, rest = view.login, api.rest
    for repo in api.pages(f"the repositories of {org}", lambda n: rest.repos.list_for_org(org, type="all",
                                                                                            per_page=n)):
        name = repo["name"]
        if collaborators:
            found = api.pages(f"the outside collaborators of {org}/{name}", lambda n: rest.repos.list_collaborators(
                org, name, affiliation="outside", per_page=n))
            view.outside[name] = {u["id"]: u.get("role_name") or "write" for u in found}
        if invitations:
            view.repo_invitations[name] = api.pages(f"the invitations of {org}/{name}",
                                                    lambda n: rest.repos.list_invitations(org, name, per_page=n))
            for inv in view.repo_invitations[name]:
                invitee = inv.get("invitee") or {}
                if invitee.get("id"):
                    view.users[invitee["id"]] = invitee


def saml_expected(settings: GitHubSettings, org: str) -> bool | None:
    """True: the runbook says this organisation uses SAML SSO; None: find out."""
    if settings.saml_sso == "auto":
        return None
    return org.casefold() in {s.casefold() for s in settings.saml_sso}


def _load_credentials(owner: Api | None, settings: GitHubSettings, view: OrgView,
                      found: Discovery) -> list[dict[str, Any]] | None:
    org, expected = view.login, saml_expected(settings, view.login)
    if expected is False:
        return None
    if owner is None:
        found.notices.append(Notice(
            f"{org}: SAML SSO credential authorizations cannot be read: a GitHub App cannot list them; give "
            "owner_token (an organisation owner's token) so that the leavers' tokens and SSH keys authorised for "
            f"{org} are revoked first" + ("" if expected else ", or saml_sso: [] if it has no SAML SSO"),
            resource=org, severity="error" if expected else "warning"))
        return None
    try:
        return owner.pages(f"the SAML SSO credential authorizations of {org}",
                           lambda n: owner.rest.orgs.list_saml_sso_authorizations(org, per_page=n))
    except GitHubRefused as err:
        if err.status != 404:
            raise
    if expected:
        found.notices.append(Notice(f"{org} is listed under saml_sso, but GitHub answers 404 to its credential "
                                    "authorizations: it has no SAML SSO, or the owner token is not an owner there",
                                    resource=org))
    else:
        found.notices.append(Notice(f"{org}: no SAML SSO credential authorizations (GitHub answers 404: the "
                                    "organisation has no SAML single sign-on, or this is not Enterprise Cloud); "
                                    f"if it does use SAML SSO, list it under saml_sso so this is an error",
                                    resource=org, severity="warning"))
    return None


def resolve(creds: Credentials, subjects: Sequence[Subject], views: list[OrgView],
            found: Discovery) -> list[Person]:
    """Each leaver's account, by login or numeric id: from the organisations' listings first (no request), else
    asked of GitHub; one not found is said."""
    seen: dict[str, dict[str, Any]] = {}
    for view in views:
        for u in view.users.values():
            seen[u["login"].casefold()] = u
            seen[str(u["id"])] = u
    api = creds.any
    out: list[Person] = []
    for s in subjects:
        key = s.ident.strip().lstrip("@").casefold()
        user = seen.get(key)
        if user is None:
            try:
                call = ((lambda: api.rest.users.get_by_id(int(key))) if key.isdigit()
                        else (lambda: api.rest.users.get_by_username(key)))
                user = api.json(f"user {s.ident}", call)
            except GitHubRefused as err:
                if err.status != 404:
                    raise
        if user is None or user.get("type") == "Organization":
            what = "an organisation, not a person" if user else "no GitHub account"
            found.notices.append(Notice(f"'{s.ident}' is {what}: give the person's GitHub login (or numeric id)",
                                        person=s.person))
            continue
        out.append(Person(s, int(user["id"]), user["login"], user["node_id"]))
    return out


def plan_person(view: OrgView, person: Person, *, last_owners: set[int], found: Discovery) -> None:
    org, uid = view.login, person.id
    base = {"org": org, "user_id": uid}
    credentials = [c for c in view.credentials or [] if c.get("login", "").casefold() == person.login.casefold()]
    for c in credentials:
        kind = c.get("credential_type") or "credential"
        fingerprint = str(c.get("fingerprint") or "")
        detail = (f"…{c['token_last_eight']}" if c.get("token_last_eight") else
                  fingerprint[:20] + ("…" if len(fingerprint) > 20 else ""))
        found.steps.append(Step(
            kind=RevokeSsoAuthorization.name, resource=f"{org}/credential-authorizations/{c['credential_id']}",
            principal=person.login, person=person.subject.person, needed=True,
            before={"authorized": True, "credential_type": kind},
            params={**base, "credential_id": c["credential_id"]}, aliases=person.aliases + view.aliases,
            label=f"{kind} {detail} in {org}".replace("  ", " "),
            note="authorised for the organisation through SAML SSO" +
                 (f" (last used {c['credential_accessed_at']})" if c.get("credential_accessed_at") else "")))
    state = membership_state(view, uid, person.login)
    teams = [{"slug": slug, "id": t["id"], "role": t["_members"][uid]} for slug, t in sorted(view.teams.items())
             if uid in t["_members"]]
    invitation = view.pending(person.login) if state["state"] == "pending" else None
    if invitation is not None:
        teams = invitation.get("_teams") or []
    params = {**base, "credentials": [c["credential_id"] for c in credentials], "teams": teams}
    note, outcome = _membership_note(view, uid, state, teams), None
    if uid in last_owners:
        outcome = "attention"
        note = (f"{person.login} is the last owner of {org}, and GitHub never removes an organisation's last owner: "
                "make someone who stays an owner, then plan again")
    found.steps.append(Step(kind=RemoveFromOrganization.name, resource=org, principal=person.login,
                            person=person.subject.person, before=state, needed=bool(state["member"]) and not outcome,
                            params=params, aliases=person.aliases + view.aliases, label=org, note=note,
                            outcome=outcome))
    if person.subject.email:
        _plan_email_invitations(view, person, found)
    for repo in sorted(set(view.outside) | set(view.repo_invitations)):
        rs = repo_state(view, repo, uid)
        if not rs["collaborator"]:
            continue
        invitations = [i["id"] for i in view.repo_invitations.get(repo, []) if (i.get("invitee") or {}).get("id") ==
                       uid]
        permission = view.outside.get(repo, {}).get(uid) or next(
            (i.get("permissions") for i in view.repo_invitations.get(repo, []) if i["id"] in invitations), "write")
        found.steps.append(Step(kind=RemoveFromRepository.name, resource=f"{org}/{repo}", principal=person.login,
                                person=person.subject.person, before=rs, needed=True,
                                params={**base, "repo": repo, "permission": permission, "invitations": invitations},
                                aliases=person.aliases, label=f"{org}/{repo}",
                                note=("a pending invitation: it stays valid after the organisation membership ends"
                                      if rs["pending"] else f"outside collaborator ({permission})")))


def _membership_note(view: OrgView, uid: int, state: dict[str, Any], teams: list[dict[str, Any]]) -> str:
    if state["state"] == "pending":
        return "invited, not yet accepted: removing the membership cancels the invitation"
    if not state["member"]:
        return ""
    role = "owner" if state["role"] == "admin" else "member"
    names = ", ".join(f"{t['slug']}{' (maintainer)' if t['role'] == 'maintainer' else ''}" for t in teams)
    return f"{role}" + (f"; teams: {names}" if names else "") + "; removing the membership ends its team and " \
        "repository access"


def _plan_email_invitations(view: OrgView, person: Person, found: Discovery) -> None:
    email = (person.subject.email or "").casefold()
    for inv in view.invitations:
        if inv.get("login") or (inv.get("email") or "").casefold() != email:
            continue
        found.steps.append(Step(kind=CancelOrgInvitation.name, resource=view.login, principal=inv["email"],
                                person=person.subject.person, needed=True,
                                before={"invited": True, "role": inv.get("role")},
                                params={"org": view.login, "invitation_id": inv["id"], "email": inv["email"],
                                        "role": inv.get("role"), "teams": inv.get("_teams") or []},
                                aliases=(inv["email"], *view.aliases), label=view.login,
                                note=f"an invitation by email ({inv['email']}), not yet accepted"))


def last_owners(view: OrgView, leavers: Sequence[Person]) -> set[int]:
    """The leavers whose removal would leave the organisation without an owner: GitHub refuses it, so the plan
    says so for each of them instead of failing on the final day."""
    owners = view.owners()
    leaving = owners & {p.id for p in leavers}
    return leaving if leaving and not owners - leaving else set()
