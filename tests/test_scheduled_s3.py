"""Evidence of a scheduled run in an S3 bucket with Object Lock (moto's server, unmodified boto3): the sealed run
folder is kept in compliance mode, `revoke evidence verify s3://...` verifies it and catches a changed copy."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.exceptions import ClientError

from revoke.sandbox.aws import client, fake_credentials
from tests.aws_env import moto_server  # noqa: F401 - fixture
from tests.temporal_env import temporal_server, workers  # noqa: F401 - fixtures


def test_scheduled_evidence_goes_to_a_locked_bucket_and_verifies(engagement, slapd, workers, run_cli,  # noqa: F811
                                                                 moto_server, monkeypatch):  # noqa: F811
    moto_server.reset()
    creds = fake_credentials()
    s3 = client(moto_server.url, "s3", creds)
    s3.create_bucket(Bucket="evidence", ObjectLockEnabledForBucket=True)
    aws_env = {"AWS_ENDPOINT_URL": moto_server.url, "AWS_ACCESS_KEY_ID": creds["aws_access_key_id"],
               "AWS_SECRET_ACCESS_KEY": creds["aws_secret_access_key"], "AWS_DEFAULT_REGION": "us-east-1"}
    for k, v in aws_env.items():
        monkeypatch.setenv(k, v)
    plan_file = engagement["dir"] / "plan.json"
    assert run_cli("plan", str(engagement["runbook"]), "--out", str(plan_file)).exit_code == 2
    w = workers({"REVOKE_CORP_LDAP": slapd.service.password, **aws_env})
    w.start(1)
    out = w.revoke("--output", "json", "schedule", str(plan_file), "--at", "now", "--evidence", "s3://evidence/acme")
    assert out.returncode == 0, out.stderr
    run_id = json.loads(out.stdout)["run_id"]
    info = w.wait(run_id)
    assert info["status"] == "completed", info
    url = f"s3://evidence/acme/{run_id}"
    assert info["stages"][0]["location"] == url
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="evidence", Prefix=f"acme/{run_id}/")["Contents"]}
    assert {f"acme/{run_id}/evidence.jsonl", f"acme/{run_id}/manifest.json", f"acme/{run_id}/plan.json"} <= keys
    assert not (engagement["dir"] / "evidence" / run_id).exists()  # nothing of the run left on the worker's disk
    head = s3.head_object(Bucket="evidence", Key=f"acme/{run_id}/evidence.jsonl")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=300)
    with pytest.raises(ClientError, match="AccessDenied"):  # write-once: the sealed log cannot be deleted
        s3.delete_object(Bucket="evidence", Key=f"acme/{run_id}/evidence.jsonl", VersionId=head["VersionId"])

    verified = w.revoke("evidence", "verify", url)
    assert verified.returncode == 0, verified.stderr
    assert "verified" in verified.stdout and "compliance mode" in verified.stdout

    # a changed copy (a new version over the locked one) does not verify
    log = s3.get_object(Bucket="evidence", Key=f"acme/{run_id}/evidence.jsonl")["Body"].read()
    s3.put_object(Bucket="evidence", Key=f"acme/{run_id}/evidence.jsonl",
                  Body=log.replace(b'"outcome": "done"', b'"outcome": "failed"', 1), ChecksumAlgorithm="SHA256",
                  ObjectLockMode="COMPLIANCE",
                  ObjectLockRetainUntilDate=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1))
    tampered = w.revoke("evidence", "verify", url)
    assert tampered.returncode == 1 and "does NOT verify" in tampered.stderr
