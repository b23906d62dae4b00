"""The engine: the one place for guardrails, retries, concurrency, verification, journal and evidence.

`apply_plan` re-reads every target first and refuses a stale plan before any change (revoke/check.py); then it
carries the changes out with per-system concurrency and bounded retries, reads each one back and records one
evidence record per action (revoke/execute.py). Before each write it journals an `intent` record (fsync'd, in the
same hash chain), so a run killed at any point can be resumed (revoke/resume.py): finished actions are not
repeated, and an action with an intent but no outcome is re-read and completed. `build_restore_plan`
(revoke/restore.py) turns a run's evidence into the plan that undoes it. Every run folder opens and closes the same
way (revoke/journal.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from revoke import approvals, attest, guardrails, journal, refusal
from revoke.actions import State
from revoke.check import after_containers, check_guardrails, check_systems, is_stale, systems_header
from revoke.connector import RunContext
from revoke.errors import GuardrailRefused, StalePlan
from revoke.evidence import EvidenceLog, iso, now
from revoke.execute import (
    SystemRun,
    attempt_batch,
    budget_spent,
    intents,
    run_system,
    safe_read,
    satisfied,
    settle,
    verification_of,
)
from revoke.exposure import residual
from revoke.plan import Action, Plan
from revoke.planner import build_plan, check_runbook, load_secrets, new_run_id, record_plan, setups_for
from revoke.progress import Progress
from revoke.restore import build_restore_plan
from revoke.resume import check_resumed_digest, prior_records, resume_plan, unfinished_runs
from revoke.run import ApplyOptions, RunResult
from revoke.runbook import Runbook
from revoke.runtime import Clock, Runtime
from revoke.secrets import Secrets

# the engine is the one entry point callers need: planning, resuming and restoring are re-exported from here, and
# the seams a scheduled run drives one activity at a time (revoke/scheduler/activities.py)
__all__ = ["ApplyOptions", "RunResult", "SystemRun", "apply_plan", "attempt_batch", "budget_spent", "build_plan",
           "build_restore_plan", "check_guardrails", "check_runbook", "check_systems", "finish_run", "intents",
           "load_secrets", "open_systems", "record_plan", "resume_plan", "safe_read", "satisfied", "settle",
           "setups_for", "systems_header", "unfinished_runs", "verification_of"]


def apply_plan(plan: Plan, options: ApplyOptions, *, secrets: Secrets | None = None,
               progress: Progress | None = None, mode: str = "apply", resume: Path | None = None,
               header: dict[str, Any] | None = None) -> RunResult:
    """Carry a plan out (mode apply) or undo a run (mode restore, with a plan from `build_restore_plan`). A run
    refused before any change leaves a sealed evidence folder saying why (`revoke.refusal`)."""
    try:
        return _apply_plan(plan, options, secrets=secrets, progress=progress or Progress(), mode=mode,
                           resume=resume, header=header)
    except (GuardrailRefused, StalePlan) as err:
        if resume is not None:
            raise
        run_dir = refusal.record_refusal(plan, options.evidence_root / new_run_id(plan.engagement, mode), mode, err)
        raise refusal.with_folder(err, run_dir) from None


@dataclass
class _Run:
    """What a run's systems share while they carry the plan out."""
    systems: dict[str, SystemRun]
    by_system: dict[str, list[Action]]
    current: dict[str, dict[str, State]]
    stale_ids: set[str]
    intended: set[str]       # written (an intent journalled) before an interruption, no outcome yet
    later: set[str]          # restore: after the lists and groups they belong to are back
    gone: dict[str, str]
    evidence: EvidenceLog
    progress: Progress
    sink: Callable[[list[dict[str, Any]]], None]

    def first(self, name: str) -> None:
        acts = [a for a in self.by_system[name] if a.id not in self.later]
        run_system(self.systems[name], acts, self.current[name], self.stale_ids, self.intended, self.evidence,
                   self.progress, self.sink, self.gone)

    def afterwards(self, name: str) -> None:
        sys_ = self.systems[name]
        acts = [a for a in self.by_system[name] if a.id in self.later]
        states, _ = safe_read(sys_, acts)
        self.stale_ids.update(a.id for a in acts if a.id not in self.intended and is_stale(sys_, a, states))
        run_system(sys_, acts, states, self.stale_ids, self.intended, self.evidence, self.progress, self.sink,
                   self.gone)


def _apply_plan(plan: Plan, options: ApplyOptions, *, secrets: Secrets | None, progress: Progress,
                mode: str, resume: Path | None, header: dict[str, Any] | None) -> RunResult:
    rb, runbook_warning = guardrails.trusted_runbook(plan, options.runbook_changed_ok)
    check_guardrails(plan, options, mode, rb)
    attestor = attest.attestor(rb.timestamp_authority, options.signing_key)  # a missing key fails before any change
    approved = approvals.require(plan, resume=resume) if mode == "apply" else None  # the two-person rule
    run_dir = resume or options.evidence_root / new_run_id(rb.engagement, mode)
    prior = prior_records(run_dir) if resume else []
    if resume is not None:
        check_resumed_digest(plan, prior, run_dir)
    finished = {r["action_id"] for r in prior if r.get("type") == "action" and r.get("mode") == mode}
    intended = {r["action_id"] for r in prior if r.get("type") == "intent"} - finished
    todo = [_deferred(a, rb) if mode == "apply" else a for a in plan.actions if a.id not in finished]

    systems, context, secrets = open_systems(plan, rb, options, mode, run_dir.name, secrets)
    # 1. connect everywhere, re-derive every guardrail from the live systems and re-read every target before any
    # change, so an untraceable, protected or stale action stops the whole run
    later = after_containers(todo, systems) if mode == "restore" else set()
    current, gone, stale = check_systems(systems, todo, intended | later, rb, secrets, progress,
                                         options.skip_stale or rb.on_stale == "skip", mode)

    # 2. carry the plan out, journalling an intent before each write and one record per action after it
    evidence = EvidenceLog(run_dir, run_dir.name, rb.engagement, fsync=options.fsync)
    result = RunResult(run_id=run_dir.name, run_dir=run_dir, mode=mode, stale=stale)

    def sink(records: list[dict[str, Any]]) -> None:
        result.extend(records)
        if options.observe is not None:
            options.observe(records)

    sink(prior)
    del prior
    by_system: dict[str, list[Action]] = {name: [] for name in systems}
    for a in todo:
        by_system[a.system].append(a)
    run = _Run(systems, by_system, current, {a.id for a in stale}, intended, later, gone, evidence, progress, sink)
    try:
        opening = _opening(plan, run, context, mode, resume, approved, header, runbook_warning, len(todo))
        result.extend(evidence.append_many(opening))
        progress.phase(mode, {name: len(acts) for name, acts in by_system.items()})
        with ThreadPoolExecutor(max_workers=max(1, len(systems)), thread_name_prefix="system") as pool:
            list(pool.map(run.first, list(systems)))
            if later:
                list(pool.map(run.afterwards, [n for n in systems if any(a.id in later for a in by_system[n])]))
        progress.done()
        finish_run(plan, rb, result, evidence, options.before_seal, attestor)
    finally:
        evidence.close()
        for s in systems.values():
            s.connector.close()
    return result


def _opening(plan: Plan, run: _Run, context: RunContext, mode: str, resume: Path | None,
             approved: Any, header: dict[str, Any] | None, runbook_warning: str | None,
             remaining: int) -> list[dict[str, Any]]:
    """The records a run (or its resumption) opens with; a new run also keeps its plan and approvals beside them."""
    if resume:
        opening = [{"type": "resume", "mode": mode, "resumed_at": iso(now()), "remaining": remaining,
                    "interrupted_intents": sorted(run.intended), "systems": systems_header(run.systems),
                    **approvals.header(approved)}]
        return opening + journal.notice_records([], mode, runbook_warning)  # the notices are in the run already
    plan.save(run.evidence.run_dir / "plan.json")
    approvals.keep(approved, plan.source_file, run.evidence.run_dir)
    opening = [journal.run_record(plan, mode, context.started_at, systems_header(run.systems),
                                  **approvals.header(approved), **(header or {}))]
    return opening + journal.notice_records(plan.notices, mode, runbook_warning)


def _deferred(a: Action, rb: Runbook) -> Action:
    """A change whose kind a later stage of the runbook claims (`stages:`, e.g. delete-account after 30 days) is
    not this apply's: a scheduled run carries it out when that stage fires."""
    stage = next((i for i, s in enumerate(rb.stages, start=2) if a.kind in s.kinds), None)
    if stage is None or a.status != "change":
        return a
    why = (f"runs in stage {stage} (after {rb.stages[stage - 2].after}) of a scheduled run (`revoke schedule`), "
           "not in this apply")
    return a.model_copy(update={"status": "skip", "reason": why})


def finish_run(plan: Plan, rb: Runbook, result: RunResult, evidence: EvidenceLog,
               before_seal: Callable[[Path], Iterable[Path]] | None, attestor: attest.Attestor | None = None) -> None:
    """A run's closing records (residual exposure, end), its summary and reports, and the seal (signed and
    timestamped when the run has an attestor)."""
    if result.mode == "apply":
        rules = {sp.name: sp.exposure for sp in plan.systems}
        people = {name: [p.name for p, _ in rb.people_in(name)] for name in rb.systems}
        # one record per person and system, chained with one fsync (2,000 leavers: 2,000 fsyncs before)
        result.extend(evidence.append_many([{"type": "exposure", "mode": result.mode, **entry}
                                            for entry in residual(rules, result.actions(), people, now())]))
    journal.close_run(plan, result, evidence, before_seal, attestor)


def open_systems(plan: Plan, rb: Runbook, options: ApplyOptions, mode: str, run_id: str,
                 secrets: Secrets | None = None, only: Iterable[str] | None = None
                 ) -> tuple[dict[str, SystemRun], RunContext, Secrets]:
    """Each system of the plan (or `only` those) with its connector made, not yet connected."""
    runtime = Runtime(options.clock or Clock(), max_attempts=options.max_attempts,
                      max_wait_seconds=options.max_wait_seconds)
    context = RunContext(run_id=run_id, started_at=now(), runtime=runtime)
    names = set(only) if only is not None else set(rb.systems)
    setups = {name: setup for name, setup in setups_for(rb).items() if name in names}
    secrets = secrets or load_secrets(setups, runbook_dir=Path(plan.runbook_path).parent)
    systems = {sp.name: SystemRun(setups[sp.name], sp, rb, secrets, context, options, mode) for sp in plan.systems
               if sp.name in names}
    return systems, context, secrets
