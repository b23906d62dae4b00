"""The workflow of a scheduled run: timers, the order of activities, retry policies. Deterministic: it imports
only Temporal and `revoke.scheduler.spec`, and keeps no clock but the workflow's own."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

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
        ShardDone,
        ShardInput,
        StageDone,
        StageInput,
        StageSpec,
    )


def _policy(spec: RunSpec, attempts: int | None = None) -> RetryPolicy:
    # the engine's bound: max_attempts per action (a shard's attempt is one attempt of each of its actions),
    # backing off 1 s, 2 s, 4 s... up to 30 s unless the provider says how long (next_retry_delay)
    return RetryPolicy(initial_interval=dt.timedelta(seconds=1), backoff_coefficient=2.0,
                       maximum_interval=dt.timedelta(seconds=30), maximum_attempts=attempts or spec.max_attempts,
                       non_retryable_error_types=FINAL_ERRORS)


@workflow.defn(name=WORKFLOW)
class RevokeRun:
    def __init__(self) -> None:
        self._state: dict[str, Any] = {"phase": "starting", "stage": 0, "stages": [], "shards": {}}

    @workflow.query
    def status(self) -> dict[str, Any]:
        return self._state

    @workflow.run
    async def run(self, spec: RunSpec) -> list[StageDone]:
        fire = dt.datetime.fromisoformat(spec.fire_at)
        done: list[StageDone] = []
        for stage in spec.stages:
            at = fire + dt.timedelta(seconds=stage.after_seconds)
            self._state.update(phase="waiting", stage=stage.index + 1, fires_at=at.isoformat())
            wait = (at - workflow.now()).total_seconds()
            if wait > 0:
                await workflow.sleep(wait)  # a durable timer: it survives servers and workers restarting
            done.append(await self._stage(spec, stage))
            self._state["stages"].append({"run_id": done[-1].run_id, "location": done[-1].location,
                                          "counts": done[-1].counts, "exit_code": done[-1].exit_code})
        self._state["phase"] = "done"
        return done

    async def _stage(self, spec: RunSpec, stage: StageSpec) -> StageDone:
        self._state["phase"] = "checking"
        checked: Checked = await workflow.execute_activity(
            CHECK, StageInput(spec, stage.index), result_type=Checked,
            start_to_close_timeout=dt.timedelta(hours=2), heartbeat_timeout=_beat(spec), retry_policy=_policy(spec))
        self._state.update(phase="applying", run_id=checked.stage_run_id,
                           shards={"total": len(checked.shards), "done": 0, "lost": 0})
        results: list[ShardDone | None] = [None] * len(checked.shards)
        lost: list[dict[str, Any]] = []

        async def one(i: int, gate: asyncio.Semaphore) -> None:
            async with gate:
                try:
                    results[i] = await workflow.execute_activity(
                        SHARD, ShardInput(spec, stage.index, checked.stage_run_id, i, checked.shards[i]),
                        result_type=ShardDone, start_to_close_timeout=dt.timedelta(hours=6),
                        heartbeat_timeout=_beat(spec), retry_policy=_policy(spec))
                    self._state["shards"]["done"] += 1
                except ActivityError as err:
                    cause = err.cause
                    if isinstance(cause, ApplicationError) and cause.type in FINAL_ERRORS:
                        raise
                    lost.append({"ids": checked.shards[i].ids, "error": str(cause or err)})
                    self._state["shards"]["lost"] += 1

        # each system runs `concurrency` shards at a time, as `revoke apply` runs that many batches; systems
        # run side by side
        gates = {name: asyncio.Semaphore(max(1, n)) for name, n in checked.concurrency.items()}

        async def system(name: str) -> None:
            for last in (False, True):  # kinds that end the account once the system's other changes are done
                await asyncio.gather(*(one(i, gates[name]) for i, s in enumerate(checked.shards)
                                       if s.system == name and s.last == last))

        await asyncio.gather(*(system(name) for name in checked.concurrency))
        self._state["phase"] = "journal"
        parts = [p for r in results if r is not None for p in r.parts]
        return await workflow.execute_activity(
            JOURNAL, JournalInput(spec, stage.index, checked.stage_run_id, checked.header_part, parts, lost),
            result_type=StageDone, start_to_close_timeout=dt.timedelta(hours=2), heartbeat_timeout=_beat(spec),
            retry_policy=_policy(spec, attempts=10))


def _beat(spec: RunSpec) -> dt.timedelta:
    return dt.timedelta(seconds=spec.heartbeat_seconds)
