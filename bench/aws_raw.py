"""moto's own capacity: one cheap IAM read repeated from T threads, as fast as the server answers.

Benchmark 3 can only show revoke's concurrency if the server answers calls in parallel. moto's server is one
Python process; this bare client, which does no work of its own, shows how many calls a second it serves.

    python bench/aws_raw.py ENDPOINT_URL USER CALLS THREADS   # credentials from AWS_ACCESS_KEY_ID/...
    (prints {"calls": .., "seconds": .., "per_second": ..})
"""

from __future__ import annotations

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config


def main(url: str, user: str, calls: int, threads: int) -> None:
    local = threading.local()

    def one(_: int) -> None:
        iam = getattr(local, "iam", None)
        if iam is None:
            iam = local.iam = boto3.session.Session().client(
                "iam", endpoint_url=url, region_name="us-east-1", config=Config(max_pool_connections=threads))
        iam.list_user_tags(UserName=user)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(calls)))
    seconds = time.perf_counter() - start
    print(json.dumps({"calls": calls, "seconds": seconds, "per_second": calls / seconds}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
