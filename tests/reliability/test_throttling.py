"""Three systems throttled at once, in one apply: Microsoft Graph (429 + Retry-After, some inside a 200 $batch
envelope after the change was made), Slack (429 + Retry-After, and `ratelimited` inside an HTTP 200) and AWS IAM
(`Throttling` from a proxy in front of moto, some after moto carried the call out). Every action ends `done`, and
each change reached each service exactly once: counted on the fakes, not in revoke's own records."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

from revoke.evidence import read_records, verify_run
from revoke.runtime import FakeClock
from revoke.sandbox.aws import MotoServer
from revoke.sandbox.graph import GraphFake
from revoke.sandbox.slack import SlackFake
from tests.aws_env import aws_system, credentials_env, fresh_engagement, moto_server  # noqa: F401
from tests.conftest import write_runbook, yesterday
from tests.graph_env import graph, graph_app, graph_system  # noqa: F401
from tests.reliability.throttling_proxy import ThrottlingProxy
from tests.reliability.worlds import CLOSING, assert_each_slack_write_once, slack_system, slack_world

GRAPH_WRITES = ("PATCH", "POST", "DELETE")
IAM_WRITES = ("UpdateAccessKey", "DeleteLoginProfile", "UpdateSSHPublicKey", "UpdateSigningCertificate",
              "DeactivateMFADevice", "RemoveUserFromGroup", "DetachUserPolicy", "DeleteUserPolicy", "TagUser",
              "UpdateAssumeRolePolicy", "PutRolePolicy", "DeleteVirtualMFADevice")


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    with SlackFake() as fake:
        yield fake


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[ThrottlingProxy]:
    p = ThrottlingProxy(moto_server.url).start()
    try:
        yield p
    finally:
        p.stop()


def test_every_action_done_once_under_throttling_in_three_systems(
        graph: GraphFake, graph_app: tuple[str, str], slack: SlackFake, moto_server: MotoServer,
        proxy: ThrottlingProxy, tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch,
        fake_clock: FakeClock) -> None:
    # Graph: three leavers in one group
    group = graph.add_group("Engagement")
    leavers = [graph.add_user(f"leaver{i}@contoso.test") for i in range(3)]
    stays = graph.add_user("stays@contoso.test")
    for uid in (*leavers, stays):
        graph.add_member(group, uid)
    # Slack: alice leaves; AWS: alice leaves, in one account, with every kind of IAM credential
    ws = slack_world(slack, monkeypatch)
    seeded = fresh_engagement(moto_server, member_accounts=0, identity_center=False)
    for k, v in credentials_env(seeded).items():
        monkeypatch.setenv(k, v)
    aws = aws_system(seeded, "aws-iam", endpoint_url=proxy.url)  # one attempt a call: throttles reach the engine
    people = [{"name": f"Leaver {i}", "ids": {"m365": f"leaver{i}@contoso.test"}} for i in range(3)]
    people[0].update({"email": "alice@example.org", "ids": {**people[0]["ids"], "aws": "alice"}})
    runbook = write_runbook(tmp_path / "acme.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"m365": graph_system(graph, graph_app[0]), "slack": slack_system(slack), "aws": aws},
        "people": people, "lists": [{"system": "slack", "id": "#client-team", "close": "keep"}]})
    plan_file = tmp_path / "plan.json"
    planned = run_cli("--quiet", "plan", str(runbook), "--out", str(plan_file))
    assert planned.exit_code == 2, planned.output + planned.stderr
    changes = [a for a in json.loads(plan_file.read_text())["plan"]["actions"] if a["status"] == "change"]
    graph.clear_log()
    proxy.seen.clear()

    # Graph: disables answered 429 and not made; removals and session revocations made, yet answered 429
    graph.throttle(r"^/users/[^/]+$", method="PATCH", times=2, retry_after=1)
    graph.throttle(r"/members/[^/]+/\$ref$", method="DELETE", times=2, applied=True, retry_after=1)
    graph.throttle(r"/revokeSignInSessions$", method="POST", times=1, applied=True, retry_after=1)
    # Slack: a post made yet answered 429, an archive refused with Retry-After, a kick `ratelimited` in a 200
    slack.throttle("chat.postMessage", retry_after=1, applied=True)
    slack.throttle("conversations.archive", retry_after=1)
    slack.throttle("conversations.kick", http_200=True)
    # AWS: Throttling before and after moto carried the call out, and on a read the engine re-reads with
    proxy.throttle("UpdateAccessKey", times=2)
    proxy.throttle("DeleteLoginProfile", applied=True)
    proxy.throttle("RemoveUserFromGroup", applied=True)
    proxy.throttle("ListAccessKeys")

    result = run_cli("--quiet", "--output", "json", "apply", str(plan_file))
    run = json.loads(result.output)
    # exit 3 only for what the seed decides at plan time (a trust policy naming only alice needs a person;
    # moto lacks service-specific credentials): nothing failed
    assert not [a for a in run["actions"] if a["outcome"] == "failed"], run["actions"]
    assert {a["outcome"] for a in run["actions"] if a["outcome"] != "done"} <= {"attention", "not_supported"}

    # the evidence: one final record per action, every change `done` and verified, some after several attempts
    run_dir = Path(run["run_dir"])
    records = [r for r in read_records(run_dir) if r["type"] == "action"]
    assert Counter(r["action_id"] for r in records).most_common(1)[0][1] == 1
    by_id = {r["action_id"]: r for r in records}
    assert {by_id[a["id"]]["outcome"] for a in changes} == {"done"}
    assert {by_id[a["id"]]["verification"] for a in changes} <= {"verified", "absent"}
    assert {s for s in ("m365", "slack", "aws")} == {r["system"] for r in records if r["attempts"] > 1}
    assert verify_run(run_dir).ok
    assert fake_clock.slept  # every wait was the engine's, on the run's clock: none of it real

    # Graph, as the fake saw it: a request is sent again only when it was not carried out: a PATCH answered 429
    # (not made), or a request refused with 424 because the PATCH it depends on in the $batch was; a DELETE or POST
    # that was carried out (even when answered 429) is never sent again
    logged = [r for r in graph.requests() if r.method in GRAPH_WRITES and r.path != "/$batch"]
    sent = Counter((r.method, r.path) for r in logged)
    not_made = Counter((r.method, r.path) for r in logged
                       if r.status == 424 or (r.status == 429 and r.method == "PATCH"))
    assert sum(1 for r in logged if r.status == 429) == 5
    for (method, path), n in sent.items():
        assert n == 1 + not_made[(method, path)], (method, path, n)
    assert {m for m, _ in sent} == set(GRAPH_WRITES)
    assert all(graph.user(uid)["accountEnabled"] is False for uid in leavers)
    assert graph.members(group) == [stays]

    # Slack: one closing message per channel although a post was answered 429 after it was made
    assert_each_slack_write_once(slack)
    assert [m["text"] for m in slack.messages("acme-dev")] == [CLOSING]
    assert [m["text"] for m in slack.messages("acme-ops")] == [CLOSING]
    assert ws["alice"] not in slack.members("client-team")

    # AWS, as moto received it through the proxy: every change carried out once
    iam = seeded.client("iam")
    for op in IAM_WRITES:
        done = [tuple(sorted(p.items())) for p in proxy.succeeded(op)]
        assert len(done) == len(set(done)), f"{op} carried out twice: {done}"
    assert sum(1 for s in proxy.seen if s.status == 400) == 5  # every injected Throttling was answered
    assert len(proxy.succeeded("UpdateAccessKey")) == 2
    assert {k["Status"] for k in iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]} == {"Inactive"}
    assert iam.list_groups_for_user(UserName="alice")["Groups"] == []
    assert {k["Status"] for k in iam.list_access_keys(UserName="carol")["AccessKeyMetadata"]} == {"Active"}
