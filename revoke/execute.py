"""Carrying one system's actions out: batches, bounded retries, asynchronous operations, read-back, one record each.

The engine (`revoke.engine`) decides what runs; this module runs it, for one system at a time, and is the one
place a write is retried: a change answered as throttled or failing transiently is read back first (it may have
been carried out anyway) and sent again only if it is still not done, within the system's attempts and wait budget
(`revoke.runtime.Runtime`). A write the provider finishes asynchronously (`Receipt.poll_after`) is read back after
the interval it asked for, again, until it is done or the budget is spent.
"""

from __future__ import annotations

import itertools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from revoke.actions import ActionKind, Outcome, State, Verification, unverifiable_reason
from revoke.connector import Identity, Receipt, RunContext
from revoke.errors import ActionFailed, NotSupported, RevokeError
from revoke.journal import RunJournal
from revoke.plan import Action, SystemPlan
from revoke.planner import SystemSetup
from revoke.progress import Progress
from revoke.redaction import failure_message
from revoke.run import action_record
from revoke.runbook import Runbook
from revoke.secrets import Secrets

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


class System:
    """One system during a run: its connector, its identity, its retry budget."""

    def __init__(self, setup: SystemSetup, sp: SystemPlan, rb: Runbook, secrets: Secrets, context: RunContext,
                 mode: str):
        self.plan = sp
        self.spec = rb.systems[sp.name]
        self.cls = setup.cls
        self.runtime = context.runtime.for_system()
        self.connector = setup.cls(sp.name, setup.settings, secrets, replace(context, runtime=self.runtime))
        self.mode = mode
        self.identity: Identity | None = None
        self.error: str | None = None

    @property
    def name(self) -> str:
        return self.plan.name

    def kind(self, a: Action) -> type[ActionKind]:
        return self.cls.kind(a.kind)

    def operator(self) -> str | None:
        return self.identity.display if self.identity else None

    def record(self, a: Action, outcome: Outcome, verification: Verification, **kw: Any) -> dict[str, Any]:
        return action_record(self.kind(a), self.operator(), a, self.mode, outcome, verification, **kw)

    def failure(self, err: BaseException, during: str) -> str:
        """The one redacting wrapper for whatever the connector raised (see `revoke.redaction.failure_message`)."""
        return failure_message(err, self.name, self.cls.name, during)

    def done(self, a: Action, state: State | None) -> bool:
        return state is not None and satisfied(self.kind(a), a, state, self.mode)

    def read(self, actions: Sequence[Action]) -> dict[str, State]:
        """Read targets back, repeated by the runtime while throttled, within the system's budget."""
        return self.runtime.read(lambda: self.connector.read_back(actions))

    def safe_read(self, actions: Sequence[Action]) -> tuple[dict[str, State], str]:
        """The states read back, and why there are none (the reason goes into each action's record)."""
        if not actions:
            return {}, ""
        try:
            return self.read(actions), ""
        except Exception as err:  # noqa: BLE001 - a connector bug fails these read-backs, not the run
            log.warning("%s: read-back failed: %s", self.name, err)
            return {}, self.failure(err, "read-back")


@dataclass
class RunSets:
    """What the check phase decided about a system's actions before any change."""

    current: dict[str, State]
    stale: set[str] = field(default_factory=set)
    intended: set[str] = field(default_factory=set)   # written before an interruption, outcome not recorded
    gone: dict[str, str] = field(default_factory=dict)  # a person's account no longer exists: why


def run_system(sys_: System, actions: list[Action], sets: RunSets, journal: RunJournal, progress: Progress) -> None:
    """Record what needs no write, then carry out the changes; every record is journalled as it is known."""
    changes: list[Action] = []
    for a in actions:
        rec = _settled_record(sys_, a, sets)
        if rec is None:
            changes.append(a)
            continue
        journal.write_one(rec)
        progress.step(a.system, rec["summary"], rec["outcome"])
    _execute_changes(sys_, changes, journal, progress)


def _settled_record(sys_: System, a: Action, sets: RunSets) -> dict[str, Any] | None:
    """The record of an action that needs no write now, or None for a change to carry out."""
    kind, state = sys_.kind(a), sets.current.get(a.id)
    if sys_.error:
        return sys_.record(a, Outcome.FAILED, Verification.NONE, error=f"{a.system} unavailable: {sys_.error}")
    if a.id in sets.gone:
        return sys_.record(a, Outcome.FAILED, Verification.NONE, observed=state, error=sets.gone[a.id])
    if a.id in sets.stale:
        return sys_.record(a, Outcome.SKIPPED_STALE, Verification.NONE, observed=state,
                           error="stale: the target changed since the plan; skipped with --skip-stale")
    if a.status in ("change", "noop") and state is not None and satisfied(kind, a, state, sys_.mode):
        verified = verification_of(kind, a, state, sys_.mode)
        if a.id in sets.intended:  # written before an interruption; this run's own work, now verified
            return sys_.record(a, Outcome.DONE, verified, after=state,
                               note="completed before the run was interrupted; verified on resume")
        return sys_.record(a, Outcome.ALREADY_DONE, verified, after=state)
    if a.status == "change":
        return None
    if a.status == "noop" and unverifiable_reason(state) is not None:
        return sys_.record(a, Outcome.ATTENTION, Verification.UNVERIFIABLE, after=state,
                           error=f"the plan saw this done, but the read-back proves nothing: "
                           f"{unverifiable_reason(state)}; check it by hand")
    if a.status == "noop":
        return sys_.record(a, Outcome.FAILED, Verification.FAILED, after=state,
                           error="could not read the target back" if state is None else
                           "no longer in the state the plan saw")
    return sys_.record(a, Outcome(a.outcome or Outcome.SKIPPED.value), Verification.NONE,
                       error=a.reason if a.status == "skip" else "")


def _execute_changes(sys_: System, changes: list[Action], journal: RunJournal, progress: Progress) -> None:
    """Apply in batches of the connector's batch size, `concurrency` batches at a time."""
    batches = batches_of(changes, max(1, sys_.cls.batch_size), sys_.cls.rate_scope)

    def run_batch(batch: list[Action]) -> None:
        # the batch's outcomes are known together: chain them with one fsync, not one per record
        for rec in journal.write(_apply_batch(sys_, batch, journal)):
            progress.step(sys_.name, rec["summary"], rec["outcome"])

    with ThreadPoolExecutor(max_workers=sys_.spec.concurrency, thread_name_prefix=f"apply-{sys_.name}") as pool:
        list(pool.map(run_batch, batches))


def batches_of(changes: list[Action], size: int, scope: str | None) -> list[list[Action]]:
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


@dataclass
class _Round:
    """One round of a batch: what the connector answered, sorted."""

    finished: list[Action] = field(default_factory=list)
    retry: list[Action] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)


class _Batch:
    """A batch's actions across rounds: their attempts, receipts and the records settled so far."""

    def __init__(self, sys_: System, batch: list[Action]):
        self.sys = sys_
        self.attempts = {a.id: 0 for a in batch}
        self.receipts: dict[str, Receipt] = {}
        self.records: list[dict[str, Any]] = []

    def sort(self, pending: list[Action], answers: dict[str, Any]) -> _Round:
        out = _Round()
        for a in pending:
            answer = answers.get(a.id) or ActionFailed("the connector gave no answer for this action")
            if isinstance(answer, Receipt):
                self.receipts[a.id] = answer
                out.finished.append(a)
            elif isinstance(answer, NotSupported):
                self.records.append(self.sys.record(a, Outcome.NOT_SUPPORTED, Verification.UNVERIFIABLE,
                                                    error=str(answer), attempts=self.attempts[a.id]))
            elif (isinstance(answer, ActionFailed) and answer.retryable
                  and self.attempts[a.id] < self.sys.runtime.max_attempts):
                out.retry.append(a)
                out.waits.append(self.sys.runtime.backoff(self.attempts[a.id], answer.retry_after))
            else:
                out.finished.append(a)
                self.receipts[a.id] = Receipt(request_ids=tuple(getattr(answer, "request_ids", []) or []),
                                              detail={"error": str(answer)})
        return out

    def settle(self, rnd: _Round) -> list[Action]:
        """Read back what was written, or may have been (a throttled write can have happened anyway); record what
        is finished and answer what is to be sent again."""
        states, read_error = self.sys.safe_read(rnd.finished + rnd.retry)
        still: list[Action] = []
        for a in rnd.retry:
            if self.sys.done(a, states.get(a.id)):
                rnd.finished.append(a)
                self.receipts.setdefault(a.id, Receipt(detail={"note": "answered as throttled; read back as done"}))
            else:
                still.append(a)
        _poll(self.sys, [a for a in rnd.finished if self.receipt(a).poll_after is not None], self.receipts, states)
        for a in rnd.finished:
            self.records.append(_verified_record(self.sys, a, self.receipt(a), states.get(a.id),
                                                 self.attempts[a.id], read_error))
        if still and not self._wait(max(rnd.waits, default=1.0), len(still)):
            for a in still:
                self.records.append(self.sys.record(
                    a, Outcome.FAILED, Verification.FAILED, after=states.get(a.id), attempts=self.attempts[a.id],
                    error="throttled: the system's retry budget is spent; apply again later to finish"))
            return []
        return still

    def receipt(self, a: Action) -> Receipt:
        return self.receipts.get(a.id, Receipt())

    def _wait(self, seconds: float, count: int) -> bool:
        wait = self.sys.runtime.take_wait(seconds)
        if wait <= 0:
            return False
        log.info("%s: throttled, waiting %.1fs to retry %d action(s)", self.sys.name, wait, count)
        self.sys.runtime.sleep(wait)
        return True


def _apply_batch(sys_: System, batch: list[Action], journal: RunJournal) -> list[dict[str, Any]]:
    state = _Batch(sys_, batch)
    journal.intents([{"type": "intent", "mode": sys_.mode, "action_id": a.id, "system": a.system, "kind": a.kind,
                      "resource": a.resource, "principal": a.principal} for a in batch])
    pending = list(batch)
    while pending:
        for a in pending:
            state.attempts[a.id] += 1
        pending = state.settle(state.sort(pending, _call_apply(sys_, pending)))
    return state.records


def _poll(sys_: System, actions: list[Action], receipts: dict[str, Receipt], states: dict[str, State]) -> None:
    """Asynchronous operations the provider accepted (`Receipt.poll_after`): read them back after the interval it
    asked for, again and again, until each is done or the system's wait budget is spent. `states` is updated."""
    waiting = [a for a in actions if not sys_.done(a, states.get(a.id))]
    while waiting:
        wait = sys_.runtime.take_wait(max(receipts[a.id].poll_after or 1.0 for a in waiting))
        if wait <= 0:
            return
        sys_.runtime.sleep(wait)
        fresh, _ = sys_.safe_read(waiting)
        states.update(fresh)
        waiting = [a for a in waiting if not sys_.done(a, states.get(a.id))]


def _verified_record(sys_: System, a: Action, receipt: Receipt, state: State | None,
                     attempts: int, read_error: str = "") -> dict[str, Any]:
    kind = sys_.kind(a)
    error = str(receipt.detail.get("error", "")) if receipt.detail else ""
    common: dict[str, Any] = {"receipt": receipt, "attempts": attempts}
    if state is None:
        return sys_.record(a, Outcome.FAILED, Verification.FAILED, **common,
                           error=error or "could not read the target back after the change" +
                           (f": {read_error}" if read_error else ""))
    why = unverifiable_reason(state)
    if why is not None and not error:
        if not kind.verifiable:  # the service has nothing to read back after this change: said, not a failure
            return sys_.record(a, Outcome.DONE, Verification.UNVERIFIABLE, after=state, **common, note=why)
        return sys_.record(a, Outcome.ATTENTION, Verification.UNVERIFIABLE, after=state, **common,
                           error=f"written, but the read-back proves nothing: {why}; check it by hand")
    if satisfied(kind, a, state, sys_.mode):
        return sys_.record(a, Outcome.DONE, verification_of(kind, a, state, sys_.mode), after=state, **common)
    if receipt.poll_after is not None and not error:
        return sys_.record(a, Outcome.FAILED, Verification.FAILED, after=state, **common,
                           error="the provider accepted the change but it had not finished when the system's wait "
                           "budget was spent; apply again later to verify it")
    return sys_.record(a, Outcome.FAILED, Verification.FAILED, after=state, **common,
                       error=error or "read back after the change does not show it done")


def _call_apply(sys_: System, actions: list[Action]) -> dict[str, Any]:
    """Each action's answer from the connector: a Receipt or the error it failed with, never an exception."""
    if sys_.mode == "restore":
        out: dict[str, Any] = {}
        for a in actions:
            try:
                out[a.id] = sys_.connector.restore(a)
            except RevokeError as err:
                out[a.id] = err
            except Exception as err:  # noqa: BLE001 - a connector bug fails its action, not the run
                out[a.id] = ActionFailed(sys_.failure(err, "restore"))
        return out
    try:
        return sys_.connector.apply_many(actions)
    except RevokeError as err:
        return {a.id: err for a in actions}
    except Exception as err:  # noqa: BLE001 - a connector bug fails its actions, not the run
        failure = ActionFailed(sys_.failure(err, "apply"))
        return {a.id: failure for a in actions}
