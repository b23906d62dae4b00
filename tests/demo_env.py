"""The demo's sandbox as a test fixture: the servers up, the runbook written, the operator's steps run, so a
test can carry on where the README's tour starts (`cd revoke-demo`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from revoke.cli import cli
from revoke.demo import Sandbox, operator_steps


@dataclass
class DemoWorld:
    workdir: Path
    runbook: Path
    sandbox: Sandbox
    codes: list[int]
    output: list[str]

    def revoke(self, *args: str) -> int:
        """`revoke ARGS` in the demo folder, as a user types it; answers the exit code, output in `output`."""
        return run_revoke(list(args), self.output)

    @property
    def apply_run(self) -> Path:
        return max((self.workdir / "evidence").glob("*-apply-*"))


def run_revoke(args: list[str], output: list[str]) -> int:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    output.append(f"$ revoke {' '.join(args)}\n{result.output}{result.stderr}")
    return int(result.exit_code or 0)


def start_demo(workdir: Path, *, steps: bool = True) -> Iterator[DemoWorld]:
    workdir.mkdir(parents=True, exist_ok=True)
    said: list[str] = []
    sandbox = Sandbox(workdir, said.append)
    cwd = Path.cwd()
    try:
        sandbox.start()
        runbook = sandbox.write()
        os.chdir(workdir)
        codes = operator_steps(workdir, runbook.name, said.append, lambda a: run_revoke(a, said)) if steps else []
        yield DemoWorld(workdir, runbook, sandbox, codes, said)
    finally:
        os.chdir(cwd)
        sandbox.stop()


@pytest.fixture
def demo_world(tmp_path: Path) -> Iterator[DemoWorld]:
    """The sandbox after `revoke demo`'s own steps (validate, plan, apply, verify), still running."""
    yield from start_demo(tmp_path / "revoke-demo")


@pytest.fixture
def demo_sandbox(tmp_path: Path) -> Iterator[Any]:
    """The sandbox with its runbook written, nothing run yet."""
    yield from start_demo(tmp_path / "revoke-demo", steps=False)
