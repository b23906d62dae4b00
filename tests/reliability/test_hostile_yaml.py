"""Issue 16, case 5: hostile YAML. A "billion laughs" alias bomb made `revoke validate` grow past 10 GB; a
self-referencing alias gave "internal error: RecursionError" with no location; 50 MB of duplicate people took
199 s, 9.8 GB and printed 4.6 million error lines. Each is a real `revoke validate` process here, timed and
measured (its own peak RSS against the same process validating a plain runbook), and must answer with a located
message. Time is not asserted (a test never fails for being slow); the timeout only ends a process that would not stop."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from revoke.errors import RunbookError
from revoke.located import MAX_BYTES, _loader, parse_yaml
from revoke.runbook import load_runbook
from tests.conftest import skip_unless_ci
from tests.test_validate import GOOD

_MEASURED = """
import resource, sys
from revoke.cli import cli
try:
    code = cli.main(sys.argv[1:], prog_name="revoke", standalone_mode=False)
except SystemExit as e:
    code = e.code
print(f"maxrss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
sys.exit(code or 0)
"""


def validate(path: Path, timeout: float = 120) -> tuple[subprocess.CompletedProcess, float, float]:
    """`revoke validate --offline PATH` in its own process: the result, seconds taken and peak MB."""
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", _MEASURED, "validate", "--offline", str(path)],
                            capture_output=True, text=True, timeout=timeout, check=False)
    took = time.monotonic() - start
    peak = int(result.stderr.rsplit("maxrss_kb=", 1)[1]) / 1024
    return result, took, peak


def _baseline(tmp_path: Path) -> float:
    """The peak MB of validating the plain runbook: what importing revoke and its connectors costs on this machine."""
    plain = tmp_path / "plain.yaml"
    plain.write_text(GOOD)
    result, _, peak = validate(plain)
    assert result.returncode == 0, result.stderr
    return peak


def _bomb(levels: int) -> str:
    lines = ["lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_is_refused_at_the_alias_that_passes_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "runbook.yaml"
    path.write_text(GOOD + _bomb(9))  # 10^9 strings if expanded
    result, took, peak = validate(path, timeout=60)
    assert result.returncode == 1
    first_bomb_line = GOOD.count("\n") + 1
    # lol1 and lol2 expand to 110 + 1,110 nodes; the 8th alias of lol3 (1,111 nodes each) passes 10,000
    assert f"{path}:{first_bomb_line + 3}: lol3[7]: alias *lol2 expands past 10,000 nodes" in result.stderr
    assert "internal error" not in result.stderr
    assert peak < _baseline(tmp_path) + 100, (took, peak)


def test_a_self_referencing_alias_is_a_located_error_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "runbook.yaml"
    path.write_text(GOOD.replace("protect:\n", "protect: &p\n  - *p\n"))
    result, _, _ = validate(path)
    assert result.returncode == 1
    line = GOOD.split("\n").index("protect:") + 2
    assert f"{path}:{line}: protect[0]: alias *p is inside the node it names (anchored on line {line - 1})" \
        in result.stderr, result.stderr
    assert "RecursionError" not in result.stderr and "internal error" not in result.stderr


def _duplicates(path: Path, size: int) -> int:
    person = "  - name: Alice Example\n    email: alice@example.org\n    ids: {corp-ldap: alice}\n"
    head = GOOD.split("people:\n")[0] + "people:\n"
    count = (size - len(head)) // len(person)
    with path.open("w") as f:
        f.write(head)
        for _ in range(count // 1000):
            f.write(person * 1000)
        f.write(person * (count % 1000))
    return count


def test_fifty_megabytes_of_duplicate_people_answer_in_seconds(tmp_path: Path) -> None:
    path = tmp_path / "runbook.yaml"
    _duplicates(path, 50 * 1024 * 1024)
    result, took, peak = validate(path)
    assert result.returncode == 1
    assert f"{path}: the file is 50.0 MB; a runbook may be at most 8 MB" in result.stderr
    assert peak < _baseline(tmp_path) + 100, (took, peak)


def test_the_largest_runbook_read_lists_fifty_problems_and_counts_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "runbook.yaml"
    people = _duplicates(path, MAX_BYTES - 1024)
    result, took, peak = validate(path)
    assert result.returncode == 1
    shown = [ln for ln in result.stderr.splitlines() if f"{path}:" in ln]
    assert len(shown) == 50, result.stderr[-2000:]
    # each duplicate is listed twice (its name, its id) and the first person once for neither
    assert f"... and {2 * (people - 1) - 50:,} more problems ({2 * (people - 1):,} in all)" in result.stderr
    assert len(result.stderr.splitlines()) < 110
    # about 6 s and 150 MB above the plain runbook on an idle 2-core machine (9.8 GB before the fix)
    assert peak < _baseline(tmp_path) + 400, (took, peak)


def test_deep_nesting_is_refused_where_it_passes_the_limit() -> None:
    text = GOOD + "deep: " + "[" * 200 + "]" * 200 + "\n"
    with pytest.raises(RunbookError) as caught:
        parse_yaml(text, "runbook.yaml")
    assert str(caught.value).startswith(f"runbook.yaml:{GOOD.count(chr(10)) + 1}: deep")
    assert "nested deeper than 64 levels" in str(caught.value)
    block = "a:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(100)) + "  " * 101 + "x\n"
    with pytest.raises(RunbookError, match="nested deeper than 64 levels"):
        parse_yaml(block, "runbook.yaml")


def test_a_duplicate_anchor_is_named_with_both_lines() -> None:
    with pytest.raises(RunbookError) as caught:
        parse_yaml("a: &x 1\nb: &x 2\n", "runbook.yaml")
    assert str(caught.value).startswith("runbook.yaml:2: b: anchor &x is defined twice (first on line 1)")


def test_ordinary_aliases_and_merge_keys_still_work(tmp_path: Path) -> None:
    text = GOOD.replace("    settings:\n", "    settings: &ldap\n").replace("people:\n", """\
  other-ldap:
    connector: ldap
    settings:
      <<: *ldap
      base_dn: dc=other,dc=org
people:
""").replace("protect:\n", "protect:\n  - &who uid=root,ou=people,dc=example,dc=org\n  - *who\n")
    doc = parse_yaml(text, "runbook.yaml")
    first, other = (doc.data["systems"][s]["settings"] for s in ("corp-ldap", "other-ldap"))
    assert other["url"] == first["url"] == "ldaps://ldap.example.org"
    assert other["base_dn"] == "dc=other,dc=org"  # written in the mapping: wins over the merge
    assert doc.data["protect"][0] == doc.data["protect"][1] == "uid=root,ou=people,dc=example,dc=org"
    path = tmp_path / "runbook.yaml"
    path.write_text(text)
    loaded = load_runbook(path)
    assert loaded.runbook.systems["other-ldap"].settings["bind_dn"] == "uid=revoke-svc,ou=services,dc=example,dc=org"


def test_values_keep_their_types_and_lines() -> None:
    doc = parse_yaml(GOOD + "evidence_dir: ~\nchecklist: {page: x.md, accounts_item: 3}\n", "runbook.yaml")
    assert str(doc.data["final_day"]) == "2026-11-30" and doc.data["evidence_dir"] is None
    assert doc.data["checklist"]["accounts_item"] == 3
    assert doc.line_of(("people", 0, "ids", "corp-ldap")) == GOOD.split("\n").index("    ids: {corp-ldap: alice}") + 1
    assert doc.data == yaml.safe_load(GOOD + "evidence_dir: ~\nchecklist: {page: x.md, accounts_item: 3}\n")


def test_a_normal_runbook_keeps_libyamls_fast_parser() -> None:
    if getattr(yaml, "CSafeLoader", None) is None:
        skip_unless_ci("PyYAML built without libyaml")
    loader = _loader(GOOD)
    try:
        assert isinstance(loader, yaml.CSafeLoader)
    finally:
        loader.dispose()
