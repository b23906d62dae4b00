"""How the `okta` connector signs in: an API token (SSWS) or an OAuth service app's private key JWT, the CA bundle
setting, and secrets kept out of everything it writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from revoke.connectors.okta.connector import SCOPES
from revoke.sandbox.okta import OktaFake
from revoke.sandbox.okta_seed import Seeded
from tests.okta_env import fake, runbook, seeded  # noqa: F401 - fixtures

__all__ = ["fake", "seeded"]


def keypair() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def oauth(fake: OktaFake, seeded: Seeded, tmp_path: Path, scopes: tuple[str, ...] = tuple(SCOPES)
          ) -> tuple[Path, dict[str, str]]:
    private, public = keypair()
    client_id = fake.add_service_app(public, scopes)
    path = runbook(tmp_path / "acme.yaml", fake, seeded, lists=[],
                   settings={"client_id": client_id, "private_key": {"secret": "okta_key"}})
    return path, {"REVOKE_OKTA_KEY": private}


def test_an_oauth_service_app_signs_in_with_a_private_key_jwt(fake: OktaFake, seeded: Seeded, tmp_path: Path,
                                                              run_cli: Any) -> None:
    path, env = oauth(fake, seeded, tmp_path)
    result = run_cli("--quiet", "apply", str(path), "--yes", env=env)
    assert result.exit_code == 0, result.output + result.stderr
    assert "OAuth service app 0oa" in result.output
    assert fake.user("alice@consult.example").status == "SUSPENDED"
    exchanges = [r for r in fake.log if r.path == "/oauth2/v1/token"]
    assert exchanges and all(r.status == 200 for r in exchanges)


def test_a_service_app_with_someone_elses_key_cannot_connect(fake: OktaFake, seeded: Seeded, tmp_path: Path,
                                                             run_cli: Any) -> None:
    path, _ = oauth(fake, seeded, tmp_path)
    other, _ = keypair()
    result = run_cli("--quiet", "plan", str(path), env={"REVOKE_OKTA_KEY": other})
    text = result.output + result.stderr
    assert result.exit_code == 1 and "refused the service app" in text and "public key" in text
    assert "PRIVATE KEY" not in text


def test_a_service_app_missing_a_scope_is_told_which(fake: OktaFake, seeded: Seeded, tmp_path: Path,
                                                     run_cli: Any) -> None:
    path, env = oauth(fake, seeded, tmp_path, scopes=("okta.users.read",))
    result = run_cli("--quiet", "plan", str(path), env=env)
    assert result.exit_code == 1 and "okta.groups.manage" in result.output + result.stderr


def test_the_ca_bundle_setting_wins_over_requests_ca_bundle(fake: OktaFake, seeded: Seeded, tmp_path: Path,
                                                            run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    result = run_cli("--quiet", "plan", str(runbook(tmp_path / "acme.yaml", fake, seeded)))
    assert result.exit_code == 2, result.output + result.stderr


def test_the_api_token_never_appears_in_output_or_evidence(fake: OktaFake, seeded: Seeded, tmp_path: Path,
                                                           run_cli: Any) -> None:
    fake.inject("POST", r"/lifecycle/suspend$", 403, "E0000006", f"denied for token {seeded.token}")
    result = run_cli("--quiet", "apply", str(runbook(tmp_path / "acme.yaml", fake, seeded)), "--yes")
    assert result.exit_code == 3
    assert seeded.token not in result.output + result.stderr
    for f in (tmp_path / "evidence").rglob("*"):
        if f.is_file():
            assert seeded.token not in f.read_text(errors="replace"), f


def test_permissions_name_the_scopes_and_the_admin_role(fake: OktaFake, seeded: Seeded, tmp_path: Path,
                                                        run_cli: Any) -> None:
    path = runbook(tmp_path / "acme.yaml", fake, seeded, settings={"reset_factors": True})
    text = run_cli("permissions", str(path)).output
    for needed in ("okta.users.manage", "okta.groups.manage", "okta.users.read", "okta.groups.read",
                   "okta.users.lifecycle.suspend", "okta.users.lifecycle.clearSessions",
                   "okta.groups.members.manage", "okta.users.credentials.resetFactors", "custom admin role"):
        assert needed in text, text
