"""How often a shard is retried: throttling is bounded per action (the engine's max_attempts, as in `revoke
apply`), any other stop (a worker that died, a system out of reach) by max_attempts for the whole shard, so a
shard of many batches against a server that is down is not retried for hours. The count travels in the heartbeat,
as Temporal hands it to the next attempt, whichever worker runs it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from revoke.scheduler.activities import shard
from revoke.scheduler.spec import RunSpec, Shard, ShardInput


def _run(attempt: int, saved: dict[str, Any]) -> tuple[BaseException | None, list[Any]]:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt, heartbeat_details=[saved] if saved else [])
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details[0] if details else None)
    # a store nobody can open: an attempt that gets past the bound stops at once, as a worker's would
    spec = RunSpec(run_id="r", store="/nonexistent/store", plan_digest="d", fire_at="2026-12-03T00:00:00+00:00",
                   stages=[], max_attempts=5)
    try:
        env.run(shard, ShardInput(spec, 0, "r-1", 0, Shard("m365", ["a1", "a2"], batches=2)))
    except BaseException as err:  # noqa: BLE001 - the test looks at what stopped it
        return err, beats
    return None, beats


def test_a_shard_that_stopped_max_attempts_times_is_not_tried_again() -> None:
    err, beats = _run(attempt=6, saved={"failures": 4, "next": 1})
    assert isinstance(err, ApplicationError) and err.type == "ShardFailed" and err.non_retryable, err
    assert not beats  # refused before anything: no heartbeat, no connection


@pytest.mark.parametrize(("attempt", "saved", "counted"), [
    (1, {}, 0),                                       # the first attempt
    (2, {"failures": 0, "next": 1}, 1),               # after a worker died: one more
    (3, {"failures": 1, "throttled_in": 2}, 1),       # after a throttled stop: not a failure
    (4, {"failures": 1, "throttled_in": 2}, 2),       # an older throttled mark (the newest heartbeat was lost)
])
def test_each_stop_but_a_throttled_one_counts_and_is_said_at_once(attempt: int, saved: dict[str, Any],
                                                                  counted: int) -> None:
    err, beats = _run(attempt, saved)
    assert not (isinstance(err, ApplicationError) and err.type == "ShardFailed"), err
    assert beats and beats[0]["failures"] == counted, beats
