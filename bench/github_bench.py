"""GitHub benchmark: N leavers in one SAML SSO organisation of the GitHub fake, under its rate limits.

Each leaver is a member of one of 10 teams with one personal access token authorised through SSO: revoke revokes
the authorization, then removes the membership (2 writes a leaver). The fake enforces GitHub's primary limit per
token (R requests per 1-second window, `x-ratelimit-*` headers, 403 past it) and a secondary limit on writes
(W per window, 403 + Retry-After). Figures come from the fake's own request log: requests GitHub counted
(throttled ones are not), writes, throttled answers. The floor is what the limits allow for that work:
max(counted requests / R, writes / W) seconds; revoke's wall time includes its start-up, the plan loading, the
check phase and the evidence, as a user's does.
"""

from __future__ import annotations

import shutil
import ssl
import threading
import time
from pathlib import Path

from bench.common import Row, check, ratio, revoke, run_measured, write_runbook
from revoke.sandbox.github import GitHubFake

TEAMS = 10
WINDOW = 1


def _seed(fake: GitHubFake, n: int) -> tuple[str, list[dict]]:
    fake.add_user("bench-admin")
    token = fake.add_token("bench-admin")
    fake.add_user("stayer")
    fake.add_org("bench", owners=["bench-admin"], members=["stayer"], saml=True)
    people = []
    logins = [f"leaver{i:05d}" for i in range(n)]
    for login in logins:
        fake.add_user(login)
        fake.add_member("bench", login)
        fake.add_credential("bench", login)
    for t in range(TEAMS):
        fake.add_team("bench", f"team-{t:02d}", members={"stayer": "member", **{
            login: "member" for login in logins[t::TEAMS]}})
    for i, login in enumerate(logins):
        people.append({"name": f"Leaver {i}", "ids": {"gh": login}})
    return token, people


def _capacity(fake: GitHubFake, token: str, seconds: float = 2.0, threads: int = 4) -> float:
    """The fake's own rate, no limits: a bare httpx client per thread, the cheapest read."""
    import httpx

    counts = [0] * threads
    stop = time.monotonic() + seconds

    def work(k: int) -> None:
        with httpx.Client(base_url=fake.base_url, verify=ssl.create_default_context(cafile=fake.ca_file),
                          headers={"Authorization": f"token {token}"}) as c:
            while time.monotonic() < stop:
                c.get("orgs/bench")
                counts[k] += 1

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / seconds


def bench_github(root: Path, n: int, rate: int) -> list[Row]:
    work = root / f"github-{n}"
    work.mkdir(parents=True, exist_ok=True)
    writes_rate = max(1, rate * 2 // 3)
    fake = GitHubFake(page_cap=100).start()
    try:
        token, people = _seed(fake, n)
        system = {"connector": "github", "blast_radius": n + 10, "concurrency": 4, "settings": {
            "organizations": ["bench"], "token": {"secret": "github_token"}, "base_url": fake.base_url,
            "ca_bundle": fake.ca_file, "saml_sso": ["bench"], "scan_repository_invitations": False}}
        runbook = write_runbook(work / "bench.yaml", f"bench-github-{n}", {"gh": system}, people)
        env = {"REVOKE_GITHUB_TOKEN": token}
        fake.rate_limit(rate, window=WINDOW)
        fake.secondary_limit(writes_rate, window=WINDOW)
        plan_file = work / "plan.json"
        start = len(fake.log)
        plan = run_measured(revoke("--quiet", "plan", str(runbook), "--out", str(plan_file)), env=env)
        check(plan.code == 2, "revoke plan (github)", plan)
        plan_stats = _stats(fake, start)
        start = len(fake.log)
        apply_ = run_measured(revoke("--quiet", "apply", str(plan_file)), env=env)
        check(apply_.code == 0, "revoke apply (github)", apply_)
        stats = _stats(fake, start)
        org = fake.org("bench")
        assert org is not None
        left = sum(1 for p in people if fake.role("bench", p["ids"]["gh"]) is not None)
        creds = sum(1 for c in org.credentials.values() if fake.users[c.user_id].login.startswith("leaver"))
        check(left == 0 and creds == 0, f"github end state ({left} members, {creds} SSO authorizations left)",
              apply_)
        fake.rate_limit(None)
        fake.secondary_limit(None)
        capacity = _capacity(fake, token)
    finally:
        fake.stop()
        shutil.rmtree(work, ignore_errors=True)
    name = f"6 GitHub ({n} leavers, R={rate} req/s, W={writes_rate} writes/s)"
    floor = max(stats["counted"] / rate, stats["writes"] / writes_rate) * WINDOW
    plan_floor = plan_stats["counted"] / rate * WINDOW
    return [
        Row(name, "apply requests GitHub counted / writes / throttled answers",
            f"{stats['counted']} / {stats['writes']} / {stats['throttled']} "
            f"({stats['counted'] / max(n, 1):.2f} requests a leaver)"),
        Row(name, "apply wall", f"{apply_.seconds:.2f} s = {ratio(apply_.seconds, floor):.2f}x floor {floor:.2f} s "
            "(max(counted / R, writes / W))", "<= 1.2x floor", apply_.seconds <= 1.2 * floor),
        Row(name, "apply time talking to GitHub (first to last request)",
            f"{stats['span']:.2f} s = {ratio(stats['span'], floor):.2f}x floor"),
        Row(name, "plan wall / requests counted", f"{plan.seconds:.2f} s = {ratio(plan.seconds, plan_floor):.2f}x "
            f"floor {plan_floor:.2f} s / {plan_stats['counted']}"),
        Row(name, "the fake's own capacity (bare client, 4 threads, no limits)", f"{capacity:.0f} requests/s"),
        Row(name, "apply peak memory", f"{apply_.peak_mb:.0f} MB"),
    ]


def _stats(fake: GitHubFake, start: int) -> dict[str, float]:
    log = [r for r in fake.log[start:] if not r.grant.startswith("app:")]
    counted = [r for r in log if not r.throttled]
    writes = [r for r in counted if r.method in ("POST", "PATCH", "PUT", "DELETE")]
    return {"counted": len(counted), "writes": len(writes), "throttled": sum(1 for r in log if r.throttled),
            "span": (max(r.at for r in log) - min(r.at for r in log)) if log else 0.0}

