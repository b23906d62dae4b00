"""The floor of the Google benchmark: the same HTTP calls revoke's apply made, sent by a bare client in as few batch
requests as Google allows (1,000 calls each), layer after layer (the check-phase reads, then each step of the
per-person order, then the read-backs), paced to the same quota. No revoke code runs here.

    python bench/google_raw.py CALLS_FILE BASE_URL CA_FILE QUOTA WINDOW
    (the access token comes from $BENCH_GOOGLE_TOKEN; CALLS_FILE holds [[{"method", "path", "body"}, ...], ...];
     prints {"calls": .., "round_trips": .., "seconds": ..})
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque

import requests

LIMIT = 1000


def batch_body(calls: list[dict], boundary: str) -> str:
    parts = []
    for i, c in enumerate(calls):
        body = json.dumps(c["body"]) if c.get("body") is not None else ""
        head = "Content-Type: application/json\r\n" if body else ""
        parts.append(f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <{i}>\r\n\r\n"
                     f"{c['method']} {c['path']} HTTP/1.1\r\n{head}\r\n{body}\r\n")
    return "".join(parts) + f"--{boundary}--\r\n"


def main(calls_file: str, base: str, ca: str, quota: int, window: float) -> None:
    layers = json.loads(open(calls_file, encoding="utf-8").read())
    s = requests.Session()
    s.trust_env = False
    s.verify = ca
    s.headers["Authorization"] = f"Bearer {os.environ['BENCH_GOOGLE_TOKEN']}"
    sent: deque[tuple[float, int]] = deque()
    used = trips = calls = 0
    start = time.perf_counter()
    for layer in layers:
        for i in range(0, len(layer), min(LIMIT, quota)):
            chunk = layer[i:i + min(LIMIT, quota)]
            while True:   # the quota: at most `quota` calls in any `window` seconds
                now = time.perf_counter()
                while sent and sent[0][0] <= now - window:
                    used -= sent.popleft()[1]
                if used + len(chunk) <= quota:
                    break
                time.sleep(sent[0][0] + window - now)
            sent.append((time.perf_counter(), len(chunk)))
            used += len(chunk)
            resp = s.post(base + "batch", data=batch_body(chunk, "rawbatch"),
                          headers={"Content-Type": "multipart/mixed; boundary=rawbatch"})
            resp.raise_for_status()
            trips += 1
            calls += len(chunk)
    print(json.dumps({"calls": calls, "round_trips": trips, "seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    a = sys.argv[1:]
    main(a[0], a[1], a[2], int(a[3]), float(a[4]))
