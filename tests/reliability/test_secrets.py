"""Known secret strings are planted in every system (the LDAP bind password, the Graph client secret, the Slack
token, the AWS secret key), and everything revoke writes is scanned for them: stdout and stderr of real `revoke`
processes at -vv and --debug (so logging of revoke and of the libraries it uses is included), the saved plan,
every file of every run folder, and the checklist page with its attachments. Also on the failure paths: wrong
secrets (which are secrets too), a server that is down, connectors' error messages."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from revoke.cli import cli
from revoke.sandbox.aws import MotoServer
from revoke.sandbox.graph import GraphFake
from revoke.sandbox.slack import SlackFake
from revoke.sandbox.slapd import Slapd
from tests.aws_env import aws_system, fresh_engagement, moto_server  # noqa: F401
from tests.conftest import ldap_system, write_runbook, yesterday
from tests.graph_env import graph, graph_system  # noqa: F401
from tests.reliability.worlds import slack_system

MARK = "SEKRET"  # every planted value starts with it, so a secret cut short in a message is found too
PAGE = Path(__file__).parents[1] / "data" / "customer-offboarding-checklist.md"


def _planted(what: str) -> str:
    return f"{MARK}-{what}-{secrets.token_hex(12)}"


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    with SlackFake() as fake:
        yield fake


@pytest.fixture
def world(slapd: Slapd, graph: GraphFake, slack: SlackFake, moto_server: MotoServer,
          tmp_path: Path) -> dict[str, Any]:
    values = {"corp_ldap": _planted("ldap"), "graph_secret": _planted("graph"),
              "slack_token": "xoxb-" + _planted("slack"), "aws_secret": _planted("aws")}
    # LDAP: the service account's password becomes the planted value
    with slapd.admin_connection() as c:
        c.modify(slapd.service.dn, {"userPassword": [("MODIFY_REPLACE", [values["corp_ldap"]])]})
    alice = slapd.add_user("alice", mail="alice@example.org")
    slapd.add_group("eng", [alice.dn])
    # Graph, Slack, AWS
    client_id, _ = graph.add_app(secret=values["graph_secret"])
    group = graph.add_group("Engineering")
    graph.add_member(group, graph.add_user("alice@contoso.test"))
    bot = slack.add_bot("revoke")
    slack.add_token(values["slack_token"], bot)
    slack.add_channel("acme-dev", members=[slack.add_user("alice", "alice@example.org"), bot])
    # the access key id is a secret too: botocore's debug log names it in every request's signature
    values["aws_key"] = key_id = "AKIA" + secrets.token_hex(8).upper()
    seeded = fresh_engagement(moto_server, member_accounts=0, identity_center=False,
                              credentials={"aws_access_key_id": key_id, "aws_secret_access_key": values["aws_secret"]})
    work = tmp_path / "work"  # everything revoke writes goes under here; the servers keep their files elsewhere
    (work / "wiki").mkdir(parents=True)
    shutil.copy(PAGE, work / "wiki" / PAGE.name)
    runbook = write_runbook(work / "acme.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(), "checklist": f"wiki/{PAGE.name}",
        "systems": {"corp-ldap": ldap_system(slapd), "m365": graph_system(graph, client_id),
                    "slack": slack_system(slack), "aws": aws_system(seeded, "aws-iam")},
        "people": [{"name": "Alice Example", "email": "alice@example.org",
                    "ids": {"corp-ldap": "alice", "m365": "alice@contoso.test", "aws": "alice"}}],
    })
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]),
           **{f"REVOKE_{name.upper()}": value for name, value in values.items()}}
    return {"values": values, "work": work, "runbook": runbook, "env": env, "slapd": slapd, "slack": slack,
            "graph": graph}


def revoke(world: dict[str, Any], *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """A real `revoke` process, so its logging goes where a user's would."""
    return subprocess.run([sys.executable, "-m", "revoke.cli", *args], cwd=world["work"],
                          env={**world["env"], **(env or {})}, capture_output=True, text=True, timeout=180)


def revoke_here(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, *args: str) -> subprocess.CompletedProcess:
    """The same in this process (faster; for commands whose logging the subprocess runs already cover)."""
    for k, v in world["env"].items():
        if k.startswith("REVOKE_"):
            monkeypatch.setenv(k, v)
    monkeypatch.chdir(world["work"])
    result = CliRunner().invoke(cli, list(args))
    return subprocess.CompletedProcess(["python", "-m", "revoke.cli", *args], result.exit_code, result.output,
                                       result.stderr)


def leaks(text: str, values: list[str]) -> list[str]:
    found = []
    for v in values:
        for form in {v, quote(v, safe=""), v[len(MARK) + 1:] if v.startswith(MARK) else v[12:]}:
            if form in text:
                found.append(form)
    if MARK in text:
        found.append(MARK)
    return found


def scan(world: dict[str, Any], outputs: list[subprocess.CompletedProcess], extra: list[str] = ()) -> None:
    values = [*world["values"].values(), *extra]
    problems = []
    for p in outputs:
        for name, text in (("stdout", p.stdout), ("stderr", p.stderr)):
            if leaks(text, values):
                problems.append(f"`revoke {' '.join(p.args[3:])}` {name}: {leaks(text, values)}")
    files = [f for f in world["work"].rglob("*") if f.is_file() and f.name != ".env"]  # .env: the user's own
    assert any(f.name == "evidence.jsonl" for f in files) and any(f.name == "manifest.json" for f in files)
    for f in files:
        found = leaks(f.read_bytes().decode("utf-8", "replace"), values)
        if found:
            problems.append(f"{f.relative_to(world['work'])}: {found}")
    assert not problems, "secret values were written:\n" + "\n".join(problems)


def test_no_secret_in_anything_a_run_writes(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    runbook = str(world["runbook"])
    plan = revoke(world, "-vv", "plan", runbook, "--out", "plan.json", "--mark-checklist")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "DEBUG" in plan.stderr  # -vv really logged, libraries included
    apply = revoke(world, "--debug", "-vv", "apply", "plan.json")
    assert apply.returncode in (0, 3), apply.stdout + apply.stderr
    assert "Traceback" not in apply.stderr
    run_dir = next(str(p) for p in (world["work"] / "evidence").iterdir() if "-apply-" in p.name)
    verify = revoke_here(world, monkeypatch, "evidence", "verify", run_dir)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    json_plan = revoke_here(world, monkeypatch, "--output", "json", "plan", runbook)
    validate = revoke_here(world, monkeypatch, "validate", runbook)
    assert validate.returncode == 0, validate.stderr
    assert (world["work"] / "wiki" / ".attachments").is_dir()  # the checklist page got the run attached
    scan(world, [plan, apply, verify, json_plan, validate])


def test_no_secret_on_the_failure_paths(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    runbook = str(world["runbook"])
    wrong = {"REVOKE_CORP_LDAP": _planted("wrong-ldap"), "REVOKE_GRAPH_SECRET": _planted("wrong-graph"),
             "REVOKE_SLACK_TOKEN": "xoxb-" + _planted("wrong-slack")}
    refused = revoke(world, "-vv", "plan", runbook, env=wrong)
    assert "invalid credentials" in refused.stdout + refused.stderr  # the bind was refused, and said so
    saved = revoke_here(world, monkeypatch, "--quiet", "plan", runbook, "--out", "plan.json")
    assert saved.returncode == 2, saved.stdout + saved.stderr

    world["slapd"].stop()  # a server down
    world["graph"].throttle(r"^/users/", method="PATCH", status=403, times=10)  # a permission error from Graph
    world["slack"].fail("conversations.archive", "restricted_action", times=10)  # and a refusal from Slack
    down = revoke(world, "--debug", "-vv", "apply", "plan.json")
    assert down.returncode == 3, down.stdout + down.stderr
    assert "corp-ldap" in down.stdout and "cannot connect" in down.stdout
    assert "restricted_action" in down.stdout or "an admin must allow it" in down.stdout, down.stdout
    scan(world, [refused, saved, down], extra=list(wrong.values()))


def test_unreferenced_entries_and_a_missing_secret_are_never_echoed(world: dict[str, Any]) -> None:
    """Issue 16, case 4: a `.env` beside the runbook holding entries the runbook does not name (prefixed or not),
    and a secrets directory with unrelated files, once made `validate`/`plan` print "internal error:
    ValidationError ... input_value='<the value>'". They are ignored now; a missing secret says where it looked."""
    unreferenced = {"REVOKE_OLD_TOKEN": _planted("unref-prefixed"), "DATABASE_URL": _planted("unref-plain")}
    (world["work"] / ".env").write_text("".join(f"{k}={v}\n" for k, v in unreferenced.items()))
    secrets_dir = world["work"].parent / "secrets"  # outside work/, which the scan reads
    secrets_dir.mkdir()
    (secrets_dir / "old_token").write_text(_planted("unref-file"))
    env = {"REVOKE_SECRETS_DIR": str(secrets_dir)}
    extra = [*unreferenced.values(), (secrets_dir / "old_token").read_text()]
    runbook = str(world["runbook"])
    validate = revoke(world, "-vv", "validate", runbook, env=env)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    plan = revoke(world, "--debug", "plan", runbook, "--out", "plan.json", env=env)
    assert plan.returncode == 2, plan.stdout + plan.stderr
    missing = revoke(world, "--debug", "-vv", "plan", runbook, env={**env, "REVOKE_SLACK_TOKEN": ""})
    assert missing.returncode == 1
    assert (f"secret slack_token is not set: looked in REVOKE_SLACK_TOKEN, {world['work'] / '.env'}, "
            f"$REVOKE_SECRETS_DIR ({secrets_dir}/slack_token)") in missing.stderr, missing.stderr
    assert "internal error:" not in validate.stderr + plan.stderr + missing.stderr
    scan(world, [validate, plan, missing], extra=extra)


# Runs revoke in a real process whose connectors fail with an exception that quotes every secret: what a careless
# connector or SDK could do. argv[1] names where it fails: on apply, or in planning (as an "internal error").
_FAILING = """
import os, sys
from pydantic import BaseModel, ValidationError
from revoke.connectors.directory.ldap import LdapConnector
from revoke.connectors.slack.connector import SlackConnector
import revoke.engine

secrets = [v for k, v in os.environ.items() if k.startswith("REVOKE_") and "SEKRET" in v]
where = sys.argv.pop(1)

def boom(self, actions):
    raise RuntimeError("connector bug, credentials were: " + " ".join(secrets))

class Settings(BaseModel):
    port: int

def invalid(*args, **kwargs):
    Settings.model_validate({"port": secrets[0]})

if where == "apply":
    LdapConnector.apply_many = SlackConnector.apply_many = boom
else:
    revoke.engine.build_plan = invalid
from revoke.cli import main
main()
"""


def test_unexpected_errors_quoting_secrets_are_redacted_everywhere(world: dict[str, Any]) -> None:
    """Issue 16, case 4: an unexpected connector error went into evidence unredacted (one of the four wrappers
    redacted), and the CLI's "internal error" path printed a ValidationError's input value. Both, and their
    tracebacks under --debug, now pass through the one redactor."""
    def failing(where: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", _FAILING, where, *args], cwd=world["work"], env=world["env"],
                              capture_output=True, text=True, timeout=180)

    runbook = str(world["runbook"])
    saved = revoke(world, "--quiet", "plan", runbook, "--out", "plan.json")
    assert saved.returncode == 2, saved.stdout + saved.stderr
    applied = failing("apply", "--debug", "-vv", "apply", "plan.json")
    assert applied.returncode == 3, applied.stdout + applied.stderr
    assert "connector bug, credentials were" in applied.stdout + applied.stderr
    run_dir = next(p for p in (world["work"] / "evidence").iterdir() if "-apply-" in p.name)
    assert "connector bug, credentials were: ********" in (run_dir / "evidence.jsonl").read_text()
    internal = failing("plan", "plan", runbook)
    assert internal.returncode == 1 and "internal error: ValidationError" in internal.stderr, internal.stderr
    traced = failing("plan", "--debug", "-vv", "plan", runbook)
    assert traced.returncode == 1 and "Traceback" in traced.stderr, traced.stderr
    scan(world, [saved, applied, internal, traced])


def test_the_scan_finds_a_secret_whole_cut_short_or_url_encoded() -> None:
    value = "xoxb-" + _planted("slack")
    assert leaks(f"token={value}", [value])
    assert leaks(f"Authorization: Bearer {value[:20]}...", [value])  # the marker gives a truncated one away
    assert leaks(quote(value, safe=""), [value]) and leaks(value[12:], [value])
    assert not leaks("xoxb-... (redacted) ********", [value])
