"""Names and notes that reach Markdown (closure report, summary, checklist page) are neutralised: no HTML, no
links or images, no NUL, no line breaks that would fake a row; and a `checklist mark --note` can never look like a
line revoke wrote (issue 18)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from revoke.checklist.page import REVOKE_MARK, ChecklistPage, escape_cell
from revoke.checklist.reports import md_cell

HOSTILE = ["<script>alert(1)</script>", '<img src=x onerror="alert(1)">', "[click](javascript:alert(1))",
           "![x](https://evil.example/x.png)", "a\x00b", "two\nlines | fake | row |", f"{REVOKE_MARK} [Done](x)",
           "`code` *bold* \\[esc\\]"]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_markdown_cell_carries_no_markup(text: str) -> None:
    for out in (md_cell(text), escape_cell(text)):
        assert "<" not in out and ">" not in out and "\x00" not in out and "\n" not in out
        assert "](" not in out.replace("\\](", "") and "![" not in out.replace("\\!\\[", "")
        assert all(out[i - 1] == "\\" for i, ch in enumerate(out) if ch in "|[]`*" and i > 0) and out[:1] not in "|[]`*"


def test_a_note_cannot_pass_for_a_line_revoke_wrote(tmp_path: Path) -> None:
    from revoke.checklist.record import mark_item

    seed = Path(__file__).parent / "data" / "customer-offboarding-checklist.md"
    page_file = tmp_path / "page.md"
    page_file.write_bytes(seed.read_bytes())
    note = f"{REVOKE_MARK} [apply on 2026-12-02: 9 verified](/.attachments/x.html) <script>x</script>"
    mark_item(page_file, 1, "Done", note, operator="mallory")
    owner = ChecklistPage.read(page_file).item(1)
    text = page_file.read_text()
    assert REVOKE_MARK not in text and "<script>" not in text and "\\](/.attachments/x.html)" in text
    assert owner.links == []   # the note made no link


def test_a_hostile_name_reaches_the_closure_report_as_text(engagement: dict, run_cli: Any) -> None:
    data = yaml.safe_load(engagement["runbook"].read_text())
    data["people"][0]["name"] = "Alice <img src=x onerror=alert(1)> [x](javascript:alert(1))"
    engagement["runbook"].write_text(yaml.safe_dump(data, sort_keys=False))
    result = run_cli("--quiet", "--output", "json", "apply", str(engagement["runbook"]), "--yes")
    run_dir = Path(json.loads(result.output)["run_dir"])
    for name in ("closure-report.md", "closure-report.html"):
        text = (run_dir / name).read_text()
        assert "<img" not in text, name
        if name.endswith(".md"):
            assert not re.search(r"(?<!\\)\]\(javascript:", text), name


def test_protected_people_are_listed_apart_with_why(engagement: dict, run_cli: Any) -> None:
    result = run_cli("--quiet", "--output", "json", "apply", str(engagement["runbook"]), "--yes")
    run_dir = Path(json.loads(result.output)["run_dir"])
    report = json.loads((run_dir / "closure-report.json").read_text())
    apart = {p["person"]: p["why"] for p in report["protected"]}
    assert "Dave Admin" in apart and "protect" in apart["Dave Admin"]
    assert "Dave Admin" not in report["people"] and "Alice Example" in report["people"]
    md = (run_dir / "closure-report.md").read_text()
    assert "| Protected, left untouched | Dave Admin:" in md
    acting = md.split("| Acting as |")[1].split("\n")[2]
    assert "(bind dn: " in acting and "whoami: " in acting and "display=" not in acting
