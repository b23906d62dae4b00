"""The emulator's own capacity: one cheap IAM read repeated from T threads, as fast as the servers answer.

Benchmark 3 can only show revoke's concurrency if the emulator answers calls in parallel. This bare client, which
does no work of its own, shows how many calls a second it serves. Thread i reads USER in the i-th of the accounts
given (assuming OrganizationAccountAccessRole there; the management account with the base credentials), so the
calls spread over the fleet's servers as revoke's do.

    python bench/aws_raw.py ENDPOINT_URL USER CALLS THREADS [ACCOUNT ...]  # credentials from AWS_ACCESS_KEY_ID/...
    (prints {"calls": .., "seconds": .., "per_second": ..})
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

MANAGEMENT_ACCOUNT = "123456789012"


def main(url: str, user: str, calls: int, threads: int, accounts: list[str]) -> None:
    base = boto3.session.Session(region_name="us-east-1")
    sts = base.client("sts", endpoint_url=url)
    clients = []
    for i in range(threads):
        account = accounts[i % len(accounts)] if accounts else MANAGEMENT_ACCOUNT
        extra = {}
        if account != MANAGEMENT_ACCOUNT:
            c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
                                RoleSessionName="capacity")["Credentials"]
            extra = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
                     "aws_session_token": c["SessionToken"]}
        clients.append(boto3.session.Session().client("iam", endpoint_url=url, region_name="us-east-1",
                                                      config=Config(max_pool_connections=2), **extra))
    handed = itertools.count()
    local = threading.local()

    def one(_: int) -> None:
        iam = getattr(local, "iam", None)
        if iam is None:
            iam = local.iam = clients[next(handed)]
        iam.list_user_tags(UserName=user)

    for iam in clients:
        iam.list_user_tags(UserName=user)  # connections open before the clock starts
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(calls)))
    seconds = time.perf_counter() - start
    print(json.dumps({"calls": calls, "seconds": seconds, "per_second": calls / seconds}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:])
