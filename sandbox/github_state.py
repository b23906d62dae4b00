"""The state of the GitHub fake: its accounts, organisations, apps and tokens, the seeding API tests use, and
inspection of that state independently of any client (what a test asserts on)."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import itertools
import re
import secrets as pysecrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from revoke.sandbox.github_model import (App, Credential, Grant, Installation, Invitation, Org, Repo, RepoInvitation,
                                         Team, User)

WRITES = ("POST", "PATCH", "PUT", "DELETE")


@dataclass
class Injection:
    method: str
    path: re.Pattern[str]
    times: int
    status: int
    applied: bool
    message: str
    headers: dict[str, str] = field(default_factory=dict)


class GitHubState:
    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self.orgs: dict[str, Org] = {}
        self.apps: dict[int, App] = {}
        self.installations: dict[int, Installation] = {}
        self.grants: dict[str, Grant] = {}
        self.now: Callable[[], float] = time.time   # the rate limits' clock, epoch seconds; tests set their own
        self.lock = threading.RLock()
        self._ids = itertools.count(1001)
        self._limit: tuple[int, int, int] | None = None        # (requests, window seconds, status)
        self._secondary: tuple[int, int] | None = None          # (writes, window seconds)
        self._injections: list[Injection] = []

    # ---- seeding -------------------------------------------------------------------------------------------
    def new_id(self) -> int:
        return next(self._ids)

    def add_user(self, login: str, *, email: str | None = None, kind: str = "User") -> User:
        with self.lock:
            if self.user(login) is not None:
                raise ValueError(f"login {login} is taken")
            user = User(self.new_id(), login, kind, email)
            self.users[user.id] = user
            return user

    def add_token(self, login: str, *, scopes: Iterable[str] | None = ("admin:org", "repo", "read:user")) -> str:
        """A personal access token of `login`: classic with these scopes, or fine-grained with `scopes=None`."""
        with self.lock:
            token = ("ghp_" if scopes is not None else "github_pat_") + pysecrets.token_hex(18)
            self.grants[token] = Grant(user_id=self._need_user(login).id,
                                       scopes=tuple(scopes) if scopes is not None else None)
            return token

    def add_org(self, login: str, *, owners: Iterable[str] = (), members: Iterable[str] = (),
                saml: bool = False) -> Org:
        with self.lock:
            org = Org(self.add_user(login, kind="Organization"), saml=saml)
            self.orgs[login.casefold()] = org
            for name in owners:
                org.members[self._need_user(name).id] = "admin"
            for name in members:
                org.members[self._need_user(name).id] = "member"
            return org

    def add_member(self, org: str, login: str, role: str = "member") -> None:
        with self.lock:
            self._need_org(org).members[self._need_user(login).id] = role

    def add_invitation(self, org: str, *, role: str = "direct_member", invitee_id: int | None = None,
                       login: str | None = None, email: str | None = None, team_ids: Iterable[int] = (),
                       inviter_id: int | None = None) -> Invitation:
        with self.lock:
            o = self._need_org(org)
            if login is not None:
                invitee_id = self._need_user(login).id
            inviter = inviter_id or next(iter(o.owners()), 0)
            inv = Invitation(self.new_id(), role, invitee_id, email, list(team_ids), inviter, self._stamp())
            o.invitations[inv.id] = inv
            return inv

    def add_repo(self, org: str, name: str, *, private: bool = True, archived: bool = False,
                 collaborators: dict[str, str] | None = None) -> Repo:
        with self.lock:
            repo = Repo(self.new_id(), name, private, archived,
                        {self._need_user(u).id: p for u, p in (collaborators or {}).items()})
            self._need_org(org).repos[name] = repo
            return repo

    def add_repo_invitation(self, org: str, repo: str, invitee_id: int, permissions: str = "write", *,
                            inviter_id: int | None = None) -> RepoInvitation:
        with self.lock:
            o = self._need_org(org)
            r = o.repo(repo)
            assert r is not None, repo
            inv = RepoInvitation(self.new_id(), invitee_id, permissions, inviter_id or next(iter(o.owners()), 0),
                                 self._stamp())
            r.invitations[inv.id] = inv
            return inv

    def add_team(self, org: str, name: str, *, members: dict[str, str] | None = None,
                 repos: dict[str, str] | None = None, parent_id: int | None = None, description: str = "",
                 privacy: str = "closed", notification_setting: str = "notifications_enabled") -> Team:
        with self.lock:
            o = self._need_org(org)
            slug = re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")
            team = Team(self.new_id(), slug, name, description, privacy, parent_id, notification_setting,
                        {self._need_user(u).id: r for u, r in (members or {}).items()}, dict(repos or {}))
            o.teams[slug] = team
            return team

    def add_credential(self, org: str, login: str, kind: str = "personal access token") -> Credential:
        """A credential `login` authorised for `org` through SAML SSO."""
        with self.lock:
            cid = self.new_id()
            ssh = kind == "SSH key"
            cred = Credential(cid, self._need_user(login).id, kind, self._stamp(), cid + 500_000,
                              token_last_eight=None if ssh else pysecrets.token_hex(4),
                              fingerprint=hashlib.sha256(str(cid).encode()).hexdigest()[:47] if ssh else None,
                              scopes=[] if ssh else ["repo"])
            self._need_org(org).credentials[cid] = cred
            return cred

    def add_app(self, slug: str) -> tuple[App, str]:
        """A GitHub App and its private key (PEM), with its bot account `<slug>[bot]`."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        with self.lock:
            app = App(self.new_id(), slug, public, self.add_user(f"{slug}[bot]", kind="Bot"))
            self.apps[app.id] = app
            return app, pem

    def install(self, app: App, org: str, *, permissions: dict[str, str] | None = None,
                repositories: Iterable[str] | None = None) -> Installation:
        with self.lock:
            inst = Installation(self.new_id(), app.id, self._need_org(org).login,
                                dict(permissions or {"members": "write", "administration": "write",
                                                     "metadata": "read"}),
                                set(repositories) if repositories is not None else None)
            self.installations[inst.id] = inst
            return inst

    def issue_installation_token(self, installation_id: int) -> str:
        with self.lock:
            token = "ghs_" + pysecrets.token_hex(18)
            self.grants[token] = Grant(installation_id=installation_id)
            return token

    def rate_limit(self, requests: int | None, window: int = 3600, *, status: int = 403) -> None:
        """The primary limit: `requests` per token per fixed window of `window` seconds (None: no limit)."""
        with self.lock:
            self._limit = (requests, window, status) if requests else None

    def secondary_limit(self, writes: int | None, window: int = 60) -> None:
        """At most `writes` content-changing requests per token per `window` seconds; past it 403 + Retry-After."""
        with self.lock:
            self._secondary = (writes, window) if writes else None

    def inject(self, method: str, path: str, status: int = 502, *, times: int = 1, applied: bool = False,
               message: str = "Server Error", headers: dict[str, str] | None = None) -> None:
        """The next `times` requests matching `method` and the `path` regex answer `status`; with `applied` the
        write is carried out first (a write applied but answered with an error)."""
        with self.lock:
            self._injections.append(Injection(method, re.compile(path), times, status, applied, message,
                                               dict(headers or {})))

    # ---- state, read independently of any client ------------------------------------------------------------
    def user(self, login: str) -> User | None:
        return next((u for u in self.users.values() if u.login.casefold() == login.casefold()), None)

    def org(self, login: str) -> Org | None:
        return self.orgs.get(login.casefold())

    def role(self, org: str, login: str) -> str | None:
        """'admin' (owner), 'member', 'pending' (invited) or None."""
        with self.lock:
            o, u = self._need_org(org), self._need_user(login)
            if u.id in o.members:
                return o.members[u.id]
            return "pending" if any(i.invitee_id == u.id for i in o.invitations.values()) else None

    def snapshot(self) -> dict[str, Any]:
        """Everything a write could change, for comparing before and after (the conformance suite's state)."""
        with self.lock:
            out: dict[str, Any] = {}
            for key, o in self.orgs.items():
                teams = {t.slug: (t.name, t.description, t.privacy, t.parent_id, sorted(t.members.items()),
                                  sorted(t.repos.items())) for t in o.teams.values()}
                out[key] = {
                    "members": sorted(o.members.items()),
                    "invitations": sorted((i.invitee_id or 0, i.email or "", i.role, tuple(sorted(i.team_ids)))
                                          for i in o.invitations.values()),
                    "repos": {r.name: (r.archived, sorted(r.collaborators.items()),
                                       sorted((i.invitee_id, i.permissions) for i in r.invitations.values()))
                              for r in o.repos.values()},
                    "teams": teams, "credentials": sorted(o.credentials)}
            return copy.deepcopy(out)

    def drop_member(self, org: Org, user_id: int) -> None:
        org.members.pop(user_id, None)
        for team in org.teams.values():
            team.members.pop(user_id, None)
        for repo in org.repos.values():
            repo.collaborators.pop(user_id, None)

    def drop_team(self, org: Org, team: Team) -> None:
        for child in [t for t in org.teams.values() if t.parent_id == team.id]:
            self.drop_team(org, child)
        org.teams.pop(team.slug, None)
        for inv in org.invitations.values():
            if team.id in inv.team_ids:
                inv.team_ids.remove(team.id)

    def _need_user(self, login: str) -> User:
        user = self.user(login)
        if user is None:
            raise KeyError(f"no user {login}")
        return user

    def _need_org(self, login: str) -> Org:
        org = self.org(login)
        if org is None:
            raise KeyError(f"no organisation {login}")
        return org

    def _stamp(self) -> str:
        return dt.datetime.fromtimestamp(self.now(), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

