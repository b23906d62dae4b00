"""The spine end to end against a real slapd: validate -> plan -> apply -> evidence verify, as a user runs it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path


from revoke.evidence import read_records, verify_run
from revoke.sandbox.slapd import Slapd
from tests.conftest import yesterday


def test_plan_shows_each_change_and_exits_2(engagement: dict, run_cli) -> None:
    plan_file = engagement["dir"] / "plan.json"
    result = run_cli("--quiet", "plan", str(engagement["runbook"]), "--out", str(plan_file))
    assert result.exit_code == 2, result.output + result.stderr
    text = result.output
    assert "- lock account" in text
    assert f"- remove from {engagement['eng']}" in text
    assert "= already locked" in text
    assert "protected by the runbook (protect[0]: dave)" in text
    assert "the connector's own identity" in text
    assert f"- delete mail group {engagement['list']}" in text
    plan = json.loads(plan_file.read_text())["plan"]
    change = next(a for a in plan["actions"] if a["kind"] == "lock-account" and a["person"] == "Alice Example")
    assert change["before"]["locked"] is False and len(change["fingerprint"]) == 64


def test_plan_changes_nothing(engagement: dict, slapd: Slapd, run_cli) -> None:
    alice = engagement["people"]["alice"]
    run_cli("--quiet", "plan", str(engagement["runbook"]))
    assert slapd.can_bind(alice.dn, alice.password)
    assert alice.dn in slapd.read(engagement["eng"])["member"]
    assert slapd.read(engagement["list"]) is not None


def test_apply_locks_leavers_and_strips_access(engagement: dict, slapd: Slapd, run_cli) -> None:
    people = engagement["people"]
    plan_file = engagement["dir"] / "plan.json"
    run_cli("--quiet", "plan", str(engagement["runbook"]), "--out", str(plan_file))
    result = run_cli("--quiet", "apply", str(plan_file))
    assert result.exit_code == 0, result.output + result.stderr

    # what a user would check, asking the server directly
    assert not slapd.can_bind(people["alice"].dn, people["alice"].password)
    assert not slapd.can_bind(engagement["erin"].dn, engagement["erin"].password)
    assert people["alice"].dn not in slapd.read(engagement["eng"])["member"]
    assert slapd.read(engagement["solo"])["member"] == ["cn=nobody"]  # last member swapped for the placeholder
    assert slapd.read(engagement["uniq"])["uniqueMember"] == [people["dave"].dn]
    assert slapd.read(engagement["shell"])["memberUid"] == ["carol"]
    assert slapd.read(engagement["list"]) is None
    # untouched: the colleague who stays, the protected admin, the tool's own account
    assert slapd.can_bind(people["carol"].dn, people["carol"].password)
    assert slapd.can_bind(people["dave"].dn, people["dave"].password)
    assert slapd.can_bind(slapd.service.dn, slapd.service.password)
    assert slapd.read(people["alice"].dn, ["memberOf"]).get("memberOf", []) == []


def test_replan_after_apply_is_empty(engagement: dict, run_cli) -> None:
    assert run_cli("--quiet", "apply", str(engagement["runbook"]), "--yes").exit_code == 0
    again = run_cli("--quiet", "plan", str(engagement["runbook"]))
    assert again.exit_code == 0, again.output
    assert "Plan: 0 to change" in again.output
    rerun = run_cli("--quiet", "apply", str(engagement["runbook"]), "--yes")
    assert rerun.exit_code == 0 and "Nothing to do." in rerun.output


def test_evidence_has_one_verified_record_per_action(engagement: dict, run_cli) -> None:
    result = run_cli("--quiet", "--output", "json", "apply", str(engagement["runbook"]), "--yes")
    run = json.loads(result.output)
    run_dir = Path(run["run_dir"])
    records = [r for r in read_records(run_dir) if r["type"] == "action"]
    assert len({r["action_id"] for r in records}) == len(records)
    done = [r for r in records if r["outcome"] == "done"]
    assert done and all(r["verification"] in ("verified", "absent") for r in done)
    lock = next(r for r in done if r["kind"] == "lock-account" and r["person"] == "Alice Example")
    assert lock["before"]["locked"] is False and lock["after"]["locked"] is True
    assert lock["operator"].startswith("uid=revoke-svc")
    header = read_records(run_dir)[0]
    assert header["systems"]["corp-ldap"]["operator"]["whoami"].startswith("uid=revoke-svc")
    assert (run_dir / "summary.md").exists() and (run_dir / "manifest.json").exists()
    assert verify_run(run_dir).ok


def test_evidence_verify_fails_after_one_byte_changes(engagement: dict, run_cli) -> None:
    result = run_cli("--quiet", "--output", "json", "apply", str(engagement["runbook"]), "--yes")
    run_dir = Path(json.loads(result.output)["run_dir"])
    assert run_cli("evidence", "verify", str(run_dir)).exit_code == 0
    log = run_dir / "evidence.jsonl"
    data = bytearray(log.read_bytes())
    lines = data.split(b"\n")
    third = sum(len(x) + 1 for x in lines[:2])  # first byte of record 3
    pos = data.index(b'"outcome":"', third) if b'"outcome":"' in data[third:] else third + 10
    data[pos + 11] = ord("X")
    log.write_bytes(bytes(data))
    verdict = run_cli("evidence", "verify", str(run_dir))
    assert verdict.exit_code == 1
    assert "line 3" in verdict.stderr and "changed" in verdict.stderr


def test_apply_before_final_day_needs_the_flag(engagement: dict, slapd: Slapd, run_cli) -> None:
    runbook = engagement["runbook"]
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    runbook.write_text(runbook.read_text().replace(yesterday(), tomorrow))
    refused = run_cli("apply", str(runbook), "--yes")
    assert refused.exit_code == 1 and "--before-final-day" in refused.stderr
    alice = engagement["people"]["alice"]
    assert slapd.can_bind(alice.dn, alice.password)
    assert run_cli("--quiet", "apply", str(runbook), "--yes", "--before-final-day").exit_code == 0
    assert not slapd.can_bind(alice.dn, alice.password)


def test_blast_radius_refuses_before_any_change(engagement: dict, slapd: Slapd, run_cli) -> None:
    runbook = engagement["runbook"]
    runbook.write_text(runbook.read_text().replace("connector: ldap", "connector: ldap\n    blast_radius: 1"))
    refused = run_cli("apply", str(runbook), "--yes")
    assert refused.exit_code == 1 and "blast-radius" in refused.stderr
    alice = engagement["people"]["alice"]
    assert slapd.can_bind(alice.dn, alice.password)


def test_permissions_lists_the_ldap_access_rules(engagement: dict, run_cli) -> None:
    result = run_cli("permissions", str(engagement["runbook"]))
    assert result.exit_code == 0, result.stderr
    assert 'attrs=pwdAccountLockedTime,nsAccountLock\n  by dn.exact="<bind_dn>" manage' in result.output
    assert "attrs=member,uniqueMember,memberUid" in result.output


def test_report_rows_rendered_during_the_run_match_a_render_from_the_evidence(engagement: dict, run_cli,
                                                                               tmp_path: Path) -> None:
    """apply renders each action's report rows as its record is written; the sealed reports must be exactly what
    rendering the finished evidence gives (and a resumed or re-run action must not reuse a stale row)."""
    import shutil

    from revoke.checklist.reports import REPORTS, write_reports

    result = run_cli("--quiet", "--output", "json", "apply", str(engagement["runbook"]), "--yes")
    run_dir = Path(json.loads(result.output)["run_dir"])
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    for name in REPORTS:
        (copy / name).unlink()
    write_reports(copy)  # from the evidence alone, nothing rendered ahead
    for name in REPORTS:
        assert (copy / name).read_bytes() == (run_dir / name).read_bytes(), name
    assert "lock account" in (run_dir / "closure-report.md").read_text()
