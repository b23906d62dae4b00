"""The runbooks cannot drift: every example runbook validates, and every command in the operator runbooks runs.

The operator runbooks (runbooks/T-7-days.md, final-day.md, after.md) are one story, run here in order, in one
engagement folder, against the local sandbox (slapd, moto, the Graph and Slack fakes; `revoke demo` uses the same):

- Every line of a ```sh block is a `revoke ...` command; it runs in-process through click's test runner, and its
  exit code must be the one the line states (`# exit N`), 0 when it states none; text quoted in that comment
  must appear in its output.
- The engagement folder holds `acme-2026.yaml`, made from runbooks/example.yaml with only these
  placeholders replaced: `final_day` becomes today, and each system's connection settings (SANDBOX_KEYS: URLs,
  credentials, CA files, tenant) become the sandbox's. People, lists, protections and every other setting are the
  example's own. The checklist page is the seed page, in a git clone as a wiki would be.
- In commands, `<run-id>` is the newest apply run the commands so far have made.
- An HTML comment `<!-- test: NAME -->` in the prose (invisible when rendered) sets up the situation the text
  describes, before the next command: DIRECTIVES below.

Every other `revoke ...` line in a code block of the README or of any page under runbooks/ is checked against the
CLI: the command and each option must exist.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator

import ldap3
import pytest
import yaml
from click.testing import CliRunner

from revoke.cli import cli
from revoke.connector import installed
from tests.conftest import skip_unless_ci

RUNBOOKS = Path(__file__).resolve().parent.parent / "runbooks"
OPERATOR_RUNBOOKS = ("T-7-days.md", "final-day.md", "after.md")
EXAMPLES = sorted(RUNBOOKS.glob("*.yaml"))
RUNBOOK_NAME = "acme-2026.yaml"
BUILT_IN = {"ldap", "active-directory", "aws-iam", "aws-identity-center", "entra", "m365-groups", "exchange-online",
            "slack", "github", "google-workspace", "okta"}

AWS = ("endpoint_url", "region", "profile", "access_key_id", "secret_access_key", "session_token", "ca_bundle")
GRAPH = ("tenant_id", "client_id", "client_secret", "certificate_key", "certificate_thumbprint", "authority_host",
         "graph_url", "ca_file", "instance_discovery", "async_poll_seconds")
SANDBOX_KEYS = {
    "ldap": ("url", "bind_dn", "bind_password", "ca_file", "base_dn", "people_base", "start_tls", "insecure",
             "tls_verify"),
    "aws-iam": AWS, "aws-identity-center": AWS, "entra": GRAPH, "m365-groups": GRAPH,
    "exchange-online": (*GRAPH[:6], "base_url", "ca_file", "instance_discovery"),
    "slack": ("token", "base_url", "scim_url", "scim_token"),
    "github": ("organizations", "token", "app_id", "private_key", "installation_id", "owner_token", "base_url",
               "ca_bundle", "saml_sso"),
    "google-workspace": ("admin", "service_account_key", "api_endpoint", "groups_settings_endpoint", "chat_endpoint",
                         "token_uri", "ca_bundle"),
    "okta": ("org_url", "api_token", "client_id", "private_key", "key_id", "ca_bundle"),
}


# ---- reading the markdown


class Command:
    def __init__(self, doc: str, line: int, text: str, directives: list[str]):
        self.doc, self.line, self.text, self.directives = doc, line, text, directives
        command, _, comment = text.partition(" #")
        stated = re.search(r"exit (\d+)", comment)
        self.expected = int(stated.group(1)) if stated else 0
        self.says = re.findall(r'"([^"]+)"', comment)  # quoted in the comment: what the output must say
        self.args = shlex.split(command)

    def __repr__(self) -> str:
        return f"{self.doc}:{self.line}: {self.text}"


def commands(doc: Path) -> list[Command]:
    """The shell lines of a document's ```sh blocks, with the directives that precede each."""
    found: list[Command] = []
    pending: list[str] = []
    fence: str | None = None
    for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if fence is None:
            m = re.match(r"^(```+|~~~+)\s*(\w*)", stripped)
            if m:
                fence = m.group(1) if m.group(2) in ("sh", "shell", "bash", "console") else "skip:" + m.group(1)
                continue
            pending += re.findall(r"<!--\s*test:\s*(.*?)\s*-->", line)
            continue
        if stripped.startswith(fence.removeprefix("skip:")) and not stripped.strip("`~"):
            fence = None
            continue
        if fence.startswith("skip:") or not stripped or stripped.startswith("#"):
            continue
        text = stripped.removeprefix("$ ")
        assert text.startswith("revoke "), (f"{doc.name}:{n}: only `revoke` commands belong in sh blocks of the "
                                            f"operator runbooks (each one is run by this test): {text}")
        found.append(Command(doc.name, n, text, pending))
        pending = []
    assert not pending, f"{doc.name}: directives {pending} come after the last command"
    return found


# ---- the sandbox and the engagement folder


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from revoke import demo
    from revoke.sandbox.slapd import unavailable_reason

    reason = unavailable_reason()
    if reason:
        skip_unless_ci(f"slapd: {reason}")
    said: list[str] = []
    box = demo.Sandbox(tmp_path_factory.mktemp("sandbox"), said.append)
    try:
        box.start()
        assert {s["connector"] for s in box.systems.values()} == set(SANDBOX_KEYS), said
        yield box
    finally:
        box.stop()


def sandbox_runbook(example: Path, box: Any) -> dict[str, Any]:
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    data["final_day"] = dt.date.today().isoformat()
    by_connector = {s["connector"]: s["settings"] for s in box.systems.values()}
    for name, system in data["systems"].items():
        ours = by_connector[system["connector"]]
        settings = dict(system.get("settings") or {})
        for key in SANDBOX_KEYS[system["connector"]]:
            settings.pop(key, None)
            if key in ours:
                settings[key] = ours[key]
        system["settings"] = settings
    return data


@pytest.fixture
def engagement(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "acme"
    wiki = folder / "wiki"
    wiki.mkdir(parents=True)
    seed = resources.files("revoke.sandbox").joinpath("data/customer-offboarding-checklist.md")
    (wiki / "Customer-Offboarding-Checklist.md").write_bytes(seed.read_bytes())
    git = {"GIT_AUTHOR_NAME": "Operator", "GIT_AUTHOR_EMAIL": "operator@consult.example",
           "GIT_COMMITTER_NAME": "Operator", "GIT_COMMITTER_EMAIL": "operator@consult.example"}
    for k, v in git.items():
        monkeypatch.setenv(k, v)
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "the wiki"]):
        subprocess.run(["git", *args], cwd=wiki, check=True, capture_output=True)
    runbook = sandbox_runbook(RUNBOOKS / "example.yaml", sandbox)
    (folder / RUNBOOK_NAME).write_text(yaml.safe_dump(runbook, sort_keys=False), encoding="utf-8")
    for k, v in sandbox.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("REVOKE_OPERATOR", "operator@consult.example")
    monkeypatch.chdir(folder)
    return folder


# ---- directives: the situations the prose describes


def running(box: Any, cls: type) -> Any:
    """The sandbox's running server of this class (the demo keeps each one's stop method)."""
    return next(stop.__self__ for stop in box._stops if isinstance(getattr(stop, "__self__", None), cls))


def interrupt_apply(box: Any, mp: pytest.MonkeyPatch) -> tuple[int, str]:
    """The next apply is interrupted (Ctrl-C) after two LDAP writes; the CLI exits 130 and says how to go on."""
    from revoke.connectors.directory.ldap import LdapConnector

    real = LdapConnector.apply
    calls = []

    def apply(self: Any, action: Any) -> Any:
        calls.append(action.id)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return real(self, action)

    mp.setattr(LdapConnector, "apply", apply)
    return 130, "interrupted; `revoke apply` again resumes where this run stopped"


def lockout(box: Any, mp: pytest.MonkeyPatch) -> None:
    """Alice is locked out by the password policy after failed logins: ppolicy stamps pwdAccountLockedTime with
    the time (a temporary lock), which is neither the state the plan saw nor the permanent lock revoke sets."""
    from revoke.sandbox.slapd import Slapd

    server = running(box, Slapd)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H%M%SZ")
    with server.admin_connection() as c:
        c.modify(f"uid=alice,ou=people,{server.suffix}", {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, [stamp])]})


# each sets the situation up and may change what the next command answers: (exit code, text in its output)
DIRECTIVES: dict[str, Callable[[Any, pytest.MonkeyPatch], tuple[int, str] | None]] = {
    "interrupt-apply": interrupt_apply,
    "lockout": lockout,
}


# ---- the tests


def documented_commands() -> list[tuple[str, list[str]]]:
    """Every `revoke ...` line in a fenced block of the README and of every page under runbooks/."""
    found = []
    for doc in [RUNBOOKS.parent / "README.md", *sorted(RUNBOOKS.glob("*.md"))]:
        inside = False
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip().startswith(("```", "~~~")):
                inside = not inside
                continue
            text = line.strip().removeprefix("$ ")
            if inside and text.startswith("revoke "):
                found.append((f"{doc.name}:{n}", shlex.split(text.split(" #", 1)[0])[1:]))
    return found


def problem_with(args: list[str]) -> str | None:
    """Whether the CLI knows this command and its options. With --help appended, click parses every token (an
    unknown command or option fails) and then prints the help instead of running anything, so argument values
    (placeholders such as <run-id>) are not checked."""
    result = CliRunner().invoke(cli, [*args, "--help"])
    return None if result.exit_code == 0 else (result.output + result.stderr).strip()


@pytest.mark.parametrize("where, args", documented_commands(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_documented_command_exists(where: str, args: list[str]) -> None:
    assert problem_with(args) is None, f"{where}: revoke {shlex.join(args)}: {problem_with(args)}"


def test_a_misspelt_command_or_option_is_caught() -> None:
    assert "No such command" in (problem_with(["aply", "plan.json"]) or "")
    assert "No such option" in (problem_with(["apply", "plan.json", "--resum", "x"]) or "")
    assert "No such option" in (problem_with(["checklist", "mark", "p.md", "3", "Done", "--comit"]) or "")
    assert problem_with(["checklist", "mark", "missing.md", "3", "Done", "--note", "x", "--commit"]) is None
    assert problem_with(["--output", "json", "restore", "<run-id>", "--person", "A B", "--yes"]) is None


def test_there_is_an_example_per_connector() -> None:
    connectors = {yaml.safe_load(p.read_text())["systems"][s]["connector"]
                  for p in EXAMPLES if p.name.startswith("example-")
                  for s in yaml.safe_load(p.read_text())["systems"]}
    assert connectors == BUILT_IN and BUILT_IN <= set(installed())


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runbook_is_valid(example: Path, tmp_path: Path, run_cli) -> None:
    """Each example as its user copies it: into an engagement folder that holds the checklist page it names."""
    runbook = tmp_path / example.name
    runbook.write_bytes(example.read_bytes())
    page = (yaml.safe_load(example.read_text()) or {}).get("checklist")
    if page:
        seed = resources.files("revoke.sandbox").joinpath("data/customer-offboarding-checklist.md")
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / page).write_bytes(seed.read_bytes())
    result = run_cli("validate", "--offline", str(runbook))
    assert result.exit_code == 0, result.output + result.stderr


def test_every_runbook_revoke_points_to_exists() -> None:
    """Hints such as "start from runbooks/example.yaml" name files that are there."""
    root = RUNBOOKS.parent
    sources = [p for folder in ("revoke", "connectors", "checklist") for p in (root / folder).rglob("*.py")]
    named = {m for p in sources for m in re.findall(r"runbooks/[\w.-]+\.(?:md|yaml)", p.read_text(encoding="utf-8"))}
    assert "runbooks/example.yaml" in named
    assert [m for m in sorted(named) if not (root / m).is_file()] == []


def test_operator_runbooks_have_their_commands() -> None:
    for doc in OPERATOR_RUNBOOKS:
        found = commands(RUNBOOKS / doc)
        assert len(found) >= 3, doc
        assert all(set(c.directives) <= set(DIRECTIVES) for c in found), [c.directives for c in found]


def test_operator_runbooks_run_in_order_against_the_sandbox(sandbox: Any, engagement: Path) -> None:
    runs_seen: list[str] = []
    evidence = engagement / "evidence"
    for doc in OPERATOR_RUNBOOKS:
        for command in commands(RUNBOOKS / doc):
            expected, says = command.expected, list(command.says)
            with pytest.MonkeyPatch.context() as mp:
                for name in command.directives:
                    changed = DIRECTIVES[name](sandbox, mp)
                    if changed:
                        expected, says = changed[0], [changed[1]]
                apply_runs = [r for r in runs_seen if "-apply-" in r]
                args = [a.replace("<run-id>", apply_runs[-1] if apply_runs else "<no apply run yet>")
                        for a in command.args[1:]]
                result = CliRunner().invoke(cli, args, catch_exceptions=False)
            assert result.exit_code == expected, (
                f"{command!r}\nran: revoke {shlex.join(args)}\nexit {result.exit_code}, expected {expected}\n"
                f"{result.output}\n{result.stderr}")
            for text in says:
                assert text in result.output + result.stderr, f"{command!r}: no {text!r} in\n{result.output}"
            if evidence.is_dir():
                runs_seen += sorted(p.name for p in evidence.iterdir() if p.name not in runs_seen)
    # what after.md did, checked on the page and in the wiki clone (the restore re-opened item 3 on purpose)
    page = (engagement / "wiki" / "Customer-Offboarding-Checklist.md").read_text()
    assert "| 4 | Done |" in page and "| 3 | In Progress |" in page
    log = subprocess.run(["git", "log", "--format=%s"], cwd=engagement / "wiki", capture_output=True, text=True)
    assert "checklist: item 4 Team Collaboration Done: Exchange Online" in log.stdout
    committed = log.stdout.splitlines()
    assert any(re.match(r"revoke: acme-2026 run \S+-plan-\S+: plan: item 3 In Progress", c) for c in committed)
    assert any(re.match(r"revoke: acme-2026 run \S+-apply-\S+: apply: item 3 ", c) for c in committed)
    assert [r for r in runs_seen if "-restore-" in r]
