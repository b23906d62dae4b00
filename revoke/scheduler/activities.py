"""The activities of a scheduled run, each a thin caller of the engine (`revoke.engine`).

- `check`: at fire time, the engine's check phase on the saved plan, exactly as `revoke apply PLAN` runs it: the
  runbook re-read and compared, the final day, the approvals, every guardrail re-derived from the live systems,
  every target re-read; a stale target stops the run (or, with `on_stale: skip`, is skipped and recorded). Its
  records and the shards to run go to the store.
- `shard`: one shard's changes, engine batch after engine batch, one attempt each (`engine.attempt_batch`).
  Progress is heartbeated; a retry (the worker died, or the provider throttled) continues after the last batch
  it reported and first re-reads the batch that was in flight, so nothing is written twice. Throttling is handed
  to Temporal (`ApplicationError(next_retry_delay=retry_after)`) under a bounded retry policy: no retry loop here.
- `journal`: chains every record in the workflow's order into one run folder, sealed as a local apply's, puts it
  in the store and marks the checklist page.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from revoke import __version__, approvals, attest
from revoke.actions import Outcome, Verification
from revoke.connector import Receipt, load
from revoke.engine import (
    SystemRun,
    attempt_batch,
    budget_spent,
    check_guardrails,
    check_systems,
    finish_run,
    intents,
    open_systems,
    safe_read,
    settle,
    systems_header,
)
from revoke.errors import RevokeError
from revoke.evidence import MANIFEST, EvidenceLog, iso, now
from revoke.plan import Action
from revoke.progress import Progress
from revoke.run import RunResult, action_record
from revoke.scheduler.runs import CACHE, LoadedRun, options_for, part_key, part_text, read_part, stage_actions, stamped
from revoke.scheduler.spec import (
    CHECK,
    FINAL_ERRORS,
    JOURNAL,
    SHARD,
    Checked,
    JournalInput,
    Shard,
    ShardDone,
    ShardInput,
    StageDone,
    StageInput,
)
from revoke.scheduler.store import LocalStore, clear_dir, put_run

T = TypeVar("T")
CHECKPOINT_ACTIONS = 50


class Beat:
    """The progress an activity reports with each heartbeat; replaced whole, so a heartbeat never sees it half
    updated."""

    def __init__(self, latest: Any = None):
        self.latest = latest

    def details(self) -> list[Any]:
        return [] if self.latest is None else [self.latest]


def _beating(fn: Callable[[], T], beat: Beat | None = None) -> T:
    """Run `fn` while this activity heartbeats (with the progress so far), so a worker that dies is noticed within
    the heartbeat timeout, however long one call to a server takes. `fn` runs in the activity's context."""
    info = activity.info()
    interval = max(0.5, (info.heartbeat_timeout.total_seconds() if info.heartbeat_timeout else 30) / 3)
    box: dict[str, Any] = {}
    done = threading.Event()

    def body() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - handed to the activity's thread below
            box["error"] = err
        finally:
            done.set()

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(body,), name=f"{info.activity_type}-{info.attempt}",
                     daemon=True).start()
    while not done.wait(interval):
        activity.heartbeat(*(beat.details() if beat else []))
    if "error" in box:
        raise box["error"]
    return box["value"]


def _final(err: RevokeError) -> ApplicationError:
    """A refusal no retry can change (stale, guardrail, approvals): the run stops with revoke's own words."""
    name = type(err).__name__
    return ApplicationError(str(err), type=name, non_retryable=name in FINAL_ERRORS)


@activity.defn(name=CHECK)
def check(inp: StageInput) -> Checked:
    try:
        return _beating(lambda: _check(inp))
    except RevokeError as err:
        raise _final(err) from None


def _check(inp: StageInput) -> Checked:
    spec = inp.spec
    from revoke.scheduler.spec import stage_run_id

    run_id = stage_run_id(spec.run_id, inp.stage)
    loaded = CACHE.run(spec)
    plan, rb = loaded.plan, loaded.rb
    options = options_for(spec, rb)
    check_guardrails(plan, options, "apply", rb)
    attest.attestor(rb.timestamp_authority)  # a signing key that is set but missing stops the run before any change
    approved = approvals.require(plan)
    todo = stage_actions(plan, rb, inp.stage)
    systems, context, secrets = open_systems(plan, rb, options, "apply", run_id)
    current, gone, stale = check_systems(systems, todo, set(), rb, secrets, Progress(), options.skip_stale)
    stage_words = {"stage": inp.stage + 1, "stages": len(rb.stages) + 1, "workflow_id": spec.run_id,
                   "scheduled_for": spec.fire_at}
    records: list[dict[str, Any]] = [{
        "type": "run", "mode": "apply", "plan_id": plan.plan_id, "plan_digest": plan.digest(),
        "plan_facts": plan.facts(), "runbook_sha256": plan.runbook_sha256, "tool": f"revoke {__version__}",
        "started_at": iso(context.started_at), "systems": systems_header(systems), **approvals.header(approved),
        "scheduled": stage_words}]
    if inp.stage == 0:
        records += [{"type": "notice", "mode": "apply", **n.model_dump()} for n in plan.notices]
    if loaded.runbook_warning:
        records.append({"type": "notice", "mode": "apply", "system": "revoke", "item": 0, "severity": "warning",
                        "message": loaded.runbook_warning, "person": None, "resource": None})
    stale_ids = {a.id for a in stale}
    shards: list[Shard] = []
    try:
        for name, sys_ in systems.items():
            changes: list[Action] = []
            records += settle(sys_, [a for a in todo if a.system == name], current[name], stale_ids, set(), gone,
                              changes)
            first = [a for a in changes if not sys_.kind(a).runs_last]
            shards += _shards(sys_, first, spec.shard_actions)
            shards += _shards(sys_, [a for a in changes if sys_.kind(a).runs_last], spec.shard_actions, last=True)
    finally:
        for sys_ in systems.values():
            sys_.connector.close()
    key = part_key(spec.run_id, run_id, "check")
    loaded.store.put(key, part_text(stamped(records)))
    concurrency = {name: rb.systems[name].concurrency for name in systems}
    return Checked(run_id, key, _interleaved(shards), concurrency, len(todo))


def _shards(sys_: SystemRun, changes: list[Action], size: int, last: bool = False) -> list[Shard]:
    """A system's changes cut into shards of whole engine batches, one rate scope (an AWS account) each."""
    per = max(1, sys_.cls.batch_size)
    size = max(per, size - size % per)
    scopes: dict[Any, list[Action]] = {}
    for a in changes:
        scopes.setdefault(a.params.get(sys_.cls.rate_scope) if sys_.cls.rate_scope else None, []).append(a)
    return [Shard(sys_.plan.name, [a.id for a in group[i:i + size]], last)
            for group in scopes.values() for i in range(0, len(group), size)]


def _interleaved(shards: list[Shard]) -> list[Shard]:
    """Shards of different systems take turns, so each system's first shards start together."""
    by_system: dict[str, list[Shard]] = {}
    for s in shards:
        by_system.setdefault(s.system, []).append(s)
    out: list[Shard] = []
    while any(by_system.values()):
        for queue in by_system.values():
            if queue:
                out.append(queue.pop(0))
    return out


@activity.defn(name=SHARD)
def shard(inp: ShardInput) -> ShardDone:
    info = activity.info()
    saved = info.heartbeat_details[0] if info.heartbeat_details else {}
    progress = {"parts": list(saved.get("parts", [])), "next": int(saved.get("next", 0)),
                "pending": saved.get("pending"), "attempts": dict(saved.get("attempts", {}))}
    beat = Beat(saved or None)
    try:
        return _beating(lambda: _shard(inp, progress, beat, resumed=info.attempt > 1), beat)
    except RevokeError as err:
        raise _final(err) from None


def _shard(inp: ShardInput, progress: dict[str, Any], beat: Beat, *, resumed: bool) -> ShardDone:
    spec, loaded = inp.spec, CACHE.run(inp.spec)
    try:
        sys_ = CACHE.system(spec, inp.stage_run_id, inp.shard.system)
    except RevokeError as err:  # cannot connect now: Temporal retries the shard within its bound
        CACHE.drop(inp.stage_run_id, inp.shard.system)
        raise ApplicationError(f"{inp.shard.system}: {err}", type="ConnectionFailed") from None
    actions = [loaded.by_id[i] for i in inp.shard.ids]
    per = max(1, sys_.cls.batch_size)
    batches = [actions[i:i + per] for i in range(0, len(actions), per)]
    attempts: dict[str, int] = progress["attempts"]
    begin = progress["next"]
    # an attempt that stopped may have written anything up to its next checkpoint: read that much back first
    reread_until = begin + max(1, CHECKPOINT_ACTIONS // per) + 1 if resumed else begin
    records: list[dict[str, Any]] = []
    for k in range(begin, len(batches)):
        pending = [loaded.by_id[i] for i in progress["pending"]] if k == begin and progress["pending"] else batches[k]
        if k < reread_until:
            pending = _reread(sys_, pending, records)
        if pending:
            for a in pending:
                attempts.setdefault(a.id, 0)
            records += stamped(intents(sys_, pending))
            done, still, waits, states = attempt_batch(sys_, pending, attempts, {})
            records += stamped(done)
            if still and activity.info().attempt < spec.max_attempts:
                _save(inp, progress, beat, records, k, f"b{k:05d}-a{activity.info().attempt}", still, attempts)
                delay = min(max(waits or [1.0]), spec.max_retry_delay)
                raise ApplicationError(f"{inp.shard.system}: {len(still)} action(s) throttled; retrying in "
                                       f"{delay:.0f}s", type="Throttled", next_retry_delay=dt.timedelta(seconds=delay))
            records += stamped(budget_spent(sys_, still, attempts, states))
        if len(records) >= 2 * CHECKPOINT_ACTIONS or k == len(batches) - 1:
            _save(inp, progress, beat, records, k + 1, f"b{k:05d}", None, attempts)
            records = []
    return ShardDone(parts=progress["parts"])


def _reread(sys_: SystemRun, pending: list[Action], records: list[dict[str, Any]]) -> list[Action]:
    """Read back before writing: what an earlier attempt already did is recorded as done, the rest is answered."""
    states, _ = safe_read(sys_, pending)
    changes: list[Action] = []
    records += stamped(list(settle(sys_, pending, states, set(), {a.id for a in pending}, {}, changes)))
    return changes


def _save(inp: ShardInput, progress: dict[str, Any], beat: Beat, records: list[dict[str, Any]], next_batch: int,
          name: str, pending: list[Action] | None, attempts: dict[str, int]) -> None:
    """A checkpoint: the records since the last one go to the store, and the progress is reported (the next
    attempt starts from it). Checkpoints every CHECKPOINT_ACTIONS actions or so, not every batch: one file and one
    heartbeat per batch cost more than the writes themselves for one-action batches (LDAP)."""
    key = part_key(inp.spec.run_id, inp.stage_run_id, f"shard{inp.index:05d}-{name}")
    if records:
        CACHE.run(inp.spec).store.put(key, part_text(records))
        progress["parts"].append(key)
    progress["next"] = next_batch
    progress["pending"] = [a.id for a in pending] if pending else None
    progress["attempts"] = {a.id: attempts.get(a.id, 0) for a in pending or []}
    beat.latest = json.loads(json.dumps(progress))
    activity.heartbeat(*beat.details())


@activity.defn(name=JOURNAL)
def journal(inp: JournalInput) -> StageDone:
    try:
        return _beating(lambda: _journal(inp))
    except RevokeError as err:
        raise _final(err) from None


def _journal(inp: JournalInput) -> StageDone:
    spec, loaded = inp.spec, CACHE.run(inp.spec)
    plan, rb, store = loaded.plan, loaded.rb, loaded.store
    run_id = inp.stage_run_id
    local = isinstance(store, LocalStore)
    scratch = None if local else tempfile.TemporaryDirectory(prefix="revoke-journal-")
    run_dir = store.path(run_id) if isinstance(store, LocalStore) else Path(scratch.name if scratch else "") / run_id
    try:
        clear_dir(run_dir)  # an earlier attempt that stopped half way: written again, whole, from the parts
        approved = approvals.require(plan)
        evidence = EvidenceLog(run_dir, run_id, rb.engagement, fsync=spec.fsync)
        from revoke.checklist.reports import ReportWriter

        writer = ReportWriter()
        result = RunResult(run_id=run_id, run_dir=run_dir, mode="apply")
        try:
            plan.save(run_dir / "plan.json")
            approvals.keep(approved, plan.source_file, run_dir)
            for key in [inp.header_part, *inp.parts]:
                written = evidence.append_many(read_part(store, key))
                result.extend(written)
                writer.observe(written)
            lost = _lost_records(loaded, inp.lost, {r["action_id"] for r in result.actions()})
            if lost:
                written = evidence.append_many(lost)
                result.extend(written)
                writer.observe(written)
            # signed by the journalling worker's REVOKE_SIGNING_KEY, timestamped by the runbook's TSA, as a local apply
            finish_run(plan, rb, result, evidence, writer, attest.attestor(rb.timestamp_authority))
        finally:
            evidence.close()
        location = str(run_dir) if local else put_run(store, run_dir, run_id)
        line = _checklist(loaded, run_dir)
        return StageDone(inp.stage, run_id, location, result.counts(), result.exit_code, line)
    finally:
        if scratch is not None:
            scratch.cleanup()


def _lost_records(loaded: LoadedRun, lost: list[dict[str, Any]], recorded: set[str]) -> list[dict[str, Any]]:
    """Actions of shards that never finished: whether they were written is not known, so they failed; applying
    the plan again re-reads them and finishes (nothing done is repeated)."""
    out = []
    for shard_ in lost:
        for aid in shard_["ids"]:
            if aid in recorded:
                continue
            a = loaded.by_id[aid]
            kind = load(a.connector).kind(a.kind)
            out.append(action_record(kind, None, a, "apply", Outcome.FAILED, Verification.NONE,
                                     receipt=Receipt(), error=f"its shard did not finish ({shard_['error']}); "
                                     "apply the plan again to verify and finish it"))
    return stamped(out)


def _checklist(loaded: LoadedRun, run_dir: Path) -> str:
    """The checklist page marked from the sealed run, as after a local apply; a failure is said, not raised."""
    if loaded.rb.checklist is None:
        return ""
    from revoke.checklist.record import record_run

    try:
        return record_run(loaded.rb.checklist, Path(loaded.plan.runbook_path).parent, run_dir, mark=True)
    except RevokeError as err:
        return f"checklist not updated: {err}"


ACTIVITIES = [check, shard, journal]
__all__ = ["ACTIVITIES", "MANIFEST", "now"]
