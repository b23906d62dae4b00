"""A run's options and records: what apply and restore are asked to do, the shape of an action record, the result
of a run, and its short summary."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from revoke.actions import ActionKind, Outcome, State, Verification
from revoke.connector import Receipt
from revoke.evidence import EvidenceLog
from revoke.markdown import escape_cell
from revoke.plan import Action, Plan
from revoke.runtime import Clock


@dataclass
class ApplyOptions:
    evidence_root: Path
    before_final_day: bool = False
    skip_stale: bool = False
    today: dt.date | None = None
    fsync: bool = True
    max_attempts: int = 5          # per action, throttling and transient errors included
    max_wait_seconds: float = 300  # per system, total time spent waiting out throttling
    before_seal: Callable[[Path], Iterable[Path]] | None = None  # e.g. the closure report writer
    # shown each batch of records as it is written, e.g. the report writer rendering rows while servers answer
    observe: Callable[[list[dict[str, Any]]], None] | None = None
    clock: Clock | None = None     # how the run reads time and waits; tests pass a FakeClock's
    runbook_changed_ok: bool = False  # apply a saved plan although its runbook file changed since
    signing_key: Path | None = None   # signs the sealed run (default REVOKE_SIGNING_KEY); revoke/attest.py


def action_record(kind: type[ActionKind], operator: str | None, a: Action, mode: str, outcome: Outcome,
                  verification: Verification, *, observed: State | None = None, after: State | None = None,
                  receipt: Receipt | None = None, error: str = "", attempts: int = 0,
                  note: str | None = None) -> dict[str, Any]:
    """The evidence record of one action; plan, apply and restore all write this same shape."""
    return {"type": "action", "mode": mode, "action_id": a.id, "item": a.item, "system": a.system,
            "connector": a.connector, "kind": a.kind,
            "summary": kind.describe(a.label or a.resource, mode=mode if a.status == "change" else "apply"),
            "person": a.person, "resource": a.resource, "principal": a.principal, "label": a.label,
            "before": a.before, "observed": observed, "after": after,
            "request_ids": list(receipt.request_ids) if receipt else [],
            "receipt": dict(receipt.detail) if receipt else {},
            "operator": operator, "outcome": outcome.value, "verification": verification.value, "error": error,
            "note": a.note if note is None else note, "attempts": attempts,
            # what the plan decided: a skip it made (a protected account) is settled, a change skipped is not
            "planned": a.status}


def progress_text(record: dict[str, Any]) -> str:
    """An action record as a progress line: its summary and whose it is, so a log of thousands of "lock account"
    lines says which account each one was."""
    who = record.get("person") or record.get("principal") or ""
    summary = str(record.get("summary", ""))
    return f"{summary} ({who})" if who and who.casefold() not in summary.casefold() else summary


# What a run keeps of each settled action record (the record itself is in the evidence log): enough for the
# counts, the summary, residual exposure and `--output json`. Records that need a person are kept whole.
_KEPT = ("action_id", "system", "kind", "person", "resource", "outcome", "verification", "time", "request_ids", "item")
_SETTLED = {Outcome.DONE.value, Outcome.ALREADY_DONE.value, Outcome.IMMUTABLE.value, Outcome.PLANNED.value}


@dataclass
class RunResult:
    """What a run did, as it goes. It keeps the latest record of each action in compact form rather than every
    record: a run of 40,000 actions holds a few MB here, and its evidence log on disk has the full records."""

    run_id: str
    run_dir: Path
    mode: str
    stale: list[Action] = field(default_factory=list)
    other: list[dict[str, Any]] = field(default_factory=list)   # run, notice, exposure, end records
    _latest: dict[str, tuple[Any, ...] | dict[str, Any]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, record: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._keep(record)
        return record

    def extend(self, records: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            for record in records:
                self._keep(record)

    def _keep(self, record: dict[str, Any]) -> None:
        if record.get("type") != "action":
            if record.get("type") != "intent":
                self.other.append(record)
            return
        settled = record["outcome"] in _SETTLED and not record.get("error")
        # a later record of the same action (a resumed run) replaces the earlier one, and moves to the end
        self._latest.pop(record["action_id"], None)
        self._latest[record["action_id"]] = tuple(record.get(k) for k in _KEPT) if settled else record

    def actions(self) -> list[dict[str, Any]]:
        """The final record of each action (a resumed run may hold an earlier attempt's records too); settled
        ones carry the fields in `_KEPT`, the others are whole."""
        return [dict(zip(_KEPT, r), type="action") if isinstance(r, tuple) else r for r in self._latest.values()]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self._latest.values():
            outcome = r[5] if isinstance(r, tuple) else r["outcome"]
            out[outcome] = out.get(outcome, 0) + 1
        return out

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self._latest.values() if isinstance(r, dict) and r["outcome"] == Outcome.FAILED.value]

    @property
    def needs_attention(self) -> list[dict[str, Any]]:
        return ([r for r in self._latest.values() if isinstance(r, dict) and r["outcome"] == Outcome.ATTENTION.value]
                + [r for r in self.other if r.get("type") == "notice" and r.get("severity") == "error"])

    @property
    def skipped_stale(self) -> list[dict[str, Any]]:
        """Planned changes left undone because their target moved since the plan: the access is still there."""
        return [r for r in self._latest.values()
                if isinstance(r, dict) and r["outcome"] == Outcome.SKIPPED_STALE.value]

    @property
    def not_attempted(self) -> list[dict[str, Any]]:
        """Changes the run stopped before (cancelled): the access is still there."""
        return [r for r in self._latest.values()
                if isinstance(r, dict) and r["outcome"] == Outcome.NOT_ATTEMPTED.value]

    @property
    def exit_code(self) -> int:
        return 3 if self.failed or self.needs_attention or self.skipped_stale or self.not_attempted else 0


def write_summary(run_dir: Path, plan: Plan, result: RunResult) -> Path:
    counts = result.counts()
    shown = [o for o in Outcome if o != Outcome.PLANNED or result.mode == "plan"]
    lines = [f"# revoke {result.mode}: {plan.engagement}", "",
             f"- run: `{result.run_id}`", f"- plan: `{plan.plan_id}` (digest `{plan.digest()[:16]}`)",
             f"- final day: {plan.runbook.final_day}", ""]
    lines += ["| system | " + " | ".join(o.value for o in shown) + " |", "| --- |" + " --- |" * len(shown)]
    per_system: dict[str, dict[str, int]] = {sp.name: {o.value: 0 for o in Outcome} for sp in plan.systems}
    for r in result.actions():
        if r["system"] in per_system:
            per_system[r["system"]][r["outcome"]] += 1
    for sp in plan.systems:
        per = per_system[sp.name]
        lines.append(f"| {sp.name} | " + " | ".join(str(per[o.value]) for o in shown) + " |")
    lines.append("")
    problems = result.failed + result.not_attempted + result.skipped_stale + result.needs_attention
    if problems:
        lines += ["## Needs a person", ""]
        for r in problems:
            what = r.get("summary") or r.get("message")
            who = f" ({r['person']})" if r.get("person") else ""
            why = r.get("error") or r.get("note") or r.get("message", "")
            lines.append(f"- {escape_cell(str(r['system']))}: {escape_cell(str(what or ''))}{escape_cell(who)}: "
                         f"{escape_cell(str(why or ''))}")
        lines.append("")
    lines.append(f"Total: {sum(counts.values())} actions; " +
                 ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + ".")
    lines += ["", f"Verify with `revoke evidence verify {run_dir}`."]
    path = run_dir / "summary.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_before_seal(hook: Callable[[Path], Iterable[Path]] | None, run_dir: Path, evidence: EvidenceLog,
                    mode: str) -> None:
    """The closure reports are written before the seal so the seal covers them. If writing them fails, the run
    is still sealed (its changes happened and its records are complete), and the chain says what is missing."""
    if hook is None:
        return
    try:
        list(hook(run_dir))
    except Exception as err:  # noqa: BLE001 - a report is not worth an unsealed run
        logging.getLogger("revoke.run").exception("writing the closure reports failed")
        evidence.append({"type": "notice", "mode": mode, "system": "revoke", "item": 0, "severity": "warning",
                         "message": f"the closure reports were not written: {type(err).__name__}: {err}",
                         "person": None, "resource": None})
