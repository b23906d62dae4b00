"""The demo tenant's Exchange Online side: the mailboxes and mail lists of `revoke.sandbox.graph.seed_engagement`,
as Exchange knows them (each object's ExternalDirectoryObjectId is its Entra object id), plus a shared mailbox the
leaver was given access to and an inbox rule that sends her mail outside."""

from __future__ import annotations

from revoke.sandbox.exchange import ExchangeFake


def seed_engagement(exo: ExchangeFake, graph_ids: dict[str, str], *, domain: str = "contoso.test") -> dict[str, str]:
    """Answers name -> Exchange GUID. `graph_ids` is what the Graph fake's seed_engagement answered."""
    exo.grant(graph_ids["client_id"])
    ids = {}
    for short, name in (("alice", "Alice Example"), ("bob", "Bob Example"), ("carol", "Carol Client")):
        ids[short] = exo.add_mailbox(f"{short}@{domain}", name, external_id=graph_ids[short])
    alice, carol = ids["alice"], ids["carol"]
    ids["acme-dl"] = exo.add_list("Acme DL", f"acme-dl@{domain}", members=(alice, carol), owners=(carol,),
                                  external_id=graph_ids["acme-dl"])
    ids["Finance approvers"] = exo.add_list("Finance approvers", f"finance@{domain}", members=(alice,), security=True,
                                            external_id=graph_ids["Finance approvers"])
    ids["acme-shared"] = exo.add_mailbox(f"acme-project@{domain}", "Acme project mailbox", shared=True)
    exo.grant_full_access(ids["acme-shared"], alice)
    exo.grant_send_as(ids["acme-shared"], alice)
    ids["rule"] = exo.add_inbox_rule(alice, "copy to home", redirect_to="alice@home.example")
    return ids
