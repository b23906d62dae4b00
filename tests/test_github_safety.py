"""Attack tests for the `github` connector: what a careless or hostile runbook could ask for, refused, checked on
the fake's own state; and the accounts-not-strings rules (logins, numeric ids, node ids, renames)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from pydantic import SecretStr

from revoke.connector import RunContext
from revoke.connectors.github.connector import GitHubConnector
from revoke.connectors.github.settings import GitHubSettings
from revoke.evidence import now
from revoke.sandbox.github import GitHubFake
from revoke.sandbox.github_seed import Seeded, seed_engagement
from revoke.secrets import Secrets
from tests.github_env import app_settings, runbook


@pytest.fixture
def fake() -> Iterator[GitHubFake]:
    with GitHubFake(page_cap=2) as f:
        yield f


@pytest.fixture
def seeded(fake: GitHubFake, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    s = seed_engagement(fake)
    monkeypatch.setenv("REVOKE_GITHUB_TOKEN", s.token)
    return s


def plan_json(run_cli: Any, path: Path) -> tuple[Any, dict[str, Any]]:
    out = path.parent / "plan.json"
    result = run_cli("--quiet", "plan", str(path), "--out", str(out))
    return result, (json.loads(out.read_text())["plan"] if out.exists() else {})


def connector(fake: GitHubFake, settings: dict[str, Any], secrets: dict[str, str]) -> GitHubConnector:
    return GitHubConnector("gh", GitHubSettings.model_validate(settings),
                           Secrets({k: SecretStr(v) for k, v in secrets.items()}),
                           RunContext(run_id="t", started_at=now()))


@pytest.mark.parametrize("form", ["id", "node_id", "LOGIN"])
def test_a_protected_account_is_protected_by_any_of_its_identifiers(form: str, fake: GitHubFake, seeded: Seeded,
                                                                    tmp_path: Path, run_cli: Any) -> None:
    alice = fake.user("alice")
    entry = {"id": str(alice.id), "node_id": alice.node_id, "LOGIN": "ALICE"}[form]
    path = runbook(tmp_path / "acme.yaml", fake, seeded, protect=[{"system": "gh", "id": entry}])
    result = run_cli("--quiet", "apply", str(path), "--yes")
    assert result.exit_code in (0, 3), result.output + result.stderr
    org = fake.org("acme")
    assert fake.role("acme", "alice") == "member" and alice.id in org.teams["acme-devs"].members
    assert [c for c in org.credentials.values() if c.user_id == alice.id]          # her SSO authorizations stay
    assert org.repos["site"].invitations                                             # and her repository invitation
    assert fake.role("acme-labs", "bob") is None                                     # Bob is still removed


def test_the_tokens_own_account_listed_as_a_leaver_is_never_acted_on(fake: GitHubFake, seeded: Seeded,
                                                                     tmp_path: Path, run_cli: Any) -> None:
    people = [{"name": "The Operator", "ids": {"gh": "revoke-admin"}}]
    path = runbook(tmp_path / "acme.yaml", fake, seeded, people=people, lists=[])
    result, plan = plan_json(run_cli, path)
    assert result.exit_code in (0, 2), result.output + result.stderr
    mine = [a for a in plan["actions"] if a["principal"] == "revoke-admin"]
    assert mine and all(a["status"] == "skip" and "own identity" in a["reason"] for a in mine)
    assert run_cli("--quiet", "apply", str(path), "--yes").exit_code == 0
    assert fake.role("acme", "revoke-admin") == "admin" and fake.role("acme-labs", "revoke-admin") == "admin"


def test_the_apps_own_bot_listed_as_a_leaver_is_skipped(fake: GitHubFake, tmp_path: Path, run_cli: Any) -> None:
    for login in ("carol", "alice"):
        fake.add_user(login)
    fake.add_org("acme", owners=["carol"], members=["alice"])
    app, key = fake.add_app("revoke-app")
    fake.install(app, "acme")
    fake.add_repo("acme", "site", collaborators={"revoke-app[bot]": "admin", "alice": "push"})
    seeded = Seeded("", orgs=("acme",), leavers={}, lists=())
    settings = app_settings(fake, app.id, ["acme"], saml_sso=[])
    people = [{"name": "The App", "ids": {"gh": "revoke-app[bot]"}}, {"name": "Alice", "ids": {"gh": "alice"}}]
    path = runbook(tmp_path / "acme.yaml", fake, seeded, settings=settings, people=people, lists=[])
    result = run_cli("--quiet", "apply", str(path), "--yes", env={"REVOKE_GITHUB_APP_KEY": key})
    assert result.exit_code == 0, result.output + result.stderr
    org = fake.org("acme")
    assert app.bot.id in org.repos["site"].collaborators      # the app's own bot: untouched
    assert fake.role("acme", "alice") is None                 # the real leaver: removed


def test_a_user_listed_as_a_list_is_refused_with_its_runbook_line(fake: GitHubFake, seeded: Seeded,
                                                                  tmp_path: Path, run_cli: Any) -> None:
    path = runbook(tmp_path / "acme.yaml", fake, seeded, lists=["acme/engagement-notes", "alice"])
    result = run_cli("--quiet", "apply", str(path), "--yes")
    assert result.exit_code == 1
    assert "acme.yaml" in result.output + result.stderr and "lists" in result.output + result.stderr
    assert "user account, not a list" in result.output + result.stderr
    assert fake.writes() == [] and fake.role("acme", "alice") == "member"


def test_the_last_owner_is_kept_and_the_plan_says_so(fake: GitHubFake, tmp_path: Path, run_cli: Any) -> None:
    for login in ("alice", "dave"):
        fake.add_user(login)
    fake.add_org("acme", owners=["alice"], members=["dave"])
    app, key = fake.add_app("revoke-app")
    fake.install(app, "acme")
    seeded = Seeded("", orgs=("acme",), leavers={"Alice": "alice"}, lists=())
    path = runbook(tmp_path / "acme.yaml", fake, seeded, settings=app_settings(fake, app.id, ["acme"], saml_sso=[]),
                   lists=[])
    env = {"REVOKE_GITHUB_APP_KEY": key}
    result = run_cli("--quiet", "plan", str(path), "--out", str(tmp_path / "plan.json"), env=env)
    assert "last owner of acme" in result.output and "GitHub never removes" in result.output
    action = next(a for a in json.loads((tmp_path / "plan.json").read_text())["plan"]["actions"]
                  if a["kind"] == "remove-from-organization")
    assert action["status"] == "final" and action["outcome"] == "attention"
    applied = run_cli("--quiet", "apply", str(tmp_path / "plan.json"), "--yes", env=env)
    assert applied.exit_code == 3 and fake.role("acme", "alice") == "admin"
    assert not [r for r in fake.writes() if r.method == "DELETE"]


def test_a_leaver_renamed_after_the_plan_is_still_the_one_removed(fake: GitHubFake, seeded: Seeded, tmp_path: Path,
                                                                  run_cli: Any) -> None:
    path = runbook(tmp_path / "acme.yaml", fake, seeded, lists=[])
    run_cli("--quiet", "plan", str(path), "--out", str(tmp_path / "plan.json"))
    alice = fake.user("alice")
    alice.login = "alice-renamed"
    impostor = fake.add_user("alice")              # someone else registers the freed login
    fake.add_member("acme", "alice", "member")
    result = run_cli("--quiet", "apply", str(tmp_path / "plan.json"), "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert fake.role("acme", "alice-renamed") is None        # the leaver, under the new login
    assert fake.role("acme", "alice") == "member"            # the new owner of the old login: untouched
    assert impostor.id in fake.org("acme").members


def test_identify_knows_every_identifier(fake: GitHubFake, seeded: Seeded) -> None:
    conn = connector(fake, seeded.settings(fake), {"github_token": seeded.token})
    alice, repo, team = fake.user("alice"), fake.org("acme").repos["site"], fake.org("acme").teams["acme-devs"]
    try:
        found = conn.identify(["alice", str(alice.id), "acme/site", "@acme/acme-devs", "acme", "nobody-here",
                               "acme/nothing"])
    finally:
        conn.close()
    assert found["alice"] == found[str(alice.id)]
    assert found["alice"].identifiers == {"alice", str(alice.id), alice.node_id} and found["alice"].type == "account"
    assert found["acme/site"].type == "repository" and str(repo.id) in found["acme/site"].identifiers
    assert found["@acme/acme-devs"].type == "team" and "acme/teams/acme-devs" in found["@acme/acme-devs"].identifiers
    assert str(team.id) in found["@acme/acme-devs"].identifiers
    assert found["acme"].type == "organization"
    assert found["nobody-here"] is None and found["acme/nothing"] is None


def test_connect_reports_every_identifier_of_the_token_and_of_an_app(fake: GitHubFake, seeded: Seeded) -> None:
    conn = connector(fake, seeded.settings(fake), {"github_token": seeded.token})
    me = fake.user("revoke-admin")
    try:
        identity = conn.connect()
    finally:
        conn.close()
    assert {"revoke-admin", str(me.id), me.node_id} <= set(identity.aliases)
    assert identity.detail["roles"] == {"acme": "admin", "acme-labs": "admin"}
    app, key = fake.add_app("revoke-app")
    fake.install(app, "acme")
    fake.install(app, "acme-labs")
    conn = connector(fake, app_settings(fake, app.id, ["acme", "acme-labs"]), {"github_app_key": key})
    try:
        identity = conn.connect()
    finally:
        conn.close()
    assert {"revoke-app", "revoke-app[bot]", str(app.id), app.node_id, str(app.bot.id), app.bot.node_id} <= set(
        identity.aliases)


def test_a_private_repository_the_app_cannot_see_is_reported_never_planned(fake: GitHubFake, tmp_path: Path,
                                                                          run_cli: Any) -> None:
    fake.add_user("carol")
    fake.add_org("acme", owners=["carol"])
    fake.add_repo("acme", "visible")
    fake.add_repo("acme", "hidden")
    app, key = fake.add_app("revoke-app")
    fake.install(app, "acme", repositories=["visible"])
    seeded = Seeded("", orgs=("acme",), leavers={}, lists=())
    path = runbook(tmp_path / "acme.yaml", fake, seeded, settings=app_settings(fake, app.id, ["acme"], saml_sso=[]),
                   people=[], lists=["acme/visible", "acme/hidden"])
    env = {"REVOKE_GITHUB_APP_KEY": key}
    result = run_cli("--quiet", "apply", str(path), "--yes", env=env)
    assert "acme/hidden: no such repository or team in acme, or it is not visible" in result.output
    assert fake.org("acme").repos["visible"].archived and not fake.org("acme").repos["hidden"].archived


def test_a_404_on_read_back_is_unverifiable_not_absent(fake: GitHubFake, seeded: Seeded) -> None:
    from revoke.plan import Action, fingerprint

    conn = connector(fake, seeded.settings(fake), {"github_token": seeded.token})
    repo = fake.org("acme").repos["engagement-notes"]
    before = {"exists": True, "archived": False}
    action = Action(id="a1", system="gh", connector="github", kind="archive-repository", item=4,
                    resource="acme/engagement-notes", params={"org": "acme", "repo": "engagement-notes",
                                                              "repo_id": repo.id},
                    before=before, fingerprint=fingerprint(before), status="change")
    try:
        assert conn.read_back([action])["a1"] == before
        fake.org("acme").repos.pop("engagement-notes")      # gone, or hidden: a 404 cannot tell which
        state = conn.read_back([action])["a1"]
    finally:
        conn.close()
    assert set(state) == {"unverifiable"} and "404" in state["unverifiable"]


def test_reads_are_never_served_from_a_cache(fake: GitHubFake, seeded: Seeded) -> None:
    """GitHub answers `Cache-Control: private, max-age=60`: a cached read-back would show the state before the
    write. The second read must reach the server and see the change."""
    from revoke.plan import Action, fingerprint

    conn = connector(fake, seeded.settings(fake), {"github_token": seeded.token})
    before = {"member": True, "state": "active", "role": "member"}
    action = Action(id="m1", system="gh", connector="github", kind="remove-from-organization", item=3,
                    resource="acme", principal="alice", params={"org": "acme", "user_id": seeded.ids["alice"]},
                    before=before, fingerprint=fingerprint(before), status="change")
    try:
        assert conn.read_back([action])["m1"] == before
        fake.drop_member(fake.org("acme"), seeded.ids["alice"])
        assert conn.read_back([action])["m1"] == {"member": False, "state": None, "role": None}
    finally:
        conn.close()


def test_github_enterprise_server_base_url_and_email_invitations(tmp_path: Path, run_cli: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with GitHubFake(prefix="/api/v3") as fake:
        for login in ("admin", "dave"):
            fake.add_user(login)
        token = fake.add_token("admin")
        fake.add_org("acme", owners=["admin"], members=["dave"])
        fake.add_invitation("acme", email="erin@consult.example", role="direct_member")
        fake.add_invitation("acme", email="frank@client.example", role="direct_member")
        monkeypatch.setenv("REVOKE_GITHUB_TOKEN", token)
        seeded = Seeded(token, orgs=("acme",), leavers={}, lists=())
        people = [{"name": "Erin", "email": "erin@consult.example", "ids": {"gh": "dave-not"}}]
        fake.add_user("dave-not")
        path = runbook(tmp_path / "acme.yaml", fake, seeded, people=people, lists=[], settings={"saml_sso": []})
        assert fake.base_url.endswith("/api/v3/")
        result = run_cli("--quiet", "apply", str(path), "--yes")
        assert result.exit_code == 0, result.output + result.stderr
        assert [i.email for i in fake.org("acme").invitations.values()] == ["frank@client.example"]
        assert all(r.path.startswith("/") and not r.path.startswith("/api/v3") for r in fake.log)
