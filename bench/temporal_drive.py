"""Schedule a saved plan on Temporal to fire now and wait for the workflow to finish; print what it did as JSON.

A child process of bench/temporal_bench.py, so the bench process never holds a Temporal client (whose Rust
runtime can abort an interpreter that exits normally, temporalio/sdk-python#300).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def drive(plan_file: Path, store_url: str, shard_actions: int) -> dict:
    from revoke.plan import load_plan
    from revoke.scheduler import client
    from revoke.scheduler.spec import StageDone
    from revoke.scheduler.store import open_store

    plan = load_plan(plan_file)
    store = open_store(store_url)
    run_id = client.run_id_for(plan)
    client.store_plan(store, plan, plan_file, run_id)
    spec = client.run_spec(plan, plan.runbook, store, dt.datetime.now(dt.timezone.utc), run_id,
                           shard_actions=shard_actions, heartbeat_seconds=30)
    s = client.settings()
    started = time.perf_counter()
    await client.start(s, spec)
    temporal = await client.connect(s)
    handle = temporal.get_workflow_handle(run_id, result_type=list[StageDone])
    stages = await handle.result()
    wall = time.perf_counter() - started
    events = 0
    async for _ in handle.fetch_history_events():
        events += 1
    return {"run_id": run_id, "seconds": wall, "events": events, "stages": [vars(d) for d in stages]}


if __name__ == "__main__":
    out = asyncio.run(drive(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
    print(json.dumps(out))
    sys.stdout.flush()
    os._exit(0)
