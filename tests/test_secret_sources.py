"""Where secrets come from, and that nothing else read on the way is ever echoed: `.env` entries and secrets-dir
files the runbook does not name are ignored; a missing secret says every place it was looked for; the redactor
masks known values and credential shapes in errors, evidence and logs."""

from __future__ import annotations

import io
import logging
import secrets
from pathlib import Path

import pytest

from revoke.errors import SecretMissing
from revoke.evidence import EvidenceLog, read_records
from revoke.redaction import MASK, REDACTOR, RedactingFilter
from revoke.runbook import SecretRef
from revoke.secrets import Secrets
from tests.test_validate import GOOD


def _value(what: str) -> str:
    return f"planted-{what}-{secrets.token_hex(10)}"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("REVOKE_CORP_LDAP", "REVOKE_SECRETS_DIR", "REVOKE_ENV_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_unreferenced_env_entries_are_ignored_not_echoed(run_cli, tmp_path: Path) -> None:
    unreferenced = [_value("unref"), _value("plain")]
    (tmp_path / ".env").write_text(f"REVOKE_CORP_LDAP={_value('ldap')}\nREVOKE_OTHER={unreferenced[0]}\n"
                                   f"SOMETHING_ELSE={unreferenced[1]}\n")
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "unrelated").write_text(_value("file"))
    (tmp_path / "runbook.yaml").write_text(GOOD)
    result = run_cli("validate", "runbook.yaml", env={"REVOKE_SECRETS_DIR": str(secrets_dir)})
    assert result.exit_code == 0, result.stderr
    assert not any(v in result.output + result.stderr for v in unreferenced)
    assert "ValidationError" not in result.stderr


def test_the_runbooks_own_env_file_is_read_from_another_directory(run_cli, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    engagement = tmp_path / "engagements" / "acme"
    engagement.mkdir(parents=True)
    (engagement / "runbook.yaml").write_text(GOOD)
    (engagement / ".env").write_text(f"REVOKE_CORP_LDAP={_value('ldap')}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = run_cli("validate", str(engagement / "runbook.yaml"))
    assert result.exit_code == 0, result.stderr


def test_a_missing_secret_says_where_it_looked(run_cli, tmp_path: Path) -> None:
    engagement = tmp_path / "acme"
    engagement.mkdir()
    (engagement / "runbook.yaml").write_text(GOOD)
    result = run_cli("validate", str(engagement / "runbook.yaml"), env={"REVOKE_SECRETS_DIR": str(tmp_path / "s")})
    assert result.exit_code == 1
    assert (f"secret corp_ldap is not set: looked in REVOKE_CORP_LDAP, {engagement / '.env'} (no such file), "
            f"{tmp_path / '.env'} (no such file), $REVOKE_SECRETS_DIR ({tmp_path / 's'}/corp_ldap: "
            "no such directory)") in result.stderr


def test_order_environment_then_runbook_env_then_current_env_then_secrets_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rb_dir, here, sdir = tmp_path / "rb", tmp_path / "here", tmp_path / "s"
    for d in (rb_dir, here, sdir):
        d.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setenv("REVOKE_SECRETS_DIR", str(sdir))
    ref = SecretRef(secret="corp_ldap")

    def got() -> str | None:
        return Secrets.load(["corp_ldap"], runbook_dir=rb_dir).get(ref)

    (sdir / "corp_ldap").write_text("from-the-secrets-dir")
    assert got() == "from-the-secrets-dir"
    (here / ".env").write_text("REVOKE_CORP_LDAP=from-the-current-env\n")
    assert got() == "from-the-current-env"
    (rb_dir / ".env").write_text("REVOKE_CORP_LDAP=from-the-runbook-env\n")
    assert got() == "from-the-runbook-env"
    monkeypatch.setenv("REVOKE_CORP_LDAP", "from-the-environment")
    assert got() == "from-the-environment"


def test_every_missing_secret_is_named_and_the_found_ones_are_still_masked(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    found = _value("found")
    monkeypatch.setenv("REVOKE_PRESENT", found)
    with pytest.raises(SecretMissing) as caught:
        Secrets.load(["present", "absent_one", "absent_two"], runbook_dir=tmp_path)
    assert str(caught.value).startswith("secret absent_one is not set (nor absent_two): looked in REVOKE_ABSENT_ONE")
    assert REDACTOR(f"x {found} y") == f"x {MASK} y"


def test_the_redactor_masks_values_and_credential_shapes() -> None:
    value = _value("known")
    REDACTOR.add(value)
    assert REDACTOR(f"bind failed for {value}") == f"bind failed for {MASK}"
    shapes = {"password=hunter2hunter2&user=a": f"password={MASK}&user=a",
              "{'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/2026'}":
                  f"{{'Authorization': b'{MASK}'}}",
              "<SecretAccessKey>wJalrXUtnFEMI/K7MDENG</SecretAccessKey>": f"<SecretAccessKey>{MASK}</SecretAccessKey>",
              "<SessionToken>FQoGZXIvYXdzEJr</SessionToken>": f"<SessionToken>{MASK}</SessionToken>",
              '{"client_secret": "abc~def.ghi"}': f'{{"client_secret": "{MASK}"}}',
              "Authorization: Bearer eyJ0eXAiOiJKV1Qi.x.y": f"Authorization: Bearer {MASK}",
              "token xoxb-1234-5678-abcdef": f"token {MASK}"}
    for text, masked in shapes.items():
        assert REDACTOR(text) == masked, text
    # prose stays readable; a leaver's key id stays in evidence, only logs lose key ids
    assert REDACTOR("wrong password: invalid credentials") == "wrong password: invalid credentials"
    assert REDACTOR("deactivate access key AKIAIOSFODNN7EXAMPLE") == "deactivate access key AKIAIOSFODNN7EXAMPLE"
    assert REDACTOR("Credential=AKIAIOSFODNN7EXAMPLE/2026", log=True) == f"Credential={MASK}/2026"


def test_evidence_records_are_redacted_before_they_are_hashed(tmp_path: Path) -> None:
    value = _value("evidence")
    REDACTOR.add(value)
    log = EvidenceLog(tmp_path / "run", "run", "acme-2026", fsync=False)
    written = log.append({"type": "action", "error": f"unexpected error in connector x: ValueError: {value}",
                          "receipt": {"detail": "token=abcdefgh1234"}})
    log.close()
    text = (tmp_path / "run" / "evidence.jsonl").read_text()
    assert value not in text and "abcdefgh1234" not in text and MASK in text
    assert written["error"].endswith(MASK)  # what the run shows is the record as written
    from revoke.evidence import record_hash
    assert read_records(tmp_path / "run")[0]["hash"] == record_hash(read_records(tmp_path / "run")[0])


def test_the_log_filter_redacts_arguments_and_tracebacks() -> None:
    value = _value("log")
    REDACTOR.add(value)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("sending %s with key %s", {"password": value}, "AKIAIOSFODNN7EXAMPLE")
        try:
            raise RuntimeError(f"failed with {value}")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert value not in text and "AKIAIOSFODNN7EXAMPLE" not in text
    assert "RuntimeError: failed with ********" in text
