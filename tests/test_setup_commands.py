"""The README's two set-up commands are what a new user runs on a fresh machine, and `.ci/run` must run the same
test command, so a green CI proves the README's line works."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block, "the README starts with a sh block of set-up commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_gives_exactly_two_set_up_commands_demo_then_tests() -> None:
    demo, tests = _readme_commands()
    assert demo.endswith("revoke demo") and "apt-get install" in demo
    assert tests.endswith("python -m pytest -q") and tests.startswith("sh tests/debian-packages.sh;")


def test_ci_runs_the_readme_test_command_and_installs_what_the_script_installs() -> None:
    _, tests = _readme_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests.replace("pip install -e", "pip install -q -e") in ci
    script = (ROOT / "tests" / "debian-packages.sh").read_text()
    wanted = set(re.search(r'PACKAGES="([^"]+)"', script).group(1).split())
    installed = set(re.search(r"apt-get install -y -qq ([^>]+)>", ci).group(1).split())
    assert wanted <= installed, wanted - installed
