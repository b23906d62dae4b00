"""Stale plans, edited plans, restore and resume, against a real slapd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from revoke.evidence import read_records, verify_run
from revoke.sandbox.slapd import Slapd


def _plan(run_cli, engagement: dict) -> Path:
    plan_file = engagement["dir"] / "plan.json"
    assert run_cli("--quiet", "plan", str(engagement["runbook"]), "--out", str(plan_file)).exit_code == 2
    return plan_file


def _apply_json(run_cli, *args: str) -> dict:
    result = run_cli("--quiet", "--output", "json", "apply", *args)
    return json.loads(result.output)


def test_stale_plan_stops_before_any_change(engagement: dict, slapd: Slapd, run_cli) -> None:
    plan_file = _plan(run_cli, engagement)
    alice, bob = engagement["people"]["alice"], engagement["people"]["bob"]
    with slapd.admin_connection() as c:
        # alice gets a temporary lockout (not revoke's permanent one) and bob is unlocked by someone
        c.modify(alice.dn, {"pwdAccountLockedTime": [("MODIFY_REPLACE", ["20261125010000Z"])]})
        c.modify(bob.dn, {"pwdAccountLockedTime": [("MODIFY_DELETE", [])]})
    refused = run_cli("apply", str(plan_file))
    assert refused.exit_code == 1
    assert "2 action(s) no longer match" in refused.stderr and "re-run `revoke plan`" in refused.stderr
    assert alice.dn in slapd.read(engagement["eng"])["member"]  # nothing was changed
    assert slapd.read(engagement["list"]) is not None

    run = _apply_json(run_cli, str(plan_file), "--skip-stale")
    assert run["exit_code"] == 3  # something was left undone: never a clean exit
    skipped = [a for a in run["actions"] if a["outcome"] == "skipped_stale" and a["error"].startswith("stale")]
    assert {a["person"] for a in skipped} == {"Alice Example", "Bob Example"}
    assert alice.dn not in slapd.read(engagement["eng"])["member"]
    assert slapd.can_bind(bob.dn, bob.password)  # the stale action was really left alone


def test_an_edited_plan_is_refused(engagement: dict, run_cli) -> None:
    plan_file = _plan(run_cli, engagement)
    plan_file.write_text(plan_file.read_text().replace("Alice Example", "Alice Exampl3", 1))
    refused = run_cli("apply", str(plan_file))
    assert refused.exit_code == 1 and "changed after it was made" in refused.stderr


@pytest.mark.parametrize("damage", ["{not json", '{"plan": {}, "digest": "x"}', ""])
def test_a_damaged_plan_file_is_a_located_message(tmp_path: Path, run_cli, damage: str) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text(damage)
    result = run_cli("apply", str(bad))
    assert result.exit_code == 1 and str(bad) in result.stderr and "Traceback" not in result.stderr


def test_restore_brings_everything_back(engagement: dict, slapd: Slapd, run_cli) -> None:
    people = engagement["people"]
    run = _apply_json(run_cli, str(engagement["runbook"]), "--yes")
    assert not slapd.can_bind(people["alice"].dn, people["alice"].password)

    dry = run_cli("restore", run["run_dir"])
    assert dry.exit_code == 2 and "Dry run only" in dry.output
    assert not slapd.can_bind(people["alice"].dn, people["alice"].password)

    restored = run_cli("--quiet", "--output", "json", "restore", run["run_dir"], "--yes")
    result = json.loads(restored.output)
    assert result["exit_code"] == 0, result
    assert slapd.can_bind(people["alice"].dn, people["alice"].password)
    assert slapd.can_bind(engagement["erin"].dn, engagement["erin"].password)
    assert people["alice"].dn in slapd.read(engagement["eng"])["member"]
    assert slapd.read(engagement["solo"])["member"] == [people["alice"].dn]  # placeholder taken out again
    assert "erin" in slapd.read(engagement["shell"])["memberUid"]
    assert set(slapd.read(engagement["list"])["member"]) == {people["alice"].dn, people["carol"].dn}
    assert not slapd.can_bind(people["bob"].dn, people["bob"].password)  # bob was locked before: stays locked
    restore_dir = Path(result["run_dir"])
    assert read_records(restore_dir)[0]["restores"] == Path(run["run_dir"]).name
    assert verify_run(restore_dir).ok


def test_restore_of_one_person_only(engagement: dict, slapd: Slapd, run_cli) -> None:
    people = engagement["people"]
    run = _apply_json(run_cli, str(engagement["runbook"]), "--yes")
    run_cli("--quiet", "restore", run["run_dir"], "--person", "Erin Posix", "--yes")
    assert slapd.can_bind(engagement["erin"].dn, engagement["erin"].password)
    assert not slapd.can_bind(people["alice"].dn, people["alice"].password)


def test_plan_exits_1_when_a_system_cannot_be_read(engagement: dict, run_cli) -> None:
    result = run_cli("--quiet", "plan", str(engagement["runbook"]), env={"REVOKE_CORP_LDAP": "wrong-password"})
    assert result.exit_code == 1
    assert "invalid credentials; check the secret 'corp_ldap'" in result.output
    assert "discovery failed in corp-ldap" in result.stderr and "wrong-password" not in result.output + result.stderr
