"""Wait until the scheduled runs named on the command line have closed; print, as JSON, each one's status, close
time (Temporal's own record) and its first stage's exit code.

A child process of bench/tenants_bench.py, so the bench process never holds a Temporal client (whose Rust
runtime can abort an interpreter that exits normally, temporalio/sdk-python#300).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def watch(run_ids: list[str]) -> dict[str, Any]:
    from revoke.scheduler import client
    from revoke.scheduler.spec import StageDone

    temporal = await client.connect(client.settings())

    async def one(run_id: str) -> tuple[str, dict[str, Any]]:
        handle = temporal.get_workflow_handle(run_id, result_type=list[StageDone])
        try:
            stages = await handle.result()
            code, counts, location = stages[0].exit_code, stages[0].counts, stages[0].location
        except Exception as err:  # noqa: BLE001 - reported, the bench decides
            code, counts, location = -1, {"error": str(err)}, ""
        desc = await handle.describe()
        return run_id, {"status": desc.status.name.lower() if desc.status else "?",
                        "closed": desc.close_time.isoformat() if desc.close_time else None,
                        "started": desc.start_time.isoformat(), "exit_code": code, "counts": counts,
                        "location": location}

    return dict(await asyncio.gather(*(one(r) for r in run_ids)))


if __name__ == "__main__":
    out = asyncio.run(watch(sys.argv[1:]))
    print(json.dumps(out))
    sys.stdout.flush()
    os._exit(0)
