"""The workflow of a scheduled run: timers, the order of activities, retry policies. Deterministic: it imports
only Temporal and `revoke.scheduler.spec`, and keeps no clock but the workflow's own."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from revoke.scheduler.spec import (
        CHECK,
        FINAL_ERRORS,
        JOURNAL,
        SHARD,
        WORKFLOW,
        Checked,
        JournalInput,
        RunSpec,
        Segment,
        ShardDone,
        ShardInput,
        StageDone,
        StageInput,
        WaveSpec,
        stage_run_id,
    )


def _policy(spec: RunSpec, attempts: int | None = None) -> RetryPolicy:
    # the engine's bound: max_attempts per action (a shard's attempt is one attempt of each action of the batch
    # it retries: a shard gets that many per batch), backing off 1 s, 2 s, 4 s... up to 30 s unless the provider
    # says how long (next_retry_delay)
    return RetryPolicy(initial_interval=dt.timedelta(seconds=1), backoff_coefficient=2.0,
                       maximum_interval=dt.timedelta(seconds=30), maximum_attempts=attempts or spec.max_attempts,
                       non_retryable_error_types=FINAL_ERRORS)


@workflow.defn(name=WORKFLOW)
class RevokeRun:
    def __init__(self) -> None:
        self._state: dict[str, Any] = {"phase": "starting", "stage": 0, "stages": [], "shards": {}, "waves": []}

    @workflow.query
    def status(self) -> dict[str, Any]:
        return self._state

    @workflow.run
    async def run(self, spec: RunSpec) -> list[StageDone]:
        """Each wave on its own durable timer, in time order; a stage's run folder is sealed after its last wave.
        A run cancelled, or refused at a later wave, still seals every stage it began, saying what was not done."""
        self._state["waves"] = [{"wave": w.index + 1, "stage": w.stage + 1, "fires_at": w.fire_at,
                                 "people": w.people, "lists": w.lists, "state": "waiting"} for w in spec.waves]
        segments: dict[int, list[Segment]] = {}
        done: list[StageDone] = []
        stopped, refusal = "", None
        try:
            for wave in spec.waves:
                await self._wait(wave)
                await self._wave(spec, wave, segments.setdefault(wave.stage, []))
                if self._cancelled():
                    stopped = "cancelled"
                    break
                if wave.last_of_stage:
                    done.append(await self._journal(spec, wave.stage, segments[wave.stage]))
                    del segments[wave.stage]
        except (asyncio.CancelledError, ActivityError) as err:
            if self._cancelled():
                stopped = "cancelled"
            elif isinstance(err, ActivityError):  # a refusal no retry changes (stale, guardrail) at a later wave
                stopped, refusal = f"stopped: {err.cause or err}", err
            else:
                raise
        if not stopped:
            self._state["phase"] = "done"
            return done
        for stage in sorted(k for k, v in segments.items() if v):  # the stages that began
            began = {seg.wave for seg in segments[stage]}
            not_run = [w.index for w in spec.waves if w.stage == stage and w.index not in began]
            done.append(await self._journal(spec, stage, segments[stage], not_run, stopped))
        for w in self._state["waves"]:
            if w["state"] in ("waiting", "checking", "applying"):
                w["state"] = "cancelled" if stopped == "cancelled" else "not run"
        self._state["phase"] = "cancelled" if stopped == "cancelled" else "stopped"
        if refusal is not None:
            raise refusal
        raise asyncio.CancelledError()

    def _cancelled(self) -> bool:
        return workflow.cancellation_reason() is not None

    async def _wait(self, wave: WaveSpec) -> None:
        at = dt.datetime.fromisoformat(wave.fire_at)
        self._state.update(phase="waiting", stage=wave.stage + 1, wave=wave.index + 1, fires_at=wave.fire_at)
        wait = (at - workflow.now()).total_seconds()
        if wait > 0:
            await workflow.sleep(wait)  # a durable timer: it survives servers and workers restarting

    async def _wave(self, spec: RunSpec, wave: WaveSpec, segments: list[Segment]) -> None:
        """The wave's check phase, then its shards; its segment joins the stage's once the check passed. Cancelled
        while they run, each running shard stops after the batch in flight and says what it did not start; the
        segment carries all of it to the journal, as it does when a shard is refused."""
        mark = self._state["waves"][wave.index]
        self._state["phase"] = mark["state"] = "checking"
        checked: Checked = await workflow.execute_activity(
            CHECK, StageInput(spec, wave.stage, wave.index), result_type=Checked,
            start_to_close_timeout=dt.timedelta(hours=2), heartbeat_timeout=_beat(spec), retry_policy=_policy(spec))
        segment = Segment(wave.index, checked.header_part)
        segments.append(segment)
        if self._cancelled():
            segment.cancelled = [i for s in checked.shards for i in s.ids]
            return
        self._state.update(phase="applying", run_id=checked.stage_run_id,
                           shards={"total": len(checked.shards), "done": 0, "lost": 0})
        mark["state"] = "applying"
        results: list[ShardDone | None] = [None] * len(checked.shards)
        started: set[int] = set()
        refused: ActivityError | None = None
        try:
            await self._shards(spec, wave, checked, results, started, segment.lost)
        except asyncio.CancelledError:
            pass  # every shard has answered (gather waits for them): what each did is in results
        except ActivityError as err:
            refused = err
        for i, shard in enumerate(checked.shards):
            result = results[i]
            if result is not None:
                segment.parts += result.parts
                segment.cancelled += result.cancelled
            elif i not in started:
                segment.cancelled += shard.ids
            elif not any(x["index"] == i for x in segment.lost):
                # refused, or cancelled as its answer came in (Temporal drops that answer): the journal reads
                # what its checkpoints saved, and records the rest as not known to be done
                why = "cancelled while it ran" if self._cancelled() else f"refused: {refused.cause if refused else ''}"
                segment.lost.append({"index": i, "ids": shard.ids, "error": why})
        mark["state"] = "cancelled" if self._cancelled() else ("refused" if refused else "done")
        if refused is not None:
            raise refused

    async def _shards(self, spec: RunSpec, wave: WaveSpec, checked: Checked, results: list[ShardDone | None],
                      started: set[int], lost: list[dict[str, Any]]) -> None:
        pacing: dict[str, Any] = dict(checked.pacing)  # per one-budget system, what its last shard learnt

        async def one(i: int, gate: asyncio.Semaphore) -> None:
            async with gate:
                started.add(i)
                system = checked.shards[i].system
                try:
                    results[i] = done = await workflow.execute_activity(
                        SHARD, ShardInput(spec, wave.stage, checked.stage_run_id, i, checked.shards[i], wave.index,
                                          pacing.get(system)),
                        result_type=ShardDone, start_to_close_timeout=dt.timedelta(hours=6),
                        heartbeat_timeout=_beat(spec),
                        retry_policy=_policy(spec, attempts=spec.max_attempts * max(1, checked.shards[i].batches)),
                        # a cancelled run waits for each running shard to finish its batch and say what it did
                        cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
                    self._state["shards"]["done"] += 1
                    if done.pacing:
                        pacing[system] = done.pacing
                except ActivityError as err:
                    cause = err.cause
                    if isinstance(cause, ApplicationError) and cause.type in FINAL_ERRORS:
                        raise
                    lost.append({"index": i, "ids": checked.shards[i].ids, "error": str(cause or err)})
                    self._state["shards"]["lost"] += 1

        # each system runs `concurrency` shards at a time, as `revoke apply` runs that many batches, or one at a
        # time when all of its requests spend one budget (more at once, on several workers, would each learn a
        # share of it by being throttled, and add nothing the budget allows); systems run side by side
        gates = {name: asyncio.Semaphore(1 if name in checked.one_budget else max(1, n))
                 for name, n in checked.concurrency.items()}

        async def system(name: str) -> None:
            for last in (False, True):  # kinds that end the account once the system's other changes are done
                if self._cancelled():
                    return
                _first_error(await asyncio.gather(*(one(i, gates[name]) for i, s in enumerate(checked.shards)
                                                    if s.system == name and s.last == last), return_exceptions=True))

        # return_exceptions: every shard answers before this returns or raises (a plain gather raises at the first
        # cancelled child, while the others still write)
        _first_error(await asyncio.gather(*(system(name) for name in checked.concurrency), return_exceptions=True))

    async def _journal(self, spec: RunSpec, stage: int, segments: list[Segment], not_run: list[int] | None = None,
                       stopped: str = "") -> StageDone:
        self._state["phase"] = "journal"
        done: StageDone = await workflow.execute_activity(
            JOURNAL, JournalInput(spec, stage, stage_run_id(spec.run_id, stage), segments, not_run or [], stopped),
            result_type=StageDone, start_to_close_timeout=dt.timedelta(hours=2), heartbeat_timeout=_beat(spec),
            retry_policy=_policy(spec, attempts=10),
            # a journal under way is finished, never cut short: the run folder it seals is the run's evidence
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
        self._state["stages"].append({"run_id": done.run_id, "location": done.location, "counts": done.counts,
                                      "exit_code": done.exit_code, "waves": done.waves})
        return done


def _first_error(outcomes: list[Any]) -> None:
    """Raise what a gather with return_exceptions collected: a refusal first, else a cancellation."""
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    for err in errors:
        if not isinstance(err, asyncio.CancelledError):
            raise err
    if errors:
        raise errors[0]


def _beat(spec: RunSpec) -> dt.timedelta:
    return dt.timedelta(seconds=spec.heartbeat_seconds)
