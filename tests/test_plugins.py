"""A third-party connector package (tests/plugins/revoke-tiny) installed, listed by `revoke connectors`, used by
`revoke plan` / `revoke apply` through a runbook, and passing the conformance suite plugin authors run.

Installing: this machine (like many CI images) has setuptools but not `wheel`, and tests must not reach a package
index, so `pip install` of a pyproject package cannot build here. The fixture does what an editable install does,
offline: setuptools writes the package's metadata (`egg_info`, from its own pyproject.toml, entry points included)
into a temporary directory, and that directory plus the package's source go on `sys.path`. revoke then finds the
plugin exactly as it finds an installed one, through `importlib.metadata.entry_points(group="revoke.connectors")`.
"Uninstalling" takes both off `sys.path` again; nothing outside the temporary directory is touched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, Iterator

import pytest

import revoke.connector
from revoke.evidence import verify_run
from revoke.testing import ConformanceError, check_connector
from tests.conftest import write_runbook, yesterday

PLUGIN = Path(__file__).parent / "plugins" / "revoke-tiny"
README = Path(__file__).resolve().parent.parent / "README.md"


def install_metadata(package: Path, target: Path) -> None:
    """setuptools' own metadata for `package` (PKG-INFO, entry_points.txt) written into `target`."""
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "egg_info",
                           "--egg-base", str(target)], cwd=package, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (target / "revoke_tiny.egg-info" / "entry_points.txt").is_file()


@pytest.fixture
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    site = tmp_path_factory.mktemp("site")
    install_metadata(PLUGIN, site)
    paths = [str(site), str(PLUGIN)]
    sys.path[:0] = paths
    try:
        yield {"site": site, "pythonpath": os.pathsep.join(paths)}
    finally:
        for p in paths:
            sys.path.remove(p)
        sys.modules.pop("revoke_tiny", None)
        forget_loaded("tiny")


def forget_loaded(name: str) -> None:
    """revoke.connector keeps classes it loaded; an uninstalled (or replaced) plugin must not linger there."""
    getattr(revoke.connector, "_loaded", {}).pop(name, None)


def store(path: Path) -> Path:
    """The tiny connector's "server": a JSON file of users and groups."""
    path.write_text(json.dumps({
        "users": {"alice": {"active": True}, "bob": {"active": False}, "carol": {"active": True}},
        "groups": {"eng": ["alice", "carol"], "ops": ["alice"], "sales": ["carol"]},
    }), encoding="utf-8")
    return path


def test_not_listed_until_installed(run_cli) -> None:
    assert "tiny" not in revoke.connector.installed()
    assert "tiny" not in run_cli("connectors").output


def test_connectors_lists_the_installed_plugin(tiny: dict, run_cli) -> None:
    result = run_cli("connectors")
    assert result.exit_code == 0
    line = next(line for line in result.output.splitlines() if line.startswith("tiny "))
    assert "revoke-tiny" in line and "0.1.0" in line and "disable-user, remove-from-group" in line
    assert "ldap " in result.output  # the built-ins are listed alongside


def test_a_fresh_revoke_process_finds_the_plugin(tiny: dict) -> None:
    env = {**os.environ, "PYTHONPATH": tiny["pythonpath"]}
    done = subprocess.run([sys.executable, "-m", "revoke.cli", "--output", "json", "connectors"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    assert rows["tiny"]["package"] == "revoke-tiny"
    assert rows["tiny"]["actions"] == "disable-user, remove-from-group"


def test_plan_and_apply_a_runbook_with_the_plugin(tiny: dict, tmp_path: Path, run_cli) -> None:
    data = store(tmp_path / "directory.json")
    runbook = write_runbook(tmp_path / "acme.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"tiny-dir": {"connector": "tiny", "settings": {"path": str(data)}}},
        "people": [{"name": "Alice Example", "ids": {"tiny-dir": "alice"}},
                   {"name": "Bob Example", "ids": {"tiny-dir": "bob"}},
                   {"name": "Nobody Known", "ids": {"tiny-dir": "zed"}}],
    })
    assert run_cli("validate", "--offline", str(runbook)).exit_code == 0
    untouched = data.read_bytes()
    plan = run_cli("--quiet", "plan", str(runbook), "--out", str(tmp_path / "plan.json"))
    assert plan.exit_code == 2, plan.output + plan.stderr
    assert "- disable user" in plan.output and "- remove from group eng" in plan.output
    assert "= user already disabled" in plan.output  # bob
    assert "no user 'zed'" in plan.output
    assert data.read_bytes() == untouched  # the dry run wrote nothing

    applied = run_cli("--quiet", "--output", "json", "apply", str(tmp_path / "plan.json"))
    assert applied.exit_code == 3, applied.output  # done, but 'zed' was not found: a person must look
    after = json.loads(data.read_text())
    assert after["users"]["alice"]["active"] is False
    assert after["groups"] == {"eng": ["carol"], "ops": [], "sales": ["carol"]}
    assert after["users"]["carol"]["active"] is True
    assert verify_run(Path(json.loads(applied.output)["run_dir"])).ok


def test_the_plugin_passes_the_conformance_suite(tiny: dict, tmp_path: Path) -> None:
    data = store(tmp_path / "directory.json")
    report = check_connector("tiny", {"path": str(data)}, people={"Alice Example": "alice", "Bob": "bob"},
                             server_state=data.read_bytes, workdir=tmp_path)
    assert len(report.plan.changes()) == 3  # disable alice, remove her from eng and ops
    assert json.loads(data.read_text())["groups"]["eng"] == ["carol", "alice"]  # restored at the end


# The suite must catch a connector that breaks the contract: two broken variants of the tiny connector.

def _broken(kind: str) -> type:
    from revoke_tiny import TinyConnector

    class Broken(TinyConnector):
        name = "tiny-broken"

        def discover(self, subjects, lists):  # type: ignore[no-untyped-def]
            found = super().discover(subjects, lists)
            if kind == "writes-during-plan":
                self._write(_fake_action(subjects[0].ident), revoke=True)  # e.g. a 'touch' on read
            return found

        def apply(self, action):  # type: ignore[no-untyped-def]
            if kind == "apply-does-nothing":
                from revoke.connector import Receipt
                return Receipt()
            return super().apply(action)

    return Broken


def _fake_action(ident: str) -> Any:
    class A:
        kind, resource, principal = "disable-user", ident, None
    return A()


@pytest.mark.parametrize("kind, rule", [("writes-during-plan", "plan wrote to the system"),
                                        ("apply-does-nothing", "apply did not carry out")])
def test_the_suite_catches_a_broken_connector(kind: str, rule: str, tiny: dict, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    attr = "Broken_" + kind.replace("-", "_")  # one name per variant: a module attribute is looked up once
    monkeypatch.setattr(sys.modules[__name__], attr, _broken(kind), raising=False)
    real = revoke.connector.entry_points

    def with_broken(**kw: Any) -> Any:
        return [*real(**kw), EntryPoint("tiny-broken", f"{__name__}:{attr}", revoke.connector.GROUP)]

    monkeypatch.setattr(revoke.connector, "entry_points", with_broken)
    forget_loaded("tiny-broken")
    data = store(tmp_path / "directory.json")
    try:
        with pytest.raises(ConformanceError, match=rule):
            check_connector("tiny-broken", {"path": str(data)}, people={"Alice Example": "alice"},
                            server_state=data.read_bytes, workdir=tmp_path)
    finally:
        forget_loaded("tiny-broken")


# The README's "Writing a connector" shows this plugin and a test of it: both must stay true.

def readme_blocks(language: str) -> list[str]:
    section = README.read_text(encoding="utf-8").split("\n## Writing a connector\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def test_the_readme_shows_the_plugins_own_code() -> None:
    example, _ = readme_blocks("python")
    assert example in (PLUGIN / "revoke_tiny.py").read_text(encoding="utf-8")
    (entry_point,) = readme_blocks("toml")
    assert entry_point in (PLUGIN / "pyproject.toml").read_text(encoding="utf-8")


def test_the_readme_test_example_passes(tiny: dict, tmp_path: Path) -> None:
    _, test_code = readme_blocks("python")
    namespace: dict[str, Any] = {}
    exec(compile(test_code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    namespace["test_tiny_conforms"](tmp_path)
    assert json.loads((tmp_path / "users.json").read_text())["groups"]["eng"] == ["carol", "alice"]
