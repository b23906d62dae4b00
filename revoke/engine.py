"""The engine: the one place for dry-run, guardrails, retries, concurrency, verification and evidence.

`build_plan` connects read-only, discovers, applies guardrails and returns a `Plan`. `apply_plan` re-reads every
target (refusing a stale plan), carries the changes out with bounded retries and per-system concurrency, reads
each one back and records one evidence record per action. Connectors only translate.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets as pysecrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from pydantic import ValidationError

from revoke import __version__
from revoke.actions import ACCESS, ActionKind, Outcome, State, Verification
from revoke.connector import Connector, Identity, ListTarget, Receipt, RunContext, Step, Subject, load
from revoke.errors import (ActionFailed, ConnectionFailed, ConnectorNotFound, GuardrailRefused, NotSupported,
                           Problem, RevokeError, RunbookError, StalePlan)
from revoke.evidence import EvidenceLog, iso, now
from revoke.plan import Action, NoticeRecord, Plan, SystemPlan, action_id, fingerprint
from revoke.runbook import LoadedRunbook, Runbook
from revoke.secrets import RevokeSettings, Secrets, secret_refs

log = logging.getLogger("revoke.engine")


# ---------------------------------------------------------------------------------------------------------------
# progress: the engine reports, the CLI displays


class Progress:
    """Receives what the engine is doing. The CLI supplies a live display; the default says nothing."""

    def phase(self, name: str, totals: dict[str, int]) -> None: ...

    def step(self, system: str, text: str, outcome: str | None = None) -> None: ...

    def done(self) -> None: ...


# ---------------------------------------------------------------------------------------------------------------
# runbook checks that need the installed connectors


@dataclass
class SystemSetup:
    name: str
    cls: type[Connector]
    settings: Any


def check_runbook(loaded: LoadedRunbook) -> dict[str, SystemSetup]:
    """Load each system's connector and validate its settings; every problem is located in the runbook."""
    rb, doc = loaded.runbook, loaded.doc
    problems: list[Problem] = []
    setups: dict[str, SystemSetup] = {}
    for name, spec in rb.systems.items():
        try:
            cls = load(spec.connector)
        except ConnectorNotFound as err:
            problems.append(doc.problem(("systems", name, "connector"), f"unknown connector '{spec.connector}'",
                                        f"installed connectors: {', '.join(sorted(err.available)) or 'none'}"))
            continue
        try:
            settings = cls.Settings.model_validate(spec.settings)
        except ValidationError as err:
            for p in doc.problems_from(err):
                p.field = f"systems.{name}.settings" + (f".{p.field}" if p.field else "")
                p.line = doc.line_of(("systems", name, "settings", *_loc_prefix(p.field, name)))
                problems.append(p)
            continue
        setups[name] = SystemSetup(name, cls, settings)
        for i, lst in enumerate(rb.lists):
            if lst.system == name and not any(k.item == "lists" for k in cls.kinds):
                problems.append(doc.problem(("lists", i, "system"), f"connector '{spec.connector}' closes no lists",
                                            "name a system whose connector closes lists, groups or channels"))
    if problems:
        raise RunbookError(problems)
    return setups


def _loc_prefix(dotted_field: str, system: str) -> tuple[str, ...]:
    rest = dotted_field.split(f"systems.{system}.settings", 1)[-1].strip(".")
    return tuple(part for part in re.split(r"[.\[\]]", rest) if part and not part.isdigit())


def setups_for(rb: Runbook) -> dict[str, SystemSetup]:
    """The same as `check_runbook`, for a runbook already checked (one embedded in a saved plan)."""
    out = {}
    for name, spec in rb.systems.items():
        cls = load(spec.connector)
        try:
            out[name] = SystemSetup(name, cls, cls.Settings.model_validate(spec.settings))
        except ValidationError as err:
            raise RunbookError([Problem("plan", None, f"runbook.systems.{name}.settings", str(err),
                                        "the installed connector no longer accepts these settings; re-plan")]) from None
    return out


def load_secrets(setups: dict[str, SystemSetup], settings: RevokeSettings | None = None) -> Secrets:
    names = [ref.secret for s in setups.values() for ref in secret_refs(s.settings)]
    return Secrets.load(names, settings)


def new_run_id(engagement: str, mode: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{engagement}-{stamp}-{mode}-{pysecrets.token_hex(3)}"


# ---------------------------------------------------------------------------------------------------------------
# plan


def _norm(value: str) -> str:
    # DNs and names compare case-insensitively and regardless of spaces after commas
    return re.sub(r"\s*([,=])\s*", r"\1", value.strip()).casefold()


@dataclass
class _Discovered:
    system: SystemPlan
    steps: list[Step]
    notices: list[NoticeRecord]
    identity: Identity | None


def build_plan(loaded: LoadedRunbook, *, secrets: Secrets | None = None, progress: Progress | None = None,
               plan_id: str | None = None) -> Plan:
    rb = loaded.runbook
    progress = progress or Progress()
    setups = check_runbook(loaded)
    secrets = secrets or load_secrets(setups)
    plan_id = plan_id or new_run_id(rb.engagement, "plan")
    context = RunContext(run_id=plan_id, started_at=now())
    progress.phase("discover", {name: 1 for name in setups})

    def discover(setup: SystemSetup) -> _Discovered:
        return _discover_system(rb, setup, secrets, context, progress)

    with ThreadPoolExecutor(max_workers=max(1, len(setups)), thread_name_prefix="discover") as pool:
        found = list(pool.map(discover, setups.values()))
    progress.done()

    actions: list[Action] = []
    notices: list[NoticeRecord] = []
    systems: list[SystemPlan] = []
    for d in found:
        setup = setups[d.system.name]
        protected = _protected(rb, d.system.name, d.identity)
        subject_ids = {p.name: ident for p, ident in rb.people_in(d.system.name)}
        system_actions = [_to_action(rb, setup, step, protected, subject_ids) for step in d.steps]
        targets = {a.principal or a.resource for a in system_actions if a.status == "change"}
        warnings = list(d.system.warnings)
        limit = rb.systems[d.system.name].blast_radius
        if len(targets) > limit:
            warnings.append(f"{len(targets)} targets exceed this system's blast-radius limit of {limit}: apply will "
                            f"refuse; raise systems.{d.system.name}.blast_radius in the runbook if this is intended")
        systems.append(d.system.model_copy(update={"targets": len(targets), "warnings": warnings}))
        actions.extend(system_actions)
        notices.extend(d.notices)
    return Plan(plan_id=plan_id, created_at=context.started_at, runbook_path=str(loaded.path),
                runbook_sha256=loaded.sha256, runbook=rb, systems=systems, actions=actions, notices=notices)


def _discover_system(rb: Runbook, setup: SystemSetup, secrets: Secrets, context: RunContext,
                     progress: Progress) -> _Discovered:
    spec = rb.systems[setup.name]
    subjects = [Subject(person=p.name, ident=ident, email=p.email) for p, ident in rb.people_in(setup.name)]
    lists = [ListTarget(ident=lst.id, close=lst.close, options=lst.options) for lst in rb.lists
             if lst.system == setup.name]
    connector = setup.cls(setup.name, setup.settings, secrets, context)
    version = getattr(setup.cls, "version", "0")
    base = SystemPlan(name=setup.name, connector=spec.connector, connector_version=version, operator={},
                      warnings=connector.warnings())
    try:
        progress.step(setup.name, "connecting")
        identity = connector.connect()
        progress.step(setup.name, f"discovering {len(subjects)} people, {len(lists)} lists")
        discovery = connector.discover(subjects, lists)
    except Exception as err:  # noqa: BLE001 - one system's failure is reported in the plan, not fatal to it
        if isinstance(err, RevokeError):
            message = secrets.redact(str(err))
        else:
            log.exception("%s: connector raised an unexpected error during discovery", setup.name)
            message = secrets.redact(f"unexpected error in connector {setup.cls.name}: {type(err).__name__}: {err}")
        progress.step(setup.name, f"failed: {message}", "failed")
        item = rb.checklist.accounts_item if rb.checklist else 3
        return _Discovered(base.model_copy(update={"error": message}), [],
                           [NoticeRecord(system=setup.name, message=message, item=item)], None)
    finally:
        connector.close()
    operator = {"display": identity.display, **dict(identity.detail)}
    notices = []
    for n in discovery.notices:
        item = _item_for(rb, setup.name, "lists" if n.resource and not n.person else ACCESS)
        notices.append(NoticeRecord(system=setup.name, message=n.message, person=n.person, resource=n.resource,
                                    severity=n.severity, item=item))
    progress.step(setup.name, f"found {len(discovery.steps)} targets", "done")
    return _Discovered(base.model_copy(update={"operator": operator}), discovery.steps, notices, identity)


def _item_for(rb: Runbook, system: str, item_class: str) -> int:
    spec = rb.checklist
    if item_class == ACCESS:
        if spec and system in spec.items:
            return spec.items[system]
        return spec.accounts_item if spec else 3
    return spec.lists_item if spec else 4


def _protected(rb: Runbook, system: str, identity: Identity | None) -> dict[str, str]:
    """Normalised name -> why it is protected."""
    out: dict[str, str] = {}
    for i, p in enumerate(rb.protect):
        if p.system in (None, system):
            out[_norm(p.id)] = f"protected by the runbook (protect[{i}]: {p.id})"
    if identity:
        for alias in (identity.display, *identity.aliases):
            if alias:
                out[_norm(alias)] = f"the connector's own identity ({identity.display}) is never acted on"
    return out


def _to_action(rb: Runbook, setup: SystemSetup, step: Step, protected: dict[str, str],
               subject_ids: dict[str, str]) -> Action:
    kind = setup.cls.kind(step.kind)
    names = [step.resource, step.principal or "", *step.aliases]
    if step.person and step.person in subject_ids:
        names.append(subject_ids[step.person])
    reason = next((protected[_norm(n)] for n in names if n and _norm(n) in protected), "")
    if reason:
        status, outcome = "skip", Outcome.SKIPPED.value
    elif step.outcome:
        status, outcome, reason = "final", step.outcome, step.note
    elif not step.needed:
        status, outcome = "noop", None
    else:
        status, outcome = "change", None
    return Action(id=action_id(setup.name, kind.name, step.resource, step.principal), system=setup.name,
                  connector=setup.cls.name, kind=kind.name, item=_item_for(rb, setup.name, kind.item),
                  resource=step.resource, principal=step.principal, person=step.person, params=dict(step.params),
                  before=step.before, fingerprint=fingerprint(step.before), status=status, outcome=outcome,
                  reason=reason, label=step.label, note=step.note)


# ---------------------------------------------------------------------------------------------------------------
# apply


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


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    mode: str
    records: list[dict[str, Any]] = field(default_factory=list)
    stale: list[Action] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.records:
            if r.get("type") == "action":
                out[r["outcome"]] = out.get(r["outcome"], 0) + 1
        return out

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("type") == "action" and r["outcome"] == Outcome.FAILED.value]

    @property
    def needs_attention(self) -> list[dict[str, Any]]:
        return [r for r in self.records if (r.get("type") == "action" and r["outcome"] == Outcome.ATTENTION.value)
                or (r.get("type") == "notice" and r.get("severity") == "error")]

    @property
    def exit_code(self) -> int:
        return 3 if self.failed or self.needs_attention else 0


def check_guardrails(plan: Plan, options: ApplyOptions) -> None:
    rb = plan.runbook
    today = options.today or dt.date.today()
    if today < rb.final_day and not options.before_final_day:
        raise GuardrailRefused(f"today ({today}) is before the engagement's final_day ({rb.final_day}); "
                               "apply now only on purpose, with --before-final-day")
    over = [s for s in plan.systems if s.targets > rb.systems[s.name].blast_radius]
    if over:
        lines = [f"{s.name}: {s.targets} targets, limit {rb.systems[s.name].blast_radius}" for s in over]
        raise GuardrailRefused("the plan exceeds the blast-radius limit, nothing was changed:\n  " +
                               "\n  ".join(lines) + "\nraise systems.<name>.blast_radius in the runbook if intended")


class _System:
    """One system during apply: its connector, its identity, its retry budget."""

    def __init__(self, setup: SystemSetup, sp: SystemPlan, rb: Runbook, secrets: Secrets, context: RunContext,
                 options: ApplyOptions):
        self.plan = sp
        self.spec = rb.systems[sp.name]
        self.cls = setup.cls
        self.connector = setup.cls(sp.name, setup.settings, secrets, context)
        self.identity: Identity | None = None
        self.error: str | None = None
        self.wait_left = options.max_wait_seconds
        self.lock = threading.Lock()

    def take_wait(self, seconds: float) -> float:
        with self.lock:
            granted = max(0.0, min(seconds, self.wait_left))
            self.wait_left -= granted
            return granted


def apply_plan(plan: Plan, options: ApplyOptions, *, secrets: Secrets | None = None,
               progress: Progress | None = None, mode: str = "apply") -> RunResult:
    progress = progress or Progress()
    check_guardrails(plan, options)
    rb = plan.runbook
    run_id = new_run_id(rb.engagement, mode)
    context = RunContext(run_id=run_id, started_at=now())
    setups = setups_for(rb)
    secrets = secrets or load_secrets(setups)
    systems = {sp.name: _System(setups[sp.name], sp, rb, secrets, context, options) for sp in plan.systems}
    by_system: dict[str, list[Action]] = {name: [] for name in systems}
    for a in plan.actions:
        by_system[a.system].append(a)

    # 1. connect everywhere and re-read every target before any change, so a stale plan stops the whole apply
    progress.phase("check", {name: len(acts) for name, acts in by_system.items()})

    def connect_and_read(name: str) -> dict[str, State]:
        sys_ = systems[name]
        try:
            sys_.identity = sys_.connector.connect()
            todo = [a for a in by_system[name] if a.status in ("change", "noop")]
            states = _read(sys_, todo) if todo else {}
            progress.step(name, f"read {len(states)} targets", "done")
            return states
        except RevokeError as err:
            sys_.error = secrets.redact(str(err))
            progress.step(name, f"failed: {sys_.error}", "failed")
            return {}

    with ThreadPoolExecutor(max_workers=max(1, len(systems)), thread_name_prefix="check") as pool:
        current = dict(zip(systems, pool.map(connect_and_read, systems)))
    progress.done()

    stale: list[Action] = []
    for name, acts in by_system.items():
        for a in acts:
            state = current[name].get(a.id)
            if state is None or a.status not in ("change", "noop"):
                continue
            kind = systems[name].cls.kind(a.kind)
            if a.status == "change" and not kind.is_done(state) and fingerprint(state) != a.fingerprint:
                stale.append(a)
            elif a.status == "noop" and not kind.is_done(state):
                stale.append(a)
    if stale and not options.skip_stale:
        for s in systems.values():
            s.connector.close()
        lines = [f"{a.system}: {kind_of(systems, a).describe(a.label or a.resource)}"
                 f"{' (' + a.person + ')' if a.person else ''}" for a in stale]
        raise StalePlan(f"{len(stale)} action(s) no longer match what the plan saw, nothing was changed:\n  " +
                        "\n  ".join(lines) + "\nre-run `revoke plan` and review it, or apply the rest with --skip-stale")
    stale_ids = {a.id for a in stale}

    # 2. carry the plan out, recording one evidence record per action
    run_dir = options.evidence_root / run_id
    evidence = EvidenceLog(run_dir, run_id, rb.engagement, fsync=options.fsync)
    result = RunResult(run_id=run_id, run_dir=run_dir, mode=mode, stale=stale)
    plan.save(run_dir / "plan.json")
    header = evidence.append({
        "type": "run", "mode": mode, "plan_id": plan.plan_id, "plan_digest": plan.digest(),
        "runbook_sha256": plan.runbook_sha256, "tool": f"revoke {__version__}", "started_at": iso(context.started_at),
        "systems": {n: {"connector": s.spec.connector, "operator": _operator(s), "warnings": s.plan.warnings,
                        "error": s.error} for n, s in systems.items()}})
    result.records.append(header)
    for n in plan.notices:
        result.records.append(evidence.append({"type": "notice", "mode": mode, **n.model_dump()}))
    progress.phase(mode, {name: len(acts) for name, acts in by_system.items()})

    def run_system(name: str) -> list[dict[str, Any]]:
        sys_ = systems[name]
        out: list[dict[str, Any]] = []
        changes: list[Action] = []
        for a in by_system[name]:
            if sys_.error:
                rec = _record(sys_, a, mode, Outcome.FAILED, Verification.NONE,
                              error=f"{name} unavailable: {sys_.error}")
            elif a.id in stale_ids:
                rec = _record(sys_, a, mode, Outcome.SKIPPED, Verification.NONE, observed=current[name].get(a.id),
                              error="stale: the target changed since the plan; skipped with --skip-stale")
            elif a.status == "change":
                state = current[name].get(a.id)
                if state is not None and sys_.cls.kind(a.kind).is_done(state):
                    rec = _record(sys_, a, mode, Outcome.ALREADY_DONE, sys_.cls.kind(a.kind).verification(state),
                                  after=state)
                else:
                    changes.append(a)
                    continue
            elif a.status == "noop":
                state = current[name].get(a.id, a.before)
                rec = _record(sys_, a, mode, Outcome.ALREADY_DONE, sys_.cls.kind(a.kind).verification(state),
                              after=state)
            else:
                rec = _record(sys_, a, mode, Outcome(a.outcome or Outcome.SKIPPED.value), Verification.NONE,
                              error=a.reason if a.status == "skip" else "")
            out.append(evidence.append(rec))
            progress.step(name, kind_of(systems, a).describe(a.label or a.resource), rec["outcome"])
        out.extend(_execute_changes(sys_, changes, mode, evidence, progress, options))
        sys_.connector.close()
        return out

    try:
        with ThreadPoolExecutor(max_workers=max(1, len(systems)), thread_name_prefix="system") as pool:
            for records in pool.map(run_system, list(systems)):
                result.records.extend(records)
        progress.done()
        end = evidence.append({"type": "end", "mode": mode, "finished_at": iso(now()), "counts": result.counts()})
        result.records.append(end)
        write_summary(run_dir, plan, result)
        if options.before_seal:
            list(options.before_seal(run_dir))
        evidence.seal()
    finally:
        evidence.close()
    return result


def kind_of(systems: dict[str, _System], a: Action) -> type[ActionKind]:
    return systems[a.system].cls.kind(a.kind)


def _operator(s: _System) -> dict[str, Any]:
    if s.identity is None:
        return {}
    return {"display": s.identity.display, **dict(s.identity.detail)}


def _read(sys_: _System, actions: Sequence[Action]) -> dict[str, State]:
    """Read targets back, waiting out throttling within the system's budget."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return sys_.connector.read_back(actions)
        except ActionFailed as err:
            if not err.retryable or attempt >= 5:
                raise
            wait = sys_.take_wait(err.retry_after or min(2 ** attempt, 30))
            if wait <= 0:
                raise
            time.sleep(wait)


def _record(sys_: _System, a: Action, mode: str, outcome: Outcome, verification: Verification,
            **kw: Any) -> dict[str, Any]:
    return action_record(sys_.cls.kind(a.kind), sys_.identity.display if sys_.identity else None, a, mode,
                         outcome, verification, **kw)


def action_record(kind: type[ActionKind], operator: str | None, a: Action, mode: str, outcome: Outcome,
                  verification: Verification, *, observed: State | None = None, after: State | None = None,
                  receipt: Receipt | None = None, error: str = "", attempts: int = 0) -> dict[str, Any]:
    """The evidence record of one action; every mode writes this same shape."""
    return {"type": "action", "mode": mode, "action_id": a.id, "item": a.item, "system": a.system,
            "connector": a.connector, "kind": a.kind, "summary": kind.describe(a.label or a.resource),
            "person": a.person, "resource": a.resource, "principal": a.principal, "label": a.label,
            "before": a.before, "observed": observed, "after": after,
            "request_ids": list(receipt.request_ids) if receipt else [],
            "receipt": dict(receipt.detail) if receipt else {},
            "operator": operator,
            "outcome": outcome.value, "verification": verification.value, "error": error, "note": a.note,
            "attempts": attempts}


def _execute_changes(sys_: _System, changes: list[Action], mode: str, evidence: EvidenceLog, progress: Progress,
                     options: ApplyOptions) -> list[dict[str, Any]]:
    """Apply in batches of the connector's batch size, `concurrency` batches at a time."""
    size = max(1, sys_.cls.batch_size)
    batches = [changes[i:i + size] for i in range(0, len(changes), size)]

    def run_batch(batch: list[Action]) -> list[dict[str, Any]]:
        records = []
        for a, rec in _apply_batch(sys_, batch, mode, options):
            records.append(evidence.append(rec))
            progress.step(a.system, rec["summary"], rec["outcome"])
        return records

    out: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=sys_.spec.concurrency, thread_name_prefix=f"apply-{sys_.plan.name}") as pool:
        for records in pool.map(run_batch, batches):
            out.extend(records)
    return out


def _apply_batch(sys_: _System, batch: list[Action], mode: str,
                 options: ApplyOptions) -> list[tuple[Action, dict[str, Any]]]:
    done: list[tuple[Action, dict[str, Any]]] = []
    pending = list(batch)
    attempts: dict[str, int] = {a.id: 0 for a in batch}
    receipts: dict[str, Receipt] = {}
    while pending:
        for a in pending:
            attempts[a.id] += 1
        answers = _call_apply(sys_, pending, mode)
        retry: list[Action] = []
        waits: list[float] = []
        finished: list[Action] = []
        for a in pending:
            answer = answers.get(a.id) or ActionFailed("the connector gave no answer for this action")
            if isinstance(answer, Receipt):
                receipts[a.id] = answer
                finished.append(a)
            elif isinstance(answer, NotSupported):
                done.append((a, _record(sys_, a, mode, Outcome.NOT_SUPPORTED, Verification.UNVERIFIABLE,
                                        error=str(answer), attempts=attempts[a.id])))
            elif isinstance(answer, ActionFailed) and answer.retryable and attempts[a.id] < options.max_attempts:
                retry.append(a)
                waits.append(answer.retry_after or min(2 ** attempts[a.id], 30))
            else:
                finished.append(a)
                receipts[a.id] = Receipt(request_ids=tuple(getattr(answer, "request_ids", []) or []),
                                         detail={"error": str(answer)})
        # read back whatever was written or may have been written: a throttled write may have happened anyway
        to_read = finished + retry
        states = _safe_read(sys_, to_read)
        still: list[Action] = []
        for a in retry:
            state = states.get(a.id)
            if state is not None and sys_.cls.kind(a.kind).is_done(state):
                finished.append(a)  # applied although answered with a throttle: verified by read-back
                receipts.setdefault(a.id, Receipt(detail={"note": "answered as throttled; read back as done"}))
            else:
                still.append(a)
        for a in finished:
            kind = sys_.cls.kind(a.kind)
            receipt = receipts.get(a.id, Receipt())
            state = states.get(a.id)
            error = receipt.detail.get("error", "") if receipt.detail else ""
            if state is None:
                outcome, verification = (Outcome.FAILED, Verification.FAILED)
                error = error or "could not read the target back after the change"
            elif kind.is_done(state):
                outcome, verification, error = Outcome.DONE, kind.verification(state), ""
            else:
                outcome, verification = Outcome.FAILED, Verification.FAILED
                error = error or "read back after the change does not show it done"
            done.append((a, _record(sys_, a, mode, outcome, verification, after=state, receipt=receipt,
                                    error=error, attempts=attempts[a.id])))
        if still:
            wait = sys_.take_wait(max(waits) if waits else 1.0)
            if wait <= 0:
                for a in still:
                    done.append((a, _record(sys_, a, mode, Outcome.FAILED, Verification.FAILED,
                                            after=states.get(a.id), error="throttled: the system's retry budget "
                                            "is spent; resume the run later", attempts=attempts[a.id])))
                still = []
            else:
                log.info("%s: throttled, waiting %.1fs before retrying %d action(s)", sys_.plan.name, wait, len(still))
                time.sleep(wait)
        pending = still
    return done


def _call_apply(sys_: _System, actions: list[Action], mode: str) -> dict[str, Any]:
    try:
        if mode == "restore":
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
    except Exception as err:  # a connector bug must fail its actions, not the run
        log.exception("%s: connector raised an unexpected error", sys_.plan.name)
        failure = ActionFailed(f"unexpected error in connector {sys_.cls.name}: {type(err).__name__}: {err}")
        return {a.id: failure for a in actions}


def _safe_read(sys_: _System, actions: list[Action]) -> dict[str, State]:
    if not actions:
        return {}
    try:
        return _read(sys_, actions)
    except RevokeError as err:
        log.warning("%s: read-back failed: %s", sys_.plan.name, err)
        return {}
    except Exception:
        log.exception("%s: connector raised an unexpected error on read-back", sys_.plan.name)
        return {}


def record_plan(plan: Plan, evidence_root: Path, *, fsync: bool = True,
                before_seal: Callable[[Path], Iterable[Path]] | None = None) -> RunResult:
    """The dry run's own evidence: one record per planned action, sealed like any run."""
    run_dir = evidence_root / plan.plan_id
    evidence = EvidenceLog(run_dir, plan.plan_id, plan.engagement, fsync=fsync)
    result = RunResult(run_id=plan.plan_id, run_dir=run_dir, mode="plan")
    try:
        plan.save(run_dir / "plan.json")
        result.records.append(evidence.append({
            "type": "run", "mode": "plan", "plan_id": plan.plan_id, "plan_digest": plan.digest(),
            "runbook_sha256": plan.runbook_sha256, "tool": f"revoke {__version__}",
            "started_at": iso(plan.created_at),
            "systems": {s.name: {"connector": s.connector, "operator": s.operator, "warnings": s.warnings,
                                 "error": s.error} for s in plan.systems}}))
        for n in plan.notices:
            result.records.append(evidence.append({"type": "notice", "mode": "plan", **n.model_dump()}))
        operators = {s.name: s.operator.get("display") for s in plan.systems}
        for a in plan.actions:
            kind = load(a.connector).kind(a.kind)
            outcome = {"change": Outcome.PLANNED, "noop": Outcome.ALREADY_DONE, "skip": Outcome.SKIPPED}.get(
                a.status) or Outcome(a.outcome or Outcome.ATTENTION.value)
            result.records.append(evidence.append(action_record(
                kind, operators.get(a.system), a, "plan", outcome, Verification.NONE,
                error=a.reason if a.status == "skip" else "")))
        result.records.append(evidence.append({"type": "end", "mode": "plan", "finished_at": iso(now()),
                                               "counts": result.counts()}))
        write_summary(run_dir, plan, result)
        if before_seal:
            list(before_seal(run_dir))
        evidence.seal()
    finally:
        evidence.close()
    return result


# ---------------------------------------------------------------------------------------------------------------
# summary


def write_summary(run_dir: Path, plan: Plan, result: RunResult) -> Path:
    counts = result.counts()
    lines = [f"# revoke {result.mode}: {plan.engagement}", "",
             f"- run: `{result.run_id}`", f"- plan: `{plan.plan_id}` (digest `{plan.digest()[:16]}`)",
             f"- final day: {plan.runbook.final_day}", ""]
    lines += ["| system | " + " | ".join(o.value for o in Outcome if o != Outcome.PLANNED) + " |",
              "| --- |" + " --- |" * (len(Outcome) - 1)]
    for sp in plan.systems:
        per = {o.value: 0 for o in Outcome}
        for r in result.records:
            if r.get("type") == "action" and r["system"] == sp.name:
                per[r["outcome"]] += 1
        lines.append(f"| {sp.name} | " + " | ".join(str(per[o.value]) for o in Outcome if o != Outcome.PLANNED)
                     + " |")
    lines.append("")
    problems = result.failed + result.needs_attention
    if problems:
        lines += ["## Needs a person", ""]
        for r in problems:
            what = r.get("summary") or r.get("message")
            who = f" ({r['person']})" if r.get("person") else ""
            lines.append(f"- {r['system']}: {what}{who}: {r.get('error') or r.get('note') or r.get('message', '')}")
        lines.append("")
    lines.append(f"Total: {sum(counts.values())} actions; " +
                 ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + ".")
    lines.append("")
    lines.append("Verify with `revoke evidence verify " + str(run_dir) + "`.")
    path = run_dir / "summary.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
