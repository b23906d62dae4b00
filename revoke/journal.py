"""The run journal's fixed parts, written the same way by every kind of run: plan, apply, resume, restore, a
refusal and a scheduled run.

A run folder opens with one `run` record (the plan it carries out, its digest, the tool, the systems and who the
operator is in each), then the plan's notices; it closes with an `end` record, the summary, the reports and the
seal. Records in between are the run's own (actions, intents, exposure). Keeping the header and the close in one
place keeps every run folder readable by the same verifier and report writer.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable, Iterable

from revoke import __version__
from revoke.attest import Attestor
from revoke.evidence import EvidenceLog, iso, now
from revoke.plan import NoticeRecord, Plan
from revoke.run import RunResult, run_before_seal, write_summary


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
