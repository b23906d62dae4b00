"""The benchmark harness runs end to end at tiny sizes and prints its table. Figures are never asserted here:
benchmarks are measurements (bench/README.md), not timed tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from revoke.sandbox.slapd import unavailable_reason

REPO = Path(__file__).resolve().parent.parent


def test_quick_benchmarks_complete_and_print_the_table() -> None:
    # the timeout only stops a hung harness; nothing is asserted about how long it took
    done = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--quick"], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "| benchmark" in out and "| measured" in out
    assert "FAILED" not in out
    expected = ["2 Graph", "3 AWS fan-out", "6 GitHub"]
    if unavailable_reason() is None or os.environ.get("CI"):   # in CI slapd is there: its benchmarks must run
        expected += ["1 LDAP floor", "4 LDAP scale", "5 evidence overhead", "fitted exponent"]
    for name in expected:
        assert name in out, out


def test_the_moto_fleet_keeps_each_account_on_one_server_and_spreads_the_accounts() -> None:
    """bench/aws_fleet.py routes by the account an access key was issued for: an account's writes, made with one
    AssumeRole session, are seen by reads made with another, and different accounts live on different servers
    (moto's state is per process: a request routed to the wrong server would not find what it wrote)."""
    from bench.aws_fleet import MotoFleet
    from revoke.sandbox.aws import account_credentials, client, fake_credentials

    with MotoFleet(3) as fleet:
        credentials = fake_credentials()
        org = client(fleet.url, "organizations", credentials)
        org.create_organization(FeatureSet="ALL")
        members = [org.create_account(AccountName=f"m{i}", Email=f"m{i}@example.com")
                   ["CreateAccountStatus"]["AccountId"] for i in range(4)]
        for account in members:
            client(fleet.url, "iam", account_credentials(fleet.url, credentials, account)).create_user(
                UserName=f"only-in-{account}")
        for account in members:  # a second session into each account, with keys of its own
            iam = client(fleet.url, "iam", account_credentials(fleet.url, credentials, account))
            assert [u["UserName"] for u in iam.list_users()["Users"]] == [f"only-in-{account}"]
        # the management account (server 0) and the four members over the other two servers
        assert fleet.accounts_per_server() == [1, 2, 2]
        host, port = fleet._addresses[0]
        for account in members:  # asked directly, the first server (which issued the keys) holds none of it
            direct = client(f"http://{host}:{port}", "iam", account_credentials(fleet.url, credentials, account))
            assert direct.list_users()["Users"] == []
