"""The Graph fake's own capacity: bare `$batch`es of 20 GETs from a few threads, as fast as it answers.

Benchmark 2's floor is operations / N only when the server can answer N a second; on a small or busy machine the
fake (Python, TLS, in one process) may not. This client does no work of its own, so its rate is the server's.

    python bench/graph_raw.py AUTHORITY TENANT BASE_URL CA_FILE CLIENT_ID USER_IDS_FILE BATCHES THREADS
    (the client secret comes from $BENCH_GRAPH_SECRET; prints {"ops": .., "seconds": .., "per_second": ..})
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests


def main(authority: str, tenant: str, base: str, ca: str, client_id: str, ids_file: str, batches: int,
         threads: int) -> None:
    token = requests.post(f"{authority}/{tenant}/oauth2/v2.0/token", verify=ca, data={
        "client_id": client_id, "client_secret": os.environ["BENCH_GRAPH_SECRET"],
        "grant_type": "client_credentials", "scope": f"{authority}/.default"}).json()["access_token"]
    ids = open(ids_file, encoding="utf-8").read().split()
    local = threading.local()

    def one(i: int) -> int:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.trust_env = False
            session.verify = ca
            session.headers["Authorization"] = f"Bearer {token}"
        reqs = [{"id": str(k + 1), "method": "GET", "url": f"/users/{ids[(i * 20 + k) % len(ids)]}?$select=id"}
                for k in range(20)]
        resp = session.post(f"{base}/$batch", json={"requests": reqs})
        resp.raise_for_status()
        return sum(1 for r in resp.json()["responses"] if r["status"] == 200)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        ops = sum(pool.map(one, range(batches)))
    seconds = time.perf_counter() - start
    print(json.dumps({"ops": ops, "seconds": seconds, "per_second": ops / seconds}))


if __name__ == "__main__":
    a = sys.argv[1:]
    main(a[0], a[1], a[2], a[3], a[4], a[5], int(a[6]), int(a[7]))
