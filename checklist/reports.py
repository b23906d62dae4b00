"""Closure reports of a run: closure-report.md, closure-report.html (self-contained, printable) and
closure-report.json, all rendered from the one closure model in `revoke.checklist.closure`.

The engine calls `write_reports` before it seals the run, so the seal record and manifest.json cover the reports
and `revoke evidence verify` catches an edited one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from revoke.checklist.closure import build_closure, write_json

TEMPLATES = Path(__file__).parent / "templates"
REPORTS = ("closure-report.md", "closure-report.html", "closure-report.json")


def value_text(value: Any) -> str:
    """A state value as a reader expects it: strings bare, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def state_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each field of the before- and after-state, with whether it changed; changed fields first."""
    before = before or {}
    if after is None:
        after = before  # nothing was read back (plan, skipped): show the before-state alone, without arrows
    rows = []
    for key in sorted(set(before) | set(after)):
        b = value_text(before[key]) if key in before else "—"
        a = value_text(after[key]) if key in after else "—"
        rows.append({"key": key, "before": b, "after": a, "changed": key in after and b != a})
    return sorted(rows, key=lambda r: not r["changed"])


def targets(action: dict[str, Any]) -> dict[str, str]:
    """The label, resource and principal an action names that its summary does not already say, each once:
    a lock-account record often carries the same DN as all three."""
    summary = action.get("summary") or ""
    seen = [summary]
    out = {"label": "", "resource": "", "principal": ""}
    for key in ("label", "resource", "principal"):
        value = action.get(key) or ""
        if value and not any(value in s for s in seen):
            out[key] = value
            seen.append(value)
    return out


def operator_text(operator: Any) -> str:
    if isinstance(operator, dict):
        return ", ".join(f"{k}={value_text(v)}" for k, v in sorted(operator.items()))
    return value_text(operator) if operator else ""


def md_cell(value: Any) -> str:
    """Text for one Markdown table cell."""
    text = value if isinstance(value, str) else value_text(value)
    return " ".join(text.split()).replace("|", "\\|") if text else ""


def short_time(value: str | None) -> str:
    """2026-11-25T10:02:03.123Z -> 2026-11-25 10:02:03Z."""
    if not value:
        return ""
    return value.replace("T", " ")[:19] + ("Z" if value.endswith("Z") else "")


def _environment(autoescape: bool) -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True,
                      autoescape=autoescape)
    env.filters.update(value_text=value_text, state_changes=state_changes, operator_text=operator_text,
                       md_cell=md_cell, short_time=short_time, targets=targets)
    return env


def render_markdown(closure: dict[str, Any]) -> str:
    return _environment(False).get_template("closure-report.md.j2").render(c=closure)


def render_html(closure: dict[str, Any]) -> str:
    return _environment(True).get_template("closure-report.html.j2").render(c=closure)


def write_reports(run_dir: Path) -> list[Path]:
    """Write the three closure reports into the run folder and return their paths. Each is streamed to its file
    as it is rendered (the action rows are read from the evidence log one at a time), so a report of 40,000
    actions never exists whole in memory."""
    run_dir = Path(run_dir)
    closure = build_closure(run_dir)
    markdown, html = _environment(False), _environment(True)
    writers = {
        "closure-report.md": lambda f: f.writelines(
            markdown.get_template("closure-report.md.j2").generate(c=closure)),
        "closure-report.html": lambda f: f.writelines(html.get_template("closure-report.html.j2").generate(c=closure)),
        "closure-report.json": lambda f: (write_json(closure, f.write), f.write("\n")),
    }
    written = []
    for name in REPORTS:
        path = run_dir / name
        tmp = path.with_name(name + ".tmp")   # evidence ignores *.tmp, so a crash leaves nothing half-listed
        with tmp.open("w", encoding="utf-8") as f:
            writers[name](f)
        os.replace(tmp, path)
        written.append(path)
    return written
