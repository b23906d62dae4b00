"""Okta benchmark: N leavers in the Okta fake, under its rate limits, beside a raw-requests script's floor.

Each leaver is ACTIVE, has one OAuth consent grant and is a member of one of 10 groups: revoke ends their sessions
and tokens, revokes the grant, removes the membership and suspends them (4 writes a leaver), with discovery before
and read-back after. The fake enforces R requests per 1-second window per endpoint bucket (`/api/v1/users`,
`/api/v1/groups`; `X-Rate-Limit-*`, 429 past it). Figures come from the fake's own request log. The rate-limit
floor is what the limits allow for the requests revoke sent: max over buckets of counted requests / R. The raw
floor is bench/okta_raw.py doing only the 4 writes a leaver, paced the same way, against a fresh fake: what the
shortest script takes, with no plan, verification or evidence.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from bench.common import Row, check, ratio, revoke, run_measured, write_runbook
from bench.okta_raw import run_raw
from revoke.sandbox.okta import OktaFake

GROUPS = 10
WINDOW = 1


def _seed(fake: OktaFake, n: int) -> tuple[str, list[dict], list[tuple[str, str, str]]]:
    _, token = fake.add_admin("bench-admin@acme.example")
    stayer = fake.add_user("stayer@acme.example")
    groups = [fake.add_group(f"team-{g:02d}", members=[stayer]) for g in range(GROUPS)]
    people, work = [], []
    for i in range(n):
        u = fake.add_user(f"leaver{i:05d}@consult.example")
        g = groups[i % GROUPS]
        g.members.append(u.id)
        grant = fake.add_grant(u)
        people.append({"name": f"Leaver {i}", "ids": {"okta": u.login}})
        work.append((u.id, grant.id, g.id))
    return token, people, work


def _stats(fake: OktaFake, start: int) -> dict[str, float]:
    log = fake.log[start:]
    counted = [r for r in log if not r.throttled and r.path.startswith("/api/")]
    buckets = Counter("/".join(r.path.split("/")[:4]) for r in counted)
    return {"counted": len(counted), "writes": sum(1 for r in counted if r.method != "GET"),
            "throttled": sum(1 for r in log if r.throttled), "busiest": max(buckets.values(), default=0),
            "span": (max(r.at for r in log) - min(r.at for r in log)) if log else 0.0}


def bench_okta(root: Path, n: int, rate: int) -> list[Row]:
    work_dir = root / f"okta-{n}"
    work_dir.mkdir(parents=True, exist_ok=True)
    fake = OktaFake().start()
    try:
        token, people, _ = _seed(fake, n)
        system = {"connector": "okta", "blast_radius": n + 10, "concurrency": 4, "settings": {
            "org_url": fake.org_url, "api_token": {"secret": "okta_token"}, "ca_bundle": fake.ca_file}}
        runbook = write_runbook(work_dir / "bench.yaml", f"bench-okta-{n}", {"okta": system}, people)
        env = {"REVOKE_OKTA_TOKEN": token}
        fake.rate_limit(rate, window=WINDOW)
        plan_file = work_dir / "plan.json"
        start = len(fake.log)
        plan = run_measured(revoke("--quiet", "plan", str(runbook), "--out", str(plan_file)), env=env)
        check(plan.code == 2, "revoke plan (okta)", plan)
        plan_stats = _stats(fake, start)
        start = len(fake.log)
        apply_ = run_measured(revoke("--quiet", "apply", str(plan_file)), env=env)
        check(apply_.code == 0, "revoke apply (okta)", apply_)
        stats = _stats(fake, start)
        left = sum(1 for p in people if fake.user(p["ids"]["okta"]).status != "SUSPENDED")
        grants = sum(1 for g in fake.grants.values())
        check(left == 0 and grants == 0, f"okta end state ({left} not suspended, {grants} grants left)", apply_)
    finally:
        fake.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
    raw_fake = OktaFake().start()
    try:
        raw_token, _, raw_work = _seed(raw_fake, n)
        raw_fake.rate_limit(rate, window=WINDOW)
        raw_seconds, raw_sent = run_raw(raw_fake.org_url, raw_fake.ca_file, raw_token, raw_work)
        raw_stats = _stats(raw_fake, 0)
    finally:
        raw_fake.stop()
    name = f"7 Okta ({n} leavers, R={rate} req/s per bucket)"
    floor = stats["busiest"] / rate * WINDOW
    raw_floor = raw_stats["busiest"] / rate * WINDOW
    return [
        Row(name, "apply requests Okta counted / writes / throttled answers",
            f"{stats['counted']} / {stats['writes']} / {stats['throttled']} "
            f"({stats['counted'] / max(n, 1):.2f} requests a leaver)"),
        Row(name, "apply wall", f"{apply_.seconds:.2f} s = {ratio(apply_.seconds, floor):.2f}x floor {floor:.2f} s "
            "(busiest bucket's counted requests / R)", "<= 1.2x floor", apply_.seconds <= 1.2 * floor),
        Row(name, "raw-requests script (4 writes a leaver, no plan, read-back or evidence)",
            f"{raw_seconds:.2f} s for {raw_sent} requests ({raw_stats['throttled']} answered 429); its floor "
            f"{raw_floor:.2f} s; revoke apply = {ratio(apply_.seconds, raw_seconds):.2f}x the script"),
        Row(name, "plan wall / requests counted",
            f"{plan.seconds:.2f} s / {plan_stats['counted']} ({plan_stats['throttled']} answered 429)"),
        Row(name, "apply peak memory", f"{apply_.peak_mb:.0f} MB"),
    ]
