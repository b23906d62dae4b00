"""`revoke validate` names the file, line and field of every mistake, with a hint, and never shows a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

GOOD = """\
engagement: acme-2026
final_day: 2026-11-30
systems:
  corp-ldap:
    connector: ldap
    settings:
      url: ldaps://ldap.example.org
      bind_dn: uid=revoke-svc,ou=services,dc=example,dc=org
      bind_password: {secret: corp_ldap}
      base_dn: dc=example,dc=org
people:
  - name: Alice Example
    ids: {corp-ldap: alice}
lists:
  - system: corp-ldap
    id: cn=acme-team,ou=lists,dc=example,dc=org
protect:
  - uid=admin,ou=people,dc=example,dc=org
"""


def check(run_cli, tmp_path: Path, text: str, *args: str):
    path = tmp_path / "runbook.yaml"
    path.write_text(text)
    result = run_cli("validate", str(path), *args)
    assert "Traceback" not in result.output + result.stderr
    return result, str(path)


def test_good_runbook_is_valid(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVOKE_CORP_LDAP", "generated-at-test-time")
    result, _ = check(run_cli, tmp_path, GOOD)
    assert result.exit_code == 0, result.stderr
    assert "valid: engagement acme-2026" in result.output


@pytest.mark.parametrize("old,new,line,field,words", [
    ("final_day: 2026-11-30", "final_day: next friday", 2, "final_day", "date"),
    ("    ids: {corp-ldap: alice}", "    ids: {corp-ldap: alice}\n    badge: 42", 14, "people[0].badge", "not a known field"),
    ("    ids: {corp-ldap: alice}", "    ids: {hr-ldap: alice}", 13, "people[0].ids.hr-ldap", "unknown system"),
    ("    connector: ldap", "    connector: ldapp", 5, "systems.corp-ldap.connector", "unknown connector"),
    ("      base_dn: dc=example,dc=org", "", 6, "systems.corp-ldap.settings.base_dn", "required"),
    ("      url: ldaps://ldap.example.org", "      url: ldaps://ldap.example.org\n      colour: blue", 8,
     "systems.corp-ldap.settings.colour", "not a known field"),
    ("  - system: corp-ldap\n    id: cn=acme", "  - system: hr\n    id: cn=acme", 15, "lists[0].system", "unknown system"),
    ("engagement: acme-2026", "engagement: acme 2026!", 1, "engagement", "pattern"),
    # a list's options are what its connector declares (ldap takes none): a typo fails here, not at apply
    ("    id: cn=acme-team,ou=lists,dc=example,dc=org", "    id: cn=acme-team,ou=lists,dc=example,dc=org\n"
     "    options: {hide: false}", 17, "lists[0].options.hide", "Extra inputs are not permitted for a ldap list"),
])
def test_each_mistake_is_located(run_cli, tmp_path: Path, old: str, new: str, line: int, field: str,
                                 words: str) -> None:
    assert old in GOOD
    result, path = check(run_cli, tmp_path, GOOD.replace(old, new), "--offline")
    assert result.exit_code == 1
    assert f"{path}:{line}: {field}: " in result.stderr, result.stderr
    assert words in result.stderr


def test_duplicate_person_and_duplicate_key(run_cli, tmp_path: Path) -> None:
    text = GOOD.replace("lists:", "  - name: Alice Example\n    ids: {corp-ldap: alice2}\nlists:")
    result, path = check(run_cli, tmp_path, text, "--offline")
    assert result.exit_code == 1 and f"{path}:14: people[1].name: 'Alice Example' is listed twice" in result.stderr
    text = GOOD.replace("final_day: 2026-11-30", "final_day: 2026-11-30\nfinal_day: 2026-12-01")
    result, path = check(run_cli, tmp_path, text, "--offline")
    assert result.exit_code == 1 and f"{path}:3: final_day: duplicate key (first on line 2)" in result.stderr


def test_yaml_syntax_error_names_the_line(run_cli, tmp_path: Path) -> None:
    result, path = check(run_cli, tmp_path, GOOD.replace("    ids: {corp-ldap: alice}", "    ids: {corp-ldap: alice"))
    assert result.exit_code == 1
    assert f"{path}:" in result.stderr and "YAML syntax error" in result.stderr


def test_missing_secret_says_where_to_put_it(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REVOKE_CORP_LDAP", raising=False)
    monkeypatch.chdir(tmp_path)
    result, _ = check(run_cli, tmp_path, GOOD)
    assert result.exit_code == 1
    assert "secret corp_ldap is not set: looked in REVOKE_CORP_LDAP, " in result.stderr
    assert f"{tmp_path / '.env'} (no such file), $REVOKE_SECRETS_DIR (not set)" in result.stderr


def test_secret_from_the_secrets_dir(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "corp_ldap").write_text("from-a-mounted-file")
    monkeypatch.delenv("REVOKE_CORP_LDAP", raising=False)
    monkeypatch.setenv("REVOKE_SECRETS_DIR", str(secrets_dir))
    result, _ = check(run_cli, tmp_path, GOOD)
    assert result.exit_code == 0, result.stderr


def test_a_missing_file_is_a_message(run_cli, tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1 and "nope.yaml: file not found" in result.stderr


def test_a_typo_in_a_lists_options_names_the_options_the_connector_takes(run_cli, tmp_path: Path) -> None:
    from revoke.connectors.directory.active_directory import ActiveDirectoryConnector
    from revoke.connectors.microsoft.m365_groups import M365GroupsConnector

    text = GOOD.replace("    connector: ldap", "    connector: m365-groups").replace(
        """      url: ldaps://ldap.example.org
      bind_dn: uid=revoke-svc,ou=services,dc=example,dc=org
      bind_password: {secret: corp_ldap}
      base_dn: dc=example,dc=org""", """      tenant_id: contoso
      client_id: revoke-app
      client_secret: {secret: graph}""").replace(
        "    id: cn=acme-team,ou=lists,dc=example,dc=org", "    id: acme-team\n    options: {guest: true}")
    result, path = check(run_cli, tmp_path, text, "--offline")
    assert result.exit_code == 1
    assert f"{path}:" in result.stderr and "lists[0].options.guest: " in result.stderr, result.stderr
    assert "options this connector takes: guests" in result.stderr
    assert M365GroupsConnector.ListOptions.model_validate({"guests": True}).guests is True
    assert ActiveDirectoryConnector.ListOptions.model_validate({}).hide is True
