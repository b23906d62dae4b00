"""The rough edges of a first hour with revoke (issue 22): each as the user meets it."""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from revoke.sandbox.slack import SlackFake
from tests.conftest import skip_unless_ci, write_runbook, yesterday
from tests.reliability.worlds import slack_system, slack_world

SEED_PAGE = Path(__file__).parent / "data" / "customer-offboarding-checklist.md"


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    with SlackFake() as fake:
        yield fake


def _status(page: Path, number: int) -> str:
    row = next(line for line in page.read_text().splitlines() if line.startswith(f"| {number} |"))
    return row.split("|")[2].strip()


def slack_only(tmp_path: Path, slack: SlackFake, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> Path:
    slack_world(slack, monkeypatch)
    (tmp_path / "wiki").mkdir()
    (tmp_path / "wiki" / "Offboarding.md").write_bytes(SEED_PAGE.read_bytes())
    (tmp_path / "wiki" / ".attachments").mkdir()
    return write_runbook(tmp_path / "acme.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(), "checklist": "wiki/Offboarding.md",
        "systems": {"slack": slack_system(slack, **extra)},
        "people": [{"name": "Alice Example", "email": "alice@example.org"}], **extra.pop("_top", {})})


def test_an_item_no_system_covers_is_not_covered_never_done(tmp_path: Path, slack: SlackFake, run_cli: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A Slack-only runbook closes channels (item 4) but leaves the Slack accounts active: item 3 is not covered
    by this runbook, and the page keeps the Status a person gave it."""
    runbook = slack_only(tmp_path, slack, monkeypatch)
    page = tmp_path / "wiki" / "Offboarding.md"
    before = _status(page, 3)
    result = run_cli("apply", str(runbook), "--yes")
    assert result.exit_code in (0, 3), result.output + result.stderr
    assert "item 3 Site/Network Access -> " + before + " (not covered by this runbook" in result.output
    assert _status(page, 3) == before != "Done"
    assert _status(page, 4) == "Done"


def test_routed_actions_are_settled() -> None:
    from revoke.checklist.items import verdict

    routed = {"action_id": "a", "outcome": "routed", "verification": "none", "item": 3}
    done = {"action_id": "b", "outcome": "done", "verification": "verified", "item": 3}
    v = verdict("apply", 3, [routed, done], [])
    assert v.status == "Done" and "1 routed" in v.text and "attention" not in v.text


class _NamedSlapd:
    """A slapd whose certificate names ldap.example.test only, as a directory reached by IP or alias is."""

    @staticmethod
    def start(workdir: Path) -> Any:
        import trustme

        from revoke.sandbox.slapd import Slapd

        class Named(Slapd):
            def _make_certificates(self) -> None:
                ca = trustme.CA()
                cert = ca.issue_cert("ldap.example.test")
                ca.cert_pem.write_to_path(str(self.workdir / "ca.pem"))
                cert.private_key_pem.write_to_path(str(self.workdir / "server.key"))
                cert.cert_chain_pems[0].write_to_path(str(self.workdir / "server.pem"))
                self.ca_file = str(self.workdir / "ca.pem")

        return Named(workdir).start()


def _ldap_runbook(tmp_path: Path, server: Any, **settings: Any) -> Path:
    from tests.conftest import ldap_system

    return write_runbook(tmp_path / "ldap.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"corp-ldap": ldap_system(server, **settings)},
        "people": [{"name": "Alice Example", "ids": {"corp-ldap": "alice"}}]})


def test_a_certificate_for_another_name_says_so_and_tls_server_name_fixes_it(tmp_path: Path, run_cli: Any,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from revoke.sandbox.slapd import unavailable_reason

    if unavailable_reason():
        skip_unless_ci(f"slapd: {unavailable_reason()}")
    server = _NamedSlapd.start(tmp_path / "slapd")
    try:
        server.add_user("alice")
        monkeypatch.setenv("REVOKE_CORP_LDAP", server.service.password)
        result = run_cli("plan", str(_ldap_runbook(tmp_path, server)))
        assert result.exit_code == 1
        said = result.output + result.stderr
        assert "certificate does not name 127.0.0.1" in said and "tls_server_name" in said, said
        assert "is the server running" not in said
        result = run_cli("plan", str(_ldap_runbook(tmp_path, server, tls_server_name="ldap.example.test")))
        assert result.exit_code == 2, result.output + result.stderr
        assert "- lock account" in result.output
    finally:
        server.stop()


def test_plain_ldap_without_starttls_says_how_to_choose(tmp_path: Path, run_cli: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from revoke.sandbox.slapd import Slapd, unavailable_reason

    if unavailable_reason():
        skip_unless_ci(f"slapd: {unavailable_reason()}")
    server = Slapd(tmp_path / "slapd", tls=False).start()
    try:
        server.add_user("alice")
        monkeypatch.setenv("REVOKE_CORP_LDAP", server.service.password)
        result = run_cli("plan", str(_ldap_runbook(tmp_path, server, ca_file=None)))
        said = result.output + result.stderr
        assert result.exit_code == 1 and "does not offer StartTLS" in said and "insecure: true" in said, said
    finally:
        server.stop()


def _with(runbook: Path, **changes: Any) -> Path:
    import yaml

    data = yaml.safe_load(runbook.read_text())
    for key, value in changes.items():
        data[key] = value(data[key]) if callable(value) else value
    return write_runbook(runbook, data)


def test_progress_lines_name_the_account_and_counts_agree(engagement: dict, run_cli: Any) -> None:
    """Without a terminal, each progress line says whose account it is; the run's attention count is the number of
    attention lines, a person not found included; the plan says what "decided at plan time" means."""
    runbook = _with(engagement["runbook"], people=lambda p: [*p, {"name": "Gone Ghost", "ids": {"corp-ldap": "ghost"}}])
    planned = run_cli("plan", str(runbook))
    assert "discovering 6 people, 1 list" in planned.stderr
    assert "found " in planned.stderr and " on " in planned.stderr and "targets" not in planned.stderr
    assert "1 notice needs a person" in planned.output
    result = run_cli("apply", str(runbook), "--yes")
    assert result.exit_code == 3, result.output + result.stderr
    assert "[apply] corp-ldap: lock account (Alice Example) -> done" in result.stderr
    attention_lines = [line for line in result.output.splitlines() if line.startswith("  attention  ")]
    summary = next(line for line in result.output.splitlines() if line.startswith("Apply: "))
    assert f"{len(attention_lines)} attention" in summary and "ghost" in "".join(attention_lines), result.output


def test_a_refused_apply_leaves_its_evidence(engagement: dict, run_cli: Any) -> None:
    from revoke.evidence import read_records, verify_run
    from tests.reliability.worlds import refused_runs

    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    runbook = _with(engagement["runbook"], final_day=tomorrow)
    result = run_cli("apply", str(runbook), "--yes")
    assert result.exit_code == 1 and "before the engagement's final_day" in result.stderr
    (refused,) = refused_runs(engagement["dir"] / "evidence")
    assert refused.name in result.stderr and verify_run(refused).ok
    (why,) = [r for r in read_records(refused) if r["type"] == "refused"]
    assert "final_day" in why["reason"] and why["changes"] == 0


def test_apply_of_a_runbook_without_a_terminal_is_an_error_not_plans_exit_2(engagement: dict, run_cli: Any) -> None:
    result = run_cli("apply", str(engagement["runbook"]))
    assert result.exit_code == 1 and "add --yes" in result.stderr


def test_bad_input_messages(tmp_path: Path, run_cli: Any) -> None:
    result = run_cli("evidence", "verify", str(tmp_path / "nonexistent"))
    assert result.exit_code == 1 and "no such folder" in result.stderr and "does NOT verify" not in result.stderr
    runbook = write_runbook(tmp_path / "r.yaml", {
        "engagement": "acme 2026", "final_day": 42,
        "systems": {"corp-ldap": {"connector": "ldap", "settings": {"url": "ldaps://x", "bind_dn": "cn=x",
                                                                     "bind_password": {"secret": "p"},
                                                                     "base_dnn": "dc=x"}}},
        "people": [{"name": "A", "ids": {"corp-ldap": "a"}}]})
    result = run_cli("validate", "--offline", str(runbook))
    said = result.stderr
    assert result.exit_code == 1
    assert "final_day: 42 is a number, not a date: write the day as YYYY-MM-DD" in said and "zero time" not in said
    # the settings' problems come in the same round as the runbook's own
    assert "engagement:" in said and "settings.base_dnn: is not a known field" in said
    assert "settings.base_dn: is required but missing" in said
    assert "docs/runbook.md" in said and "validate --help" not in said


def test_an_unreachable_aws_endpoint_is_not_called_bad_credentials(tmp_path: Path, run_cli: Any) -> None:
    if importlib.util.find_spec("boto3") is None:
        skip_unless_ci("boto3 is not installed (pip install -e '.[aws]')")
    runbook = write_runbook(tmp_path / "aws.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"aws": {"connector": "aws-iam", "settings": {
            "endpoint_url": "http://127.0.0.1:9", "region": "us-east-1",
            "access_key_id": {"secret": "k"}, "secret_access_key": {"secret": "s"}}}},
        "people": [{"name": "A", "ids": {"aws": "alice"}}]})
    result = run_cli("plan", str(runbook), env={"REVOKE_K": "AKIAEXAMPLE", "REVOKE_S": "not-a-secret-at-all"})
    said = result.output + result.stderr
    assert result.exit_code == 1 and "cannot reach http://127.0.0.1:9" in said
    assert "credentials do not work" not in said


def test_no_stray_sdk_error_lines_without_verbose(tmp_path: Path) -> None:
    """slack_sdk logs "ERROR slack_sdk...: Failed to send a request" on a connection error; revoke reports it in
    its own words, and without -v nothing else is printed."""
    import subprocess
    import sys

    runbook = write_runbook(tmp_path / "slack.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"slack": {"connector": "slack", "settings": {"token": {"secret": "slack_token"},
                                                                 "base_url": "http://127.0.0.1:9/api/"}}},
        "people": [{"name": "A", "ids": {"slack": "U123"}}]})
    env = {**__import__("os").environ, "REVOKE_SLACK_TOKEN": "xoxb-not-a-real-token"}
    done = subprocess.run([sys.executable, "-m", "revoke.cli", "plan", str(runbook)], capture_output=True,
                          text=True, check=False, env=env, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "ERROR slack_sdk" not in done.stderr and "slack" in done.stderr
    verbose = subprocess.run([sys.executable, "-m", "revoke.cli", "-v", "plan", str(runbook)], check=False,
                             capture_output=True, text=True, env=env, timeout=120)
    assert "slack_sdk" in verbose.stderr


def test_the_demo_in_a_clone_keeps_its_attachments_in_its_own_wiki(tmp_path: Path) -> None:
    """`revoke demo` run from a clone of revoke: the wiki is the demo's own git clone, so attachments never land
    in the clone's root, and marking an item with --commit commits in the demo's wiki."""
    import subprocess

    from tests.demo_env import start_demo

    clone = tmp_path / "revoke"
    clone.mkdir()
    subprocess.run(["git", "init", "--quiet"], cwd=clone, check=True)
    (clone / ".gitignore").write_text("revoke-demo/\n")
    for world in start_demo(clone / "revoke-demo"):
        assert world.codes == [0, 2, 3, 0], "\n".join(world.output)
        assert not (clone / ".attachments").exists()
        assert any((world.workdir / "wiki" / ".attachments").rglob("closure-report.html"))
        note = world.workdir / "acceptance.txt"
        note.write_text("signed by J. Doe\n")
        code = world.revoke("checklist", "mark", "wiki/Customer-Offboarding-Checklist.md", "1", "Done",
                            "--note", "acceptance signed", "--attach", str(note), "--commit")
        assert code == 0, world.output[-1]
        log = subprocess.run(["git", "log", "--oneline"], cwd=world.workdir / "wiki", capture_output=True, text=True, check=False)
        assert log.stdout.strip(), "nothing was committed in the demo's wiki"
        assert subprocess.run(["git", "status", "--porcelain"], cwd=clone, check=False, capture_output=True,
                              text=True).stdout.strip() in ("", "?? .gitignore")


def test_no_word_said_twice_and_restore_has_its_own_words() -> None:
    from revoke.connector import load

    iam = load("aws-iam")
    said = iam.kind("deactivate-service-credential").describe("service-specific credentials of alice in 1111")
    assert said == "deactivate service-specific credentials of alice in 1111"
    ldap = load("ldap")
    assert ldap.kind("lock-account").describe("x", mode="restore") == "unlock account"
    assert ldap.kind("remove-membership").describe("cn=eng", mode="restore") == "re-add to cn=eng"
    assert load("slack").kind("archive-channel").describe("#acme-dev", mode="restore") == "unarchive #acme-dev"


def test_secrets_are_read_beside_the_runbook_and_the_error_says_where_it_looked(
        tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "engagement"
    folder.mkdir()
    runbook = write_runbook(folder / "r.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"s": {"connector": "slack", "settings": {"token": {"secret": "slack_token"}}}},
        "people": [{"name": "A", "ids": {"s": "U1"}}]})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("REVOKE_SLACK_TOKEN", raising=False)
    missing = run_cli("validate", str(runbook))
    assert missing.exit_code == 1
    assert str(folder / ".env") in missing.stderr and str(elsewhere / ".env") in missing.stderr
    (folder / ".env").write_text("REVOKE_SLACK_TOKEN=xoxb-from-the-runbooks-folder\n")
    assert run_cli("validate", str(runbook)).exit_code == 0
