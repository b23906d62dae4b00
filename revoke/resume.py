"""Runs that continue or undo earlier ones: the records of a run folder, interrupted runs, resume, restore plans.

Also the policy the CLI applies to `revoke apply` (which run to continue, or which plan to carry out) and the
exit codes of the commands, so both are decided here, in the core, and tested without a command line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from revoke.actions import Outcome
from revoke.connector import load
from revoke.errors import GuardrailRefused, Problem, RevokeError, RunbookError
from revoke.evidence import LOG, MANIFEST, now, verify_run
from revoke.plan import Action, Plan, fingerprint, load_plan
from revoke.planner import new_run_id


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


def build_restore_plan(run_dir: Path, *, system: str | None = None, person: str | None = None) -> Plan:
    """The inverse of a run, from the before-states in its evidence: its own plan, shown and applied like any.

    Restore writes what the evidence says was there before, so it trusts the evidence only as far as it verifies:
    a chain that does not verify, or a plan.json that is not the one the run started with, is refused. What the
    restore plan then does is checked by apply's guardrails like any plan (protected accounts, traceability)."""
    report = verify_run(run_dir)
    if not report.ok:
        raise GuardrailRefused(f"{run_dir.name}: its evidence does not verify ({report.problems[0]}); restore reads "
                               "the before-states from it and refuses: nothing was changed")
    original = load_plan(run_dir / "plan.json")
    check_resumed_digest(original, prior_records(run_dir), run_dir)
    by_id = {a.id: a for a in original.actions}
    last: dict[str, dict[str, Any]] = {}
    for r in prior_records(run_dir):
        if r.get("type") == "action" and r.get("mode") == "apply":
            last[r["action_id"]] = r
    actions: list[Action] = []
    for action_id_, rec in last.items():
        a = by_id.get(action_id_)
        if a is None or rec["outcome"] != Outcome.DONE.value:
            continue
        if (system and a.system != system) or (person and (a.person or "").casefold() != person.casefold()):
            continue
        kind = load(a.connector).kind(a.kind)
        if not kind.restorable:
            why = f"cannot be restored: {kind.restore_note or 'the connector has no way back'}"
            actions.append(a.model_copy(update={"status": "final", "outcome": Outcome.ATTENTION.value,
                                                "reason": why, "note": why}))
            continue
        after = rec.get("after") or {}
        actions.append(a.model_copy(update={"status": "change", "fingerprint": fingerprint(after),
                                            "note": kind.restore_note or a.note}))
    if not actions:
        which = " ".join(x for x in (f"system {system}" if system else "", f"person {person}" if person else "") if x)
        raise RevokeError(f"run {run_dir.name} made no change that can be restored" + (f" for {which}" if which
                                                                                       else ""))
    systems = [sp.model_copy(update={"targets": len({a.principal or a.resource for a in actions
                                                     if a.system == sp.name and a.status == "change"})})
               for sp in original.systems if any(a.system == sp.name for a in actions)]
    return Plan(plan_id=new_run_id(original.engagement, "restore-plan"), created_at=now(),
                runbook_path=original.runbook_path, runbook_sha256=original.runbook_sha256,
                runbook=original.runbook, systems=systems, actions=actions, notices=[])


def check_resumed_digest(plan: Plan, prior: list[dict[str, Any]], run_dir: Path) -> None:
    first = next((r for r in prior if r.get("type") == "run"), None)
    if first is None or first.get("plan_digest") != plan.digest():
        raise GuardrailRefused(f"{run_dir / 'plan.json'} is not the plan this run started with (its digest differs "
                               "from the one in the run's first evidence record): nothing was changed")
