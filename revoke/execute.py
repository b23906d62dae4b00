"""Carrying out one system's changes: the engine's batches, attempts, read-backs, polls and records.

A `SystemRun` is one system during a run (its connector, identity and retry budget). `settle` records what needs no
write; `execute_changes` applies the rest in batches of the connector's size, `concurrency` at a time, and
`attempt_batch` is one attempt at a batch: apply, read back (a throttled write can have happened anyway), poll what
the provider is still doing. Waits and retries go through the system's `Runtime` (revoke/runtime.py), so a fake
clock drives them in tests; connectors make one attempt per call.
"""

from __future__ import annotations

import itertools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from revoke.actions import ActionKind, Outcome, State, Verification, unverifiable_reason
from revoke.connector import Identity, Receipt, RunContext
from revoke.errors import ActionFailed, NotSupported, RevokeError
from revoke.evidence import EvidenceLog
from revoke.plan import Action, SystemPlan
from revoke.progress import Progress
from revoke.redaction import failure_message
from revoke.run import action_record, progress_text
from revoke.runbook import Runbook
from revoke.secrets import Secrets

if TYPE_CHECKING:
    from revoke.planner import SystemSetup
    from revoke.run import ApplyOptions

log = logging.getLogger("revoke.engine")


def satisfied(kind: type[ActionKind], a: Action, state: State, mode: str) -> bool:
    """Whether the target is where this mode wants it: revoked for apply, back to `before` for restore."""
    if mode == "restore":
        return all(state.get(k) == a.before.get(k) for k in kind.desired)
    return kind.is_done(state)


def verification_of(kind: type[ActionKind], a: Action, state: State, mode: str) -> Verification:
    if mode == "restore":
        return Verification.VERIFIED if satisfied(kind, a, state, mode) else Verification.FAILED
    return kind.verification(state)


class SystemRun:
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


def run_system(sys_: SystemRun, actions: list[Action], current: dict[str, State], stale_ids: set[str],
                intended: set[str], evidence: EvidenceLog, progress: Progress,
                sink: Callable[[list[dict[str, Any]]], None], gone: dict[str, str]) -> None:
    """Record what needs no write, then carry out the changes; every record goes to `sink` as it is written."""
    changes: list[Action] = []
    # known together before any write: chained with one fsync, not one each (benchmark 3's 1,200 not-supported
    # actions took 0.5 s to 7 s of fsyncs on a busy disk before its first write)
    settled = evidence.append_many(list(settle(sys_, actions, current, stale_ids, intended, gone, changes)))
    sink(settled)
    for rec in settled:
        progress.step(rec["system"], progress_text(rec), rec["outcome"])
    execute_changes(sys_, changes, evidence, progress, sink)


def settle(sys_: SystemRun, actions: list[Action], current: dict[str, State], stale_ids: set[str],
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


def read_targets(sys_: SystemRun, actions: Sequence[Action]) -> dict[str, State]:
    """Read targets back, waiting out throttling within the system's budget."""
    return sys_.runtime.read(lambda: sys_.connector.read_back(actions))


def safe_read(sys_: SystemRun, actions: list[Action]) -> tuple[dict[str, State], str]:
    """The states read back, and why there are none (the reason goes into each action's record)."""
    if not actions:
        return {}, ""
    try:
        return read_targets(sys_, actions), ""
    except Exception as err:  # noqa: BLE001 - a connector bug fails the read-back, not the run
        if isinstance(err, RevokeError):
            log.warning("%s: read-back failed: %s", sys_.plan.name, err)
        return {}, failure_message(err, sys_.plan.name, sys_.cls.name, "read-back")


def execute_changes(sys_: SystemRun, changes: list[Action], evidence: EvidenceLog, progress: Progress,
                     sink: Callable[[list[dict[str, Any]]], None]) -> None:
    """Apply in batches of the connector's batch size, `concurrency` batches at a time; kinds that end the
    account (`runs_last`) once all the others are done."""
    last = [a for a in changes if sys_.kind(a).runs_last]
    if last and len(last) < len(changes):
        execute_changes(sys_, [a for a in changes if not sys_.kind(a).runs_last], evidence, progress, sink)
        changes = last
    cut = batches(changes, max(1, sys_.cls.batch_size), sys_.cls.rate_scope)

    def run_batch(batch: list[Action]) -> None:
        # the batch's outcomes are known together: chain them with one fsync, not one per record
        records = evidence.append_many(apply_batch(sys_, batch, evidence))
        sink(records)
        for rec in records:
            progress.step(sys_.plan.name, progress_text(rec), rec["outcome"])

    with ThreadPoolExecutor(max_workers=sys_.spec.concurrency, thread_name_prefix=f"apply-{sys_.plan.name}") as pool:
        list(pool.map(run_batch, cut))


def batches(changes: list[Action], size: int, scope: str | None) -> list[list[Action]]:
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


def apply_batch(sys_: SystemRun, batch: list[Action], evidence: EvidenceLog) -> list[dict[str, Any]]:
    done: list[dict[str, Any]] = []
    pending = list(batch)
    attempts = {a.id: 0 for a in batch}
    receipts: dict[str, Receipt] = {}
    evidence.append_many(intents(sys_, batch))
    while pending:
        finished_records, still, waits, states = attempt_batch(sys_, pending, attempts, receipts)
        done += finished_records
        if still:
            wanted = max(waits) if waits else 1.0
            wait = sys_.take_wait(wanted)
            if wait <= 0 < wanted:
                done += budget_spent(sys_, still, attempts, states)
                still = []
            elif wait > 0:
                log.info("%s: throttled, waiting %.1fs to retry %d action(s)", sys_.plan.name, wait, len(still))
                sys_.wait(wait)
        pending = still
    return done


def intents(sys_: SystemRun, batch: list[Action]) -> list[dict[str, Any]]:
    """The journal's record, before a write, that the write may happen (a resume re-reads these targets)."""
    return [{"type": "intent", "mode": sys_.mode, "action_id": a.id, "system": a.system, "kind": a.kind,
             "resource": a.resource, "principal": a.principal} for a in batch]


def budget_spent(sys_: SystemRun, still: list[Action], attempts: dict[str, int],
                 states: dict[str, State], why: str | None = None) -> list[dict[str, Any]]:
    """Records of throttled actions that are not retried (read back as not done): the budget is spent, or `why`."""
    return [sys_.record(a, Outcome.FAILED, Verification.FAILED, after=states.get(a.id), error=why or "throttled: "
                        "the system's retry budget is spent; apply again later to finish", attempts=attempts[a.id])
            for a in still]


def attempt_batch(sys_: SystemRun, pending: list[Action], attempts: dict[str, int], receipts: dict[str, Receipt]
                  ) -> tuple[list[dict[str, Any]], list[Action], list[float], dict[str, State]]:
    """One attempt at a batch: apply, read back, poll. Answers the records of the actions settled, the actions to
    retry (throttled or transient, and not read back as done), how long each must still wait (what it asked for,
    less the time since its answer), and the states read."""
    done: list[dict[str, Any]] = []
    for a in pending:
        attempts[a.id] += 1
    answers = _call_apply(sys_, pending)
    answered = sys_.runtime.monotonic()
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
    states, read_error = safe_read(sys_, finished + retry)
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
    # a Retry-After counts from the answer: the read-back (which a pacer may have held) spent part of it already
    elapsed = sys_.runtime.monotonic() - answered
    return done, still, [max(0.0, w - elapsed) for w in waits], states


def _poll(sys_: SystemRun, actions: list[Action], receipts: dict[str, Receipt], states: dict[str, State]) -> None:
    """Asynchronous operations the provider accepted (`Receipt.poll_after`): read them back after the interval it
    asked for, again and again, until each is done or the system's wait budget is spent. `states` is updated."""
    waiting = [a for a in actions if not _done_now(sys_, a, states.get(a.id))]
    while waiting:
        wait = sys_.take_wait(max(receipts[a.id].poll_after or 1.0 for a in waiting))
        if wait <= 0:
            return
        sys_.wait(wait)
        fresh, _ = safe_read(sys_, waiting)
        states.update(fresh)
        waiting = [a for a in waiting if not _done_now(sys_, a, states.get(a.id))]


def _done_now(sys_: SystemRun, a: Action, state: State | None) -> bool:
    return state is not None and satisfied(sys_.kind(a), a, state, sys_.mode)


def _verified_record(sys_: SystemRun, a: Action, receipt: Receipt, state: State | None,
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


def _call_apply(sys_: SystemRun, actions: list[Action]) -> dict[str, Any]:
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
        failure = ActionFailed(failure_message(err, sys_.plan.name, sys_.cls.name, sys_.mode))
        return {a.id: failure for a in actions}
