"""The objects of the GitHub fake and their JSON shapes, as GitHub's REST reference (2022-11-28) documents them.

Users and organisations share one id space and one namespace of logins (GitHub's own rule: `GET /users/{login}`
answers either, with `type`). Node ids use the legacy global-id encoding (`base64("04:User1")`). Only the fields
revoke or a client library reads are filled; the rest of GitHub's objects is left out.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

DOCS = "https://docs.github.com/rest"


def node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"{len(kind):02d}:{kind}{number}".encode()).decode()


class GhError(Exception):
    """An error answer in GitHub's shape: BasicError `{message, documentation_url, status}`, or a 422
    ValidationError with `errors`."""

    def __init__(self, status: int, message: str, *, errors: list[dict[str, Any]] | None = None,
                 docs: str = DOCS, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors, self.docs = status, message, errors, docs
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "documentation_url": self.docs, "status": str(self.status)}
        if self.errors is not None:
            out["errors"] = self.errors
        return out


def not_found() -> GhError:
    return GhError(404, "Not Found")


@dataclass
class User:
    id: int
    login: str
    type: str = "User"          # "User", "Bot" or "Organization"
    email: str | None = None

    @property
    def node_id(self) -> str:
        return node_id("Bot" if self.type == "Bot" else self.type, self.id)

    def simple(self, origin: str) -> dict[str, Any]:
        return {"login": self.login, "id": self.id, "node_id": self.node_id, "type": self.type, "site_admin": False,
                "url": f"{origin}/users/{self.login}", "html_url": f"https://github.example/{self.login}",
                "avatar_url": "", "gravatar_id": ""}

    def full(self, origin: str) -> dict[str, Any]:
        return {**self.simple(origin), "name": self.login.title(), "email": self.email, "company": None}


@dataclass
class Invitation:
    id: int
    role: str                   # direct_member, admin, billing_manager
    invitee_id: int | None      # None: an invitation by email
    email: str | None
    team_ids: list[int]
    inviter_id: int
    created_at: str


@dataclass
class RepoInvitation:
    id: int
    invitee_id: int
    permissions: str            # read, triage, write, maintain, admin
    inviter_id: int
    created_at: str


@dataclass
class Credential:
    credential_id: int
    user_id: int
    credential_type: str        # "personal access token", "SSH key", "OAuth app token", "GitHub app token"
    authorized_at: str
    authorized_credential_id: int
    token_last_eight: str | None = None
    fingerprint: str | None = None
    scopes: list[str] = field(default_factory=list)
    accessed_at: str | None = None


@dataclass
class Repo:
    id: int
    name: str
    private: bool = True
    archived: bool = False
    collaborators: dict[int, str] = field(default_factory=dict)   # user id -> pull/triage/push/maintain/admin
    invitations: dict[int, RepoInvitation] = field(default_factory=dict)


@dataclass
class Team:
    id: int
    slug: str
    name: str
    description: str = ""
    privacy: str = "closed"     # closed (visible) or secret
    parent_id: int | None = None
    notification_setting: str = "notifications_enabled"
    members: dict[int, str] = field(default_factory=dict)         # user id -> member/maintainer
    repos: dict[str, str] = field(default_factory=dict)           # repo name -> pull/triage/push/maintain/admin


@dataclass
class Org:
    user: User                  # the organisation's account (type Organization)
    saml: bool = False
    members: dict[int, str] = field(default_factory=dict)         # user id -> admin (owner) / member
    invitations: dict[int, Invitation] = field(default_factory=dict)
    repos: dict[str, Repo] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    credentials: dict[int, Credential] = field(default_factory=dict)

    @property
    def login(self) -> str:
        return self.user.login

    def owners(self) -> list[int]:
        return [uid for uid, role in self.members.items() if role == "admin"]

    def repo(self, name: str) -> Repo | None:
        return next((r for key, r in self.repos.items() if key.casefold() == name.casefold()), None)

    def team(self, slug: str) -> Team | None:
        return next((t for key, t in self.teams.items() if key.casefold() == slug.casefold()), None)

    def team_by_id(self, team_id: int) -> Team | None:
        return next((t for t in self.teams.values() if t.id == team_id), None)

    def outside_collaborators(self) -> set[int]:
        return {uid for r in self.repos.values() for uid in r.collaborators} - set(self.members)


@dataclass
class App:
    id: int
    slug: str
    public_key_pem: bytes
    bot: User

    @property
    def node_id(self) -> str:
        return node_id("Integration", self.id)


@dataclass
class Installation:
    id: int
    app_id: int
    org: str
    permissions: dict[str, str]             # e.g. {"members": "write", "administration": "write"}
    repositories: set[str] | None = None    # None: all repositories; else only these (repository_selection)


@dataclass
class Grant:
    """What a bearer of one token is: a user (personal access token) or an app installation."""

    user_id: int | None = None
    installation_id: int | None = None
    scopes: tuple[str, ...] | None = None   # classic token scopes (X-OAuth-Scopes); None: fine-grained

    @property
    def key(self) -> str:
        return f"user:{self.user_id}" if self.user_id is not None else f"installation:{self.installation_id}"
