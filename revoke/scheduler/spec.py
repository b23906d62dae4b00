"""The values a scheduled run carries through Temporal: plain dataclasses of strings and numbers.

The workflow imports only this module (and Temporal's), so nothing that reads files, clocks or the network can
leak into its deterministic code.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

WORKFLOW = "RevokeRun"
TASK_QUEUE = "revoke"
CHECK, SHARD, JOURNAL = "revoke.check", "revoke.shard", "revoke.journal"
# errors that no retry can fix: the run stops and says why (Temporal's non-retryable types)
FINAL_ERRORS = ["StalePlan", "GuardrailRefused", "RunbookError", "ApprovalMissing", "PlanMismatch", "SecretMissing"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION = r"^\s*(\d+)\s*([smhdw])\s*$"


def seconds(duration: str) -> float:
    """'30d', '12h', '90s' as seconds."""
    m = re.match(DURATION, duration)
    if not m:
        raise ValueError(f"'{duration}' is not a duration: write a number and a unit, e.g. 30d, 12h, 15m, 90s")
    return float(int(m.group(1)) * _UNITS[m.group(2)])


@dataclass
class StageSpec:
    index: int
    after_seconds: float          # after the first stage's fire time (0 for the first stage)
    kinds: list[str] = field(default_factory=list)   # empty: every kind that no later stage claims
    label: str = ""


@dataclass
class WaveSpec:
    """The people of one stage who leave at one time: their actions fire together, on their own timer."""
    index: int                    # in firing order, over all stages
    stage: int
    fire_at: str                  # ISO 8601, UTC
    people: list[str] = field(default_factory=list)
    lists: bool = False           # also the stage's actions of no one person (lists to close)
    last_of_stage: bool = True    # the stage's run folder is sealed once this wave is done


@dataclass
class RunSpec:
    run_id: str                   # also the workflow id
    store: str                    # evidence store: a folder or s3://bucket/prefix
    plan_digest: str              # the plan the store must hold for this run
    fire_at: str                  # ISO 8601, UTC: the first wave's
    stages: list[StageSpec]
    waves: list[WaveSpec] = field(default_factory=list)
    at: str = ""                  # --at: every person's time (ISO, UTC); empty: each person's own leave time
    engagement: str = ""
    skip_stale: bool = False
    before_final_day: bool = False
    runbook_changed_ok: bool = False
    max_attempts: int = 5         # per action and per shard, as the engine's retry bound
    max_retry_delay: float = 300  # longest wait between two attempts, as the engine's wait budget
    heartbeat_seconds: float = 30
    shard_actions: int = 200      # actions per shard activity (whole engine batches)
    fsync: bool = True


@dataclass
class StageInput:
    spec: RunSpec
    stage: int
    wave: int = 0


@dataclass
class Shard:
    system: str
    ids: list[str]
    last: bool = False            # kinds that end the account: started once the system's other shards are done
    # its engine batches: each may be throttled and retried within the engine's max_attempts of its own actions,
    # so a shard is retried up to that many times its batches (not max_attempts in all, however many batches)
    batches: int = 1


@dataclass
class Checked:
    stage_run_id: str
    header_part: str              # the store key of the records the check phase wrote (run, notices, settled)
    shards: list[Shard]
    concurrency: dict[str, int]   # per system, as the runbook says (the engine's `concurrency`)
    actions: int = 0
    # systems whose every request spends one budget the connector paces to (Graph): their shards run one at a
    # time, each carrying on from the pacing the one before learnt (the check phase's, for the first)
    one_budget: list[str] = field(default_factory=list)
    pacing: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class ShardInput:
    spec: RunSpec
    stage: int
    stage_run_id: str
    index: int
    shard: Shard
    wave: int = 0
    pacing: dict[str, Any] | None = None   # what the system's last shard learnt of its budget (one_budget)


@dataclass
class ShardDone:
    parts: list[str]
    outcomes: dict[str, int] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)   # actions the shard stopped before (the run was cancelled)
    pacing: dict[str, Any] | None = None   # what it learnt of the system's budget, for the next shard


@dataclass
class Segment:
    """One wave's records in the workflow's order: its check, its shards' parts, and what did not get done."""
    wave: int
    header_part: str
    parts: list[str] = field(default_factory=list)
    # shards that never finished (every attempt failed, or cancelled between attempts): {"index", "ids", "error"};
    # what their checkpoints saved is journalled, the rest is recorded as not known to be done
    lost: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)   # actions never attempted: the run was cancelled first


@dataclass
class JournalInput:
    spec: RunSpec
    stage: int
    stage_run_id: str
    segments: list[Segment]
    not_run: list[int] = field(default_factory=list)     # waves of this stage that never fired (run stopped first)
    stopped: str = ""             # why the run stopped before its end: "cancelled", or the refusal


@dataclass
class StageDone:
    stage: int
    run_id: str
    location: str
    counts: dict[str, int]
    exit_code: int
    checklist: str = ""
    waves: list[dict[str, Any]] = field(default_factory=list)   # each wave's time, people and counts


def stage_run_id(run_id: str, stage: int) -> str:
    return run_id if stage == 0 else f"{run_id}-stage{stage + 1}"


def utc_iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat(timespec="seconds")
