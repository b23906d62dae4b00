"""The README's five-minute tour, run top to bottom against the demo's sandbox, each exit code as documented."""

from __future__ import annotations

import re
from pathlib import Path

from tests.demo_env import DemoWorld

README = Path(__file__).parents[1] / "README.md"


def tour() -> list[tuple[str, int | None]]:
    """The tour's commands and the exit code each one's comment documents ("exit N")."""
    text = README.read_text()
    block = text.split("## A five-minute tour", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    commands: list[tuple[str, int | None]] = []
    for line in block.splitlines():
        command, _, comment = line.partition("#")
        if command.strip():
            commands.append((command.strip(), None))
        if commands and (m := re.search(r"\bexit (\d)", comment)):
            commands[-1] = (commands[-1][0], int(m.group(1)))
    return commands


def test_the_tour_documents_an_exit_code_for_each_revoke_command() -> None:
    steps = tour()
    assert [c for c, _ in steps][:2] == ["revoke demo --keep", "cd revoke-demo"]
    assert all(code is not None for c, code in steps[2:]), steps
    assert any(c.startswith("revoke restore <run-id>") for c, _ in steps)


def test_the_readme_tour_runs_top_to_bottom(demo_world: DemoWorld) -> None:
    """`revoke demo --keep` and `cd revoke-demo` are what the fixture did: the sandbox is up, the demo's validate,
    plan, apply and verify have run in the demo folder, which is the current directory."""
    assert demo_world.codes == [0, 2, 3, 0], "\n".join(demo_world.output)
    demo = "\n".join(demo_world.output)
    assert "decided at plan time (" in demo and "Decided at plan time: what no write can change" in demo
    for command, documented in tour()[2:]:
        run_id = max((demo_world.workdir / "evidence").glob("*-apply-*")).name
        args = command.replace("<run-id>", run_id).split()[1:]
        code = demo_world.revoke(*args)
        assert code == documented, f"{command}: exit {code}, the README says {documented}\n{demo_world.output[-1]}"
    restored = max((demo_world.workdir / "evidence").glob("*-restore-*"))
    assert (restored / "manifest.json").is_file()
