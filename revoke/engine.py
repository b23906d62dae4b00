"""The engine: the one place for guardrails, retries, concurrency, verification, journal and evidence.

`apply_plan` re-reads every target first and refuses a stale plan before any change; then it carries the changes
out with per-system concurrency and bounded retries, reads each one back and records one evidence record per
action. Before each write it journals an `intent` record (fsync'd, in the same hash chain), so a run killed at any
point can be resumed: finished actions are not repeated, and an action with an intent but no outcome is re-read
and completed. `build_restore_plan` turns a run's evidence into the plan that undoes it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from revoke import __version__, approvals, attest, guardrails, refusal
from revoke.actions import ActionKind, Outcome, State, Verification, unverifiable_reason
from revoke.connector import Identity, Receipt, RunContext, load
from revoke.errors import ActionFailed, GuardrailRefused, NotSupported, Problem, RevokeError, RunbookError, StalePlan
from revoke.evidence import LOG, MANIFEST, EvidenceLog, iso, now, verify_run
from revoke.exposure import residual
from revoke.plan import Action, NoticeRecord, Plan, SystemPlan, fingerprint, load_plan
from revoke.planner import SystemSetup, build_plan, check_runbook, load_secrets, new_run_id, record_plan, setups_for
from revoke.progress import Progress
from revoke.run import RunResult, action_record, progress_text, run_before_seal, write_summary
from revoke.runbook import Runbook
from revoke.runtime import Clock, Runtime
from revoke.secrets import Secrets

log = logging.getLogger("revoke.engine")

# the engine is the one entry point callers need: planning is re-exported from here
__all__ = ["ApplyOptions", "RunResult", "apply_plan", "build_plan", "build_restore_plan", "check_runbook",
           "load_secrets", "record_plan", "resume_plan", "setups_for", "unfinished_runs"]


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


def satisfied(kind: type[ActionKind], a: Action, state: State, mode: str) -> bool:
    """Whether the target is where this mode wants it: revoked for apply, back to `before` for restore."""
    if mode == "restore":
        return all(state.get(k) == a.before.get(k) for k in kind.desired)
    return kind.is_done(state)


def verification_of(kind: type[ActionKind], a: Action, state: State, mode: str) -> Verification:
    if mode == "restore":
        return Verification.VERIFIED if satisfied(kind, a, state, mode) else Verification.FAILED
    return kind.verification(state)


class _System:
    """One system during a run: its connector, its identity, its retry budget."""

    def __init__(self, setup: SystemSetup, sp: SystemPlan, rb: Runbook, secrets: Secrets, context: RunContext,
                 options: ApplyOptions, mode: str):
        self.plan = sp
        self.spec = rb.systems[sp.name]
        self.cls = setup.cls
        self.runtime = context.runtime.for_system()
        self.connector = setup.cls(sp.name, setup.settings, secrets, replace(context, runtime=self.runtime))
        self.mode = mode
        self.options = options
        self.identity: Identity | None = None
        self.error: str | None = None

    def kind(self, a: Action) -> type[ActionKind]:
        return self.cls.kind(a.kind)

    def operator(self) -> str | None:
        return self.identity.display if self.identity else None

    def record(self, a: Action, outcome: Outcome, verification: Verification, **kw: Any) -> dict[str, Any]:
        return action_record(self.kind(a), self.operator(), a, self.mode, outcome, verification, **kw)

    def take_wait(self, seconds: float) -> float:
        return self.runtime.take_wait(seconds)

    def wait(self, seconds: float) -> None:
        self.runtime.clock.sleep(seconds)


def apply_plan(plan: Plan, options: ApplyOptions, *, secrets: Secrets | None = None,
               progress: Progress | None = None, mode: str = "apply", resume: Path | None = None,
               header: dict[str, Any] | None = None) -> RunResult:
    """Carry a plan out (mode apply) or undo a run (mode restore, with a plan from `build_restore_plan`). A run
    refused before any change leaves a sealed evidence folder saying why (`revoke.refusal`)."""
    try:
        return _apply_plan(plan, options, secrets=secrets, progress=progress, mode=mode, resume=resume,
                           header=header)
    except (GuardrailRefused, StalePlan) as err:
        if resume is not None:
            raise
        run_dir = refusal.record_refusal(plan, options.evidence_root / new_run_id(plan.engagement, mode), mode, err)
        raise refusal.with_folder(err, run_dir) from None


def _apply_plan(plan: Plan, options: ApplyOptions, *, secrets: Secrets | None, progress: Progress | None,
                mode: str, resume: Path | None, header: dict[str, Any] | None) -> RunResult:
    progress = progress or Progress()
    rb, runbook_warning = guardrails.trusted_runbook(plan, options.runbook_changed_ok)
    check_guardrails(plan, options, mode, rb)
    attestor = attest.attestor(rb.timestamp_authority, options.signing_key)  # a missing key fails before any change
    approved = approvals.require(plan, resume=resume) if mode == "apply" else None  # the two-person rule
    run_dir = resume or options.evidence_root / new_run_id(rb.engagement, mode)
    run_id = run_dir.name
    prior = _prior_records(run_dir) if resume else []
    if resume is not None:
        _check_resumed_digest(plan, prior, run_dir)
    finished = {r["action_id"] for r in prior if r.get("type") == "action" and r.get("mode") == mode}
    intended = {r["action_id"] for r in prior if r.get("type") == "intent"} - finished
    todo = [_deferred(a, rb) if mode == "apply" else a for a in plan.actions if a.id not in finished]

    systems, context, secrets = open_systems(plan, rb, options, mode, run_id, secrets)
    by_system: dict[str, list[Action]] = {name: [] for name in systems}
    for a in todo:
        by_system[a.system].append(a)

    # 1. connect everywhere, re-derive every guardrail from the live systems and re-read every target before any
    # change, so an untraceable, protected or stale action stops the whole run
    later = _after_containers(todo, systems) if mode == "restore" else set()
    current, gone, stale = check_systems(systems, todo, intended | later, rb, secrets, progress,
                                         options.skip_stale or rb.on_stale == "skip", mode)
    stale_ids = {a.id for a in stale}

    # 2. carry the plan out, journalling an intent before each write and one record per action after it
    evidence = EvidenceLog(run_dir, run_id, rb.engagement, fsync=options.fsync)
    result = RunResult(run_id=run_id, run_dir=run_dir, mode=mode, stale=stale)

    def sink(records: list[dict[str, Any]]) -> None:
        result.extend(records)
        if options.observe is not None:
            options.observe(records)

    sink(prior)
    del prior
    try:
        if resume:
            result.add(evidence.append({"type": "resume", "mode": mode, "resumed_at": iso(now()),
                                                   "remaining": len(todo), "interrupted_intents": sorted(intended),
                                                   "systems": _systems_header(systems),
                                                   **approvals.header(approved)}))
        else:
            plan.save(run_dir / "plan.json")
            approvals.keep(approved, plan.source_file, run_dir)
            result.add(evidence.append({
                "type": "run", "mode": mode, "plan_id": plan.plan_id, "plan_digest": plan.digest(),
                "plan_facts": plan.facts(),
                "runbook_sha256": plan.runbook_sha256, "tool": f"revoke {__version__}",
                "started_at": iso(context.started_at), "systems": _systems_header(systems),
                **approvals.header(approved), **(header or {})}))
            for n in plan.notices:
                result.add(evidence.append({"type": "notice", "mode": mode, **n.model_dump()}))
        if runbook_warning:
            result.add(evidence.append({"type": "notice", "mode": mode, "system": "revoke", "item": 0,
                                        "severity": "warning", "message": runbook_warning, "person": None,
                                        "resource": None}))
        progress.phase(mode, {name: len(acts) for name, acts in by_system.items()})

        def run_system(name: str) -> None:
            first = [a for a in by_system[name] if a.id not in later]
            _run_system(systems[name], first, current[name], stale_ids, intended, evidence, progress, sink, gone)

        def run_later(name: str) -> None:  # restore: after the lists and groups they belong to are back
            acts = [a for a in by_system[name] if a.id in later]
            states, _ = _safe_read(systems[name], acts)
            stale_ids.update(a.id for a in acts if a.id not in intended and _is_stale(systems[name], a, states))
            _run_system(systems[name], acts, states, stale_ids, intended, evidence, progress, sink, gone)

        with ThreadPoolExecutor(max_workers=max(1, len(systems)), thread_name_prefix="system") as pool:
            list(pool.map(run_system, list(systems)))
            if later:
                list(pool.map(run_later, [n for n in systems if any(a.id in later for a in by_system[n])]))
        progress.done()
        finish_run(plan, rb, result, evidence, options.before_seal, attestor)
    finally:
        evidence.close()
        for s in systems.values():
            s.connector.close()
    return result


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
    mode = result.mode
    if mode == "apply":
        rules = {sp.name: sp.exposure for sp in plan.systems}
        people = {name: [p.name for p, _ in rb.people_in(name)] for name in rb.systems}
        # one record per person and system, chained with one fsync (2,000 leavers: 2,000 fsyncs before)
        result.extend(evidence.append_many([{"type": "exposure", "mode": mode, **entry}
                                            for entry in residual(rules, result.actions(), people, now())]))
    result.add(evidence.append({"type": "end", "mode": mode, "finished_at": iso(now()), "counts": result.counts()}))
    write_summary(result.run_dir, plan, result)
    run_before_seal(before_seal, result.run_dir, evidence, mode)
    evidence.seal(attestor)


def open_systems(plan: Plan, rb: Runbook, options: ApplyOptions, mode: str, run_id: str,
                 secrets: Secrets | None = None, only: Iterable[str] | None = None
                 ) -> tuple[dict[str, _System], RunContext, Secrets]:
    """Each system of the plan (or `only` those) with its connector made, not yet connected."""
    runtime = Runtime(options.clock or Clock(), max_attempts=options.max_attempts,
                      max_wait_seconds=options.max_wait_seconds)
    context = RunContext(run_id=run_id, started_at=now(), runtime=runtime)
    names = set(only) if only is not None else set(rb.systems)
    setups = {name: setup for name, setup in setups_for(rb).items() if name in names}
    secrets = secrets or load_secrets(setups, runbook_dir=Path(plan.runbook_path).parent)
    systems = {sp.name: _System(setups[sp.name], sp, rb, secrets, context, options, mode) for sp in plan.systems
               if sp.name in names}
    return systems, context, secrets


def check_systems(systems: dict[str, _System], todo: list[Action], exempt: set[str], rb: Runbook,
                  secrets: Secrets, progress: Progress, skip_stale: bool, mode: str = "apply"
                  ) -> tuple[dict[str, dict[str, State]], dict[str, str], list[Action]]:
    """The check phase: connect, re-derive the guardrails live, re-read every target. Answers the states read,
    the changes whose person is gone, and the stale actions (raises StalePlan for them unless `skip_stale`).
    `exempt` actions are not judged stale now: written before an interruption, or restored later."""
    by_system: dict[str, list[Action]] = {name: [] for name in systems}
    for a in todo:
        by_system[a.system].append(a)
    current, guards = _check_phase(systems, by_system, progress, secrets, rb)
    gone = _refuse_untrusted(todo, systems, guards)
    stale = [a for a in todo if a.id not in exempt and _is_stale(systems[a.system], a, current[a.system])]
    if stale and not skip_stale:
        for s in systems.values():
            s.connector.close()
        lines = [f"{a.system}: {systems[a.system].kind(a).describe(a.label or a.resource, mode=mode)}"
                 + (f" ({a.person})" if a.person else "") for a in stale]
        fix = ("check them by hand, or restore the rest with --skip-stale" if mode == "restore" else
               "re-run `revoke plan` and review it, or apply the rest with --skip-stale")
        raise StalePlan(f"{len(stale)} action(s) no longer match what the plan saw, nothing was changed:\n  " +
                        "\n  ".join(lines) + f"\n{fix}")
    return current, gone, stale


def _systems_header(systems: dict[str, _System]) -> dict[str, Any]:
    return {n: {"connector": s.spec.connector,
                "operator": {"display": s.identity.display, **dict(s.identity.detail)} if s.identity else {},
                "warnings": s.plan.warnings, "error": s.error} for n, s in systems.items()}


def _check_phase(systems: dict[str, _System], by_system: dict[str, list[Action]], progress: Progress,
                 secrets: Secrets, rb: Runbook) -> tuple[dict[str, dict[str, State]], dict[str, guardrails.Guard]]:
    progress.phase("check", {name: 1 for name in systems})
    guards: dict[str, guardrails.Guard] = {}

    def connect_and_read(name: str) -> dict[str, State]:
        sys_ = systems[name]
        try:
            sys_.identity = sys_.connector.connect()
            todo = [a for a in by_system[name] if a.status in ("change", "noop")]
            states = _read(sys_, todo) if todo else {}
            # after the read-back: a connector may answer the look-ups from what it has just read
            guards[name] = _guard(sys_, rb, todo)
            progress.step(name, f"read {len(states)} targets", "done")
            return states
        except RevokeError as err:
            sys_.error = secrets.redact(str(err))
        except Exception as err:  # noqa: BLE001 - a connector bug fails its system, not the run
            log.exception("%s: connector raised an unexpected error", name)
            sys_.error = secrets.redact(f"unexpected error in connector {sys_.cls.name}: {type(err).__name__}: {err}")
        progress.step(name, f"failed: {sys_.error}", "failed")
        return {}

    with ThreadPoolExecutor(max_workers=max(1, len(systems)), thread_name_prefix="check") as pool:
        current = dict(zip(systems, pool.map(connect_and_read, systems)))
    progress.done()
    return current, guards


def _guard(sys_: _System, rb: Runbook, actions: list[Action]) -> guardrails.Guard:
    """What the runbook's protect entries, people and lists are in this system now, and who the connector is."""
    have_ids = {p.name for p, _ in rb.people_in(sys_.plan.name)}
    extra = [a.resource for a in actions if sys_.kind(a).resource_types]
    extra += [sys_.connector.subject(a) for a in actions if a.person and a.person not in have_ids]
    selected, aka = sys_.connector.selected_lists(), guardrails.known_as(rb, sys_.connector)
    names = guardrails.names_to_identify(rb, sys_.plan.name, sys_.identity, extra, selected, aka)
    entities = sys_.runtime.read(lambda: guardrails.identify(sys_.connector, names))
    return guardrails.build_guard(rb, sys_.plan.name, sys_.identity, entities, selected, aka)


def _refuse_untrusted(todo: list[Action], systems: dict[str, _System],
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
        for s in systems.values():
            s.connector.close()
        raise GuardrailRefused(f"{len(problems)} action(s) of the plan are refused, nothing was changed:\n  "
                               + "\n  ".join(problems[:50])
                               + (f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else "")
                               + "\nre-run `revoke plan` from the runbook and review the new plan")
    return gone


def _after_containers(todo: list[Action], systems: dict[str, _System]) -> set[str]:
    """Restore order across systems: the actions on something (a membership of a group) whose container another
    system of this restore brings back (the group, deleted by m365-groups while entra removed the memberships).
    They are read, checked and carried out after every system has restored its lists and groups."""
    containers: dict[str, set[str]] = {}
    for a in todo:
        if a.status == "change" and systems[a.system].kind(a).resource_types:
            containers.setdefault(a.resource.casefold(), set()).add(a.system)
    # within one system the connector's own order stands (okta's emptied group gives its members back itself)
    return {a.id for a in todo if a.status == "change" and not systems[a.system].kind(a).resource_types
            and containers.get(a.resource.casefold(), set()) - {a.system}}


def _check_resumed_digest(plan: Plan, prior: list[dict[str, Any]], run_dir: Path) -> None:
    first = next((r for r in prior if r.get("type") == "run"), None)
    if first is None or first.get("plan_digest") != plan.digest():
        raise GuardrailRefused(f"{run_dir / 'plan.json'} is not the plan this run started with (its digest differs "
                               "from the one in the run's first evidence record): nothing was changed")


def _is_stale(sys_: _System, a: Action, current: dict[str, State]) -> bool:
    state = current.get(a.id)
    if state is None or a.status not in ("change", "noop") or unverifiable_reason(state) is not None:
        return False  # an answer that proves nothing cannot show the plan stale either; the record will say so
    done = satisfied(sys_.kind(a), a, state, sys_.mode)
    if a.status == "noop":
        return not done
    return not done and fingerprint(state) != a.fingerprint


def _run_system(sys_: _System, actions: list[Action], current: dict[str, State], stale_ids: set[str],
                intended: set[str], evidence: EvidenceLog, progress: Progress,
                sink: Callable[[list[dict[str, Any]]], None], gone: dict[str, str]) -> None:
    """Record what needs no write, then carry out the changes; every record goes to `sink` as it is written."""
    changes: list[Action] = []
    for rec in settle(sys_, actions, current, stale_ids, intended, gone, changes):
        sink([evidence.append(rec)])
        progress.step(rec["system"], progress_text(rec), rec["outcome"])
    _execute_changes(sys_, changes, evidence, progress, sink)


def settle(sys_: _System, actions: list[Action], current: dict[str, State], stale_ids: set[str],
           intended: set[str], gone: dict[str, str], changes: list[Action]) -> Iterator[dict[str, Any]]:
    """The record of each action that needs no write now (done already, stale, gone, skipped, its system down);
    the actions that do are appended to `changes`."""
    for a in actions:
        kind = sys_.kind(a)
        state = current.get(a.id)
        if sys_.error:
            rec = sys_.record(a, Outcome.FAILED, Verification.NONE, error=f"{a.system} unavailable: {sys_.error}")
        elif a.id in gone:
            rec = sys_.record(a, Outcome.FAILED, Verification.NONE, observed=state, error=gone[a.id])
        elif a.id in stale_ids:
            rec = sys_.record(a, Outcome.SKIPPED_STALE, Verification.NONE, observed=state,
                              error="stale: the target changed since the plan; skipped with --skip-stale")
        elif a.status in ("change", "noop") and state is not None and satisfied(kind, a, state, sys_.mode):
            if a.id in intended:  # written before an interruption; this run's own work, now verified
                rec = sys_.record(a, Outcome.DONE, verification_of(kind, a, state, sys_.mode), after=state,
                                  note="completed before the run was interrupted; verified on resume")
            else:
                rec = sys_.record(a, Outcome.ALREADY_DONE, verification_of(kind, a, state, sys_.mode), after=state)
        elif a.status == "change":
            changes.append(a)
            continue
        elif a.status == "noop" and unverifiable_reason(state) is not None:
            rec = sys_.record(a, Outcome.ATTENTION, Verification.UNVERIFIABLE, after=state,
                              error=f"the plan saw this done, but the read-back proves nothing: "
                              f"{unverifiable_reason(state)}; check it by hand")
        elif a.status == "noop":
            rec = sys_.record(a, Outcome.FAILED, Verification.FAILED, after=state,
                              error="could not read the target back" if state is None else
                              "no longer in the state the plan saw")
        else:
            rec = sys_.record(a, Outcome(a.outcome or Outcome.SKIPPED.value), Verification.NONE,
                              error=a.reason if a.status == "skip" else "")
        yield rec


def _read(sys_: _System, actions: Sequence[Action]) -> dict[str, State]:
    """Read targets back, waiting out throttling within the system's budget."""
    return sys_.runtime.read(lambda: sys_.connector.read_back(actions))


def _safe_read(sys_: _System, actions: list[Action]) -> tuple[dict[str, State], str]:
    """The states read back, and why there are none (the reason goes into each action's record)."""
    if not actions:
        return {}, ""
    try:
        return _read(sys_, actions), ""
    except RevokeError as err:
        log.warning("%s: read-back failed: %s", sys_.plan.name, err)
        return {}, str(err)
    except Exception as err:  # noqa: BLE001
        log.exception("%s: connector raised an unexpected error on read-back", sys_.plan.name)
        return {}, f"unexpected error in connector {sys_.cls.name}: {type(err).__name__}"


def _execute_changes(sys_: _System, changes: list[Action], evidence: EvidenceLog, progress: Progress,
                     sink: Callable[[list[dict[str, Any]]], None]) -> None:
    """Apply in batches of the connector's batch size, `concurrency` batches at a time; kinds that end the
    account (`runs_last`) once all the others are done."""
    last = [a for a in changes if sys_.kind(a).runs_last]
    if last and len(last) < len(changes):
        _execute_changes(sys_, [a for a in changes if not sys_.kind(a).runs_last], evidence, progress, sink)
        changes = last
    batches = _batches(changes, max(1, sys_.cls.batch_size), sys_.cls.rate_scope)

    def run_batch(batch: list[Action]) -> None:
        # the batch's outcomes are known together: chain them with one fsync, not one per record
        records = evidence.append_many(_apply_batch(sys_, batch, evidence))
        sink(records)
        for rec in records:
            progress.step(sys_.plan.name, progress_text(rec), rec["outcome"])

    with ThreadPoolExecutor(max_workers=sys_.spec.concurrency, thread_name_prefix=f"apply-{sys_.plan.name}") as pool:
        list(pool.map(run_batch, batches))


def _batches(changes: list[Action], size: int, scope: str | None) -> list[list[Action]]:
    """The changes cut into batches of `size`, in plan order. With a `scope` (the connector's `rate_scope`), a
    batch holds one scope's actions only and the batches take turns across scopes, so the workers that run them
    side by side spread over what the provider limits separately (AWS: accounts) instead of all working in the
    first one."""
    if scope is None:
        return [changes[i:i + size] for i in range(0, len(changes), size)]
    scopes: dict[Any, list[Action]] = {}
    for a in changes:
        scopes.setdefault(a.params.get(scope), []).append(a)
    per_scope = [[group[i:i + size] for i in range(0, len(group), size)] for group in scopes.values()]
    return [batch for turn in itertools.zip_longest(*per_scope) for batch in turn if batch is not None]


def _apply_batch(sys_: _System, batch: list[Action], evidence: EvidenceLog) -> list[dict[str, Any]]:
    done: list[dict[str, Any]] = []
    pending = list(batch)
    attempts = {a.id: 0 for a in batch}
    receipts: dict[str, Receipt] = {}
    evidence.append_many(intents(sys_, batch))
    while pending:
        finished_records, still, waits, states = attempt_batch(sys_, pending, attempts, receipts)
        done += finished_records
        if still:
            wait = sys_.take_wait(max(waits) if waits else 1.0)
            if wait <= 0:
                done += budget_spent(sys_, still, attempts, states)
                still = []
            else:
                log.info("%s: throttled, waiting %.1fs to retry %d action(s)", sys_.plan.name, wait, len(still))
                sys_.wait(wait)
        pending = still
    return done


def intents(sys_: _System, batch: list[Action]) -> list[dict[str, Any]]:
    """The journal's record, before a write, that the write may happen (a resume re-reads these targets)."""
    return [{"type": "intent", "mode": sys_.mode, "action_id": a.id, "system": a.system, "kind": a.kind,
             "resource": a.resource, "principal": a.principal} for a in batch]


def budget_spent(sys_: _System, still: list[Action], attempts: dict[str, int],
                 states: dict[str, State]) -> list[dict[str, Any]]:
    return [sys_.record(a, Outcome.FAILED, Verification.FAILED, after=states.get(a.id), error="throttled: the "
                        "system's retry budget is spent; apply again later to finish", attempts=attempts[a.id])
            for a in still]


def attempt_batch(sys_: _System, pending: list[Action], attempts: dict[str, int], receipts: dict[str, Receipt]
                  ) -> tuple[list[dict[str, Any]], list[Action], list[float], dict[str, State]]:
    """One attempt at a batch: apply, read back, poll. Answers the records of the actions settled, the actions to
    retry (throttled or transient, and not read back as done), how long each asked to wait, and the states read."""
    done: list[dict[str, Any]] = []
    for a in pending:
        attempts[a.id] += 1
    answers = _call_apply(sys_, pending)
    retry: list[Action] = []
    waits: list[float] = []
    finished: list[Action] = []
    for a in pending:
        answer = answers.get(a.id) or ActionFailed("the connector gave no answer for this action")
        if isinstance(answer, Receipt):
            receipts[a.id] = answer
            finished.append(a)
        elif isinstance(answer, NotSupported):
            done.append(sys_.record(a, Outcome.NOT_SUPPORTED, Verification.UNVERIFIABLE, error=str(answer),
                                    attempts=attempts[a.id]))
        elif isinstance(answer, ActionFailed) and answer.retryable and attempts[a.id] < sys_.options.max_attempts:
            retry.append(a)
            waits.append(answer.retry_after or min(2 ** attempts[a.id], 30))
        else:
            finished.append(a)
            receipts[a.id] = Receipt(request_ids=tuple(getattr(answer, "request_ids", []) or []),
                                     detail={"error": str(answer)})
    # read back what was written, or may have been: a throttled write can have happened anyway
    states, read_error = _safe_read(sys_, finished + retry)
    still: list[Action] = []
    for a in retry:
        state = states.get(a.id)
        if state is not None and satisfied(sys_.kind(a), a, state, sys_.mode):
            finished.append(a)
            receipts.setdefault(a.id, Receipt(detail={"note": "answered as throttled; read back as done"}))
        else:
            still.append(a)
    _poll(sys_, [a for a in finished if receipts.get(a.id, Receipt()).poll_after is not None], receipts, states)
    for a in finished:
        done.append(_verified_record(sys_, a, receipts.get(a.id, Receipt()), states.get(a.id), attempts[a.id],
                                     read_error))
    return done, still, waits, states


def _poll(sys_: _System, actions: list[Action], receipts: dict[str, Receipt], states: dict[str, State]) -> None:
    """Asynchronous operations the provider accepted (`Receipt.poll_after`): read them back after the interval it
    asked for, again and again, until each is done or the system's wait budget is spent. `states` is updated."""
    waiting = [a for a in actions if not _done_now(sys_, a, states.get(a.id))]
    while waiting:
        wait = sys_.take_wait(max(receipts[a.id].poll_after or 1.0 for a in waiting))
        if wait <= 0:
            return
        sys_.wait(wait)
        fresh, _ = _safe_read(sys_, waiting)
        states.update(fresh)
        waiting = [a for a in waiting if not _done_now(sys_, a, states.get(a.id))]


def _done_now(sys_: _System, a: Action, state: State | None) -> bool:
    return state is not None and satisfied(sys_.kind(a), a, state, sys_.mode)


def _verified_record(sys_: _System, a: Action, receipt: Receipt, state: State | None,
                     attempts: int, read_error: str = "") -> dict[str, Any]:
    kind = sys_.kind(a)
    error = str(receipt.detail.get("error", "")) if receipt.detail else ""
    if state is None:
        return sys_.record(a, Outcome.FAILED, Verification.FAILED, receipt=receipt, attempts=attempts,
                           error=error or "could not read the target back after the change" +
                           (f": {read_error}" if read_error else ""))
    why = unverifiable_reason(state)
    if why is not None and not error:
        if not kind.verifiable:  # the service has nothing to read back after this change: said, not a failure
            return sys_.record(a, Outcome.DONE, Verification.UNVERIFIABLE, after=state, receipt=receipt,
                               attempts=attempts, note=why)
        return sys_.record(a, Outcome.ATTENTION, Verification.UNVERIFIABLE, after=state, receipt=receipt,
                           attempts=attempts, error=f"written, but the read-back proves nothing: {why}; check it "
                           "by hand")
    if satisfied(kind, a, state, sys_.mode):
        return sys_.record(a, Outcome.DONE, verification_of(kind, a, state, sys_.mode), after=state,
                           receipt=receipt, attempts=attempts)
    if receipt.poll_after is not None and not error:
        return sys_.record(a, Outcome.FAILED, Verification.FAILED, after=state, receipt=receipt, attempts=attempts,
                           error="the provider accepted the change but it had not finished when the system's wait "
                           "budget was spent; apply again later to verify it")
    return sys_.record(a, Outcome.FAILED, Verification.FAILED, after=state, receipt=receipt, attempts=attempts,
                       error=error or "read back after the change does not show it done")


def _call_apply(sys_: _System, actions: list[Action]) -> dict[str, Any]:
    try:
        if sys_.mode == "restore":
            out: dict[str, Any] = {}
            for a in actions:
                try:
                    out[a.id] = sys_.connector.restore(a)
                except RevokeError as err:
                    out[a.id] = err
            return out
        return sys_.connector.apply_many(actions)
    except RevokeError as err:
        return {a.id: err for a in actions}
    except Exception as err:  # noqa: BLE001 - a connector bug fails its actions, not the run
        log.exception("%s: connector raised an unexpected error", sys_.plan.name)
        failure = ActionFailed(f"unexpected error in connector {sys_.cls.name}: {type(err).__name__}: {err}")
        return {a.id: failure for a in actions}


# ---------------------------------------------------------------------------------------------------------------
# resume and restore


def _prior_records(run_dir: Path) -> list[dict[str, Any]]:
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
        last = {r["action_id"]: r["outcome"] for r in _prior_records(run_dir) if r.get("type") == "action"}
        failed = sum(1 for o in last.values() if o == Outcome.FAILED.value)
        if failed:  # a sealed run is never reopened; a new run of the same plan finishes it
            raise RevokeError(f"{run_dir.name} finished with {failed} failed action(s) and was sealed: apply the "
                              "same runbook or plan again to finish them (what was done is not repeated)")
        raise RevokeError(f"{run_dir.name} finished and was sealed; there is nothing to resume")
    plan = load_plan(run_dir / "plan.json")
    records = _prior_records(run_dir)
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
    _check_resumed_digest(original, _prior_records(run_dir), run_dir)
    by_id = {a.id: a for a in original.actions}
    last: dict[str, dict[str, Any]] = {}
    for r in _prior_records(run_dir):
        if r.get("type") == "action" and r.get("mode") == "apply":
            last[r["action_id"]] = r
    actions: list[Action] = []
    left_out: list[Action] = []  # done, but outside --system/--person
    for action_id_, rec in last.items():
        a = by_id.get(action_id_)
        if a is None or rec["outcome"] != Outcome.DONE.value:
            continue
        if (system and a.system != system) or (person and (a.person or "").casefold() != person.casefold()):
            left_out.append(a)
            continue
        kind = load(a.connector).kind(a.kind)
        if not kind.restorable:
            why = f"cannot be restored: {kind.restore_note or 'the connector has no way back'}"
            # said in the plan and recorded as needing a person, who redoes it (enrols the MFA device again)
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
                runbook=original.runbook, systems=systems, actions=actions,
                notices=_containers_left_out(actions, left_out))


def _containers_left_out(actions: list[Action], left_out: list[Action]) -> list[NoticeRecord]:
    """A restore of part of a run (--system, --person) that leaves out the list or group its memberships are in
    (closed by another system of the run) says so: those memberships cannot come back before it does."""
    kept = {a.resource.casefold(): a.system for a in actions if a.status == "change"}
    out = []
    for c in left_out:
        if load(c.connector).kind(c.kind).resource_types and c.resource.casefold() in kept:
            out.append(NoticeRecord(system=kept[c.resource.casefold()], item=c.item, resource=c.resource,
                                    severity="warning",
                                    message=f"{c.label or c.resource} was closed by {c.system} in this run too and "
                                    f"is left out of this restore: restore it first (--system {c.system}), or "
                                    "the memberships in it cannot come back"))
    return out
