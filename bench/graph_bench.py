"""Graph benchmark: 2,000 leavers in the Graph fake under a rate limit of N requests per second.

The fake counts each request inside a `$batch` against the limit, as Graph does, and answers 429 + Retry-After past
it. Figures come from the fake's own request log: HTTP round trips (every top-level request: `$batch` envelopes and
page follow-ups), operations (every Graph request carried out, inside a batch or not, throttled ones excluded),
and the floors those imply: ceil(batched operations / 20) + top-level GETs for round trips, operations / N for time.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

from bench.common import BENCH_DIR, Row, check, ratio, revoke, run_measured, script, write_runbook
from revoke.sandbox.graph import GraphFake

GROUPS = 20


def bench_graph(root: Path, n: int, rate: int) -> list[Row]:
    work = root / f"graph-{n}"
    work.mkdir(parents=True, exist_ok=True)
    fake = GraphFake().start()
    try:
        client_id, secret = fake.add_app()
        groups = [fake.add_group(f"bench-g{g:02d}") for g in range(GROUPS)]
        stayer = fake.add_user("stayer@contoso.test")
        for gid in groups:
            fake.add_member(gid, stayer)
        people, uids = [], []
        for i in range(n):
            upn = f"leaver{i:05d}@contoso.test"
            uid = fake.add_user(upn)
            uids.append(uid)
            fake.add_member(groups[i % GROUPS], uid)
            people.append({"name": f"Leaver {i}", "ids": {"m365": upn}})
        system = {"connector": "entra", "blast_radius": n + 10, "settings": {
            "tenant_id": fake.tenant_id, "client_id": client_id, "client_secret": {"secret": "graph_secret"},
            "authority_host": fake.authority, "graph_url": fake.base_url, "ca_file": fake.ca_file,
            "instance_discovery": False}}
        runbook = write_runbook(work / "bench.yaml", f"bench-graph-{n}", {"m365": system}, people)
        env = {"REVOKE_GRAPH_SECRET": secret}
        fake.rate_limit(rate)
        plan_file = work / "plan.json"
        fake.clear_log()
        plan = run_measured(revoke("--quiet", "plan", str(runbook), "--out", str(plan_file)), env=env)
        check(plan.code == 2, "revoke plan (graph)", plan)
        plan_stats = _stats(fake)
        fake.clear_log()
        started = time.monotonic()
        apply_ = run_measured(revoke("--quiet", "apply", str(plan_file)), env=env)
        check(apply_.code == 0, "revoke apply (graph)", apply_)
        stats = _stats(fake)
        stats["started"] = started
        disabled = sum(1 for i in range(n) if not fake.user(uids[i])["accountEnabled"])
        left = sum(len(fake.members(g)) - 1 for g in groups)
        check(disabled == n and left == 0, f"graph end state ({disabled} disabled, {left} memberships left)",
              apply_)
        # the fake's own capacity, without the limiter, from a bare client in its own process
        fake.rate_limit(None)
        ids_file = work / "ids.txt"
        ids_file.write_text("\n".join(uids), encoding="utf-8")
        batches = max(10, min(300, math.ceil(stats["ops"] / 20)))
        raw = run_measured(script(BENCH_DIR / "graph_raw.py", fake.authority, fake.tenant_id, fake.base_url,
                                  fake.ca_file, client_id, str(ids_file), str(batches), "4"),
                           env={"BENCH_GRAPH_SECRET": secret})
        check(raw.code == 0, "bare $batch client", raw)
        capacity = json.loads(raw.stdout.strip().splitlines()[-1])["per_second"]
    finally:
        fake.stop()
        shutil.rmtree(work, ignore_errors=True)
    name = f"2 Graph ({n} leavers, N={rate} req/s)"
    rt_floor = math.ceil(stats["batched_ops"] / 20) + stats["paging"]
    wall_floor = stats["ops"] / rate
    served_floor = stats["ops"] / min(rate, capacity)
    return [
        Row(name, "apply operations (Graph requests carried out)",
            f"{stats['ops']} ({stats['batched_ops']} in $batch, {stats['paging']} top-level GETs)"),
        Row(name, "apply HTTP round trips", f"{stats['round_trips']} = {ratio(stats['round_trips'], rt_floor):.2f}x "
            f"floor {rt_floor} ({stats['throttled_rt']} answered 429, {stats['throttled_subs']} sub-requests 429)",
            "<= 1.1x floor", stats["round_trips"] <= 1.1 * rt_floor),
        Row(name, "apply wall", f"{apply_.seconds:.2f} s = {ratio(apply_.seconds, wall_floor):.2f}x floor "
            f"{wall_floor:.2f} s (ops / N)", "<= 1.2x floor", apply_.seconds <= 1.2 * wall_floor),
        Row(name, "apply time talking to Graph (first to last request) / before / after it",
            f"{stats['span']:.2f} s = {ratio(stats['span'], wall_floor):.2f}x floor / "
            f"{stats['first'] - stats['started']:.2f} s / {stats['started'] + apply_.seconds - stats['last']:.2f} s"),
        Row(name, "the fake's own capacity (bare $batch client, 4 threads, no limiter)",
            f"{capacity:.0f} requests/s"),
        Row(name, "apply wall against ops / min(N, capacity)",
            f"{ratio(apply_.seconds, served_floor):.2f}x ({served_floor:.2f} s)"),
        Row(name, "plan round trips / operations / wall",
            f"{plan_stats['round_trips']} / {plan_stats['ops']} / {plan.seconds:.2f} s"),
    ]


def _stats(fake: GraphFake) -> dict[str, float]:
    log = fake.requests(graph_only=True)
    top = [r for r in log if not r.in_batch]
    subs = [r for r in log if r.in_batch]
    paging = [r for r in top if r.method == "GET" and r.status != 429]
    batched_ops = sum(1 for r in subs if r.status != 429)
    return {"round_trips": len(top), "throttled_rt": sum(1 for r in top if r.status == 429),
            "throttled_subs": sum(1 for r in subs if r.status == 429), "paging": len(paging),
            "batched_ops": batched_ops, "ops": batched_ops + len(paging),
            # revoke's own start-up, plan loading, evidence sealing and reports happen before and after these
            "first": min((r.at for r in log), default=0.0), "last": max((r.at for r in log), default=0.0),
            "span": max((r.at for r in log), default=0.0) - min((r.at for r in log), default=0.0)}
