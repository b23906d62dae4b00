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
from revoke.sandbox.slapd import Slapd, unavailable_reason


@pytest.fixture
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    reason = unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"slapd is required in CI: {reason}")
        pytest.skip(reason)
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
