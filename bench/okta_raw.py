"""The raw-requests floor for the Okta benchmark: the same revocations written as the shortest script could, with
nothing but `requests`, no discovery, no read-back, no evidence: per leaver, end sessions and tokens, revoke the
grant, remove the group membership, suspend. It paces itself by Okta's own headers (waits until
`X-Rate-Limit-Reset` when `X-Rate-Limit-Remaining` reaches 0, per bucket) and uses 4 threads, as revoke does.

    from bench.okta_raw import run_raw
    seconds, requests_sent = run_raw(org_url, ca_file, token, work)   # work: [(user_id, grant_id, group_id)]
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import requests


class _Pacer:
    def __init__(self, now: Callable[[], float]):
        self.now = now
        self.lock = threading.Lock()
        self.buckets: dict[str, tuple[int, float]] = {}

    def wait(self, bucket: str) -> None:
        while True:
            with self.lock:
                remaining, reset = self.buckets.get(bucket, (1, 0.0))
                if remaining > 0 or self.now() >= reset:
                    self.buckets[bucket] = (remaining - 1, reset)
                    return
                pause = reset - self.now()
            time.sleep(max(pause, 0.001))

    def seen(self, bucket: str, resp: requests.Response) -> None:
        with self.lock:
            self.buckets[bucket] = (int(resp.headers.get("X-Rate-Limit-Remaining", "1")),
                                    float(resp.headers.get("X-Rate-Limit-Reset", "0")))


def run_raw(org_url: str, ca_file: str, token: str, work: list[tuple[str, str, str]]) -> tuple[float, int]:
    pacer = _Pacer(time.time)
    local = threading.local()
    sent = [0]
    count = threading.Lock()

    def call(method: str, path: str) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.trust_env = False
            session.verify = ca_file
            session.headers["Authorization"] = f"SSWS {token}"
        bucket = "/".join(path.split("/")[:4])
        while True:
            pacer.wait(bucket)
            resp = session.request(method, org_url + path)
            with count:
                sent[0] += 1
            pacer.seen(bucket, resp)
            if resp.status_code != 429:
                resp.raise_for_status()
                return

    def one(item: tuple[str, str, str]) -> None:
        uid, grant, group = item
        call("DELETE", f"/api/v1/users/{uid}/sessions?oauthTokens=true")
        call("DELETE", f"/api/v1/users/{uid}/grants/{grant}")
        call("DELETE", f"/api/v1/groups/{group}/users/{uid}")
        call("POST", f"/api/v1/users/{uid}/lifecycle/suspend")

    start = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, work))
    return time.perf_counter() - start, sent[0]
