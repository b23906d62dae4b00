"""The `github` connector against the GitHub fake: what an organisation owner would check on GitHub afterwards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from revoke.evidence import read_records, verify_run
from revoke.sandbox.github import GitHubFake
from revoke.sandbox.github_seed import Seeded, seed_engagement
from revoke.testing import check_connector
from tests.github_env import runbook


@pytest.fixture
def fake() -> Iterator[GitHubFake]:
    with GitHubFake(page_cap=2) as f:   # two items a page: every listing pages through Link
        yield f


@pytest.fixture
def seeded(fake: GitHubFake, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    s = seed_engagement(fake)
    monkeypatch.setenv("REVOKE_GITHUB_TOKEN", s.token)
    return s


def apply_json(run_cli: Any, path: Path, *extra: str) -> tuple[Any, Path, list[dict[str, Any]]]:
    result = run_cli("--quiet", "--output", "json", "apply", str(path), "--yes", *extra)
    run_dir = Path(json.loads(result.output)["run_dir"])
    return result, run_dir, [r for r in read_records(run_dir) if r["type"] == "action"]


def test_conformance(fake: GitHubFake, seeded: Seeded, tmp_path: Path) -> None:
    report = check_connector("github", seeded.settings(fake), people=seeded.leavers, lists=list(seeded.lists),
                             secrets={"github_token": seeded.token}, server_state=fake.snapshot, workdir=tmp_path)
    assert report.restore is not None
    # restore is judged on GitHub's side: invitations with the former role and teams, the team and archive back
    acme, labs = fake.org("acme"), fake.org("acme-labs")
    assert acme is not None and labs is not None
    assert fake.role("acme", "alice") == "pending" and fake.role("acme-labs", "bob") == "pending"
    alice_invite = next(i for i in acme.invitations.values() if i.invitee_id == seeded.ids["alice"])
    assert alice_invite.role == "direct_member" and [acme.team_by_id(t).slug for t in alice_invite.team_ids] == [
        "acme-devs"]
    bob_invite = next(i for i in labs.invitations.values() if i.invitee_id == seeded.ids["bob"])
    assert [labs.team_by_id(t).slug for t in bob_invite.team_ids] == ["labs"]   # a pending invitation's teams too
    assert not acme.repos["engagement-notes"].archived
    team = acme.team("engagement")
    assert team is not None and team.description == "the engagement's team"
    assert sorted(fake.users[u].login for u in team.members) == ["carol", "dave"] and team.repos == {
        "engagement-notes": "push"}
    assert any(i.invitee_id == seeded.ids["bob"] and i.permissions == "write"
               for i in acme.repos["api"].invitations.values())
    # the SSO authorizations are not restorable, and the restore plan said so; re-invitations are said too
    sso = [r for r in report.restore.actions() if r["kind"] == "revoke-sso-authorization"]
    assert sso and all(r["outcome"] == "attention" for r in sso)
    records = [r for r in read_records(report.restore.run_dir) if r["type"] == "action"]
    member = next(r for r in records if r["kind"] == "remove-from-organization" and r["outcome"] == "done")
    assert "re-invites" in member["note"] and member["after"]["state"] == "pending"


def test_apply_removes_the_leavers_and_closes_the_lists(fake: GitHubFake, seeded: Seeded, tmp_path: Path,
                                                        run_cli: Any) -> None:
    result, run_dir, records = apply_json(run_cli, runbook(tmp_path / "acme.yaml", fake, seeded))
    assert result.exit_code == 0, result.output + result.stderr
    acme, labs = fake.org("acme"), fake.org("acme-labs")
    assert acme is not None and labs is not None
    ids = seeded.ids
    assert fake.role("acme", "alice") is None and fake.role("acme-labs", "bob") is None
    assert not [c for c in acme.credentials.values() if c.user_id == ids["alice"]]       # SSO authorizations gone
    assert [fake.users[c.user_id].login for c in acme.credentials.values()] == ["carol"]  # Carol's untouched
    assert not acme.repos["site"].invitations             # the repository invitation a removal leaves standing
    assert ids["bob"] not in acme.repos["api"].collaborators
    assert acme.repos["engagement-notes"].archived and acme.team("engagement") is None
    # who stays is untouched
    assert fake.role("acme", "dave") == "member" and fake.role("acme", "carol") == "admin"
    assert ids["dave"] in acme.teams["acme-devs"].members
    assert verify_run(run_dir).ok
    done = [r for r in records if r["outcome"] == "done"]
    assert all(r["verification"] in ("verified", "absent") for r in done) and len(done) == 8
    assert all(r["request_ids"] for r in done)


def test_sso_authorizations_are_revoked_before_the_membership(fake: GitHubFake, seeded: Seeded, tmp_path: Path,
                                                             run_cli: Any) -> None:
    result, _, _ = apply_json(run_cli, runbook(tmp_path / "acme.yaml", fake, seeded))
    assert result.exit_code == 0, result.output
    order = [(r.method, r.path) for r in fake.writes() if r.status < 300]
    sso = [i for i, (m, p) in enumerate(order) if "/credential-authorizations/" in p]
    removal = order.index(("DELETE", "/orgs/acme/memberships/alice"))
    assert len(sso) == 2 and max(sso) < removal


def test_plan_writes_nothing_and_says_what_restore_cannot_bring_back(fake: GitHubFake, seeded: Seeded,
                                                                     tmp_path: Path, run_cli: Any) -> None:
    path = runbook(tmp_path / "acme.yaml", fake, seeded)
    result = run_cli("--quiet", "plan", str(path), "--out", str(tmp_path / "plan.json"))
    assert result.exit_code == 2, result.output + result.stderr
    assert fake.writes() == []
    text = result.output
    assert "- revoke the SAML SSO authorization of personal access token" in text
    assert "- remove from organization acme-labs" in text and "cancels the invitation" in text
    assert "- remove from repository acme/site" in text and "stays valid after the organisation" in text
    assert "- delete team @acme/engagement" in text and "- archive acme/engagement-notes" in text
    assert "clones of the organisations' repositories" in text      # residual exposure, stated
    plan = json.loads((tmp_path / "plan.json").read_text())["plan"]
    member = next(a for a in plan["actions"] if a["kind"] == "remove-from-organization" and a["principal"] == "alice"
                  and a["resource"] == "acme")
    assert member["before"] == {"member": True, "state": "active", "role": "member"}
    assert member["params"]["teams"] == [{"slug": "acme-devs", "id": fake.org("acme").teams["acme-devs"].id,
                                          "role": "maintainer"}]
