"""Benchmark 11: 20 Microsoft 365 tenants, each with its own Graph rate limit, scheduled to fire at the same second
on 3 Temporal workers (issue 21: all finish within 1.3x the slowest tenant's own rate-limit floor).

How a service provider runs it: one runbook (and plan, and scheduled run) per customer tenant. Each tenant is its
own engagement with its own evidence folder, checklist and approvals, and a stale target or a refusal in one
tenant stops that tenant's run, never the 19 others. All 20 are scheduled with `revoke schedule --at T` for the
same T, a few seconds after the last one is scheduled.

The Graph side is one fake endpoint serving the 20 tenants (as graph.microsoft.com serves every tenant): each has
its own directory and app registration, and its app its own token bucket (Graph limits identity requests per app
and tenant), at a rate of its own; past it, 429 with Retry-After. A tenant's floor is the Graph requests it made
(counted in the fake's log, throttled ones excluded: the check phase's re-reads at fire time, the writes and the
read-backs) over its rate. Its time is from the fire time to its workflow's close (check, shards, journal with
seal and closure reports), as Temporal recorded it. Workers are started and polling before anything is
scheduled. The server's share is the CPU time of the dev server's process from the fire time to the last close.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import BENCH_DIR, Measured, Row, check, ratio, revoke, run_measured, write_runbook
from bench.temporal_bench import _cpu_seconds, _stop, _workers

OPS_PER_LEAVER = 7.0   # check-phase reads, three writes, read-backs: to size each tenant's world before measuring
GROUPS = 2


@dataclass
class Tenant:
    index: int
    fake: Any            # the tenant's GraphFake (hosted by the first one)
    rate: int
    leavers: list[str]
    groups: list[str]
    stayer: str
    plan_file: Path | None = None
    run_id: str = ""


def _shape(count: int, floor_seconds: tuple[float, float], rates: tuple[int, int]) -> list[tuple[int, int]]:
    """(rate, leavers) per tenant: rates spread over `rates`, target floors over `floor_seconds`, in an order that
    does not tie the fastest tenants to the smallest worlds."""
    out = []
    for i in range(count):
        rate = rates[0] + (rates[1] - rates[0]) * i // max(1, count - 1)
        floor = floor_seconds[0] + (floor_seconds[1] - floor_seconds[0]) * ((i * 7) % count) / max(1, count - 1)
        out.append((rate, max(1, round(floor * rate / OPS_PER_LEAVER))))
    return out


def _build(work: Path, host: Any, shape: list[tuple[int, int]]) -> tuple[list[Tenant], dict[str, str]]:
    tenants, env = [], {}
    for i, (rate, n) in enumerate(shape):
        fake = host if i == 0 else host.add_tenant()
        client_id, secret = fake.add_app(name=f"revoke (provider, tenant {i:02d})")
        env[f"REVOKE_GRAPH_T{i:02d}"] = secret
        domain = f"tenant{i:02d}.test"
        groups = [fake.add_group(f"Engagement {g}") for g in range(GROUPS)]
        stayer = fake.add_user(f"stays@{domain}")
        for gid in groups:
            fake.add_member(gid, stayer)
        leavers, people = [], []
        for k in range(n):
            uid = fake.add_user(f"leaver{k:04d}@{domain}")
            fake.add_member(groups[k % GROUPS], uid)
            leavers.append(uid)
            people.append({"name": f"Leaver {i:02d}-{k}", "ids": {"m365": f"leaver{k:04d}@{domain}"}})
        system = {"connector": "entra", "blast_radius": n + 10, "settings": {
            "tenant_id": fake.tenant_id, "client_id": client_id, "client_secret": {"secret": f"graph_t{i:02d}"},
            "authority_host": fake.authority, "graph_url": fake.base_url, "ca_file": fake.ca_file,
            "instance_discovery": False}}
        folder = work / f"tenant{i:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        write_runbook(folder / "runbook.yaml", f"offboarding-tenant{i:02d}", {"m365": system}, people)
        tenants.append(Tenant(i, fake, rate, leavers, groups, stayer))
    return tenants, env


def _in_parallel(commands: list[list[str]], env: dict[str, str], width: int = 4) -> list[Measured]:
    with ThreadPoolExecutor(max_workers=width) as pool:
        return list(pool.map(lambda c: run_measured(c, env=env), commands))


def _end_state(t: Tenant) -> tuple[int, int, bool]:
    disabled = sum(1 for u in t.leavers if not t.fake.user(u)["accountEnabled"])
    left = sum(len(t.fake.members(g)) - 1 for g in t.groups)
    stayer_ok = t.fake.user(t.stayer)["accountEnabled"] and all(t.stayer in t.fake.members(g) for g in t.groups)
    return disabled, left, bool(stayer_ok)


def bench_tenants(root: Path, count: int = 20, workers: int = 3, floor_seconds: tuple[float, float] = (20, 40),
                  rates: tuple[int, int] = (25, 63), lead_seconds: float = 90.0, shard_actions: int = 200
                  ) -> list[Row]:
    """`lead_seconds`: from scheduling the first run to the fire time (20 `revoke schedule` processes, 4 at a
    time, took 23 s at a load average of 18). `shard_actions` is `revoke schedule`'s default."""
    from revoke.sandbox.graph import GraphFake
    from revoke.sandbox.temporal import TemporalDevServer

    work = root / "tenants"
    work.mkdir(parents=True, exist_ok=True)
    host = GraphFake().start()
    server = None
    try:
        tenants, secrets = _build(work, host, _shape(count, floor_seconds, rates))
        env = {**os.environ, **secrets}
        planned = _in_parallel([revoke("--quiet", "plan", str(work / f"tenant{t.index:02d}" / "runbook.yaml"),
                                       "--out", str(work / f"tenant{t.index:02d}" / "plan.json"))
                                for t in tenants], env)
        for t, m in zip(tenants, planned):
            check(m.code == 2, f"revoke plan (tenant {t.index})", m)
            t.plan_file = work / f"tenant{t.index:02d}" / "plan.json"
        print(f"[tenants] {count} tenants planned", file=sys.stderr, flush=True)
        server = TemporalDevServer(work / "server").start()
        env.update({"REVOKE_TEMPORAL_ADDRESS": server.address, "REVOKE_TEMPORAL_TASK_QUEUE": "bench-tenants",
                    "REVOKE_WORKER_CACHE": str(work / "cache")})
        logs = work / "workers"
        logs.mkdir(exist_ok=True)
        procs = _workers(workers, env, logs)
        try:
            for t in tenants:  # the limits hold from now on: planning was days before, in production
                t.fake.clear_log()
                t.fake.rate_limit(t.rate)
            store = work / "evidence"
            # fire after the last one is scheduled (each `revoke schedule` is a process start: seconds each on a
            # loaded machine)
            fire = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=lead_seconds)).replace(microsecond=0)
            t0 = time.monotonic()
            scheduled = _in_parallel([revoke("--output", "json", "schedule", str(t.plan_file), "--at",
                                             fire.isoformat(), "--evidence", str(store), "--shard-actions",
                                             str(shard_actions)) for t in tenants], env)
            print(f"[tenants] {count} runs scheduled in {time.monotonic() - t0:.1f} s, to fire at {fire}",
                  file=sys.stderr, flush=True)
            for t, m in zip(tenants, scheduled):
                check(m.code == 0, f"revoke schedule (tenant {t.index})", m)
                t.run_id = json.loads(m.stdout)["run_id"]
            late = dt.datetime.now(dt.timezone.utc) > fire
            check(not late, "scheduling all tenants before the fire time (raise lead_seconds)", scheduled[-1])
            assert server.proc is not None
            wait = (fire - dt.datetime.now(dt.timezone.utc)).total_seconds()
            time.sleep(max(0.0, wait))
            cpu0 = _cpu_seconds(server.proc.pid)
            watched = run_measured([sys.executable, str(BENCH_DIR / "tenants_watch.py"), *[t.run_id for t in tenants]],
                                   env=env)
            server_cpu = _cpu_seconds(server.proc.pid) - cpu0
            load = os.getloadavg()
        finally:
            _stop(procs)
        check(watched.code == 0, "waiting for the 20 runs", watched)
        closed = json.loads(watched.stdout)
        return _rows(tenants, closed, fire, server_cpu, workers, load)
    finally:
        if server is not None:
            server.stop()
        host.stop()


def _rows(tenants: list[Tenant], closed: dict[str, Any], fire: dt.datetime, server_cpu: float, workers: int,
          load: tuple[float, float, float]) -> list[Row]:
    offset = time.time() - time.monotonic()  # the fake logs monotonic times; Temporal's are wall-clock
    per: list[dict[str, Any]] = []
    problems: list[str] = []
    for t in tenants:
        c = closed[t.run_id]
        disabled, left, stayer_ok = _end_state(t)
        if c["status"] != "completed" or c["exit_code"] != 0 or disabled != len(t.leavers) or left or not stayer_ok:
            problems.append(f"t{t.index:02d}: {c['status']}, exit {c['exit_code']}, {c['counts']}, "
                            f"{disabled}/{len(t.leavers)} disabled, {left} memberships left, stayer untouched "
                            f"{stayer_ok}{_failures(c.get('location') or '')}")
        log = t.fake.requests(graph_only=True)
        ops = sum(1 for r in log if (r.in_batch or r.method == "GET") and r.status not in (424, 429))
        throttled = sum(1 for r in log if r.status == 429)
        finish = dt.datetime.fromisoformat(c["closed"]).timestamp() - fire.timestamp()
        last = max((r.at for r in log), default=0.0) + offset - fire.timestamp()
        first = min((r.at for r in log), default=0.0) + offset - fire.timestamp()
        floor = ops / t.rate
        per.append({"i": t.index, "rate": t.rate, "leavers": len(t.leavers), "ops": ops, "throttled": throttled,
                    "floor": floor, "finish": finish, "graph_done": last, "ratio": finish / floor, "first": first})
    slowest = max(per, key=lambda p: p["floor"])
    last_done = max(p["finish"] for p in per)
    worst = max(per, key=lambda p: p["ratio"])
    name = f"11 Tenants ({len(per)} Graph tenants, {workers} workers)"
    table = "; ".join(f"t{p['i']:02d} {p['rate']}/s {p['leavers']} leavers {p['ops']} ops floor {p['floor']:.1f} s "
                      f"done {p['finish']:.1f} s = {p['ratio']:.2f}x ({p['throttled']} 429; Graph from "
                      f"{p['first']:.1f} s to {p['graph_done']:.1f} s)" for p in per)
    return [
        Row(name, "tenants: rate / leavers / Graph requests / floor (requests / rate)",
            f"{min(p['rate'] for p in per)}-{max(p['rate'] for p in per)} req/s, "
            f"{sum(p['leavers'] for p in per)} leavers ({min(p['leavers'] for p in per)}-"
            f"{max(p['leavers'] for p in per)}), {sum(p['ops'] for p in per)} requests, floors "
            f"{min(p['floor'] for p in per):.1f}-{slowest['floor']:.1f} s"),
        Row(name, "last tenant done (fire to workflow closed) / slowest tenant's floor",
            f"{last_done:.1f} s = {ratio(last_done, slowest['floor']):.2f}x ({slowest['floor']:.1f} s, "
            f"tenant {slowest['i']:02d})", "<= 1.3x", last_done <= 1.3 * slowest["floor"]),
        Row(name, "each tenant's time / its own floor: max (tenant) / median / min",
            f"{worst['ratio']:.2f}x (t{worst['i']:02d}: {worst['finish']:.1f} s vs {worst['floor']:.1f} s) / "
            f"{statistics.median(p['ratio'] for p in per):.2f}x / {min(p['ratio'] for p in per):.2f}x"),
        Row(name, "each tenant's last Graph request / its own floor: max / median",
            f"{max(p['graph_done'] / p['floor'] for p in per):.2f}x / "
            f"{statistics.median(p['graph_done'] / p['floor'] for p in per):.2f}x"),
        Row(name, "throttled answers (429) / Graph requests, all tenants",
            f"{sum(p['throttled'] for p in per)} / {sum(p['ops'] for p in per)}"),
        Row(name, "Temporal server share (fire to last close)",
            f"{server_cpu:.2f} CPU s ({ratio(server_cpu, last_done):.0%} of wall); load average "
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"),
        Row(name, "per tenant", table),
        Row(name, "tenants that did not end right (each action read back from the fake)",
            "; ".join(problems) or "none: every leaver disabled and out of both groups, every stayer untouched",
            "none", not problems),
    ]


def _failures(location: str) -> str:
    """The distinct errors of a run's failed actions, from its evidence."""
    from revoke.evidence import read_records

    if not location or not Path(location).is_dir():
        return ""
    errors = {str(r.get("error"))[:200] for r in read_records(Path(location))
              if r.get("type") == "action" and r.get("outcome") not in ("done", "already_done", "skipped")}
    return f" ({' | '.join(sorted(errors))})" if errors else ""


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    args = sys.argv[1:]
    low, high = (float(args[0]), float(args[1])) if len(args) >= 2 else (20.0, 40.0)
    count = int(args[2]) if len(args) >= 3 else 20
    with tempfile.TemporaryDirectory(prefix="revoke-bench-tenants-") as tmp:
        started = time.perf_counter()
        for row in bench_tenants(Path(tmp), count, floor_seconds=(low, high)):
            print(f"{row.metric}: {row.value}" + (f" (target {row.target}: {'met' if row.met else 'NOT met'})"
                                                 if row.target else ""))
        print(f"bench wall {time.perf_counter() - started:.0f} s")
