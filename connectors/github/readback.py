"""Reading the `github` connector's targets back, failing closed.

A 404 from GitHub is never taken alone as "gone": a private object answers 404 to whoever cannot see it. Absence
counts only where the answer proves it: the organisation answers (and `connect` checked the credentials act in
it), the account still exists under the id the plan recorded, and a listing was read to its last page. Accounts
are addressed by their current login, looked up from their numeric id, so a renamed leaver is not read as gone. An
answer that proves nothing is `unverifiable(why)`; a throttled one is raised for the engine to wait out.

One `Reader` serves one `read_back` call: what several actions share (an organisation, a repository's
collaborators, a listing) is read once. With many actions in one organisation it reads the listings (members,
invitations, credential authorizations) instead of asking per person.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, Sequence

from revoke.actions import State, unverifiable
from revoke.connectors.github.client import Api, GitHubRefused
from revoke.connectors.github.discovery import BULK, pending_state
from revoke.connectors.github.kinds import (
    ArchiveRepository,
    CancelOrgInvitation,
    DeleteTeam,
    RemoveFromOrganization,
    RemoveFromRepository,
    RevokeSsoAuthorization,
)
from revoke.errors import ActionFailed

if TYPE_CHECKING:
    from revoke.connectors.github.connector import GitHubConnector
    from revoke.plan import Action

NOT_VISIBLE = "GitHub answers 404: deleted, or not visible to these credentials (a private object answers 404 to " \
              "whoever cannot see it)"


class Reader:
    def __init__(self, conn: "GitHubConnector", actions: Sequence["Action"]):
        self.conn = conn
        self.memo: dict[tuple[Any, ...], Any] = {}
        self.per_org = Counter((a.kind, str(a.params.get("org", "")).casefold()) for a in actions)

    def _once(self, key: tuple[Any, ...], read: Callable[[], Any]) -> Any:
        if key not in self.memo:
            self.memo[key] = read()
        return self.memo[key]

    def state(self, a: "Action") -> State:
        try:
            return READERS[a.kind](self, a)
        except GitHubRefused as err:
            if err.retryable:
                raise
            return unverifiable(str(err))
        except ActionFailed as err:
            if err.retryable:
                raise
            return unverifiable(str(err))

    # ---- what several actions share

    def api(self, org: str) -> Api:
        return self.conn.creds.for_org(org)

    def org(self, org: str) -> None:
        """The organisation answers: a later 404 inside it is about the object, not about the organisation."""
        api = self.api(org)
        self._once(("org", org.casefold()), lambda: api.json(f"organisation {org}", lambda: api.rest.orgs.get(org)))

    def login(self, a: "Action") -> str:
        """The account's current login, from the id the plan recorded (GitHub logins can be renamed and reused)."""
        uid = int(a.params["user_id"])
        cached = self.conn.logins.get(uid)
        if cached is not None:
            return cached
        api = self.conn.creds.any
        user = api.json(f"user {uid}", lambda: api.rest.users.get_by_id(uid))
        if int(user["id"]) != uid:
            raise ActionFailed(f"GitHub answered user {uid} with another account ({user.get('id')})")
        self.conn.logins[uid] = user["login"]
        return str(user["login"])

    def _bulk(self, kind: str, org: str) -> bool:
        return self.per_org[(kind, org.casefold())] >= BULK

    # ---- per kind

    def sso(self, a: "Action") -> State:
        org, cid = a.params["org"], int(a.params["credential_id"])
        owner = self.conn.creds.owner_api
        if owner is None:
            return unverifiable("no organisation owner's token (owner_token) to read SSO authorizations with")
        self.org(org)
        if self._bulk(a.kind, org):
            key: tuple[Any, ...] = ("sso", org.casefold())
            fn = lambda n: owner.rest.orgs.list_saml_sso_authorizations(org, per_page=n)  # noqa: E731
        else:
            login = self.login(a)
            key = ("sso", org.casefold(), login.casefold())
            fn = lambda n: owner.rest.orgs.list_saml_sso_authorizations(org, login=login, per_page=n)  # noqa: E731
        listed = _complete(self._once(key, lambda: owner.pages(f"the SSO authorizations in {org}", fn)),
                           f"the SSO authorizations in {org}", "credential_id")
        match = next((c for c in listed if int(c.get("credential_id", -1)) == cid), None)
        if match is None:
            return {"authorized": False, "credential_type": a.before.get("credential_type")}
        return {"authorized": True, "credential_type": match.get("credential_type")}

    def membership(self, a: "Action") -> State:
        org, uid = a.params["org"], int(a.params["user_id"])
        api = self.api(org)
        self.org(org)
        if self._bulk(a.kind, org):
            members, invitations = self._once(("members", org.casefold()), lambda: self._members(api, org))
            if uid in members:
                return {"member": True, "state": "active", "role": members[uid]}
            login = self.login(a)
            invitation = next((i for i in invitations if (i.get("login") or "").casefold() == login.casefold()),
                              None)
            return pending_state(invitation.get("role")) if invitation else {"member": False, "state": None,
                                                                             "role": None}
        login = self.login(a)
        try:
            body = api.json(f"the membership of {login} in {org}",
                            lambda: api.rest.orgs.get_membership_for_user(org, login))
        except GitHubRefused as err:
            if err.status != 404:
                raise
            return {"member": False, "state": None, "role": None}   # the organisation and the account both answer
        if not isinstance(body, dict) or int((body.get("user") or {}).get("id", -1)) != uid:
            return unverifiable(f"GitHub answered the membership of {login} with another account")
        return {"member": True, "state": body.get("state"), "role": body.get("role")}

    def _members(self, api: Api, org: str) -> tuple[dict[int, str], list[dict[str, Any]]]:
        members: dict[int, str] = {}
        for role in ("all", "admin"):
            listed = api.pages(f"the members of {org}", lambda n: api.rest.orgs.list_members(org, role=role,
                                                                                            per_page=n))
            for u in _complete(listed, f"the members of {org}", "id", "login"):
                members[u["id"]] = "admin" if role == "admin" else members.get(u["id"], "member")
                self.conn.logins[u["id"]] = u["login"]
        return members, self._invitations(api, org)

    def _invitations(self, api: Api, org: str) -> list[dict[str, Any]]:
        return self._once(("invitations", org.casefold()), lambda: api.pages(
            f"the pending invitations of {org}", lambda n: api.rest.orgs.list_pending_invitations(org, per_page=n)))

    def email_invitation(self, a: "Action") -> State:
        org, email = a.params["org"], str(a.params["email"]).casefold()
        self.org(org)
        for inv in _complete(self._invitations(self.api(org), org), f"the pending invitations of {org}", "id",
                             "login", "email"):
            if not inv.get("login") and (inv.get("email") or "").casefold() == email:
                return {"invited": True, "role": inv.get("role")}
        return {"invited": False, "role": None}

    def repository(self, a: "Action") -> State:
        org, repo, uid = a.params["org"], a.params["repo"], int(a.params["user_id"])
        api = self.api(org)
        outside, invited = self._once(("repo-access", org.casefold(), repo.casefold()),
                                      lambda: self._repo_access(api, org, repo))
        if outside is None:
            return unverifiable(f"{org}/{repo}: {NOT_VISIBLE}")
        return {"collaborator": uid in outside or uid in invited, "pending": uid in invited}

    def _repo_access(self, api: Api, org: str, repo: str) -> tuple[set[int] | None, set[int]]:
        try:
            api.json(f"repository {org}/{repo}", lambda: api.rest.repos.get(org, repo))
        except GitHubRefused as err:
            if err.status != 404:
                raise
            return None, set()
        outside = api.pages(f"the outside collaborators of {org}/{repo}", lambda n: api.rest.repos.list_collaborators(
            org, repo, affiliation="outside", per_page=n))
        invitations = api.pages(f"the invitations of {org}/{repo}",
                                lambda n: api.rest.repos.list_invitations(org, repo, per_page=n))
        what = f"the invitations of {org}/{repo}"
        invited = {int(i["invitee"]["id"]) for i in _complete(invitations, what, "invitee")
                   if isinstance(i["invitee"], dict) and _complete([i["invitee"]], what, "id")}
        return {int(u["id"]) for u in _complete(outside, f"the outside collaborators of {org}/{repo}", "id")}, invited

    def archive(self, a: "Action") -> State:
        org, repo = a.params["org"], a.params["repo"]
        api = self.api(org)
        try:
            body = api.json(f"repository {org}/{repo}", lambda: api.rest.repos.get(org, repo))
        except GitHubRefused as err:
            if err.status != 404:
                raise
            return unverifiable(f"{org}/{repo}: {NOT_VISIBLE}")
        if int(body.get("id", -1)) != int(a.params["repo_id"]):
            return unverifiable(f"{org}/{repo} is now another repository (id {body.get('id')}, the plan saw "
                                f"{a.params['repo_id']})")
        if not isinstance(body.get("archived"), bool):  # missing is not "not archived": restore would read it done
            return unverifiable(f"GitHub's answer for {org}/{repo} has no `archived`")
        return {"exists": True, "archived": body["archived"]}

    def team(self, a: "Action") -> State:
        org, slug = a.params["org"], a.params["slug"]
        api = self.api(org)
        self.org(org)
        try:
            body = api.json(f"team @{org}/{slug}", lambda: api.rest.teams.get_by_name(org, slug))
        except GitHubRefused as err:
            if err.status != 404:
                raise
            return {"exists": False}   # the organisation answers and connect() checked these credentials act there
        if not isinstance(body, dict) or str(body.get("slug", "")).casefold() != slug.casefold():
            return unverifiable(f"GitHub answered the read of team @{org}/{slug} with another object or none")
        return {"exists": True, "id": body.get("id")}


def _complete(items: list[Any], what: str, *fields: str) -> list[Any]:
    """`items` when each is an object carrying `fields` (null allowed); otherwise the listing proves nothing."""
    if not all(isinstance(i, dict) and all(f in i for f in fields) for i in items):
        raise ActionFailed(f"GitHub's answer to {what} lacks {', '.join(fields)} on some entries")
    return items


READERS: dict[str, Callable[[Reader, "Action"], State]] = {
    RevokeSsoAuthorization.name: Reader.sso,
    RemoveFromOrganization.name: Reader.membership,
    CancelOrgInvitation.name: Reader.email_invitation,
    RemoveFromRepository.name: Reader.repository,
    ArchiveRepository.name: Reader.archive,
    DeleteTeam.name: Reader.team,
}
