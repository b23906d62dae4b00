"""Fixtures and helpers for tests against moto's server (revoke.sandbox.aws).

moto keeps its state in the process, so every module that seeds an organization first resets the server; modules
run one after another, never interleaved.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from revoke.connectors import _aws

from revoke.sandbox.aws import MotoServer, SeededAws, seed_engagement


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


def fresh_engagement(server: MotoServer, **parts: Any) -> SeededAws:
    server.reset()
    return seed_engagement(server.url, **parts)


def credentials_env(seeded: SeededAws) -> dict[str, str]:
    """The made-up moto credentials as the runbook secrets `aws_key` / `aws_secret`, for this test process only."""
    return {"REVOKE_AWS_KEY": seeded.credentials["aws_access_key_id"],
            "REVOKE_AWS_SECRET": seeded.credentials["aws_secret_access_key"]}


def aws_system(seeded: SeededAws, connector: str, **extra: Any) -> dict[str, Any]:
    settings = {"endpoint_url": seeded.url, "region": "us-east-1",
                "access_key_id": {"secret": "aws_key"}, "secret_access_key": {"secret": "aws_secret"}}
    settings.update(extra)
    return {"connector": connector, "settings": settings}


class CallRecorder:
    """Every AWS operation revoke's connectors call, as IAM action names (iam:UpdateAccessKey)."""

    def __init__(self) -> None:
        self.actions: set[str] = set()

    def __call__(self, prefix: str, operation: str) -> None:
        self.actions.add(f"{prefix}:{operation}")


def record_calls(mp: pytest.MonkeyPatch) -> CallRecorder:
    """Hook every AwsSessions the connectors create, through botocore's before-call event."""
    recorder = CallRecorder()
    original = _aws.AwsSessions.__init__

    def init(self: _aws.AwsSessions, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.on_call(recorder)

    mp.setattr(_aws.AwsSessions, "__init__", init)
    return recorder


def policy_actions(document: str) -> set[str]:
    policy = json.loads(document)
    out: set[str] = set()
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow" and st["Resource"] == "*"
        out |= set(st["Action"])
    return out


def trust_principals(iam: Any, role: str) -> list[list[str]]:
    """The AWS principals of each statement of a role's trust policy, read from the server."""
    doc = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    out = []
    for st in doc["Statement"]:
        aws = st.get("Principal", {}).get("AWS", [])
        out.append(sorted([aws] if isinstance(aws, str) else aws))
    return out
