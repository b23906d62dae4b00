"""Attack tests for the `google-workspace` connector: what a careless or hostile runbook could ask for, refused, and
checked on the fake's own state; accounts compared as accounts (primary email, alias, immutable id), not strings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from revoke.connector import RunContext
from revoke.connectors.google.connector import GoogleWorkspaceConnector
from revoke.connectors.google.settings import GoogleSettings
from revoke.evidence import now
from revoke.sandbox.google import GoogleFake
from revoke.sandbox.google_seed import Seeded
from revoke.secrets import Secrets
from tests.google_env import fake, runbook, seeded  # noqa: F401 - fixtures

__all__ = ["fake", "seeded"]


def plan_json(run_cli: Any, path: Path) -> tuple[Any, dict[str, Any]]:
    out = path.parent / "plan.json"
    result = run_cli("--quiet", "plan", str(path), "--out", str(out))
    return result, (json.loads(out.read_text())["plan"] if out.exists() else {})


def untouched(fake: GoogleFake, uid: str) -> bool:
    u = fake.users[uid]
    return not u.suspended and bool(u.asps) and bool(u.tokens) and len(u.codes) == 10 and u.sessions == 1


@pytest.mark.parametrize("form", ["id", "ALIAS", "email"])
def test_a_protected_account_is_protected_by_any_of_its_identifiers(form: str, fake: GoogleFake, seeded: Seeded,
                                                                    tmp_path: Path, run_cli: Any) -> None:
    alice = fake.users[seeded.ids["alice"]]
    entry = {"id": alice.id, "ALIAS": "ALICE.EXAMPLE@ACME.TEST", "email": alice.email}[form]
    path = runbook(tmp_path / "acme.yaml", fake, seeded, protect=[{"system": "gw", "id": entry}])
    result = run_cli("--quiet", "apply", str(path), "--yes")
    assert result.exit_code in (0, 3), result.output + result.stderr
    assert untouched(fake, alice.id)
    assert [g for g in fake.groups.values() if alice.id in g.members]               # her memberships stay
    assert alice.id in fake.spaces[seeded.ids["space"]].members                     # and her Chat space
    assert fake.users[seeded.ids["bob"]].suspended                                  # Bob is still closed


def test_a_protected_account_named_by_alias_stays_when_the_leaver_is_named_by_id(
        fake: GoogleFake, seeded: Seeded, tmp_path: Path, run_cli: Any) -> None:
    people = [{"name": "Alice Example", "ids": {"gw": seeded.ids["alice"]}}]
    path = runbook(tmp_path / "acme.yaml", fake, seeded, people=people, lists=[],
                   protect=[{"system": "gw", "id": "alice.example@acme.test"}])
    result, plan = plan_json(run_cli, path)
    assert result.exit_code in (0, 2), result.output + result.stderr
    assert plan["actions"] and all(a["status"] == "skip" for a in plan["actions"])
    assert run_cli("--quiet", "apply", str(path), "--yes").exit_code in (0, 3)
    assert untouched(fake, seeded.ids["alice"]) and fake.writes() == []


def test_the_delegated_admin_listed_as_a_leaver_is_never_acted_on(fake: GoogleFake, seeded: Seeded, tmp_path: Path,
                                                                  run_cli: Any) -> None:
    people = [{"name": "The Operator", "ids": {"gw": "it-admin@acme.test"}}]
    path = runbook(tmp_path / "acme.yaml", fake, seeded, people=people, lists=[])
    result, plan = plan_json(run_cli, path)
    assert result.exit_code in (0, 2), result.output + result.stderr
    mine = [a for a in plan["actions"] if a["principal"] == seeded.ids["admin"]]
    assert mine and all(a["status"] == "skip" and "own identity" in a["reason"] for a in mine)
    run_cli("--quiet", "apply", str(path), "--yes")
    assert not fake.users[seeded.ids["admin"]].suspended and fake.writes() == []
    assert fake.role("all-staff@acme.test", "it-admin@acme.test") == "OWNER"


def test_a_super_admin_leaver_is_not_suspended_unless_allowed(fake: GoogleFake, seeded: Seeded, tmp_path: Path,
                                                              run_cli: Any) -> None:
    people = [{"name": "Root", "ids": {"gw": "superuser@acme.test"}}]
    path = runbook(tmp_path / "acme.yaml", fake, seeded, people=people, lists=[])
    result, plan = plan_json(run_cli, path)
    assert "is a super administrator" in result.output
    suspend = next(a for a in plan["actions"] if a["kind"] == "suspend-user")
    assert suspend["status"] == "final" and suspend["outcome"] == "attention"
    run_cli("--quiet", "apply", str(path), "--yes")
    root = fake.user("root@acme.test")
    assert root is not None and not root.suspended
    allowed = runbook(tmp_path / "allowed.yaml", fake, seeded, people=people, lists=[],
                      settings={"allow_super_admins": True})
    assert run_cli("--quiet", "apply", str(allowed), "--yes").exit_code == 0
    assert root.suspended


@pytest.mark.parametrize("listed", ["alice@acme.test", "alice.example@acme.test"])
def test_a_user_listed_as_a_list_is_refused_with_its_runbook_line(listed: str, fake: GoogleFake, seeded: Seeded,
                                                                  tmp_path: Path, run_cli: Any) -> None:
    path = runbook(tmp_path / "acme.yaml", fake, seeded, lists=["acme-project@acme.test", {"id": listed,
                                                                                           "close": "delete"}])
    result = run_cli("--quiet", "apply", str(path), "--yes")
    said = result.output + result.stderr
    assert result.exit_code == 1, said
    assert "acme.yaml" in said and "lists" in said and "user account" in said and "not a list" in said
    assert fake.writes() == [] and untouched_leaver(fake, seeded)


def untouched_leaver(fake: GoogleFake, seeded: Seeded) -> bool:
    alice = fake.users[seeded.ids["alice"]]
    return not alice.suspended and bool(alice.asps) and seeded.ids["announce"] in fake.groups


def test_a_plan_edited_to_delete_a_user_is_refused(fake: GoogleFake, seeded: Seeded, tmp_path: Path,
                                                   run_cli: Any) -> None:
    path = runbook(tmp_path / "acme.yaml", fake, seeded)
    result, _ = plan_json(run_cli, path)
    data = json.loads((tmp_path / "plan.json").read_text())
    for a in data["plan"]["actions"]:
        if a["kind"] == "delete-group":
            a["params"]["group_id"] = seeded.ids["carol"]   # aim the deletion at a person
            a["resource"] = "carol@acme.test"
    (tmp_path / "plan.json").write_text(json.dumps(data))
    result = run_cli("--quiet", "apply", str(tmp_path / "plan.json"), "--yes")
    assert result.exit_code != 0
    assert not fake.users[seeded.ids["carol"]].suspended and fake.user("carol@acme.test") is not None
    assert fake.writes() == []


def test_identify_knows_every_identifier(fake: GoogleFake, seeded: Seeded) -> None:
    conn = GoogleWorkspaceConnector("gw", GoogleSettings.model_validate(seeded.settings(fake)),
                                    Secrets({"google_key": SecretStr(seeded.key_json)}),
                                    RunContext(run_id="t", started_at=now()))
    try:
        found = conn.identify(["ALICE.EXAMPLE@acme.test", seeded.ids["alice"], "project@acme.test",
                               seeded.ids["space"], "nobody@acme.test", "spaces/none"])
    finally:
        conn.close()
    alice = found["ALICE.EXAMPLE@acme.test"]
    assert alice is not None and alice.type == "account"
    assert {"alice@acme.test", seeded.ids["alice"], "alice.example@acme.test"} <= alice.identifiers
    assert found[seeded.ids["alice"]] == alice
    group = found["project@acme.test"]
    assert group is not None and group.type == "group" and {"acme-project@acme.test", seeded.ids["project"]} <= \
        group.identifiers
    space = found[seeded.ids["space"]]
    assert space is not None and space.type == "group"
    assert found["nobody@acme.test"] is None and found["spaces/none"] is None
