"""An Okta engagement to rehearse on, for the tests and `revoke demo`, seeded into an `OktaFake`.

`revoke-admin@acme.example` made the API token the connector uses. Alice (a leaver) is ACTIVE with two sessions,
OAuth consent grants to two apps (with refresh tokens), two enrolled factors, and memberships of `acme-devs` and
`acme-engagement` (plain groups), `acme-contractors` (filled by a group rule), `AD-Staff` (an APP_GROUP imported
from Active Directory) and Everyone. Bob (a leaver) is ACTIVE in `acme-devs` with one grant. Erin (a leaver) was
deactivated already: Okta's default user list does not show her. Dave and Carol stay (Carol is in
`acme-engagement` too). The runbook lists the group `acme-engagement` to empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from revoke.sandbox.okta import OktaFake


@dataclass
class Seeded:
    token: str
    leavers: dict[str, str] = field(default_factory=lambda: {"Alice Example": "alice@consult.example",
                                                             "Bob Example": "bob@consult.example",
                                                             "Erin Example": "erin@consult.example"})
    lists: tuple[str, ...] = ("acme-engagement",)
    ids: dict[str, str] = field(default_factory=dict)

    def settings(self, fake: OktaFake, token: Any = None, **extra: Any) -> dict[str, Any]:
        return {"org_url": fake.org_url, "api_token": token or {"secret": "okta_token"}, "ca_bundle": fake.ca_file,
                **extra}


def seed_engagement(fake: OktaFake) -> Seeded:
    admin, token = fake.add_admin("revoke-admin@acme.example")
    alice = fake.add_user("alice@consult.example", first="Alice", sessions=2)
    bob = fake.add_user("bob@consult.example", first="Bob")
    erin = fake.add_user("erin@consult.example", first="Erin", status="DEPROVISIONED", sessions=0)
    dave = fake.add_user("dave@acme.example", first="Dave")
    carol = fake.add_user("carol@acme.example", first="Carol")
    everyone = fake.add_group("Everyone", type="BUILT_IN", members=[admin, alice, bob, erin, dave, carol])
    fake.add_group("acme-devs", members=[alice, bob, dave], description="developers")
    fake.add_group("acme-engagement", members=[alice, carol], description="the engagement's apps")
    contractors = fake.add_group("acme-contractors", description="every contractor")
    fake.add_rule("contractors by email domain", [contractors], 'String.stringContains(user.email, "consult")',
                  members=[alice])
    fake.add_group("AD-Staff", type="APP_GROUP", members=[alice], description="imported from Active Directory")
    fake.add_grant(alice, "0oaengagementwiki", "openid")
    fake.add_grant(alice, "0oatimesheets", "offline_access")
    fake.add_grant(bob, "0oaengagementwiki", "openid")
    fake.add_factor(alice)
    fake.add_factor(alice, "push", "OKTA")
    alice.apps = ["engagement-wiki", "timesheets"]
    assert everyone
    return Seeded(token, ids={u.login.split("@")[0]: u.id for u in (admin, alice, bob, erin, dave, carol)})
