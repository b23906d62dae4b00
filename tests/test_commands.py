"""What `revoke apply`, `plan` and `restore` decide, without click: which run apply carries out (a saved plan, or
an interrupted run it must finish first), where a run is, and the exit codes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from revoke import journal
from revoke.commands import apply_job, find_run, nothing_to_do_exit, plan_exit
from revoke.errors import RevokeError
from revoke.evidence import EvidenceLog
from revoke.plan import Action, Plan, SystemPlan
from revoke.runbook import PersonSpec, Runbook, SystemSpec


def _plan(tmp_path: Path, engagement: str = "acme-2026", **action: str) -> Plan:
    rb = Runbook(engagement=engagement, final_day=dt.date(2026, 11, 25),
                 systems={"corp-ldap": SystemSpec(connector="ldap")},
                 people=[PersonSpec(name="Alice", ids={"corp-ldap": "alice"})])
    a = Action(id="a1", system="corp-ldap", connector="ldap", kind="lock-account", item=3, resource="alice",
               person="Alice", before={}, fingerprint="f", status=action.get("status", "change"),
               outcome=action.get("outcome"))
    return Plan(plan_id=f"{engagement}-20261118T090000Z-plan-def456", created_at=dt.datetime.now(dt.timezone.utc),
                runbook_path=str(tmp_path / "runbook.yaml"), runbook_sha256="ab" * 32, runbook=rb,
                systems=[SystemPlan(name="corp-ldap", connector="ldap", connector_version="0.1.0",
                                          operator={"display": "cn=revoke"})], actions=[a])


def _run_folder(root: Path, plan: Plan, run_id: str, *, sealed: bool) -> Path:
    """A run folder as the engine opens one (its own header), interrupted or sealed."""
    run_dir = root / run_id
    log = EvidenceLog(run_dir, run_id, plan.engagement, fsync=False)
    plan.save(run_dir / "plan.json")
    log.append(journal.run_record(plan, "apply", dt.datetime.now(dt.timezone.utc), {}))
    if sealed:
        log.seal()
    log.close()
    return run_dir


def test_a_saved_plan_is_applied_when_no_run_is_unfinished(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    plan.save(tmp_path / "plan.json")
    _run_folder(tmp_path / "evidence", plan, "acme-2026-20261125T100000Z-apply-aaa111", sealed=True)
    _run_folder(tmp_path / "evidence", _plan(tmp_path, "other-2026"), "other-2026-20261125T100000Z-apply-bbb222",
                sealed=False)
    job = apply_job(tmp_path / "plan.json", None, None)
    assert job.resume is None and job.plan is not None and job.plan.digest() == plan.digest()
    assert job.evidence_root == tmp_path / "evidence"


def test_an_interrupted_run_is_finished_before_a_new_one_starts(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    plan.save(tmp_path / "plan.json")
    interrupted = _run_folder(tmp_path / "evidence", plan, "acme-2026-20261125T100000Z-apply-aaa111", sealed=False)
    job = apply_job(tmp_path / "plan.json", None, None)
    assert job.resume == interrupted and job.mode == "apply"
    assert "interrupted" in job.why and interrupted.name in job.why


def test_resume_by_id_finds_the_run_in_the_evidence_dir_and_says_where_it_looked(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    run_dir = _run_folder(tmp_path / "runs", plan, "acme-2026-20261125T100000Z-apply-aaa111", sealed=False)
    assert apply_job(None, run_dir.name, tmp_path / "runs").resume == run_dir
    assert find_run(str(run_dir), None, None) == run_dir
    with pytest.raises(RevokeError, match=r"no run 'nope' found \(looked in .*runs\)"):
        find_run("nope", tmp_path / "runs", None)


def test_a_sealed_run_is_never_reopened(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    run_dir = _run_folder(tmp_path / "evidence", plan, "acme-2026-20261125T100000Z-apply-aaa111", sealed=True)
    with pytest.raises(RevokeError, match="sealed; there is nothing to resume"):
        apply_job(None, str(run_dir), None)


def test_exit_codes_of_plan_and_of_nothing_to_do(tmp_path: Path) -> None:
    changes = _plan(tmp_path)
    assert plan_exit(changes) == (2, "")
    assert plan_exit(_plan(tmp_path, status="noop")) == (0, "")
    broken = changes.model_copy(update={"systems": [changes.systems[0].model_copy(update={"error": "refused"})]})
    code, message = plan_exit(broken)
    assert code == 1 and "discovery failed in corp-ldap" in message
    assert nothing_to_do_exit(_plan(tmp_path, status="noop")) == 0
    assert nothing_to_do_exit(_plan(tmp_path, status="final", outcome="attention")) == 3
