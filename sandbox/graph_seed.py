"""A tenant to rehearse a runbook in (`revoke demo`, the tests' seeded tenant) and the runbook settings that point
a system at a Graph fake."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from revoke.sandbox.graph import GraphFake


def seed_engagement(fake: GraphFake, *, domain: str = "client.example") -> dict[str, str]:
    """A tenant for rehearsing a runbook (and for `revoke demo`): an app registration for revoke (its id and a
    fresh secret under `client_id` / `client_secret`), leavers `alice` (cloud account) and `bob` (synced from
    on-premises AD), `carol` who stays and owns the team, a guest from the partner; groups of every kind Graph
    treats differently (security, Microsoft 365, dynamic, distribution list, mail-enabled security), the
    engagement's team `Acme project`, its mailing list `acme-list@`, an enterprise app role and a directory role.
    Answers name -> id (and the app's credentials)."""
    client_id, secret = fake.add_app(name="revoke")
    ids = {"client_id": client_id, "client_secret": secret, "tenant_id": fake.tenant_id}
    alice = ids["alice"] = fake.add_user(f"alice@{domain}", "Alice Example")
    bob = ids["bob"] = fake.add_user(f"bob@{domain}", "Bob Example", synced=True, sam="bob",
                                     dn=f"CN=Bob Example,OU=Consultants,DC={domain.split('.')[0]},DC=test")
    carol = ids["carol"] = fake.add_user(f"carol@{domain}", "Carol Client")
    guest = ids["guest"] = fake.add_user(f"pat_partner.example#EXT#@{domain}", "Pat Partner", guest=True)
    ids["Engagement staff"] = fake.add_group("Engagement staff", members=(alice, bob, carol))
    ids["Acme project"] = fake.add_group("Acme project", kind="m365", team=True, owners=(carol,),
                                         members=(alice, bob, carol, guest))
    ids["acme-list"] = fake.add_group("Acme list", kind="m365", mail=f"acme-list@{domain}",
                                      members=(alice, bob, carol), owners=(carol,))
    ids["All consultants"] = fake.add_group("All consultants", kind="dynamic", members=(alice, bob))
    ids["acme-dl"] = fake.add_group("Acme DL", kind="distribution", mail=f"acme-dl@{domain}",
                                    members=(alice, carol))
    ids["Finance approvers"] = fake.add_group("Finance approvers", kind="mail-security", mail=f"finance@{domain}",
                                              members=(alice,))
    sp, roles = fake.add_service_principal("Timesheets", ("Approver", "Reader"))
    fake.assign_app_role(alice, sp, roles["Approver"])
    fake.assign_app_role(carol, sp, roles["Reader"])
    ids["Timesheets"] = sp
    ids["User Administrator"] = fake.add_directory_role("User Administrator", members=(alice,))
    return ids


def runbook_settings(fake: GraphFake, client_id: str, secret_name: str = "graph_secret") -> dict[str, Any]:
    """The `settings:` of an entra or m365-groups system that points at this fake."""
    return {"tenant_id": fake.tenant_id, "client_id": client_id, "client_secret": {"secret": secret_name},
            "authority_host": fake.authority, "graph_url": fake.base_url, "ca_file": fake.ca_file,
            "instance_discovery": False}
