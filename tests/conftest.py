"""Shared fixtures: real servers on loopback, started per test and stopped by the PID they got."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from click.testing import CliRunner

from revoke.cli import cli
from revoke.runtime import FakeClock
from revoke.sandbox.samba import SambaDC, SambaUnavailable
from revoke.sandbox.samba import unavailable_reason as samba_unavailable_reason
from revoke.sandbox.slapd import Slapd, unavailable_reason
from tests.demo_env import demo_sandbox, demo_world  # noqa: F401 - fixtures: the demo's sandbox, kept running


def skip_unless_ci(reason: str, *, module: bool = False) -> None:
    """Skip a test whose server or tool is missing on a developer's machine; in CI (CI=true) the machine is meant
    to have it, so the same gap fails instead of hiding the code the test covers. The one way a test skips
    (tests/test_ci_skips.py holds every test file to it); `module`: skip the whole module, at import."""
    if os.environ.get("CI"):
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=module)


@pytest.fixture
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    reason = unavailable_reason()
    if reason:
        skip_unless_ci(f"slapd: {reason}")
    server = Slapd(tmp_path_factory.mktemp("slapd")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Invoke `revoke ...` in-process; answers the Click result (exit_code, stdout, stderr)."""

    def invoke(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Any:
        runner = CliRunner()
        return runner.invoke(cli, list(args), env=env, input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Every plan and apply of this test (the CLI's too) reads time and waits on one FakeClock: throttling is
    waited out in no real time, and `fake_clock.slept` says what the engine waited."""
    import revoke.engine
    import revoke.planner

    clock = FakeClock(start=dt.datetime.now(dt.timezone.utc))
    monkeypatch.setattr(revoke.engine, "Clock", clock.clock)
    monkeypatch.setattr(revoke.planner, "Clock", clock.clock)
    return clock


def write_runbook(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def ldap_system(server: Slapd, **extra: Any) -> dict[str, Any]:
    settings = {"url": server.url, "bind_dn": server.service.dn, "bind_password": {"secret": "corp_ldap"},
                "ca_file": server.ca_file, "base_dn": server.suffix,
                "people_base": f"ou=people,{server.suffix}", "group_base": server.suffix}
    settings.update(extra)
    return {"connector": "ldap", "settings": settings}


def yesterday() -> str:
    return (dt.date.today() - dt.timedelta(days=1)).isoformat()


@pytest.fixture
def engagement(slapd: Slapd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A small engagement: two leavers, one already locked, one protected, a colleague who stays."""
    monkeypatch.setenv("REVOKE_CORP_LDAP", slapd.service.password)
    people = {u: slapd.add_user(u, mail=f"{u}@example.org") for u in ("alice", "bob", "carol", "dave")}
    posix = slapd.add_user("erin", uid_number=2001)
    eng = slapd.add_group("eng", [people["alice"].dn, people["carol"].dn])
    solo = slapd.add_group("alice-only", [people["alice"].dn])
    uniq = slapd.add_group("auditors", [people["alice"].dn, people["dave"].dn], kind="groupOfUniqueNames")
    shell = slapd.add_group("shell", ["erin", "carol"], kind="posixGroup")
    team_list = slapd.add_group("acme-team", [people["alice"].dn, people["carol"].dn], ou="lists",
                                mail="acme-team@example.org")
    with slapd.admin_connection() as c:  # bob is already locked
        c.modify(people["bob"].dn, {"pwdAccountLockedTime": [("MODIFY_REPLACE", ["000001010000Z"])]})
    runbook = write_runbook(tmp_path / "acme.yaml", {
        "engagement": "acme-2026",
        "final_day": yesterday(),
        "systems": {"corp-ldap": ldap_system(slapd)},
        "people": [
            {"name": "Alice Example", "ids": {"corp-ldap": "alice"}},
            {"name": "Bob Example", "ids": {"corp-ldap": "bob"}},
            {"name": "Dave Admin", "ids": {"corp-ldap": "dave"}},
            {"name": "Erin Posix", "ids": {"corp-ldap": "erin"}},
            {"name": "The tool itself", "ids": {"corp-ldap": slapd.service.dn}},
        ],
        "lists": [{"system": "corp-ldap", "id": team_list}],
        "protect": ["dave"],
    })
    return {"runbook": runbook, "people": people, "erin": posix, "eng": eng, "solo": solo, "uniq": uniq,
            "shell": shell, "list": team_list, "dir": tmp_path}


# One definition for the whole session: Samba's LDAP ports are fixed, so a second DC (a fixture imported into another
# module is a second fixture) could not start
@pytest.fixture(scope="session")
def samba_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaDC]:
    reason = samba_unavailable_reason()
    if reason:
        skip_unless_ci(f"a Samba AD DC: {reason}")
    dc = SambaDC(tmp_path_factory.mktemp("samba"))
    try:
        dc.start()
    except SambaUnavailable as err:
        dc.stop()
        raced = samba_unavailable_reason()  # another test session took the fixed ports between the check and the start
        if raced:
            skip_unless_ci(raced)
        pytest.fail(str(err))
    service = dc.add_user("svc-revoke-tests")
    dc.add_members(f"CN=Domain Admins,{dc.users_dn}", [service.dn])
    dc.service = service  # type: ignore[attr-defined]
    try:
        yield dc
    finally:
        dc.stop()
