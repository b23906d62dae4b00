"""A skip that hides code fails in CI: a missing server or tool skips on a developer's machine, but CI=true (.ci/run)
is meant to have everything, so there the same gap fails the run instead of passing with the code untested."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import skip_unless_ci

TESTS = Path(__file__).parent
SKIPS = {"skip", "importorskip", "skipif"}


def _skips(tree: ast.AST) -> list[tuple[int, str | None, str]]:
    """Every pytest skip in a module: (line, enclosing function or None, that function's source)."""
    found: list[tuple[int, str | None, str]] = []

    def visit(node: ast.AST, func: ast.FunctionDef | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            if isinstance(child, ast.Attribute) and child.attr in SKIPS:
                name = ast.unparse(child.value)
                if name in ("pytest", "pytest.mark"):
                    found.append((child.lineno, func.name if func else None, ast.unparse(func) if func else ""))
            visit(child, inner)  # type: ignore[arg-type]

    visit(tree, None)
    return found


def _checks_ci(source: str) -> bool:
    """The function reads the CI variable (and fails there) before it skips."""
    return "'CI'" in source   # ast.unparse writes every string in single quotes


def test_every_skip_in_the_suite_fails_when_ci_is_set() -> None:
    hidden, seen = [], []
    for path in sorted(TESTS.rglob("*.py")):
        for line, func, source in _skips(ast.parse(path.read_text(encoding="utf-8"))):
            seen.append((path.name, func))
            through_the_rule = path.name == "conftest.py" and func == "skip_unless_ci"
            if not (through_the_rule or _checks_ci(source)):
                hidden.append(f"{path.relative_to(TESTS.parent)}:{line} ({func or 'module level'})")
    assert ("conftest.py", "skip_unless_ci") in seen   # the scan sees skips at all
    assert hidden == [], "skips that would pass in CI: use tests.conftest.skip_unless_ci\n  " + "\n  ".join(hidden)


def test_skip_unless_ci_skips_on_a_developers_machine_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs ssh-keygen"):
        skip_unless_ci("needs ssh-keygen")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI: needs ssh-keygen"):
        skip_unless_ci("needs ssh-keygen")
    with pytest.raises(pytest.fail.Exception):
        skip_unless_ci("headless Chromium is not installed", module=True)


def test_the_scan_finds_a_skip_that_would_hide_code() -> None:
    """The check above can fail: a plain skip, a module-level skipif and an importorskip are each found."""
    module = ast.parse("import pytest\n"
                       "pytestmark = pytest.mark.skipif(True, reason='x')\n"
                       "def test_a():\n    pytest.skip('no server')\n"
                       "def test_b():\n    pytest.importorskip('boto3')\n"
                       "def test_c():\n    import os\n    if os.environ.get(\"CI\"):\n        pytest.fail('x')\n"
                       "    pytest.skip('y')\n")
    found = [(line, func, _checks_ci(source)) for line, func, source in _skips(module)]
    assert found == [(2, None, False), (4, "test_a", False), (6, "test_b", False), (11, "test_c", True)]
