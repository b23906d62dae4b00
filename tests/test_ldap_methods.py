"""The ldap connector's other lock methods and its TLS rules, against a real slapd."""

from __future__ import annotations

from pathlib import Path

import pytest

from revoke.evidence import read_records
from revoke.sandbox.slapd import Slapd, unavailable_reason
from tests.conftest import ldap_system, write_runbook, yesterday, skip_unless_ci


def _runbook(tmp_path: Path, server: Slapd, **settings) -> Path:
    return write_runbook(tmp_path / "rb.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"corp-ldap": ldap_system(server, **settings)},
        "people": [{"name": "Alice Example", "ids": {"corp-ldap": "alice"}}],
    })


def test_password_method_locks_without_keeping_the_hash(slapd: Slapd, tmp_path: Path, run_cli,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVOKE_CORP_LDAP", slapd.service.password)
    alice = slapd.add_user("alice")
    runbook = _runbook(tmp_path, slapd, lock_method="password")
    result = run_cli("--quiet", "apply", str(runbook), "--yes")
    assert result.exit_code == 0, result.output
    assert not slapd.can_bind(alice.dn, alice.password)
    run = next((tmp_path / "evidence").glob("*-apply-*"))
    text = (run / "evidence.jsonl").read_text() + (run / "plan.json").read_text()
    assert alice.password not in text and "{SSHA}" not in text and "userPassword" in text
    restore = run_cli("--quiet", "restore", str(run), "--yes")
    assert "cannot be restored" in restore.output  # a scrambled password needs a reset; said, not faked


def test_attribute_method_sets_the_configured_value(slapd: Slapd, tmp_path: Path, run_cli,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVOKE_CORP_LDAP", slapd.service.password)
    alice = slapd.add_user("alice")
    runbook = _runbook(tmp_path, slapd, lock_method="attribute", lock_attribute="employeeType",
                       lock_value="disabled")
    assert run_cli("--quiet", "apply", str(runbook), "--yes").exit_code == 0
    assert slapd.read(alice.dn, ["employeeType"])["employeeType"] == ["disabled"]
    assert "Plan: 0 to change" in run_cli("--quiet", "plan", str(runbook)).output


@pytest.fixture
def plain_slapd(tmp_path_factory: pytest.TempPathFactory):
    reason = unavailable_reason()
    if reason:
        skip_unless_ci(reason)
    server = Slapd(tmp_path_factory.mktemp("plain"), tls=False).start()
    yield server
    server.stop()


def test_plain_ldap_needs_insecure_and_the_plan_warns(plain_slapd: Slapd, tmp_path: Path, run_cli,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVOKE_CORP_LDAP", plain_slapd.service.password)
    plain_slapd.add_user("alice")
    refused = run_cli("--quiet", "plan", str(_runbook(tmp_path, plain_slapd, ca_file=None)))
    assert refused.exit_code == 1 and "StartTLS" in refused.output
    allowed = run_cli("--quiet", "plan", str(_runbook(tmp_path, plain_slapd, ca_file=None, insecure=True)))
    assert allowed.exit_code == 2
    assert "warning: ldap://127.0.0.1" in allowed.output and "clear text" in allowed.output
    plan_run = max((tmp_path / "evidence").glob("*-plan-*"), key=lambda p: p.stat().st_mtime_ns)
    header = read_records(plan_run)[0]
    assert any("clear text" in w for w in header["systems"]["corp-ldap"]["warnings"])


def test_a_dn_id_with_spaces_is_found(slapd: Slapd, tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVOKE_CORP_LDAP", slapd.service.password)
    alice = slapd.add_user("alice")
    runbook = _runbook(tmp_path, slapd)
    runbook.write_text(runbook.read_text().replace("corp-ldap: alice", f"corp-ldap: '{alice.dn.replace(',', ', ')}'"))
    result = run_cli("--quiet", "plan", str(runbook))
    assert result.exit_code == 2 and "- lock account" in result.output, result.output


def test_a_failing_report_writer_still_seals_the_run(engagement: dict, run_cli,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import revoke.checklist.reports as reports

    def broken(run_dir: Path) -> list[Path]:
        raise RuntimeError("template missing")

    monkeypatch.setattr(reports, "write_reports", broken)
    result = run_cli("--quiet", "apply", str(engagement["runbook"]), "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    run = next((engagement["dir"] / "evidence").glob("*-apply-*"))
    assert (run / "manifest.json").exists()
    notes = [r for r in read_records(run) if r["type"] == "notice"]
    assert any("closure reports were not written" in n["message"] for n in notes)
    assert run_cli("evidence", "verify", str(run)).exit_code == 0
