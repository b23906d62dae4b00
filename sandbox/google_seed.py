"""The Acme engagement in the Google Workspace fake, and a service account key made for it (at run time: no key
is ever stored)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from revoke.sandbox.google import GoogleFake

APP_SCOPES = ["https://www.googleapis.com/auth/drive", "https://mail.google.com/"]


def service_account(fake: GoogleFake, scopes: list[str] | None = None, name: str = "revoke") -> str:
    """A new service account key (JSON, as the Cloud console downloads it) whose public key and granted scopes
    (domain-wide delegation) the fake knows."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from revoke.connectors.google.kinds import KINDS, scopes_for

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    email = f"{name}@acme-offboarding.iam.gserviceaccount.com"
    sa = fake.add_service_account(email, public, scopes if scopes is not None else scopes_for(KINDS))
    return json.dumps({"type": "service_account", "project_id": "acme-offboarding", "private_key_id": "k1",
                       "private_key": pem, "client_email": email, "client_id": sa.client_id,
                       "token_uri": "https://oauth2.googleapis.com/token"})


@dataclass
class Seeded:
    key_json: str
    admin: str
    leavers: dict[str, str]                       # runbook name -> primary email
    lists: list[Any] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)   # short name -> user or group id, space name

    def settings(self, fake: GoogleFake, key: Any = None) -> dict[str, Any]:
        return {"admin": self.admin, "service_account_key": key or {"secret": "google_key"},
                "api_endpoint": fake.base_url, "groups_settings_endpoint": fake.base_url,
                "chat_endpoint": fake.base_url, "token_uri": fake.token_uri, "ca_bundle": fake.ca_file}


def seed_engagement(fake: GoogleFake, domain: str = "acme.test") -> Seeded:
    admin = fake.add_user(f"it-admin@{domain}", admin=True)
    fake.add_user(f"root@{domain}", admin=True, aliases=[f"superuser@{domain}"])
    alice = fake.add_user(f"alice@{domain}", aliases=[f"alice.example@{domain}"], codes=10)
    bob = fake.add_user(f"bob@{domain}", codes=0)
    carol = fake.add_user(f"carol@{domain}", codes=10)
    fake.add_device(alice.email)
    fake.add_asp(alice.email, "Thunderbird on the laptop")
    fake.add_asp(alice.email, "Phone calendar")
    fake.add_asp(carol.email, "Carol's mail client")
    fake.add_token(alice.email, "1111-notes.apps.googleusercontent.com", "Acme Notes", APP_SCOPES)
    fake.add_token(bob.email, "2222-crm.apps.googleusercontent.com", "Slick CRM", APP_SCOPES[:1])
    fake.add_token(carol.email, "1111-notes.apps.googleusercontent.com", "Acme Notes", APP_SCOPES)
    eng = fake.add_group(f"engineering@{domain}", "Engineering", {alice.email: "MEMBER", bob.email: "MANAGER",
                                                                 carol.email: "OWNER"})
    fake.add_group(f"all-staff@{domain}", "All staff", {alice.email: "MEMBER", bob.email: "MEMBER",
                                                        carol.email: "MEMBER", admin.email: "OWNER"})
    fake.add_group(f"alice-sandbox@{domain}", "Alice's sandbox", {alice.email: "OWNER"})
    project = fake.add_group(f"acme-project@{domain}", "Acme project list", {alice.email: "MEMBER",
                                                                            carol.email: "OWNER"},
                             aliases=[f"project@{domain}"])
    announce = fake.add_group(f"acme-announce@{domain}", "Acme announcements", {carol.email: "OWNER"})
    space = fake.add_space("Acme engagement", {alice.email: "ROLE_MANAGER", bob.email: "ROLE_MEMBER",
                                               carol.email: "ROLE_MANAGER"})
    return Seeded(key_json=service_account(fake), admin=admin.email,
                  leavers={"Alice Example": alice.email, "Bob Example": bob.email},
                  lists=[project.email, {"id": announce.email, "close": "delete"}, space.name],
                  ids={"alice": alice.id, "bob": bob.id, "carol": carol.id, "admin": admin.id,
                       "engineering": eng.id, "project": project.id, "announce": announce.id, "space": space.name})
