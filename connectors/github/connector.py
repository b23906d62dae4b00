"""The `github` connector: takes leavers out of GitHub organisations and closes the repositories and teams a runbook
lists (githubkit).

Per leaver (their login, or numeric id) and per organisation of the settings: SAML SSO credential authorizations
(tokens and SSH keys the person authorised for the organisation) are revoked first; then the organisation
membership is removed, which ends team and repository access and also cancels a pending invitation; invitations
by email to the person's address are cancelled; an outside collaborator's direct repository access and any pending
repository invitation are removed repository by repository. The last owner of an organisation is never removed
(GitHub refuses it): the plan says so. Listed repositories are archived (restorable), listed teams deleted (restore
re-creates them; the plan says what cannot come back).

GitHub cannot add anyone to an organisation or repository silently: restore re-invites, and a pending invitation
reads back as the restored state, said in the restore plan.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any, ClassVar, Sequence

from revoke.actions import ActionKind, State
from revoke.connector import Connector, Discovery, Entity, Identity, ListTarget, Notice, Receipt, Subject
from revoke.connectors.github.client import Api, Credentials, GitHubRefused, request_ids
from revoke.connectors.github.discovery import OrgView, last_owners, load_org, plan_person, resolve
from revoke.connectors.github.kinds import (
    KINDS,
    READ_PERMISSIONS,
    ArchiveRepository,
    CancelOrgInvitation,
    DeleteTeam,
    RemoveFromOrganization,
    RemoveFromRepository,
    RevokeSsoAuthorization,
    permissions_document,
)
from revoke.connectors.github.lists import identify_target, plan_list, split_target
from revoke.connectors.github.readback import Reader
from revoke.connectors.github.restore import Restorer
from revoke.connectors.github.settings import GitHubSettings
from revoke.errors import ActionFailed, ConnectionFailed, NotSupported, RevokeError
from revoke.exposure import ExposureRule


class GitHubConnector(Connector):
    name: ClassVar[str] = "github"
    version: ClassVar[str] = "1.0"
    Settings = GitHubSettings
    kinds = KINDS
    read_permissions = READ_PERMISSIONS
    permission_format = "text"
    batch_size: ClassVar[int] = 20   # one read-back for 20 writes: the organisation's check is shared

    settings: GitHubSettings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._creds: Credentials | None = None
        self.me: dict[str, Any] = {}
        self.logins: dict[int, str] = {}        # user id -> current login, as read during this run
        self._revoked: set[tuple[str, int]] = set()
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, int], threading.Lock] = defaultdict(threading.Lock)

    @classmethod
    def permissions_document(cls, kinds: Sequence[type[ActionKind]]) -> str:
        return permissions_document(cls.read_permissions, kinds)

    @property
    def creds(self) -> Credentials:
        if self._creds is None:
            self._creds = Credentials(self.settings, self.secrets, self.context.runtime)
        return self._creds

    def close(self) -> None:
        if self._creds is not None:
            self._creds.close()
            self._creds = None

    def warnings(self) -> list[str]:
        if not self.settings.base_url.startswith("https://"):
            return [f"{self.settings.base_url}: not https: the credentials cross the network in clear text"]
        return []

    def exposure(self) -> list[ExposureRule]:
        return [
            ExposureRule("clones of the organisations' repositories already made, and forks of public or internal "
                         "ones (GitHub deletes a leaver's private forks with their access; local clones stay)",
                         RemoveFromOrganization.name, None, "git clones live on the person's own machines; GitHub "
                         "cannot reach them"),
            ExposureRule("the person's tokens and SSH keys that were never authorised for an organisation through "
                         "SSO: they stay valid on GitHub for everything outside these organisations", None, None,
                         "credentials belong to the person's GitHub account; an organisation can only revoke their "
                         "SSO authorization for itself or remove the person"),
        ]

    # ---- connection

    def connect(self) -> Identity:
        try:
            if self.settings.token is not None:
                return self._connect_token()
            return self._connect_app()
        except ActionFailed as err:
            raise ConnectionFailed(self.system, err.reason) from None

    def _connect_token(self) -> Identity:
        api = self.creds.any
        resp = api.read("the token's user", lambda: api.rest.users.get_authenticated())
        me = resp.json()
        scopes = [s.strip() for s in (resp.headers.get("x-oauth-scopes") or "").split(",") if s.strip()]
        roles = {}
        for org in self.settings.organizations:
            try:
                roles[org] = api.json(f"{me['login']}'s membership of {org}",
                                      lambda: api.rest.orgs.get_membership_for_user(org, me["login"]))["role"]
            except GitHubRefused as err:
                if err.status != 404:
                    raise
                raise ConnectionFailed(self.system, f"{me['login']} (the token's user) is not a member of the "
                                       f"organisation {org}, or it does not exist: use an owner's token") from None
        self.me = {"login": me["login"], "id": me["id"], "node_id": me["node_id"], "roles": roles}
        self.logins[int(me["id"])] = me["login"]
        aliases = tuple(a for a in (me["login"], str(me["id"]), me["node_id"], me.get("email")) if a)
        return Identity(display=f"{me['login']} (token)", aliases=aliases,
                        detail={"login": me["login"], "id": me["id"], "base_url": self.settings.base_url,
                                "scopes": scopes or "fine-grained (no X-OAuth-Scopes)", "roles": roles})

    def _connect_app(self) -> Identity:
        app_api = self.creds.app_api
        assert app_api is not None
        app = app_api.json("the GitHub App", lambda: app_api.rest.apps.get_authenticated())
        bot_login = f"{app['slug']}[bot]"
        try:
            bot = self.creds.any.json(f"the app's bot account {bot_login}",
                                      lambda: self.creds.any.rest.users.get_by_username(bot_login))
        except GitHubRefused as err:
            if err.status != 404:
                raise
            bot = {}
        for org in self.settings.organizations:
            try:
                api = self.creds.for_org(org)
                api.json(f"organisation {org}", lambda: api.rest.orgs.get(org))
            except GitHubRefused as err:
                raise ConnectionFailed(self.system, f"the GitHub App {app['slug']} is not installed in {org} "
                                       f"(or cannot see it): {err.reason}") from None
        self.me = {"login": bot.get("login", bot_login), "id": bot.get("id"), "app_id": app["id"]}
        aliases = tuple(str(a) for a in (app["slug"], bot_login, app["id"], app.get("node_id"), bot.get("id"),
                                         bot.get("node_id")) if a)
        return Identity(display=f"GitHub App {app['slug']} ({app['id']})", aliases=aliases,
                        detail={"app_id": app["id"], "slug": app["slug"], "bot": bot_login,
                                "base_url": self.settings.base_url})

    # ---- discovery

    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        if not self.me:
            self.connect()
        found = Discovery()
        views: dict[str, OrgView] = {}
        for org in self.settings.organizations:
            role = (self.me.get("roles") or {}).get(org)
            if role is not None and role != "admin":
                found.notices.append(Notice(f"{self.me['login']} is not an owner of {org}: GitHub will refuse the "
                                            "removals; use an owner's token", resource=org))
            views[org.casefold()] = load_org(self.creds.for_org(org), self.creds.owner_api, self.settings, org,
                                             found, repo_scan=True)
        people = resolve(self.creds, subjects, list(views.values()), found)
        for p in people:
            self.logins[p.id] = p.login
        for view in views.values():
            last = last_owners(view, people)
            for p in people:
                plan_person(view, p, last_owners=last, found=found)
        for lst in lists:
            plan_list(self, lst, views, found)
        return found

    # ---- accounts, not strings

    def identify(self, names: Sequence[str]) -> dict[str, Entity | None]:
        return {n: self._identify(n) for n in names}

    def _identify(self, name: str) -> Entity | None:
        target = split_target(name)
        if target is not None:
            if target[0] == "credential":   # the connector's own address of one SSO authorization
                return Entity(frozenset({name}), "credential-authorization", name)
            return identify_target(self, name)
        api = self.creds.any
        key = name.strip().lstrip("@")
        if "@" in key:   # an invitation's email address: GitHub knows it only as the invitation's
            return Entity(frozenset({name}), "email", name)
        if not key or "/" in key:
            return None
        try:
            user = api.json(f"account {key}", (lambda: api.rest.users.get_by_id(int(key))) if key.isdigit()
                            else (lambda: api.rest.users.get_by_username(key)))
        except GitHubRefused as err:
            if err.status != 404:
                raise
            return None
        kind = "organization" if user.get("type") == "Organization" else "account"
        return Entity(frozenset({user["login"], str(user["id"]), user["node_id"]}), kind, user["login"])

    # ---- apply

    def apply_many(self, actions: Sequence[Any]) -> dict[str, Receipt | RevokeError]:
        """One attempt each, in order; after a rate-limited answer the rest of the batch is not sent (it would be
        refused too and spend the limit), but answered with the same wait."""
        out: dict[str, Receipt | RevokeError] = {}
        stop: ActionFailed | None = None
        for a in actions:
            if stop is not None:
                out[a.id] = ActionFailed(f"not sent: {stop.reason}", retryable=True, retry_after=stop.retry_after)
                continue
            try:
                out[a.id] = self.apply(a)
            except ActionFailed as err:
                out[a.id] = err
                if err.retryable and err.retry_after:
                    stop = err
            except RevokeError as err:
                out[a.id] = err
        return out

    def person_lock(self, a: Any) -> threading.Lock:
        # one person's SSO revocations and membership removal in one organisation never run side by side
        with self._guard:
            return self._locks[(str(a.params.get("org", "")).casefold(), int(a.params.get("user_id") or 0))]

    def login_of(self, a: Any) -> str:
        """The current login of the action's account, from its numeric id (logins can be renamed and reused)."""
        uid = int(a.params["user_id"])
        if uid not in self.logins:
            api = self.creds.any
            self.logins[uid] = api.json(f"user {uid}", lambda: api.rest.users.get_by_id(uid))["login"]
        return self.logins[uid]

    def apply(self, action: Any) -> Receipt:
        kind, org = action.kind, action.params.get("org", "")
        api = self.creds.for_org(org) if org else self.creds.any
        if kind == RevokeSsoAuthorization.name:
            with self.person_lock(action):
                return Receipt(request_ids=tuple(self.revoke_credential(org, int(action.params["credential_id"]))))
        if kind == RemoveFromOrganization.name:
            with self.person_lock(action):
                return self._remove_member(api, action)
        if kind == CancelOrgInvitation.name:
            inv = int(action.params["invitation_id"])
            return self._write(f"cancel invitation {inv} to {org}",
                               lambda: api.rest.orgs.cancel_invitation(org, inv), api)
        if kind == RemoveFromRepository.name:
            return self._remove_from_repo(api, action)
        if kind == ArchiveRepository.name:
            repo = action.params["repo"]
            return self._write(f"archive {org}/{repo}", lambda: api.rest.repos.update(org, repo, archived=True), api)
        if kind == DeleteTeam.name:
            slug = action.params["slug"]
            return self._write(f"delete team @{org}/{slug}", lambda: api.rest.teams.delete_in_org(org, slug), api)
        raise NotSupported(f"github has no action '{kind}'")

    def _write(self, what: str, fn: Any, api: Api, *, absent_ok: bool = True) -> Receipt:
        try:
            return Receipt(request_ids=tuple(request_ids(api.call(what, fn))))
        except GitHubRefused as err:
            if err.status != 404 or not absent_ok:
                raise
            # gone already, or not visible: the read-back, which checks the organisation first, decides
            return Receipt(request_ids=tuple(err.request_ids), detail={"answer": "404 Not Found"})

    def revoke_credential(self, org: str, cid: int) -> list[str]:
        if (org.casefold(), cid) in self._revoked:
            return []
        owner = self.creds.owner_api
        if owner is None:
            raise ActionFailed("revoking an SSO authorization needs an organisation owner's token (owner_token)")
        receipt = self._write(f"revoke SSO authorization {cid} in {org}",
                              lambda: owner.rest.orgs.remove_saml_sso_authorization(org, cid), owner)
        self._revoked.add((org.casefold(), cid))
        return list(receipt.request_ids)

    def _remove_member(self, api: Api, a: Any) -> Receipt:
        org = a.params["org"]
        ids: list[str] = []
        for cid in a.params.get("credentials") or []:   # SSO authorizations go first, whatever the batch order
            ids += self.revoke_credential(org, int(cid))
        login = self.login_of(a)
        receipt = self._write(f"remove {login} from {org}",
                              lambda: api.rest.orgs.remove_membership_for_user(org, login), api)
        return Receipt(request_ids=tuple(ids) + receipt.request_ids, detail=dict(receipt.detail))

    def _remove_from_repo(self, api: Api, a: Any) -> Receipt:
        org, repo = a.params["org"], a.params["repo"]
        ids: list[str] = []
        for inv in a.params.get("invitations") or []:
            ids += self._write(f"delete invitation {inv} to {org}/{repo}",
                               lambda: api.rest.repos.delete_invitation(org, repo, int(inv)), api).request_ids
        if a.before.get("collaborator") and not a.before.get("pending"):
            login = self.login_of(a)
            ids += self._write(f"remove {login} from {org}/{repo}",
                               lambda: api.rest.repos.remove_collaborator(org, repo, login), api).request_ids
        return Receipt(request_ids=tuple(ids))

    # ---- read back and restore

    def read_back(self, actions: Sequence[Any]) -> dict[str, State]:
        reader = Reader(self, actions)
        return {a.id: reader.state(a) for a in actions}

    def restore(self, action: Any) -> Receipt:
        if action.kind == RevokeSsoAuthorization.name:
            raise NotSupported(f"{action.kind} cannot be restored: {RevokeSsoAuthorization.restore_note}")
        return Restorer(self).restore(action)
