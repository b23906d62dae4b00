"""What the activities share in a worker process: the scheduled plan, its trusted runbook, connected systems.

A worker runs many shard activities of the same run, often side by side: it loads the plan once and keeps one
connected system per (run, system), as `revoke apply` keeps one per system for its threads (connectors are made
for that). Systems idle for `IDLE_SECONDS` are closed.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from revoke import guardrails
from revoke.engine import ApplyOptions, SystemRun, open_systems
from revoke.errors import RevokeError
from revoke.evidence import iso, now
from revoke.plan import Action, Plan, load_plan
from revoke.runbook import Runbook
from revoke.scheduler.spec import RunSpec
from revoke.scheduler.store import SCHEDULED, EvidenceStore, fetch_plan, open_store

IDLE_SECONDS = 600


class PlanMismatch(RevokeError):
    pass


@dataclass
class LoadedRun:
    store: EvidenceStore
    plan: Plan
    rb: Runbook
    runbook_warning: str
    by_id: dict[str, Action]


def cache_dir() -> Path:
    return Path(os.environ.get("REVOKE_WORKER_CACHE") or Path(tempfile.gettempdir()) / f"revoke-worker-{os.getuid()}")


def options_for(spec: RunSpec, rb: Runbook) -> ApplyOptions:
    return ApplyOptions(evidence_root=Path("."), before_final_day=spec.before_final_day,
                        skip_stale=spec.skip_stale or rb.on_stale == "skip", fsync=spec.fsync,
                        max_attempts=spec.max_attempts, max_wait_seconds=spec.max_retry_delay,
                        runbook_changed_ok=spec.runbook_changed_ok)


class RunCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, LoadedRun] = {}
        self._systems: dict[tuple[str, str], tuple[SystemRun, list[float]]] = {}
        self._opening: dict[tuple[str, str], threading.Lock] = {}

    def run(self, spec: RunSpec) -> LoadedRun:
        with self._lock:
            loaded = self._runs.get(spec.run_id)
        if loaded is not None:
            return loaded
        store = open_store(spec.store)
        plan = load_plan(fetch_plan(store, spec.run_id, cache_dir()))
        if plan.digest() != spec.plan_digest:
            raise PlanMismatch(f"{store.location(SCHEDULED + '/' + spec.run_id)}: the plan there is not the one "
                               "that was scheduled (its digest differs): nothing was changed")
        rb, warning = guardrails.trusted_runbook(plan, spec.runbook_changed_ok)
        loaded = LoadedRun(store, plan, rb, warning, {a.id: a for a in plan.actions})
        with self._lock:
            self._runs[spec.run_id] = loaded
        return loaded

    def system(self, spec: RunSpec, stage_run_id: str, name: str) -> SystemRun:
        """The system connected for this run (connect() answers the operator identity for the records)."""
        key = (stage_run_id, name)
        self._close_idle()
        with self._lock:
            lock = self._opening.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                held = self._systems.get(key)
                if held is not None:
                    held[1][0] = time.monotonic()
                    return held[0]
            loaded = self.run(spec)
            systems, _, _ = open_systems(loaded.plan, loaded.rb, options_for(spec, loaded.rb), "apply",
                                         stage_run_id, only=[name])
            sys_ = systems[name]
            sys_.identity = sys_.connector.connect()
            with self._lock:
                self._systems[key] = (sys_, [time.monotonic()])
            return sys_

    def held(self, stage_run_id: str, name: str) -> SystemRun | None:
        """The system as this worker holds it for the run, if it does."""
        with self._lock:
            held = self._systems.get((stage_run_id, name))
        return held[0] if held is not None else None

    def drop(self, stage_run_id: str, name: str) -> None:
        """A system whose connection failed is made again by the next attempt."""
        with self._lock:
            held = self._systems.pop((stage_run_id, name), None)
        if held is not None:
            held[0].connector.close()

    def _close_idle(self) -> None:
        cutoff = time.monotonic() - IDLE_SECONDS
        with self._lock:
            idle = [k for k, (_, used) in self._systems.items() if used[0] < cutoff]
            closing = [self._systems.pop(k)[0] for k in idle]
        for sys_ in closing:
            sys_.connector.close()

    def close(self) -> None:
        with self._lock:
            closing = [s for s, _ in self._systems.values()]
            self._systems.clear()
        for sys_ in closing:
            sys_.connector.close()


CACHE = RunCache()


def stamped(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records keep the time they were made: the journal chains them later, in the workflow's order."""
    t = iso(now())
    for r in records:
        r.setdefault("time", t)
    return records


def part_text(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False, default=str) + "\n" for r in records).encode()


def read_part(store: EvidenceStore, key: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in store.get(key).decode("utf-8").splitlines() if line.strip()]


def part_prefix(run_id: str, stage_run_id: str) -> str:
    return f"{SCHEDULED}/{run_id}/parts/{stage_run_id}/"


def part_key(run_id: str, stage_run_id: str, name: str) -> str:
    return f"{part_prefix(run_id, stage_run_id)}{name}.jsonl"
