"""The activities of a scheduled run, each a thin caller of the engine (`revoke.engine`).

- `check`: at a wave's time, the engine's check phase on the saved plan for the wave's actions (the wave derived
  again from the trusted plan and runbook), exactly as `revoke apply PLAN` runs it: the
  runbook re-read and compared, the final day, the approvals, every guardrail re-derived from the live systems,
  every target re-read; a stale target stops the run (or, with `on_stale: skip`, is skipped and recorded). Its
  records and the shards to run go to the store.
- `shard`: one shard's changes, engine batch after engine batch, one attempt each (`engine.attempt_batch`).
  Progress is heartbeated; a retry (the worker died, or the provider throttled) continues after the last batch
  it reported and first re-reads the batch that was in flight, so nothing is written twice. Throttling is handed
  to Temporal (`ApplicationError(next_retry_delay=retry_after)`) under a bounded retry policy: no retry loop here.
  A cancelled run's shard stops between batches and says which actions it did not start.
- `journal` (revoke/scheduler/journal.py): chains a stage's records in the workflow's order into one run folder.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from revoke import __version__, approvals, attest
from revoke.engine import (
    SystemRun,
    attempt_batch,
    budget_spent,
    check_guardrails,
    check_systems,
    intents,
    open_systems,
    safe_read,
    settle,
    systems_header,
)
from revoke.errors import GuardrailRefused, RevokeError
from revoke.evidence import MANIFEST, iso, now
from revoke.plan import Action
from revoke.progress import Progress
from revoke.scheduler.beat import Beat, beating, final
from revoke.scheduler.runs import (
    CACHE,
    LoadedRun,
    PlanMismatch,
    options_for,
    part_key,
    part_text,
    stamped,
)
from revoke.scheduler.spec import (
    CHECK,
    SHARD,
    Checked,
    RunSpec,
    Shard,
    ShardDone,
    ShardInput,
    StageInput,
    WaveSpec,
    stage_run_id,
)
from revoke.scheduler.waves import trusted_wave, wave_actions

CHECKPOINT_ACTIONS = 50
MIN_RETRY_DELAY = 0.1  # seconds
THROTTLED_CANCELLED = ("throttled, and the run was cancelled (`revoke runs cancel`) before the retry: read back as "
                       "not done; apply the plan again to carry it out")


@activity.defn(name=CHECK)
def check(inp: StageInput) -> Checked:
    try:
        return beating(lambda: _check(inp))
    except RevokeError as err:
        raise final(err) from None


def _check(inp: StageInput) -> Checked:
    spec = inp.spec
    run_id = stage_run_id(spec.run_id, inp.stage)
    loaded = CACHE.run(spec)
    plan, rb = loaded.plan, loaded.rb
    wave = _trusted_wave(loaded, spec, inp.wave)
    options = options_for(spec, rb)
    check_guardrails(plan, options, "apply", rb)
    attest.attestor(rb.timestamp_authority)  # a signing key that is set but missing stops the run before any change
    approved = approvals.require(plan)
    todo = wave_actions(plan, rb, wave)
    systems, context, secrets = open_systems(plan, rb, options, "apply", run_id)
    current, gone, stale = check_systems(systems, todo, set(), rb, secrets, Progress(), options.skip_stale)
    records = _header(inp, loaded, wave, systems, approved, iso(context.started_at))
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
    key = part_key(spec.run_id, run_id, f"w{wave.index:03d}-check")
    loaded.store.put(key, part_text(stamped(records)))
    concurrency = {name: rb.systems[name].concurrency for name in systems}
    one_budget = [name for name, s in systems.items() if s.cls.one_budget]
    pacing = {name: state for name in one_budget if (state := systems[name].connector.pacing())}
    return Checked(run_id, key, _interleaved(shards), concurrency, len(todo), one_budget, pacing)


EARLY_TOLERANCE = dt.timedelta(seconds=60)


def _trusted_wave(loaded: LoadedRun, spec: RunSpec, index: int) -> WaveSpec:
    """The wave re-derived from the trusted plan and runbook, refused if the workflow's differs or if it is not
    yet its time (a clock that jumped, a workflow started by hand): nobody is revoked early."""
    given = spec.waves[index]
    wave = trusted_wave(loaded.plan, loaded.rb, spec.at, given)
    if wave is None:
        raise PlanMismatch(f"wave {index + 1} of {spec.run_id} ({given.fire_at}: {', '.join(given.people)}) is not "
                           "what the scheduled plan and its runbook say: nothing was changed; schedule the plan again")
    fires = dt.datetime.fromisoformat(wave.fire_at)
    # the server's clock, the one the workflow's timer ran on (a test server may skip it ahead of the wall's)
    scheduled = activity.info().current_attempt_scheduled_time
    if scheduled < fires - EARLY_TOLERANCE:
        raise GuardrailRefused(f"wave {index + 1} fires at {wave.fire_at} and its check was started at "
                               f"{iso(scheduled)}: nobody is revoked before their time; nothing was changed")
    return wave


def _header(inp: StageInput, loaded: LoadedRun, wave: WaveSpec, systems: dict[str, SystemRun], approved: Any,
            started_at: str) -> list[dict[str, Any]]:
    """The stage's run record (its first wave), or a wave record (a later one): who leaves now, who connected."""
    spec, plan = inp.spec, loaded.plan
    mine = [w for w in spec.waves if w.stage == inp.stage]
    words = {"fires_at": wave.fire_at, "people": wave.people, "lists": wave.lists,
             "wave": mine.index(wave) + 1 if wave in mine else 1, "waves": len(mine)}
    if mine and mine[0].index != wave.index:
        return [{"type": "wave", "mode": "apply", "started_at": started_at, "systems": systems_header(systems),
                 **words}]
    stage_words = {"stage": inp.stage + 1, "stages": len(loaded.rb.stages) + 1, "workflow_id": spec.run_id,
                   "scheduled_for": wave.fire_at, "waves": [{"fires_at": w.fire_at, "people": w.people,
                                                             "lists": w.lists} for w in mine]}
    records: list[dict[str, Any]] = [{
        "type": "run", "mode": "apply", "plan_id": plan.plan_id, "plan_digest": plan.digest(),
        "plan_facts": plan.facts(), "runbook_sha256": plan.runbook_sha256, "tool": f"revoke {__version__}",
        "started_at": started_at, "systems": systems_header(systems), **approvals.header(approved),
        "scheduled": stage_words}]
    if inp.stage == 0:
        records += [{"type": "notice", "mode": "apply", **n.model_dump()} for n in plan.notices]
    if loaded.runbook_warning:
        records.append({"type": "notice", "mode": "apply", "system": "revoke", "item": 0, "severity": "warning",
                        "message": loaded.runbook_warning, "person": None, "resource": None})
    return records


def _shards(sys_: SystemRun, changes: list[Action], size: int, last: bool = False) -> list[Shard]:
    """A system's changes cut into shards of whole engine batches, one rate scope (an AWS account) each."""
    per = max(1, sys_.cls.batch_size)
    size = max(per, size - size % per)
    scopes: dict[Any, list[Action]] = {}
    for a in changes:
        scopes.setdefault(a.params.get(sys_.cls.rate_scope) if sys_.cls.rate_scope else None, []).append(a)
    shards = []
    for group in scopes.values():
        for i in range(0, len(group), size):
            ids = [a.id for a in group[i:i + size]]
            shards.append(Shard(sys_.plan.name, ids, last, batches=-(-len(ids) // per)))
    return shards


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


# cancellation is read between batches (activity.is_cancelled), never raised into a batch half written
@activity.defn(name=SHARD, no_thread_cancel_exception=True)
def shard(inp: ShardInput) -> ShardDone:
    info = activity.info()
    saved = info.heartbeat_details[0] if info.heartbeat_details else {}
    progress = {"parts": list(saved.get("parts", [])), "next": int(saved.get("next", 0)),
                "pending": saved.get("pending"), "attempts": dict(saved.get("attempts", {})),
                "pacing": saved.get("pacing") or inp.pacing}
    # the attempt before stopped itself, throttled, right after saving where it was: nothing past that was written
    # (the marker names that attempt, so an older heartbeat, if the last was lost, is never taken for it)
    resumed = info.attempt > 1 and saved.get("throttled_in") != info.attempt - 1
    # attempts that ended otherwise (a worker that died, a system out of reach) are bounded by max_attempts for
    # the whole shard, as before; throttled ones are bounded per action, by attempt_batch
    progress["failures"] = failures = int(saved.get("failures", 0)) + (1 if resumed else 0)
    if failures >= inp.spec.max_attempts:
        raise ApplicationError(f"{inp.shard.system}: shard {inp.index + 1} stopped {failures} times (a worker that "
                               "died, or the system out of reach): not retried again", type="ShardFailed",
                               non_retryable=True)
    beat = Beat({**saved, "failures": failures})
    activity.heartbeat(*beat.details())  # at once: an attempt that dies before its first checkpoint counts too
    try:
        return beating(lambda: _shard(inp, progress, beat, resumed=resumed), beat)
    except RevokeError as err:
        raise final(err) from None


def _shard(inp: ShardInput, progress: dict[str, Any], beat: Beat, *, resumed: bool) -> ShardDone:
    spec, loaded = inp.spec, CACHE.run(inp.spec)
    try:
        sys_ = CACHE.system(spec, inp.stage_run_id, inp.shard.system)
    except RevokeError as err:  # cannot connect now: Temporal retries the shard within its bound
        CACHE.drop(inp.stage_run_id, inp.shard.system)
        raise ApplicationError(f"{inp.shard.system}: {err}", type="ConnectionFailed") from None
    if sys_.cls.one_budget:
        sys_.connector.resume_pacing(progress["pacing"])
    actions = [loaded.by_id[i] for i in inp.shard.ids]
    per = max(1, sys_.cls.batch_size)
    batches = [actions[i:i + per] for i in range(0, len(actions), per)]
    attempts: dict[str, int] = progress["attempts"]
    begin = progress["next"]
    # an attempt that stopped may have written anything up to its next checkpoint: read that much back first
    reread_until = begin + max(1, CHECKPOINT_ACTIONS // per) + 1 if resumed else begin
    records: list[dict[str, Any]] = []
    cancelled: list[str] = []
    for k in range(begin, len(batches)):
        pending = [loaded.by_id[i] for i in progress["pending"]] if k == begin and progress["pending"] else batches[k]
        if k < reread_until:
            pending = _reread(sys_, pending, records)
        if activity.is_cancelled():  # `revoke runs cancel`: the batch in flight was finished; nothing more starts
            cancelled += [a.id for a in pending]
            if k == len(batches) - 1 or k + 1 >= reread_until:
                cancelled += [a.id for b in batches[k + 1:] for a in b]
                _save(inp, progress, beat, records, len(batches), f"b{k:05d}-cancelled", None, attempts)
                return ShardDone(parts=progress["parts"], cancelled=cancelled, pacing=progress["pacing"])
            continue  # batches an earlier attempt may have written are read back first, never left unknown
        if pending:
            for a in pending:
                attempts.setdefault(a.id, 0)
            records += stamped(intents(sys_, pending))
            done, still, waits, states = attempt_batch(sys_, pending, attempts, {})
            records += stamped(done)
            stopping = activity.is_cancelled()  # `revoke runs cancel` while throttled: no retry starts
            # `still` holds only actions within the engine's max_attempts (attempt_batch): the bound is per action
            if still and not stopping:
                progress["throttled_in"] = activity.info().attempt
                _save(inp, progress, beat, records, k, f"b{k:05d}-a{activity.info().attempt}", still, attempts)
                # what is left of the wait the service asked for (the read-back spent some); never 0, which
                # Temporal would take for "no delay given" and replace with its policy's backoff
                delay = min(max(max(waits, default=1.0), MIN_RETRY_DELAY), spec.max_retry_delay)
                raise ApplicationError(f"{inp.shard.system}: {len(still)} action(s) throttled; retrying in "
                                       f"{delay:.1f}s", type="Throttled", next_retry_delay=dt.timedelta(seconds=delay))
            records += stamped(budget_spent(sys_, still, attempts, states, THROTTLED_CANCELLED if stopping else None))
        if len(records) >= 2 * CHECKPOINT_ACTIONS or k == len(batches) - 1:
            _save(inp, progress, beat, records, k + 1, f"b{k:05d}", None, attempts)
            records = []
    return ShardDone(parts=progress["parts"], cancelled=cancelled, pacing=progress["pacing"])


def pacing(inp: ShardInput) -> dict[str, Any] | None:
    """What the shard's system learnt of its budget so far, carried by the heartbeat (a retry, on any worker,
    carries on from it) and by the shard's answer (the next shard does)."""
    sys_ = CACHE.held(inp.stage_run_id, inp.shard.system)
    return sys_.connector.pacing() if sys_ is not None and sys_.cls.one_budget else None


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
    key = part_key(inp.spec.run_id, inp.stage_run_id, f"w{inp.wave:03d}-shard{inp.index:05d}-{name}")
    if records:
        CACHE.run(inp.spec).store.put(key, part_text(records))
        progress["parts"].append(key)
    progress["next"] = next_batch
    progress["pending"] = [a.id for a in pending] if pending else None
    progress["pacing"] = pacing(inp) or progress.get("pacing")
    progress["attempts"] = {a.id: attempts.get(a.id, 0) for a in pending or []}
    beat.latest = json.loads(json.dumps(progress))
    activity.heartbeat(*beat.details())


from revoke.scheduler.journal import journal  # noqa: E402 - it uses the shard's part names

ACTIVITIES = [check, shard, journal]
__all__ = ["ACTIVITIES", "MANIFEST", "now"]
