"""entra `delete-account` against the Graph fake: the user goes to deleted items (restorable), a synced user is left
for AD, a wrong id's 404 never reads as deleted, and it is never planned by default."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from revoke.connectors.microsoft.entra import EntraConnector
from revoke.connectors.microsoft.entra_delete import DeleteAccount
from revoke.evidence import read_records
from revoke.plan import Action, action_id, fingerprint
from revoke.sandbox.graph import GraphFake
from tests.conftest import write_runbook, yesterday
from tests.graph_env import graph, graph_app, graph_connector, graph_system  # noqa: F401 - fixtures


def _runbook(tmp_path: Path, graph: GraphFake, app: str, **settings: Any) -> Path:  # noqa: F811
    return write_runbook(tmp_path / "rb.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"m365": graph_system(graph, app, **settings)},
        "people": [{"name": "Ann Leaver", "ids": {"m365": "ann@contoso.test"}},
                   {"name": "Bob Synced", "ids": {"m365": "bob@contoso.test"}}]})


def test_delete_account_moves_the_user_to_deleted_items(graph, graph_app, tmp_path, run_cli):  # noqa: F811
    ann = graph.add_user("ann@contoso.test", "Ann Leaver")
    bob = graph.add_user("bob@contoso.test", synced=True, sam="bob", dn="CN=Bob,OU=Staff,DC=corp,DC=test")
    carl = graph.add_user("carl@contoso.test")
    eng = graph.add_group("Engineering", members=(ann, bob, carl))
    runbook = _runbook(tmp_path, graph, graph_app[0], delete_account=True)
    out = run_cli("--quiet", "--output", "json", "apply", str(runbook), "--yes")
    records = [r for r in read_records(Path(json.loads(out.output)["run_dir"])) if r["type"] == "action"]
    deletes = {r["resource"]: r for r in records if r["kind"] == "delete-account"}
    assert deletes[ann]["outcome"] == "done" and deletes[ann]["verification"] == "absent"
    assert ann not in graph.directory.users and graph.directory.deleted[ann]["kind"] == "user"  # restorable
    assert deletes[bob]["outcome"] == "attention" and "Active Directory" in deletes[bob]["note"]
    assert bob in graph.directory.users and carl in graph.directory.users and carl in graph.members(eng)
    # the rest of the first stage's work was done before the account went (runs_last)
    assert all(r["outcome"] in ("done", "attention") for r in records)


def test_a_wrong_id_is_never_reported_deleted(graph, graph_app):  # noqa: F811
    ann = graph.add_user("ann@contoso.test", "Ann Leaver")
    conn = graph_connector(graph, EntraConnector, *graph_app)
    wrong = str(uuid.uuid4())
    before = {"exists": True, "in_deleted_items": False, "id": wrong}
    action = Action(id=action_id("m365", "delete-account", wrong, None), system="m365", connector="entra",
                    kind="delete-account", item=3, resource=wrong, person="Ann Leaver", before=before,
                    fingerprint=fingerprint(before), status="change")
    conn.apply_many([action])
    state = conn.read_back([action])[action.id]
    assert not DeleteAccount.is_done(state)
    assert ann in graph.directory.users


def test_delete_account_is_never_planned_by_default(graph, graph_app, tmp_path, run_cli):  # noqa: F811
    graph.add_user("ann@contoso.test", "Ann Leaver")
    graph.add_user("bob@contoso.test")
    out = tmp_path / "plan.json"
    run_cli("--quiet", "plan", str(_runbook(tmp_path, graph, graph_app[0])), "--out", str(out))
    assert "delete-account" not in {a["kind"] for a in json.loads(out.read_text())["plan"]["actions"]}
