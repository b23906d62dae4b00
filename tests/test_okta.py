"""The `okta` connector against the Okta fake: what an Okta administrator would check in the org afterwards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from revoke.evidence import read_records, verify_run
from revoke.sandbox.okta import OktaFake
from revoke.sandbox.okta_seed import Seeded
from revoke.testing import check_connector
from tests.okta_env import fake, runbook, seeded  # noqa: F401 - fixtures

__all__ = ["fake", "seeded"]


def apply_json(run_cli: Any, path: Path, *extra: str) -> tuple[Any, Path, list[dict[str, Any]]]:
    result = run_cli("--quiet", "--output", "json", "apply", str(path), "--yes", *extra)
    run_dir = Path(json.loads(result.output)["run_dir"])
    return result, run_dir, [r for r in read_records(run_dir) if r["type"] == "action"]


def test_conformance(fake: OktaFake, seeded: Seeded, tmp_path: Path) -> None:
    # clear-sessions included: Okta lists no user's sessions, so the kind declares itself unverifiable and the suite
    # accepts it as done-and-unverifiable (test_sessions_and_tokens_are_ended_and_the_record_says_why_unverifiable)
    settings = seeded.settings(fake, reset_factors=True)
    report = check_connector("okta", settings, people=seeded.leavers, lists=list(seeded.lists),
                             secrets={"okta_token": seeded.token}, server_state=fake.snapshot, workdir=tmp_path)
    assert report.restore is not None
    # restore judged on Okta's side: unsuspended, back in their groups, the listed group's members back
    alice, bob, erin = (fake.user(f"{n}@consult.example") for n in ("alice", "bob", "erin"))
    assert alice.status == "ACTIVE" and bob.status == "ACTIVE" and erin.status == "DEPROVISIONED"
    assert fake.groups_of(alice) == ["AD-Staff", "Everyone", "acme-contractors", "acme-devs", "acme-engagement"]
    assert fake.groups_of(bob) == ["Everyone", "acme-devs"]
    assert sorted(fake.users[m].login for m in fake.group_named("acme-engagement").members) == [
        "alice@consult.example", "carol@acme.example"]
    # grants and factors cannot come back, and the restore said so
    gone = [r for r in report.restore.actions() if r["kind"] in ("revoke-grant", "reset-factors")]
    assert gone and all(r["outcome"] == "attention" for r in gone)


def test_apply_suspends_the_leavers_and_strips_their_access(fake: OktaFake, seeded: Seeded, tmp_path: Path,
                                                             run_cli: Any) -> None:
    path = runbook(tmp_path / "acme.yaml", fake, seeded, settings={"reset_factors": True}, lists=[])
    result, run_dir, records = apply_json(run_cli, path)
    assert result.exit_code == 0, result.output + result.stderr
    alice, bob = fake.user("alice@consult.example"), fake.user("bob@consult.example")
    assert alice.status == "SUSPENDED" and bob.status == "SUSPENDED"
    assert alice.sessions == 0 and alice.tokens == {} and bob.sessions == 0
    assert fake.user_grants(alice) == [] and fake.user_grants(bob) == [] and alice.factors == []
    assert alice.apps == ["engagement-wiki", "timesheets"]            # suspension keeps app assignments
    # the memberships Okta manages elsewhere stay, and the group rule was not changed
    assert fake.groups_of(alice) == ["AD-Staff", "Everyone", "acme-contractors"]
    assert all(not r.exclude for r in fake.rules.values())
    assert fake.groups_of(bob) == ["Everyone"]
    # who stays is untouched
    dave = fake.user("dave@acme.example")
    assert dave.status == "ACTIVE" and fake.groups_of(dave) == ["Everyone", "acme-devs"]
    assert verify_run(run_dir).ok
    done = [r for r in records if r["outcome"] == "done"]
    assert all(r["request_ids"] for r in done)
    assert {r["kind"] for r in records if r["outcome"] == "immutable"} == {"remove-from-group"}


def test_sessions_and_tokens_are_ended_and_the_record_says_why_unverifiable(fake: OktaFake, seeded: Seeded,
                                                                           tmp_path: Path, run_cli: Any) -> None:
    result, _, records = apply_json(run_cli, runbook(tmp_path / "acme.yaml", fake, seeded, lists=[]))
    assert result.exit_code == 0, result.output
    calls = [(r.method, r.path, r.query) for r in fake.writes() if r.path.endswith("/sessions")]
    alice = fake.user("alice@consult.example")
    assert ("DELETE", f"/api/v1/users/{alice.id}/sessions", "oauthTokens=true") in calls
    assert alice.sessions == 0 and alice.tokens == {}
    sessions = [r for r in records if r["kind"] == "clear-sessions"]
    assert len(sessions) == 3 and all(r["outcome"] == "done" and r["verification"] == "unverifiable"
                                      for r in sessions)
    assert all("no API that lists a user's sessions" in r["note"] for r in sessions)


def test_plan_writes_nothing_and_finds_a_deactivated_leaver(fake: OktaFake, seeded: Seeded, tmp_path: Path,
                                                            run_cli: Any) -> None:
    path = runbook(tmp_path / "acme.yaml", fake, seeded)
    result = run_cli("--quiet", "plan", str(path), "--out", str(tmp_path / "plan.json"))
    assert result.exit_code == 2, result.output + result.stderr
    assert fake.writes() == []
    text = result.output
    assert "- suspend Okta user alice@consult.example" in text and "DEACTIVATE" not in text
    assert "given by the group rule contractors by email domain" in text and "APP_GROUP" in text
    assert "= already unable to sign in: erin@consult.example" in text      # found though the default list hides her
    assert "no Okta user" not in text
    assert "sessions the person already holds in downstream apps" in text  # residual exposure, stated
    plan = json.loads((tmp_path / "plan.json").read_text())["plan"]
    suspend = next(a for a in plan["actions"] if a["kind"] == "suspend-user" and a["principal"] == seeded.ids["alice"])
    assert suspend["before"] == {"status": "ACTIVE", "blocked": False}


def test_deactivate_when_the_runbook_asks_and_the_plan_says_it_is_destructive(
        fake: OktaFake, seeded: Seeded, tmp_path: Path, run_cli: Any) -> None:
    path = runbook(tmp_path / "acme.yaml", fake, seeded, settings={"lifecycle": "deactivate"}, lists=[])
    plan = run_cli("--quiet", "plan", str(path))
    assert "DEACTIVATE Okta user (destructive" in plan.output and "cannot bring the app assignments back" in plan.output
    result, run_dir, _ = apply_json(run_cli, path)
    assert result.exit_code == 0, result.output
    alice = fake.user("alice@consult.example")
    assert alice.status == "DEPROVISIONED" and alice.apps == []
    restore = run_cli("--quiet", "restore", run_dir.name, "--evidence-dir", str(run_dir.parent), "--yes")
    assert "app assignments" in restore.output + restore.stderr
    assert fake.user("alice@consult.example").status == "ACTIVE" and fake.user("alice@consult.example").apps == []


def test_sessions_end_before_the_suspension_whatever_the_batch_order(fake: OktaFake, seeded: Seeded,
                                                                     tmp_path: Path) -> None:
    from pydantic import SecretStr

    from revoke.engine import ApplyOptions, apply_plan, build_plan
    from revoke.runbook import load_runbook
    from revoke.secrets import Secrets

    secrets = Secrets({"okta_token": SecretStr(seeded.token)})
    plan = build_plan(load_runbook(runbook(tmp_path / "acme.yaml", fake, seeded, lists=[])), secrets=secrets)
    first = sorted(plan.actions, key=lambda a: a.kind != "suspend-user")   # suspensions first, in their own batch
    result = apply_plan(plan.model_copy(update={"actions": first}), ApplyOptions(
        evidence_root=tmp_path / "evidence", fsync=False), secrets=secrets)
    assert {r["outcome"] for r in result.actions()} <= {"done", "already_done", "immutable"}
    alice = seeded.ids["alice"]
    order = [(r.method, r.path) for r in fake.writes() if r.path.startswith(f"/api/v1/users/{alice}/")]
    sessions = order.index(("DELETE", f"/api/v1/users/{alice}/sessions"))
    assert sessions < order.index(("POST", f"/api/v1/users/{alice}/lifecycle/suspend"))
    assert order.count(("DELETE", f"/api/v1/users/{alice}/sessions")) == 1   # once, not once per action
