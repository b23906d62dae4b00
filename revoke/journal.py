"""The run journal's fixed parts, written the same way by every kind of run: plan, apply, resume, restore, a
refusal and a scheduled run.

A run folder opens with one `run` record (the plan it carries out, its digest, the tool, the systems and who the
operator is in each), then the plan's notices; it closes with an `end` record, the summary, the reports and the
seal. Records in between are the run's own (actions, intents, exposure); a dry run's are its planned actions
(`record_plan`). Keeping the header and the close in one
place keeps every run folder readable by the same verifier and report writer.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable, Iterable

from revoke import __version__
from revoke.actions import Outcome, Verification
from revoke.attest import Attestor
from revoke.attest import attestor as attestor_for
from revoke.connector import load
from revoke.evidence import EvidenceLog, iso, now
from revoke.plan import NoticeRecord, Plan
from revoke.run import RunResult, action_record, run_before_seal, write_summary


def run_record(plan: Plan, mode: str, started_at: dt.datetime, systems: dict[str, Any],
               **extra: Any) -> dict[str, Any]:
    """The record that opens a run folder. `extra` adds what this kind of run has (approvals, schedule)."""
    return {"type": "run", "mode": mode, "plan_id": plan.plan_id, "plan_digest": plan.digest(),
            "plan_facts": plan.facts(), "runbook_sha256": plan.runbook_sha256, "tool": f"revoke {__version__}",
            "started_at": iso(started_at), "systems": systems, **extra}


def planned_systems(plan: Plan) -> dict[str, Any]:
    """The systems header of a run that connects to nothing itself (a dry run's record): as the plan saw them."""
    return {s.name: {"connector": s.connector, "operator": s.operator, "warnings": s.warnings, "error": s.error}
            for s in plan.systems}


def notice_records(notices: Iterable[NoticeRecord], mode: str, warning: str | None = None) -> list[dict[str, Any]]:
    """The plan's notices as records, and revoke's own warning about this run (a runbook changed since the plan)."""
    records = [{"type": "notice", "mode": mode, **n.model_dump()} for n in notices]
    if warning:
        records.append({"type": "notice", "mode": mode, "system": "revoke", "item": 0, "severity": "warning",
                        "message": warning, "person": None, "resource": None})
    return records


def close_run(plan: Plan, result: RunResult, evidence: EvidenceLog,
              before_seal: Callable[[Path], Iterable[Path]] | None, attestor: Attestor | None = None) -> None:
    """The `end` record, the summary, the reports (`before_seal`) and the seal (signed and timestamped when the run
    has an attestor, revoke/attest.py)."""
    result.add(evidence.append({"type": "end", "mode": result.mode, "finished_at": iso(now()),
                                "counts": result.counts()}))
    write_summary(result.run_dir, plan, result)
    run_before_seal(before_seal, result.run_dir, evidence, result.mode)
    evidence.seal(attestor)


def record_plan(plan: Plan, evidence_root: Path, *, fsync: bool = True,
                before_seal: Callable[[Path], Iterable[Path]] | None = None,
                signing_key: Path | None = None) -> RunResult:
    """The dry run's own evidence: one record per planned action, sealed (and signed, timestamped) like any run."""
    attestor = attestor_for(plan.runbook.timestamp_authority, signing_key)
    run_dir = evidence_root / plan.plan_id
    evidence = EvidenceLog(run_dir, plan.plan_id, plan.engagement, fsync=fsync)
    result = RunResult(run_id=plan.plan_id, run_dir=run_dir, mode="plan")
    try:
        plan.save(run_dir / "plan.json")
        opening = [run_record(plan, "plan", plan.created_at, planned_systems(plan))]
        result.extend(evidence.append_many(opening + notice_records(plan.notices, "plan")))
        operators = {s.name: s.operator.get("display") for s in plan.systems}
        # a dry run journals nothing to resume from: one fsync per thousand records, not one each (2,000 leavers:
        # 8,000 fsyncs, most of the plan's time), and never all the records in memory at once
        for start in range(0, len(plan.actions), 1000):
            planned = []
            for a in plan.actions[start:start + 1000]:
                kind = load(a.connector).kind(a.kind)
                outcome = {"change": Outcome.PLANNED, "noop": Outcome.ALREADY_DONE, "skip": Outcome.SKIPPED}.get(
                    a.status) or Outcome(a.outcome or Outcome.ATTENTION.value)
                planned.append(action_record(kind, operators.get(a.system), a, "plan", outcome, Verification.NONE,
                                             error=a.reason if a.status == "skip" else ""))
            result.extend(evidence.append_many(planned))
        close_run(plan, result, evidence, before_seal, attestor)
    finally:
        evidence.close()
    return result
