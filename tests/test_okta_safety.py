"""Attack tests for the `okta` connector: what a careless or hostile runbook could ask for, refused, checked on the
fake's own state; and the accounts-not-strings rules (ids, logins, login shortnames, emails in any case)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from revoke.sandbox.okta import OktaFake
from revoke.sandbox.okta_seed import Seeded
from tests.okta_env import fake, runbook, seeded  # noqa: F401 - fixtures

__all__ = ["fake", "seeded"]


def alice_untouched(fake: OktaFake) -> None:
    alice = fake.user("alice@consult.example")
    assert alice.status == "ACTIVE" and alice.sessions == 2 and alice.tokens and alice.factors
    assert len(fake.user_grants(alice)) == 2
    assert "acme-devs" in fake.groups_of(alice) and "acme-engagement" in fake.groups_of(alice)


@pytest.mark.parametrize("form", ["id", "LOGIN", "shortname", "email"])
def test_a_protected_account_is_protected_by_any_of_its_identifiers(form: str, fake: OktaFake, seeded: Seeded,
                                                                    tmp_path: Path, run_cli: Any) -> None:
    alice = fake.user("alice@consult.example")
    alice.email = "Alice.Example@consult.example"   # an email that is not her login
    entry = {"id": alice.id, "LOGIN": "ALICE@CONSULT.EXAMPLE", "shortname": "alice",
             "email": "alice.example@CONSULT.example"}[form]
    path = runbook(tmp_path / "acme.yaml", fake, seeded, protect=[{"system": "okta", "id": entry}], lists=[],
                   settings={"reset_factors": True})
    result = run_cli("--quiet", "apply", str(path), "--yes")
    assert result.exit_code in (0, 3), result.output + result.stderr
    alice_untouched(fake)
    assert fake.user("bob@consult.example").status == "SUSPENDED"        # Bob is still suspended


def test_a_leaver_named_by_email_is_found_by_okta_search(fake: OktaFake, seeded: Seeded, tmp_path: Path,
                                                         run_cli: Any) -> None:
    fake.user("alice@consult.example").email = "a.example@consult.example"
    people = [{"name": "Alice Example", "ids": {"okta": "A.Example@consult.example"}}]
    result = run_cli("--quiet", "apply", str(runbook(tmp_path / "acme.yaml", fake, seeded, people=people,
                                                     lists=[])), "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert fake.user("alice@consult.example").status == "SUSPENDED"


def test_a_protected_member_keeps_a_listed_group_whole(fake: OktaFake, seeded: Seeded, tmp_path: Path,
                                                       run_cli: Any) -> None:
    path = runbook(tmp_path / "acme.yaml", fake, seeded, protect=["carol@acme.example"], people=[])
    run_cli("--quiet", "apply", str(path), "--yes")
    assert len(fake.group_named("acme-engagement").members) == 2


@pytest.mark.parametrize("listed", ["bob@consult.example", "00u-not-a-group"])
def test_a_listed_id_that_is_not_a_group_is_refused_with_its_runbook_line(listed: str, fake: OktaFake,
                                                                          seeded: Seeded, tmp_path: Path,
                                                                          run_cli: Any) -> None:
    if listed.startswith("00u"):
        listed = seeded.ids["bob"]
    path = runbook(tmp_path / "acme.yaml", fake, seeded, lists=["acme-engagement", listed])
    result = run_cli("--quiet", "apply", str(path), "--yes")
    text = result.output + result.stderr
    assert result.exit_code == 1, text
    assert "acme.yaml" in text and "lists" in text and "is an Okta user (bob@consult.example), not a group" in text
    assert fake.writes() == [] and fake.user("bob@consult.example").status == "ACTIVE"


def test_deactivate_is_never_the_default(fake: OktaFake, seeded: Seeded, tmp_path: Path, run_cli: Any) -> None:
    path = runbook(tmp_path / "acme.yaml", fake, seeded)
    out = tmp_path / "plan.json"
    run_cli("--quiet", "plan", str(path), "--out", str(out))
    kinds = {a["kind"] for a in json.loads(out.read_text())["plan"]["actions"]}
    assert "suspend-user" in kinds and "deactivate-user" not in kinds
    run_cli("--quiet", "apply", str(out), "--yes")
    assert not [r for r in fake.writes() if r.path.endswith("/lifecycle/deactivate")]
    assert all(u.status != "DEPROVISIONED" for u in fake.users.values() if not u.login.startswith("erin"))


def test_the_api_tokens_own_administrator_is_never_acted_on(fake: OktaFake, seeded: Seeded, tmp_path: Path,
                                                            run_cli: Any) -> None:
    people = [{"name": "Revoke Admin", "ids": {"okta": "revoke-admin@acme.example"}}]
    path = runbook(tmp_path / "acme.yaml", fake, seeded, people=people, lists=[])
    run_cli("--quiet", "apply", str(path), "--yes")
    admin = fake.user("revoke-admin@acme.example")
    assert admin.status == "ACTIVE" and not [r for r in fake.writes() if admin.id in r.path]


def test_a_user_okta_will_not_suspend_is_said_at_plan_time(fake: OktaFake, seeded: Seeded, tmp_path: Path,
                                                           run_cli: Any) -> None:
    fake.user("bob@consult.example").status = "LOCKED_OUT"
    path = runbook(tmp_path / "acme.yaml", fake, seeded, lists=[])
    result = run_cli("--quiet", "plan", str(path))
    assert "Okta suspends only ACTIVE users and bob@consult.example is LOCKED_OUT" in result.output
    run_cli("--quiet", "apply", str(path), "--yes")
    assert not [r for r in fake.writes() if r.path.endswith(f"{seeded.ids['bob']}/lifecycle/suspend")]


def test_a_leaver_deleted_after_the_plan_is_never_read_as_revoked(fake: OktaFake, seeded: Seeded, tmp_path: Path,
                                                                  run_cli: Any) -> None:
    path = runbook(tmp_path / "acme.yaml", fake, seeded, lists=[])
    out = tmp_path / "plan.json"
    run_cli("--quiet", "plan", str(path), "--out", str(out))
    alice = fake.user("alice@consult.example")
    fake.delete_user(alice)
    fake.delete_user(alice)          # deactivated, then deleted: every 404 about her now proves nothing
    result = run_cli("--quiet", "--output", "json", "apply", str(out), "--yes")
    run_dir = Path(json.loads(result.output)["run_dir"])
    from revoke.evidence import read_records

    hers = [r for r in read_records(run_dir) if r["type"] == "action" and r.get("person") == "Alice Example"
            and r["outcome"] != "immutable"]
    assert hers and not [r for r in hers if r["verification"] in ("verified", "absent")], hers
    assert all(r["outcome"] in ("attention", "failed") for r in hers), hers
    assert result.exit_code == 3


def test_a_super_administrator_leaver_is_said_at_plan_time_when_okta_would_refuse(
        fake: OktaFake, seeded: Seeded, tmp_path: Path, run_cli: Any) -> None:
    fake.user("revoke-admin@acme.example").admin_roles[:] = ["ORG_ADMIN"]
    fake.user("alice@consult.example").admin_roles.append("SUPER_ADMIN")
    path = runbook(tmp_path / "acme.yaml", fake, seeded, lists=[])
    plan = run_cli("--quiet", "plan", str(path))
    assert "alice@consult.example is a Super Administrator, and Okta lets only a Super Administrator" in plan.output
    run_cli("--quiet", "apply", str(path), "--yes")
    assert fake.user("alice@consult.example").status == "ACTIVE"
    assert not [r for r in fake.writes() if r.path.endswith(f"{seeded.ids['alice']}/lifecycle/suspend")]
    assert fake.user("bob@consult.example").status == "SUSPENDED"
