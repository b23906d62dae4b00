"""The `github` connector's credentials and settings: a GitHub App with an owner's token for SAML SSO, what the
plan says when SSO authorizations cannot be read, and settings refused with the fix in the message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from pydantic import ValidationError

from revoke.connectors.github.settings import GitHubSettings
from revoke.evidence import read_records
from revoke.sandbox.github import GitHubFake
from revoke.sandbox.github_seed import Seeded, seed_engagement
from tests.github_env import app_settings, runbook


@pytest.fixture
def fake() -> Iterator[GitHubFake]:
    with GitHubFake(page_cap=2) as f:
        yield f


@pytest.fixture
def seeded(fake: GitHubFake) -> Seeded:
    return seed_engagement(fake)


def test_an_app_with_an_owners_token_revokes_sso_authorizations_first(fake: GitHubFake, seeded: Seeded,
                                                                     tmp_path: Path, run_cli: Any) -> None:
    app, key = fake.add_app("revoke-app")
    for org in seeded.orgs:
        fake.install(app, org)
    owner = fake.add_token("carol")
    settings = app_settings(fake, app.id, list(seeded.orgs), owner_token={"secret": "github_owner_token"},
                            saml_sso=["acme"])
    path = runbook(tmp_path / "acme.yaml", fake, seeded, settings=settings)
    env = {"REVOKE_GITHUB_APP_KEY": key, "REVOKE_GITHUB_OWNER_TOKEN": owner}
    result = run_cli("--quiet", "--output", "json", "apply", str(path), "--yes", env=env)
    assert result.exit_code == 0, result.output + result.stderr
    acme = fake.org("acme")
    assert fake.role("acme", "alice") is None and not [c for c in acme.credentials.values()
                                                      if c.user_id == seeded.ids["alice"]]
    # the removals went through the app's installation, the SSO revocations through the owner's token
    removal = next(r for r in fake.log if r.method == "DELETE" and r.path == "/orgs/acme/memberships/alice")
    sso = [r for r in fake.log if r.method == "DELETE" and "/credential-authorizations/" in r.path]
    assert removal.grant.startswith("installation:") and sso and all(r.grant == f"user:{fake.user('carol').id}"
                                                                     for r in sso)
    run_dir = Path(json.loads(result.output)["run_dir"])
    header = next(r for r in read_records(run_dir) if r["type"] == "run")
    assert header["systems"]["gh"]["operator"]["slug"] == "revoke-app"
    assert key not in (run_dir / "evidence.jsonl").read_text() and owner not in (run_dir / "evidence.jsonl").read_text()


@pytest.mark.parametrize("saml_sso, severity", [("auto", "warning"), (["acme"], "error")])
def test_an_app_without_an_owners_token_says_sso_authorizations_stay(saml_sso: Any, severity: str, fake: GitHubFake,
                                                                     seeded: Seeded, tmp_path: Path,
                                                                     run_cli: Any) -> None:
    app, key = fake.add_app("revoke-app")
    for org in seeded.orgs:
        fake.install(app, org)
    settings = app_settings(fake, app.id, list(seeded.orgs), saml_sso=saml_sso)
    path = runbook(tmp_path / "acme.yaml", fake, seeded, settings=settings)
    result = run_cli("--quiet", "plan", str(path), "--out", str(tmp_path / "plan.json"),
                     env={"REVOKE_GITHUB_APP_KEY": key})
    notices = json.loads((tmp_path / "plan.json").read_text())["plan"]["notices"]
    sso = [n for n in notices if "owner_token" in n["message"] and n["resource"] == "acme"]
    assert sso and sso[0]["severity"] == severity, notices
    assert "a GitHub App cannot list them" in result.output


def test_an_organisation_listed_under_saml_sso_that_answers_404_is_an_error(fake: GitHubFake, seeded: Seeded,
                                                                         tmp_path: Path, run_cli: Any,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVOKE_GITHUB_TOKEN", seeded.token)
    path = runbook(tmp_path / "acme.yaml", fake, seeded, settings={"saml_sso": ["acme", "acme-labs"]})
    run_cli("--quiet", "plan", str(path), "--out", str(tmp_path / "plan.json"))
    notices = json.loads((tmp_path / "plan.json").read_text())["plan"]["notices"]
    labs = [n for n in notices if n["resource"] == "acme-labs"]
    assert labs and labs[0]["severity"] == "error" and "answers 404" in labs[0]["message"]


@pytest.mark.parametrize("settings, says", [
    ({"organizations": ["acme"]}, "give either token"),
    ({"organizations": ["acme"], "token": {"secret": "t"}, "app_id": 1, "private_key": {"secret": "k"}},
     "not both"),
    ({"organizations": ["acme"], "app_id": 1}, "needs both app_id and private_key"),
    ({"organizations": ["a", "b"], "app_id": 1, "private_key": {"secret": "k"}, "installation_id": 5},
     "installation_id names one organisation"),
    ({"organizations": ["acme", "ACME"], "token": {"secret": "t"}}, "each organisation once"),
    ({"organizations": ["acme"], "token": {"secret": "t"}, "saml_sso": ["other"]}, "not in organizations"),
])
def test_settings_that_cannot_work_are_refused_with_the_fix(settings: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError) as err:
        GitHubSettings.model_validate(settings)
    assert says in str(err.value)


def test_permissions_name_the_app_permissions_and_the_token_scopes(run_cli: Any) -> None:
    from revoke.connectors.github.connector import GitHubConnector
    from revoke.connectors.github.kinds import ArchiveRepository

    example = Path(__file__).resolve().parent.parent / "runbooks" / "example-github.yaml"
    text = run_cli("permissions", str(example)).output
    assert "Organization permissions > Members: read and write" in text
    assert "Repository permissions > Administration: read and write" in text
    assert "- admin:org" in text and "- repo" in text and "owner_token" in text
    only_archive = GitHubConnector.permissions_document([ArchiveRepository])
    assert "Administration: read and write" in only_archive and "Members: read and write" not in only_archive
    assert "admin:org" not in only_archive
