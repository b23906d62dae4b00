"""The commands' policy without a command line (revoke.commands): which run `apply` carries out, and the exit code
of every outcome, against a real slapd."""

from __future__ import annotations

from pathlib import Path

import pytest

from revoke import commands
from revoke.engine import ApplyOptions, apply_plan, build_plan
from revoke.errors import RevokeError
from revoke.evidence import LOG, MANIFEST
from revoke.plan import load_plan
from revoke.runbook import load_runbook


def _plan(engagement: dict) -> tuple[Path, object]:
    plan = build_plan(load_runbook(engagement["runbook"]))
    path = engagement["dir"] / "plan.json"
    plan.save(path)
    return path, plan


def _interrupt(run_dir: Path) -> None:
    """What a crash after the first records leaves: the log without its seal, and its last records missing."""
    (run_dir / MANIFEST).unlink()
    lines = (run_dir / LOG).read_text(encoding="utf-8").splitlines()
    (run_dir / LOG).write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")


def test_a_plan_with_changes_exits_2_and_one_with_nothing_left_exits_0(engagement: dict) -> None:
    _, plan = _plan(engagement)
    assert commands.plan_exit_code(plan) == commands.EXIT_CHANGES
    apply_plan(plan, ApplyOptions(evidence_root=engagement["dir"] / "evidence", fsync=False))
    again = build_plan(load_runbook(engagement["runbook"]))
    assert not again.changes() and commands.plan_exit_code(again) == commands.EXIT_OK
    # dave is protected and the tool's own account is skipped: skips are not work left for a person
    assert commands.nothing_to_apply_exit_code(again) == commands.EXIT_OK


def test_a_plan_whose_discovery_failed_exits_1(engagement: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVOKE_CORP_LDAP", "not the password")
    plan = build_plan(load_runbook(engagement["runbook"]))
    assert commands.failed_systems(plan) == ["corp-ldap"]
    assert commands.plan_exit_code(plan) == commands.EXIT_ERROR


def test_apply_of_a_saved_plan_applies_it_and_of_a_runbook_plans_first(engagement: dict) -> None:
    path, _ = _plan(engagement)
    saved = commands.start_apply(path)
    assert saved.plan is not None and saved.resume is None and not saved.needs_planning
    assert saved.evidence_root == engagement["dir"] / "evidence"
    fresh = commands.start_apply(engagement["runbook"])
    assert fresh.needs_planning and fresh.loaded is not None and fresh.resume is None


def test_an_interrupted_run_is_finished_before_anything_new_starts(engagement: dict) -> None:
    path, plan = _plan(engagement)
    result = apply_plan(plan, ApplyOptions(evidence_root=engagement["dir"] / "evidence", fsync=False))
    _interrupt(result.run_dir)
    for source in (path, engagement["runbook"]):
        start = commands.start_apply(source)
        assert start.resume == result.run_dir and start.mode == "apply"
        assert start.plan is not None and start.plan.digest() == load_plan(result.run_dir / "plan.json").digest()
        assert "was interrupted; finishing it first" in start.why
    # finishing it leaves nothing to resume: the next apply is a new run
    apply_plan(start.plan, ApplyOptions(evidence_root=start.evidence_root, fsync=False), resume=start.resume)
    assert commands.start_apply(path).resume is None


def test_resume_names_a_run_by_id_or_folder_and_refuses_a_sealed_one(engagement: dict) -> None:
    _, plan = _plan(engagement)
    result = apply_plan(plan, ApplyOptions(evidence_root=engagement["dir"] / "evidence", fsync=False))
    with pytest.raises(RevokeError, match="finished and was sealed"):
        commands.start_apply(None, resume_id=str(result.run_dir))
    _interrupt(result.run_dir)
    by_id = commands.start_apply(None, resume_id=result.run_dir.name, evidence_dir=engagement["dir"] / "evidence")
    assert by_id.resume == result.run_dir and by_id.why == f"Resuming {result.run_dir.name}."
    with pytest.raises(RevokeError, match="no run 'nope' found"):
        commands.find_run("nope", engagement["dir"] / "evidence")
