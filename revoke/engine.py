"""The engine: the one place for guardrails, retries, concurrency, verification, journal and evidence.

`apply_plan` re-reads every target first and refuses a stale plan before any change; then it carries the changes
out with per-system concurrency and bounded retries (`revoke.execute`), reads each one back and records one
evidence record per action in the run's journal (`revoke.journal`). Before each write it journals an `intent`
record (fsync'd, in the same hash chain), so a run killed at any point can be resumed: finished actions are not
repeated, and an action with an intent but no outcome is re-read and completed. `build_restore_plan`
(`revoke.resume`) turns a run's evidence into the plan that undoes it.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from revoke import approvals, guardrails
from revoke.actions import State, unverifiable_reason
from revoke.connector import RunContext
from revoke.errors import GuardrailRefused, StalePlan
from revoke.evidence import now
from revoke.execute import RunSets, System, batches_of, run_system, satisfied, verification_of
from revoke.exposure import residual
from revoke.journal import RunJournal
from revoke.plan import Action, Plan, fingerprint
from revoke.planner import build_plan, check_runbook, load_secrets, new_run_id, record_plan, setups_for
from revoke.progress import Progress
from revoke.resume import build_restore_plan, check_resumed_digest, prior_records, resume_plan, unfinished_runs
from revoke.run import RunResult
from revoke.runbook import Runbook
from revoke.runtime import Clock, Runtime
from revoke.secrets import Secrets

# the engine is the one entry point callers need: planning, resume and restore are re-exported from here
__all__ = ["ApplyOptions", "RunResult", "apply_plan", "build_plan", "build_restore_plan", "check_runbook",
           "load_secrets", "record_plan", "resume_plan", "setups_for", "unfinished_runs", "satisfied",
           "verification_of"]
_batches = batches_of  # the name tests of batching know


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


def check_guardrails(plan: Plan, options: ApplyOptions, mode: str = "apply", rb: Runbook | None = None) -> None:
    """The final day and the blast radius, from the runbook (`rb`, the trusted one) and the plan's actions
    themselves: never from a count the plan file states."""
    rb = rb or plan.runbook
    today = options.today or dt.date.today()
    if mode == "apply" and today < rb.final_day and not options.before_final_day:
        raise GuardrailRefused(f"today ({today}) is before the engagement's final_day ({rb.final_day}); "
                               "apply now only on purpose, with --before-final-day")
    limits = {name: spec.blast_radius for name, spec in rb.systems.items()}
    over = guardrails.blast_radius(((a.system, a.principal or a.resource) for a in plan.actions
                                    if a.status == "change"), limits)
    if over:
        raise GuardrailRefused("the plan exceeds the blast-radius limit, nothing was changed:\n  " +
                               "\n  ".join(over) + "\nraise systems.<name>.blast_radius in the runbook if intended")


@dataclass
class _Start:
    """What a run knows before it connects: where it writes, what an earlier part of it already did."""

    run_dir: Path
    prior: list[dict[str, Any]]
    finished: set[str]
    intended: set[str]
    todo: list[Action]


def apply_plan(plan: Plan, options: ApplyOptions, *, secrets: Secrets | None = None,
               progress: Progress | None = None, mode: str = "apply", resume: Path | None = None,
               header: dict[str, Any] | None = None) -> RunResult:
    """Carry a plan out (mode apply) or undo a run (mode restore, with a plan from `build_restore_plan`)."""
    progress = progress or Progress()
    rb, runbook_warning = guardrails.trusted_runbook(plan, options.runbook_changed_ok)
    check_guardrails(plan, options, mode, rb)
    approved = approvals.require(plan, resume=resume) if mode == "apply" else None  # the two-person rule
    start = _start(plan, options, mode, rb, resume)
    context = RunContext(run_id=start.run_dir.name, started_at=now(),
                         runtime=Runtime(options.clock or Clock(), max_attempts=options.max_attempts,
                                         max_wait_seconds=options.max_wait_seconds))
    setups = setups_for(rb)
    secrets = secrets or load_secrets(setups, runbook_dir=Path(plan.runbook_path).parent)
    systems = {sp.name: System(setups[sp.name], sp, rb, secrets, context, mode) for sp in plan.systems}
    try:
        # 1. connect everywhere, re-derive every guardrail from the live systems and re-read every target before
        # any change, so an untraceable, protected or stale action stops the whole run
        sets, stale = _check(systems, start, rb, options, progress)
        # 2. carry the plan out, journalling an intent before each write and one record per action after it
        with RunJournal(start.run_dir, context.run_id, rb.engagement, mode, fsync=options.fsync,
                        observe=options.observe) as journal:
            journal.result.stale = stale
            journal.seen(start.prior)
            if resume:
                journal.resumed(remaining=len(start.todo), interrupted=sorted(start.intended),
                                systems=_systems_header(systems), extra=approvals.header(approved))
            else:
                approvals.keep(approved, plan.source_file, start.run_dir)
                journal.header(plan, started_at=context.started_at, systems=_systems_header(systems),
                               extra={**approvals.header(approved), **(header or {})})
            if runbook_warning:
                journal.warning(runbook_warning)
            _carry_out(systems, start.todo, sets, journal, progress, mode)
            if mode == "apply":
                _record_exposure(journal, plan, rb)
            return journal.finish(plan, options.before_seal)
    finally:
        for s in systems.values():
            s.connector.close()


def _start(plan: Plan, options: ApplyOptions, mode: str, rb: Runbook, resume: Path | None) -> _Start:
    run_dir = resume or options.evidence_root / new_run_id(rb.engagement, mode)
    prior = prior_records(run_dir) if resume else []
    if resume is not None:
        check_resumed_digest(plan, prior, run_dir)
    finished = {r["action_id"] for r in prior if r.get("type") == "action" and r.get("mode") == mode}
    intended = {r["action_id"] for r in prior if r.get("type") == "intent"} - finished
    return _Start(run_dir, prior, finished, intended, [a for a in plan.actions if a.id not in finished])


def _check(systems: dict[str, System], start: _Start, rb: Runbook, options: ApplyOptions,
           progress: Progress) -> tuple[dict[str, RunSets], list[Action]]:
    """The check phase: what each system's actions find now, the guardrails re-derived, the stale refused."""
    by_system = _by_system(systems, start.todo)
    current, guards = _check_phase(systems, by_system, progress, rb)
    gone = _refuse_untrusted(start.todo, systems, guards)
    stale = [a for a in start.todo
             if a.id not in start.intended and _is_stale(systems[a.system], a, current[a.system])]
    if stale and not options.skip_stale:
        lines = [f"{a.system}: {systems[a.system].kind(a).describe(a.label or a.resource)}"
                 + (f" ({a.person})" if a.person else "") for a in stale]
        raise StalePlan(f"{len(stale)} action(s) no longer match what the plan saw, nothing was changed:\n  "
                        + "\n  ".join(lines)
                        + "\nre-run `revoke plan` and review it, or apply the rest with --skip-stale")
    stale_ids = {a.id for a in stale}
    return {name: RunSets(current[name], stale_ids, start.intended, gone) for name in systems}, stale


def _by_system(systems: dict[str, System], actions: list[Action]) -> dict[str, list[Action]]:
    out: dict[str, list[Action]] = {name: [] for name in systems}
    for a in actions:
        out[a.system].append(a)
    return out


def _carry_out(systems: dict[str, System], todo: list[Action], sets: dict[str, RunSets], journal: RunJournal,
               progress: Progress, mode: str) -> None:
    """Every system side by side, each with its own concurrency (`revoke.execute`)."""
    by_system = _by_system(systems, todo)
    progress.phase(mode, {name: len(acts) for name, acts in by_system.items()})
    with ThreadPoolExecutor(max_workers=max(1, len(systems)), thread_name_prefix="system") as pool:
        list(pool.map(lambda name: run_system(systems[name], by_system[name], sets[name], journal, progress),
                      list(systems)))
    progress.done()


def _record_exposure(journal: RunJournal, plan: Plan, rb: Runbook) -> None:
    """What stays valid after the run, per person and system (`revoke.exposure`), in one fsync."""
    rules = {sp.name: sp.exposure for sp in plan.systems}
    people = {name: [p.name for p, _ in rb.people_in(name)] for name in rb.systems}
    journal.write([{"type": "exposure", "mode": journal.mode, **entry}
                   for entry in residual(rules, journal.result.actions(), people, now())])


def _systems_header(systems: dict[str, System]) -> dict[str, Any]:
    return {n: {"connector": s.spec.connector,
                "operator": {"display": s.identity.display, **dict(s.identity.detail)} if s.identity else {},
                "warnings": s.plan.warnings, "error": s.error} for n, s in systems.items()}


def _check_phase(systems: dict[str, System], by_system: dict[str, list[Action]], progress: Progress,
                 rb: Runbook) -> tuple[dict[str, dict[str, State]], dict[str, guardrails.Guard]]:
    progress.phase("check", {name: 1 for name in systems})
    guards: dict[str, guardrails.Guard] = {}

    def connect_and_read(name: str) -> dict[str, State]:
        sys_ = systems[name]
        try:
            sys_.identity = sys_.connector.connect()
            todo = [a for a in by_system[name] if a.status in ("change", "noop")]
            states = sys_.read(todo) if todo else {}
            # after the read-back: a connector may answer the look-ups from what it has just read
            guards[name] = _guard(sys_, rb, todo)
            progress.step(name, f"read {len(states)} targets", "done")
            return states
        except Exception as err:  # noqa: BLE001 - a connector's failure (or bug) fails its system, not the run
            sys_.error = sys_.failure(err, "the check phase")
        progress.step(name, f"failed: {sys_.error}", "failed")
        return {}

    with ThreadPoolExecutor(max_workers=max(1, len(systems)), thread_name_prefix="check") as pool:
        current = dict(zip(systems, pool.map(connect_and_read, systems)))
    progress.done()
    return current, guards


def _guard(sys_: System, rb: Runbook, actions: list[Action]) -> guardrails.Guard:
    """What the runbook's protect entries, people and lists are in this system now, and who the connector is."""
    have_ids = {p.name for p, _ in rb.people_in(sys_.plan.name)}
    extra = [a.resource for a in actions if sys_.kind(a).resource_types]
    extra += [sys_.connector.subject(a) for a in actions if a.person and a.person not in have_ids]
    selected, aka = sys_.connector.selected_lists(), guardrails.known_as(rb, sys_.connector)
    names = guardrails.names_to_identify(rb, sys_.plan.name, sys_.identity, extra, selected, aka)
    entities = sys_.runtime.read(lambda: guardrails.identify(sys_.connector, names))
    return guardrails.build_guard(rb, sys_.plan.name, sys_.identity, entities, selected, aka)


def _refuse_untrusted(todo: list[Action], systems: dict[str, System],
                      guards: dict[str, guardrails.Guard]) -> dict[str, str]:
    """Every change must be one the runbook asks for, on an account nothing protects, of the type its kind acts
    on; otherwise the run stops before any change (a plan file edited by hand, a runbook or identity changed).
    Answers the changes for people whose account no longer exists, with why: they are recorded, never written
    (whatever such an action names now cannot be that person's account)."""
    problems: list[str] = []
    gone: dict[str, str] = {}
    for a in todo:
        sys_ = systems[a.system]
        if a.status != "change" or sys_.error or a.system not in guards:
            continue
        guard = guards[a.system]
        target = guardrails.target_of(a.system, sys_.kind(a), a, sys_.connector)
        protected = guard.protection(target.addressed, a.person)
        if not protected and a.person in guard.absent:
            gone[a.id] = (f"{a.person}'s account in {a.system} no longer exists (the runbook's id for them finds "
                          "nothing): nothing was written")
            continue
        why = (protected
               or guardrails.trace_problem(target, guards)
               or guardrails.type_problem(target, guard))
        if why:
            problems.append(f"{a.system}: {sys_.kind(a).describe(a.label or a.resource)}"
                            + (f" ({a.person})" if a.person else "") + f": {why}")
    if problems:
        raise GuardrailRefused(f"{len(problems)} action(s) of the plan are refused, nothing was changed:\n  "
                               + "\n  ".join(problems[:50])
                               + (f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else "")
                               + "\nre-run `revoke plan` from the runbook and review the new plan")
    return gone


def _is_stale(sys_: System, a: Action, current: dict[str, State]) -> bool:
    state = current.get(a.id)
    if state is None or a.status not in ("change", "noop") or unverifiable_reason(state) is not None:
        return False  # an answer that proves nothing cannot show the plan stale either; the record will say so
    done = satisfied(sys_.kind(a), a, state, sys_.mode)
    if a.status == "noop":
        return not done
    return not done and fingerprint(state) != a.fingerprint
