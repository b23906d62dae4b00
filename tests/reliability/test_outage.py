"""slapd goes down in the middle of an apply: its own actions fail with a clear error naming the system (exit 3),
the other system in the runbook (the Slack fake) is fully done and never blocked; once slapd is back, applying
again finishes the rest without repeating anything, and every run's evidence verifies."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

from revoke.connectors.directory.ldap import LdapConnector
from revoke.evidence import read_records, verify_run
from revoke.sandbox.slack import SlackFake
from revoke.sandbox.slapd import Slapd
from tests.conftest import ldap_system, write_runbook, yesterday
from tests.reliability.worlds import assert_each_slack_write_once, cli_json, run_dirs, slack_system, slack_world

LDAP_WRITES = 7  # what the engagement fixture plans for corp-ldap (see tests/conftest.py)
SLACK_WRITES = 5  # two closing messages, two archives, one removal from a channel that stays
REAL_APPLY = LdapConnector.apply


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    with SlackFake() as fake:
        yield fake


@pytest.fixture
def two_systems(engagement: dict, slapd: Slapd, slack: SlackFake, monkeypatch: pytest.MonkeyPatch) -> Path:
    slack_world(slack, monkeypatch)
    ldap = ldap_system(slapd)
    ldap["concurrency"] = 1  # one write at a time, so "the third write" is well defined
    return write_runbook(engagement["dir"] / "two.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"corp-ldap": ldap, "slack": slack_system(slack)},
        "people": [{"name": "Alice Example", "email": "alice@example.org", "ids": {"corp-ldap": "alice"}},
                   {"name": "Bob Example", "ids": {"corp-ldap": "bob"}},
                   {"name": "Erin Posix", "ids": {"corp-ldap": "erin"}}],
        "lists": [{"system": "corp-ldap", "id": engagement["list"]},
                  {"system": "slack", "id": "#client-team", "close": "keep"}],
        "protect": ["dave"],
    })


def _stop_slapd_at(monkeypatch: pytest.MonkeyPatch, slapd: Slapd, nth: int) -> list[str]:
    """slapd stops just before the connector's nth write reaches it (as if the server crashed right then)."""
    calls: list[str] = []
    lock = threading.Lock()

    def apply(self: LdapConnector, action: Any) -> Any:
        with lock:
            calls.append(action.id)
            if len(calls) == nth:
                slapd.stop()
        return REAL_APPLY(self, action)

    monkeypatch.setattr(LdapConnector, "apply", apply)
    return calls


def _slack_done(slack: SlackFake, ws_alice: str) -> None:
    assert slack.channel("acme-dev").is_archived and slack.channel("acme-ops").is_archived
    assert ws_alice not in slack.members("client-team")
    assert_each_slack_write_once(slack)


def _finals(run_dir: Path) -> dict[str, str]:
    records = [r for r in read_records(run_dir) if r["type"] == "action"]
    counts = Counter(r["action_id"] for r in records)
    assert max(counts.values()) == 1, f"an action has more than one final record in {run_dir.name}"
    return {r["action_id"]: r["outcome"] for r in records}


def test_slapd_down_mid_run_fails_its_actions_only_and_a_rerun_finishes(
        two_systems: Path, engagement: dict, slapd: Slapd, slack: SlackFake, run_cli: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    people = engagement["people"]
    alice_slack = slack.user_by_email("alice@example.org").id
    calls = _stop_slapd_at(monkeypatch, slapd, 3)

    first = run_cli("apply", str(two_systems), "--yes")
    assert first.exit_code == 3, first.output + first.stderr
    assert len(calls) == LDAP_WRITES  # every ldap action was attempted: one failure did not stop the others
    # the ldap connector applies up to 20 actions per batch and reads them back together: writes 1 and 2 reached
    # the server but could not be verified once it was down, 3 to 7 never reached it; all seven say why
    failed_lines = [line for line in first.output.splitlines() if line.strip().startswith("failed")]
    assert len(failed_lines) == LDAP_WRITES, "\n".join(failed_lines)
    for line in failed_lines:  # each says which system, what, and why
        assert line.strip().startswith("failed  corp-ldap: ") and slapd.url in line, line
        assert "cannot reach" in line or "lost the connection" in line, line
    assert sum("could not read the target back after the change" in line for line in failed_lines) == 2
    _slack_done(slack, alice_slack)  # the other system finished, untouched by the outage

    evidence = engagement["dir"] / "evidence"
    [run1] = run_dirs(evidence)
    assert verify_run(run1).ok  # a run with failures is still sealed and verifies
    first_outcomes = _finals(run1)
    assert Counter(first_outcomes.values()) == {"failed": LDAP_WRITES, "done": SLACK_WRITES,
                                                "already_done": 1}, first_outcomes
    written = set(calls[:2])

    # back up: resuming the finished run says what to do; applying again finishes the rest
    slapd.restart()
    monkeypatch.setattr(LdapConnector, "apply", REAL_APPLY)
    resumed = run_cli("apply", "--resume", str(run1))
    assert resumed.exit_code == 1 and "apply" in resumed.stderr and "again" in resumed.stderr, resumed.stderr
    slack_writes = len(slack.writes())

    second = cli_json(run_cli("--quiet", "--output", "json", "apply", str(two_systems), "--yes"))
    assert second["exit_code"] == 0, second
    assert len(slack.writes()) == slack_writes  # nothing sent to Slack again
    run2 = Path(second["run_dir"])
    assert run_dirs(evidence) == sorted([run1, run2]) and verify_run(run2).ok
    second_outcomes = _finals(run2)
    done_in = Counter(i for outcomes in (first_outcomes, second_outcomes) for i, o in outcomes.items() if o == "done")
    assert done_in and max(done_in.values()) == 1, "an action was done twice"
    failed_first = {i for i, o in first_outcomes.items() if o == "failed"}
    assert {i for i in failed_first - written if second_outcomes[i] != "done"} == set()
    assert {second_outcomes[i] for i in written} == {"already_done"}  # written before the outage: not again

    # the directory as the plan wanted it
    assert not slapd.can_bind(people["alice"].dn, people["alice"].password)
    assert not slapd.can_bind(engagement["erin"].dn, engagement["erin"].password)
    assert people["alice"].dn not in slapd.read(engagement["eng"])["member"]
    assert slapd.read(engagement["list"]) is None
    assert slapd.can_bind(people["dave"].dn, people["dave"].password)


def test_slapd_down_before_apply_fails_its_system_not_the_run(
        two_systems: Path, engagement: dict, slapd: Slapd, slack: SlackFake, run_cli: Any) -> None:
    plan_file = engagement["dir"] / "plan.json"
    assert run_cli("--quiet", "plan", str(two_systems), "--out", str(plan_file)).exit_code == 2
    slapd.stop()
    applied = cli_json(run_cli("--quiet", "--output", "json", "apply", str(plan_file)))
    assert applied["exit_code"] == 3, applied
    ldap = [a for a in applied["actions"] if a["system"] == "corp-ldap" and a["outcome"] == "failed"]
    assert len(ldap) == LDAP_WRITES + 1  # and Bob's lock, already in place, cannot be confirmed either
    assert all(a["error"].startswith("corp-ldap unavailable: corp-ldap: cannot connect") for a in ldap), ldap
    _slack_done(slack, slack.user_by_email("alice@example.org").id)
    assert verify_run(Path(applied["run_dir"])).ok

    slapd.restart()
    again = cli_json(run_cli("--quiet", "--output", "json", "apply", str(plan_file)))
    assert again["exit_code"] == 0, again
    outcomes = Counter(a["outcome"] for a in again["actions"])
    assert outcomes["done"] == LDAP_WRITES and outcomes["failed"] == 0
    assert_each_slack_write_once(slack)
    people = engagement["people"]
    assert not slapd.can_bind(people["alice"].dn, people["alice"].password)
