"""The house's size rules for the core (issue 17): a reader can hold each file and each function.

Files stay within about 400 lines and functions within about 60 in `revoke/`, `connectors/` and `checklist/`;
cyclomatic complexity (at most 15) is ruff's C90 rule in pyproject.toml. A change that grows past these splits the
code by what it is, rather than raising the numbers here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ("revoke", "connectors", "checklist")
MAX_FILE_LINES = 420
MAX_FUNCTION_LINES = 60


def _sources() -> list[Path]:
    return sorted(p for d in CORE for p in (ROOT / d).rglob("*.py"))


def test_every_core_file_is_one_a_reader_can_hold() -> None:
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in _sources()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES]
    assert not long, "split these by what they are:\n" + "\n".join(long)


def test_every_core_function_is_one_a_reader_can_hold() -> None:
    long = []
    for p in _sources():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{p.relative_to(ROOT)}:{node.lineno}: {node.name}: {length} lines")
    assert not long, "split these:\n" + "\n".join(long)


def test_the_rules_see_the_core() -> None:
    # a moved folder must not leave the rules checking nothing
    assert len(_sources()) > 100
