"""AWS fan-out benchmark: an organization of A accounts with U leaving IAM users each, in moto's server.

Two identical sets of users are seeded in every account (`r-userNN` for revoke, `s-userNN` for the baseline
script), each with a console password, an access key, a group and an attached managed policy. `revoke apply` of a
saved plan and bench/aws_sequential.py each revoke their own set; API calls are the HTTP requests botocore sent,
counted in each process by bench/_probe.py.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.aws_fleet import MotoFleet
from bench.common import BENCH_DIR, Row, check, ratio, revoke, run_measured, script, write_runbook
from revoke.sandbox.aws import MANAGEMENT_ACCOUNT, account_credentials, client, fake_credentials


def _seed_account(url: str, credentials: dict[str, str], account: str, users: int) -> None:
    iam = client(url, "iam", account_credentials(url, credentials, account))
    iam.create_group(GroupName="developers")
    arn = iam.create_policy(PolicyName="engagement-read", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:List*"], "Resource": "*"}]}))["Policy"]["Arn"]
    for prefix in ("r-user", "s-user"):
        for i in range(users):
            name = f"{prefix}{i:02d}"
            iam.create_user(UserName=name)
            iam.create_login_profile(UserName=name, Password="Bench-only-1!" + name)
            iam.create_access_key(UserName=name)
            iam.add_user_to_group(GroupName="developers", UserName=name)
            iam.attach_user_policy(UserName=name, PolicyArn=arn)


# the runbook's `concurrency` for this system: 8 workers, as runbooks/example-aws-iam.yaml suggests for a system
# spanning many accounts (the default is 4). IAM limits each account on its own and the engine spreads the workers
# over accounts (the connector's rate_scope); past 8, revoke's own single core is the limit here (measured: 38 s
# at 4, 35 s at 8, 36 s at 16)
CONCURRENCY = 8
# moto servers in the fleet (bench/aws_fleet.py): the management account's, and three for the member accounts
SERVERS = 4


def bench_aws(root: Path, accounts: int, users: int, concurrency: int = CONCURRENCY,
              servers: int = SERVERS) -> list[Row]:
    work = root / "aws"
    work.mkdir(parents=True, exist_ok=True)
    server = MotoFleet(servers).start()
    try:
        credentials = fake_credentials()
        org = client(server.url, "organizations", credentials)
        org.create_organization(FeatureSet="ALL")
        ids = [MANAGEMENT_ACCOUNT]
        for i in range(accounts - 1):
            ids.append(org.create_account(AccountName=f"bench-{i}", Email=f"bench-{i}@example.com")
                       ["CreateAccountStatus"]["AccountId"])
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda a: _seed_account(server.url, credentials, a, users), ids))
        system = {"connector": "aws-iam", "blast_radius": accounts * users * 2 + 10, "concurrency": concurrency,
                  "settings": {"endpoint_url": server.url, "region": "us-east-1",
                               "access_key_id": {"secret": "aws_key"}, "secret_access_key": {"secret": "aws_secret"},
                               "max_accounts_in_parallel": 8}}
        people = [{"name": f"Leaver {i}", "ids": {"aws": f"r-user{i:02d}"}} for i in range(users)]
        runbook = write_runbook(work / "bench.yaml", "bench-aws", {"aws": system}, people)
        env = {"REVOKE_AWS_KEY": credentials["aws_access_key_id"],
               "REVOKE_AWS_SECRET": credentials["aws_secret_access_key"], "BENCH_COUNT_AWS": "1"}
        plan_file = work / "plan.json"
        plan = run_measured(revoke("--quiet", "plan", str(runbook), "--out", str(plan_file)), env=env)
        check(plan.code == 2, "revoke plan (aws)", plan)
        apply_ = run_measured(revoke("--quiet", "apply", str(plan_file)), env=env)
        check(apply_.code == 0, "revoke apply (aws)", apply_)
        script_env = {"AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
                      "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"], "AWS_DEFAULT_REGION": "us-east-1",
                      "BENCH_COUNT_AWS": "1"}
        base = run_measured(script(BENCH_DIR / "aws_sequential.py", server.url, "s-user", str(users)),
                            env=script_env)
        check(base.code == 0, "sequential boto3 script", base)
        _check_done(server.url, credentials, ids, users)
        capacity = {}
        for threads in sorted({1, 4, 16, concurrency}):
            raw = run_measured(script(BENCH_DIR / "aws_raw.py", server.url, "r-user00", str(max(300, 50 * threads)),
                                      str(threads), *ids), env=script_env)
            check(raw.code == 0, "bare IAM client", raw)
            capacity[threads] = json.loads(raw.stdout.strip().splitlines()[-1])["per_second"]
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    name = f"3 AWS fan-out ({accounts} accounts x {users} IAM users)"
    calls, base_calls = apply_.counts.get("aws_http", 0), base.counts.get("aws_http", 0)
    # each moto server answers one call at a time (one Python process); the fleet's best rate for the cheapest call,
    # from a bare client spreading its calls over the accounts, bounds every client
    best = max(capacity.values())
    floor = calls / best
    return [
        Row(name, "sequential boto3 script: wall / API calls", f"{base.seconds:.2f} s / {base_calls}"),
        Row(name, "revoke apply API calls", f"{calls} = {ratio(calls, base_calls):.3f}x script",
            "<= script's", calls <= base_calls),
        Row(name, "revoke apply wall", f"{apply_.seconds:.2f} s = {ratio(apply_.seconds, base.seconds):.2f}x script",
            "<= 0.45x script", apply_.seconds <= 0.45 * base.seconds),  # issue 17's target (issue 10's: 0.5x)
        Row(name, "revoke plan wall / API calls", f"{plan.seconds:.2f} s / {plan.counts.get('aws_http', 0)}"),
        Row(name, "API calls by operation: revoke apply / script", _by_operation(apply_.counts, base.counts)),
        Row(name, f"emulator's capacity ({servers} moto servers; bare client, cheapest call, " +
            " / ".join(str(t) for t in capacity) + " threads)",
            " / ".join(f"{v:.0f}" for v in capacity.values()) + f" calls/s; script {base_calls / base.seconds:.0f}, "
            f"revoke {calls / apply_.seconds:.0f} calls/s"),
        Row(name, "revoke apply wall against the emulator's floor (its calls / best rate)",
            f"{ratio(apply_.seconds, floor):.2f}x floor {floor:.2f} s ({calls} calls / {best:.0f} calls/s); "
            f"script {ratio(base.seconds, base_calls / best):.2f}x its floor {base_calls / best:.2f} s"),
    ]


def _by_operation(revoke_counts: dict[str, int], script_counts: dict[str, int]) -> str:
    """Calls per API operation (bench/_probe.py counts them as aws_op:SERVICE:Operation), most frequent first."""
    ops: dict[str, list[int]] = {}
    for i, counts in enumerate((revoke_counts, script_counts)):
        for key, n in counts.items():
            if key.startswith("aws_op:"):
                ops.setdefault(key.split(":", 2)[2], [0, 0])[i] += n
    ranked = sorted(ops.items(), key=lambda kv: (-max(kv[1]), kv[0]))
    return ", ".join(f"{op} {a}/{b}" for op, (a, b) in ranked)


def _check_done(url: str, credentials: dict[str, str], accounts: list[str], users: int) -> None:
    """Both sets revoked everywhere, read independently of revoke and of the script."""
    for account in accounts:
        iam = client(url, "iam", account_credentials(url, credentials, account))
        for prefix in ("r-user", "s-user"):
            for i in (0, users - 1):
                name = f"{prefix}{i:02d}"
                keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
                groups = iam.list_groups_for_user(UserName=name)["Groups"]
                if any(k["Status"] == "Active" for k in keys) or groups:
                    raise RuntimeError(f"{name} in {account} still has access after the benchmark")
