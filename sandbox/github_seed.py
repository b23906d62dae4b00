"""A GitHub engagement to rehearse on, for the tests and `revoke demo`, seeded into a `GitHubFake`.

Two organisations: `acme` uses SAML SSO, `acme-labs` does not. `revoke-admin` (whose token the connector uses) and
Carol own `acme`; Alice, a leaver, is a member and a team maintainer there, with a personal access token and an SSH
key authorised through SSO and a pending invitation to the repository `acme/site` (a membership removal leaves it
standing). Bob, a leaver, is an outside collaborator on `acme/api` and invited to `acme-labs`. Dave stays. The
runbook lists the repository `acme/engagement-notes` (archive) and the team `@acme/engagement` (delete).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from revoke.sandbox.github import GitHubFake


@dataclass
class Seeded:
    token: str
    orgs: tuple[str, ...] = ("acme", "acme-labs")
    leavers: dict[str, str] = field(default_factory=lambda: {"Alice Example": "alice", "Bob Example": "bob"})
    lists: tuple[str, ...] = ("acme/engagement-notes", "@acme/engagement")
    ids: dict[str, int] = field(default_factory=dict)

    def settings(self, fake: GitHubFake, token: Any = None) -> dict[str, Any]:
        return {"organizations": list(self.orgs), "token": token or {"secret": "github_token"},
                "base_url": fake.base_url, "ca_bundle": fake.ca_file}


def seed_engagement(fake: GitHubFake) -> Seeded:
    users = {name: fake.add_user(name, email=f"{name}@consult.example")
             for name in ("revoke-admin", "carol", "alice", "bob", "dave")}
    token = fake.add_token("revoke-admin")
    fake.add_org("acme", owners=["revoke-admin", "carol"], members=["alice", "dave"], saml=True)
    fake.add_org("acme-labs", owners=["revoke-admin"], members=["dave"])
    fake.add_repo("acme", "site")
    fake.add_repo("acme", "api", collaborators={"bob": "push"})
    fake.add_repo("acme", "engagement-notes")
    fake.add_repo("acme-labs", "sandbox", private=False)
    fake.add_team("acme", "acme-devs", members={"alice": "maintainer", "dave": "member"}, repos={"site": "push"})
    fake.add_team("acme", "engagement", members={"dave": "member", "carol": "maintainer"},
                  repos={"engagement-notes": "push"}, description="the engagement's team")
    fake.add_credential("acme", "alice", "personal access token")
    fake.add_credential("acme", "alice", "SSH key")
    fake.add_credential("acme", "carol", "personal access token")
    fake.add_repo_invitation("acme", "site", users["alice"].id, "write")
    labs_team = fake.add_team("acme-labs", "labs", members={"dave": "member"})
    fake.add_invitation("acme-labs", login="bob", team_ids=[labs_team.id])
    return Seeded(token, ids={name: u.id for name, u in users.items()})
