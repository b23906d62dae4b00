"""Google Workspace benchmark: N leavers in the Google fake, under a quota of Q calls per window.

Each leaver has backup codes, one app password, one OAuth grant, a session, and is a member of one of 10 groups:
revoke invalidates the codes, deletes the password and the grant, signs them out, suspends them and removes the
membership (6 writes a leaver, in the per-person order Google requires). The fake counts every call of a batch
against the quota (as Google does) and answers 429 rateLimitExceeded past it; Google's quota is per minute, and the
benchmark shortens the window (W seconds) so that a run takes seconds, not the quarter of an hour 2,400 calls a
minute would need. Figures come from the fake's own log:

- quota floor: the calls revoke's apply made / Q x W (no client can do the same calls faster);
- batched minimum: those same calls replayed by a bare client (`bench/google_raw.py`) in batches of 1,000,
  layer after layer (check-phase reads, each step of the per-person order, read-backs), paced to the same quota:
  its round trips are the fewest the calls allow, its wall time the best a client does on this machine.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from bench.common import BENCH_DIR, Row, check, ratio, revoke, run_measured, script, write_runbook
from revoke.sandbox.google import GoogleFake, Logged
from revoke.sandbox.google_seed import service_account

GROUPS = 10
PHASES = [r"/verificationCodes/invalidate$|/members/[^/]+$", r"/asps/", r"/tokens/", r"/signOut$", r"/users/[^/]+$"]


def _seed(fake: GoogleFake, n: int) -> tuple[str, str, list[dict]]:
    admin = fake.add_user("it-admin@bench.test", admin=True)
    stayer = fake.add_user("stayer@bench.test")
    people = []
    emails = [f"leaver{i:05d}@bench.test" for i in range(n)]
    for email in emails:
        fake.add_user(email, codes=10)
        fake.add_asp(email, "mail client")
        fake.add_token(email, "1111-notes.apps.googleusercontent.com", "Notes", ["https://mail.google.com/"])
    for g in range(GROUPS):
        fake.add_group(f"team-{g:02d}@bench.test", members={stayer.email: "OWNER",
                                                           **{e: "MEMBER" for e in emails[g::GROUPS]}})
    for i, email in enumerate(emails):
        people.append({"name": f"Leaver {i}", "ids": {"gw": email}})
    return service_account(fake), admin.email, people


def bench_google(root: Path, n: int, quota: int, window: float = 10.0) -> list[Row]:
    work = root / f"google-{n}"
    work.mkdir(parents=True, exist_ok=True)
    fake = GoogleFake(page_cap=200).start()
    try:
        key, admin, people = _seed(fake, n)
        system = {"connector": "google-workspace", "blast_radius": n + 10, "concurrency": 4, "settings": {
            "admin": admin, "service_account_key": {"secret": "google_key"}, "api_endpoint": fake.base_url,
            "groups_settings_endpoint": fake.base_url, "chat_endpoint": fake.base_url, "token_uri": fake.token_uri,
            "ca_bundle": fake.ca_file, "queries_per_minute": quota, "quota_window_seconds": window}}
        runbook = write_runbook(work / "bench.yaml", f"bench-google-{n}", {"gw": system}, people)
        env = {"REVOKE_GOOGLE_KEY": key}
        fake.quota(quota, window=window)
        plan_file = work / "plan.json"
        start = len(fake.log)
        plan = run_measured(revoke("--quiet", "plan", str(runbook), "--out", str(plan_file)), env=env)
        check(plan.code == 2, "revoke plan (google)", plan)
        plan_calls = _counted(fake.log[start:])
        start, trips_start = len(fake.log), len(fake.round_trips)
        apply_ = run_measured(revoke("--quiet", "apply", str(plan_file)), env=env)
        check(apply_.code == 0, "revoke apply (google)", apply_)
        log = fake.log[start:]
        trips = [t for t in fake.round_trips[trips_start:]]
        left = sum(1 for p in people if not fake.user(p["ids"]["gw"]).suspended)
        check(left == 0, f"google end state ({left} leavers not suspended)", apply_)
        calls = _counted(log)
        throttled = sum(1 for r in log if r.throttled)
        raw = _raw(work, fake, log, quota, window)
    finally:
        fake.stop()
        shutil.rmtree(work, ignore_errors=True)
    name = f"7 Google ({n} leavers, quota {quota} calls / {window:g} s)"
    floor = calls / quota * window
    return [
        Row(name, "apply calls counted / round trips / throttled answers",
            f"{calls} / {len(trips)} / {throttled} ({calls / max(n, 1):.1f} calls a leaver)"),
        Row(name, "apply round trips vs the batched minimum (bare client, same calls)",
            f"{len(trips)} = {ratio(len(trips), raw['round_trips']):.2f}x {raw['round_trips']}", "<= 1.1x",
            len(trips) <= 1.1 * raw["round_trips"]),
        Row(name, "apply wall", f"{apply_.seconds:.2f} s = {ratio(apply_.seconds, floor):.2f}x quota floor "
            f"{floor:.2f} s (calls / Q x W)", "<= 1.2x floor", apply_.seconds <= 1.2 * floor),
        Row(name, "bare client's wall for the same calls", f"{raw['seconds']:.2f} s = "
            f"{ratio(raw['seconds'], floor):.2f}x quota floor"),
        Row(name, "plan wall / calls", f"{plan.seconds:.2f} s / {plan_calls} (floor {plan_calls / quota * window:.2f}"
            " s)"),
        Row(name, "apply peak memory", f"{apply_.peak_mb:.0f} MB"),
    ]


def _counted(log: list[Logged]) -> int:
    return sum(1 for r in log if r.path != "/token" and not r.throttled)


def _layers(log: list[Logged]) -> list[list[dict]]:
    """revoke's apply calls (throttled ones left out) as the bare client's layers."""
    calls = [r for r in log if r.path != "/token" and not r.throttled]
    first_write = next((i for i, r in enumerate(calls) if r.method != "GET"), len(calls))
    layers: list[list[dict]] = [[{"method": "GET", "path": r.path} for r in calls[:first_write]]]
    for pattern in PHASES:
        layers.append([{"method": r.method, "path": r.path, "body": {"suspended": True} if r.method == "PATCH"
                        else None} for r in calls if r.method != "GET" and re.search(pattern, r.path)])
    layers.append([{"method": "GET", "path": r.path} for r in calls[first_write:] if r.method == "GET"])
    return [layer for layer in layers if layer]


def _raw(work: Path, fake: GoogleFake, log: list[Logged], quota: int, window: float) -> dict:
    """Replay on a fresh seed of the same engagement (same ids), so every call meets the state revoke's met."""
    calls_file = work / "raw-calls.json"
    calls_file.write_text(json.dumps(_layers(log)))
    n = sum(1 for u in fake.users.values() if u.email.startswith("leaver"))
    fresh = GoogleFake(page_cap=200).start()
    try:
        _seed(fresh, n)
        token = "ya29.bench-raw"
        sa = next(iter(fresh.service_accounts.values()))
        fresh.issued[token] = (sa.email, "", set(sa.scopes))
        fresh.quota(quota, window=window)
        m = run_measured(script(BENCH_DIR / "google_raw.py", str(calls_file), fresh.base_url, fresh.ca_file,
                                str(quota), str(window)), env={"BENCH_GOOGLE_TOKEN": token})
        check(m.code == 0, "bench/google_raw.py", m)
        return json.loads(m.stdout.strip().splitlines()[-1])
    finally:
        fresh.stop()
