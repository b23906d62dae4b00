"""Resuming an interrupted run: its records so far, its plan and mode, and the runs still open.

A run journals an `intent` before each write and seals its folder when it ends, so an unsealed folder is a run that
was interrupted; the records already written say what is finished and which writes may have happened.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from revoke.actions import Outcome
from revoke.errors import GuardrailRefused, Problem, RevokeError, RunbookError
from revoke.evidence import LOG, MANIFEST
from revoke.plan import Plan, load_plan


def check_resumed_digest(plan: Plan, prior: list[dict[str, Any]], run_dir: Path) -> None:
    first = next((r for r in prior if r.get("type") == "run"), None)
    if first is None or first.get("plan_digest") != plan.digest():
        raise GuardrailRefused(f"{run_dir / 'plan.json'} is not the plan this run started with (its digest differs "
                               "from the one in the run's first evidence record): nothing was changed")


def prior_records(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / LOG
    if not path.is_file():
        raise RunbookError([_problem(run_dir, "no evidence.jsonl: not a revoke run folder")])
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if n == len(lines):
                break  # a record cut short by the crash; EvidenceLog drops it when it reopens the log
            raise RunbookError([_problem(run_dir, f"{LOG} line {n} is not valid JSON; "
                                         "`revoke evidence verify` shows what is damaged")]) from None
    return records


def _problem(run_dir: Path, message: str) -> Problem:
    return Problem(str(run_dir), None, "", message, "check the run id; runs live under the runbook's evidence_dir")


def unfinished_runs(evidence_root: Path, engagement: str) -> list[Path]:
    """Apply and restore runs of this engagement that were interrupted before they were sealed, newest last."""
    found: list[Path] = []
    if not evidence_root.is_dir():
        return found
    for run_dir in sorted(evidence_root.iterdir()):
        log_path = run_dir / LOG
        if not log_path.is_file() or (run_dir / MANIFEST).exists():
            continue
        try:
            with log_path.open(encoding="utf-8") as f:
                first = json.loads(f.readline())
        except (json.JSONDecodeError, OSError):
            continue
        if first.get("engagement") == engagement and first.get("mode") in ("apply", "restore"):
            found.append(run_dir)
    return found


def resume_plan(run_dir: Path) -> tuple[Plan, str]:
    """The plan an interrupted run was executing, and its mode."""
    if (run_dir / MANIFEST).exists():
        last = {r["action_id"]: r["outcome"] for r in prior_records(run_dir) if r.get("type") == "action"}
        failed = sum(1 for o in last.values() if o == Outcome.FAILED.value)
        if failed:  # a sealed run is never reopened; a new run of the same plan finishes it
            raise RevokeError(f"{run_dir.name} finished with {failed} failed action(s) and was sealed: apply the "
                              "same runbook or plan again to finish them (what was done is not repeated)")
        raise RevokeError(f"{run_dir.name} finished and was sealed; there is nothing to resume")
    plan = load_plan(run_dir / "plan.json")
    records = prior_records(run_dir)
    mode = records[0].get("mode", "apply") if records else "apply"
    return plan, mode
