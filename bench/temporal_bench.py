"""Benchmark 10: benchmark 1's leavers through a scheduled run on Temporal, with 1 and 3 workers, against a local
`revoke apply` of the same plan (issue 21: wall <= 1.3x), and the Temporal server's own share.

Workers are started (and warm) before the clock starts, as they run all the time in production; each Temporal
run is scheduled to fire now from a child process (bench/temporal_drive.py) and timed until the workflow closes.
Each run starts from the same slapd database. The server's share is the CPU time the dev server's process used
during the run, read from /proc.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.common import BENCH_DIR, Row, check, ratio, revoke, run_measured
from bench.ldap_bench import build_world, run_apply, run_plan

SHARD_ACTIONS = 200


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _workers(n: int, env: dict[str, str], logs: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(n):
        log = (logs / f"worker{i}.log").open("wb")
        procs.append(subprocess.Popen([sys.executable, "-m", "revoke.cli", "worker"], env=env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True))
    time.sleep(4)  # polling before the clock starts
    return procs


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()


def bench_temporal(root: Path, n: int) -> list[Row]:
    from revoke.sandbox.temporal import TemporalDevServer

    name = f"10 Temporal ({n} leavers x 3 of 20 groups, benchmark 1)"
    root = root / "temporal"  # its own world: benchmark 1 may have built one of this size in `root` already
    root.mkdir(parents=True, exist_ok=True)
    w = build_world(root, n)
    server = TemporalDevServer(root / "server").start()
    rows: list[Row] = []
    try:
        w.reset()
        _, _, plan_file = run_plan(w)
        local, _ = run_apply(w, plan_file)
        rows.append(Row(name, "local revoke apply wall", f"{local.seconds:.2f} s"))
        for count in (1, 3):
            w.reset()
            _, _, plan_file = run_plan(w)  # a plan of its own: a completed workflow id is never reused
            env = {**os.environ, **w.env, "REVOKE_TEMPORAL_ADDRESS": server.address,
                   "REVOKE_TEMPORAL_TASK_QUEUE": f"bench-{count}", "REVOKE_WORKER_CACHE": str(w.workdir / "cache")}
            logs = w.workdir / f"workers-{count}"
            logs.mkdir(exist_ok=True)
            procs = _workers(count, env, logs)
            try:
                assert server.proc is not None
                cpu0 = _cpu_seconds(server.proc.pid)
                m = run_measured([sys.executable, str(BENCH_DIR / "temporal_drive.py"), str(plan_file),
                                  str(w.workdir / "evidence"), str(SHARD_ACTIONS)], env=env)
                server_cpu = _cpu_seconds(server.proc.pid) - cpu0
            finally:
                _stop(procs)
            check(m.code == 0, "scheduled run", m)
            done = json.loads(m.stdout)
            stage = done["stages"][0]
            state = w.end_state()
            check(state == (n, 0) and stage["exit_code"] == 0, f"scheduled run end state {state}", m)
            verified = run_measured(revoke("evidence", "verify", stage["location"]))
            check(verified.code == 0, "evidence verify", verified)
            x = ratio(m.seconds, local.seconds)
            rows += [
                Row(name, f"scheduled run wall, {count} worker{'s' if count > 1 else ''} (schedule to workflow "
                    "closed)", f"{m.seconds:.2f} s = {x:.2f}x local apply", "<= 1.3x local", x <= 1.3),
                Row(name, f"Temporal server share, {count} worker{'s' if count > 1 else ''}",
                    f"{server_cpu:.2f} CPU s ({ratio(server_cpu, m.seconds):.0%} of wall); "
                    f"{done['events']} history events, {-(-8 * n // 2 // SHARD_ACTIONS)} shards"),
            ]
    finally:
        server.stop()
        w.server.stop()
    return rows


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory(prefix="revoke-bench-temporal-") as tmp:
        for row in bench_temporal(Path(tmp), size):
            print(f"{row.metric}: {row.value}" + (f" (target {row.target}: {'met' if row.met else 'NOT met'})"
                                                 if row.target else ""))
