"""One run's journal: the hash-chained evidence of plan, apply, resume and restore, written in one shape.

Every run writes the same sequence through a `RunJournal`: a header (`run`, or `resume` when an interrupted run
is continued), the plan's notices, one record per action (and, for apply and restore, an `intent` before each
write), then `end`, the summary, the closure reports (`before_seal`) and the seal. The planner and the engine
differ only in what records they put in between; neither writes a header, an end or a seal of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from revoke import __version__
from revoke.evidence import EvidenceLog, iso, now
from revoke.plan import Plan
from revoke.run import RunResult, run_before_seal, write_summary

Observer = Callable[[list[dict[str, Any]]], None]


class RunJournal:
    """Writes one run's records and keeps its `RunResult`. Use as a context manager: the log is closed however
    the run ends; `finish` seals it."""

    def __init__(self, run_dir: Path, run_id: str, engagement: str, mode: str, *, fsync: bool = True,
                 observe: Observer | None = None):
        self.mode = mode
        self.run_dir = run_dir
        self.evidence = EvidenceLog(run_dir, run_id, engagement, fsync=fsync)
        self.result = RunResult(run_id=run_id, run_dir=run_dir, mode=mode)
        self._observe = observe

    def __enter__(self) -> "RunJournal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.evidence.close()

    # ---- records ---------------------------------------------------------------------------------------------
    def seen(self, records: list[dict[str, Any]]) -> None:
        """Records already in the log (a resumed run's earlier ones): counted, shown, not written again."""
        self.result.extend(records)
        if self._observe is not None:
            self._observe(records)

    def write(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Chain `records` with one fsync and keep them; answers them as written (with time and hashes)."""
        if not records:
            return []
        written = self.evidence.append_many(records)
        self.seen(written)
        return written

    def write_one(self, record: dict[str, Any]) -> dict[str, Any]:
        return self.write([record])[0]

    def intents(self, records: list[dict[str, Any]]) -> None:
        """Journal what is about to be written (fsync'd before the write): resume completes what has no outcome."""
        if records:
            self.evidence.append_many(records)

    # ---- the fixed parts of every run ----------------------------------------------------------------------
    def header(self, plan: Plan, *, started_at: Any, systems: Mapping[str, Any], extra: Mapping[str, Any] = {},
               notices: bool = True) -> None:
        """The run's first record, naming the plan (by digest) and who revoke acted as in each system, then the
        plan's notices. The plan is saved next to the log."""
        plan.save(self.run_dir / "plan.json")
        self.write_one({"type": "run", "mode": self.mode, "plan_id": plan.plan_id, "plan_digest": plan.digest(),
                        "plan_facts": plan.facts(), "runbook_sha256": plan.runbook_sha256,
                        "tool": f"revoke {__version__}", "started_at": iso(started_at), "systems": dict(systems),
                        **extra})
        if notices:
            self.write([{"type": "notice", "mode": self.mode, **n.model_dump()} for n in plan.notices])

    def resumed(self, *, remaining: int, interrupted: Sequence[str], systems: Mapping[str, Any],
                extra: Mapping[str, Any] = {}) -> None:
        """The header of a resumed run's continuation: the first header is already in the log."""
        self.write_one({"type": "resume", "mode": self.mode, "resumed_at": iso(now()), "remaining": remaining,
                        "interrupted_intents": sorted(interrupted), "systems": dict(systems), **extra})

    def warning(self, message: str) -> None:
        """A notice from revoke itself (not a connector), shown with the run and kept in its evidence."""
        self.write_one({"type": "notice", "mode": self.mode, "system": "revoke", "item": 0, "severity": "warning",
                        "message": message, "person": None, "resource": None})

    def finish(self, plan: Plan, before_seal: Callable[[Path], Iterable[Path]] | None = None) -> RunResult:
        """`end` with the counts, the summary, the closure reports, and the seal over all of it."""
        self.write_one({"type": "end", "mode": self.mode, "finished_at": iso(now()), "counts": self.result.counts()})
        write_summary(self.run_dir, plan, self.result)
        run_before_seal(before_seal, self.run_dir, self.evidence, self.mode)
        self.evidence.seal()
        return self.result


def systems_header(plan: Plan) -> dict[str, Any]:
    """What a plan says of each system, in the header's shape (the engine's comes from the live connections)."""
    return {s.name: {"connector": s.connector, "operator": s.operator, "warnings": s.warnings, "error": s.error}
            for s in plan.systems}
