"""Timeliness (issue 18): each person's leave time (their own `leaves_at`, or final_day at the runbook's cutoff in
its timezone) and the runbook's `sla`, compared with when each system's access was proven removed; `revoke plan`
warns when the schedule cannot meet the SLA; the closure report's table in Markdown, HTML and JSON."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from revoke.timeliness import parse_duration, span, table


def with_timing(runbook: Path, **top: Any) -> dict[str, Any]:
    data = yaml.safe_load(runbook.read_text())
    people = top.pop("people", {})
    for p in data["people"]:
        if p["name"] in people:
            p["leaves_at"] = people[p["name"]]
    data.update(top)
    runbook.write_text(yaml.safe_dump(data, sort_keys=False))
    return data


def test_the_closure_report_has_the_sla_table_in_all_three_formats(engagement: dict, run_cli: Any) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    left = (now - dt.timedelta(hours=2)).replace(microsecond=0)
    with_timing(engagement["runbook"], sla="24h", timezone="Europe/Berlin",
                people={"Alice Example": left.astimezone(dt.timezone(dt.timedelta(hours=1))).isoformat(),
                        "Erin Posix": (now - dt.timedelta(days=3)).replace(microsecond=0).isoformat()})
    result = run_cli("--quiet", "--output", "json", "apply", str(engagement["runbook"]), "--yes")
    run_dir = Path(json.loads(result.output)["run_dir"])
    report = json.loads((run_dir / "closure-report.json").read_text())
    rows = {(r["person"], r["system"]): r for r in report["timeliness"]["rows"]}
    alice = rows[("Alice Example", "corp-ldap")]
    assert alice["within_sla"] is True and alice["removed_at"] and "early" in alice["margin"]
    assert 21 * 3600 < alice["margin_seconds"] < 22 * 3600 + 60   # 24h - 2h, minus the run
    erin = rows[("Erin Posix", "corp-ldap")]
    assert erin["within_sla"] is False and erin["margin"].startswith("2d") and erin["margin"].endswith("late")
    assert ("Dave Admin", "corp-ldap") not in rows   # protected: nothing was to be removed
    # Bob's leave time is the default: final_day at 17:00 in Europe/Berlin
    final_day = yaml.safe_load(engagement["runbook"].read_text())["final_day"]
    assert report["timeliness"]["leaves_at"]["Bob Example"] == f"{final_day}T17:00:00+01:00"
    md = (run_dir / "closure-report.md").read_text()
    assert "## Timeliness" in md and "| Alice Example | corp-ldap |" in md and "**no**, 2d" in md
    html = (run_dir / "closure-report.html").read_text()
    assert "<h2>Timeliness" in html and "late" in html and "early" in html


def test_plan_warns_when_the_schedule_cannot_meet_the_sla(engagement: dict, run_cli: Any) -> None:
    today = dt.date.today()
    with_timing(engagement["runbook"], sla="24h", final_day=(today + dt.timedelta(days=5)).isoformat(),
                people={"Alice Example": f"{today + dt.timedelta(days=1)}T09:00:00Z",
                        "Bob Example": f"{today - dt.timedelta(days=3)}T09:00:00Z"})
    result = run_cli("plan", str(engagement["runbook"]))
    assert "Alice Example: the SLA ends" in result.stderr and "before apply is allowed" in result.stderr
    assert "Bob Example: the SLA" in result.stderr and "already missed" in result.stderr
    assert "Erin Posix" not in result.stderr   # final_day at the cutoff + 24h: reachable


def test_leaves_at_needs_its_zone(engagement: dict, run_cli: Any) -> None:
    with_timing(engagement["runbook"], people={"Alice Example": "2026-12-02T17:00:00"})
    result = run_cli("validate", str(engagement["runbook"]))
    assert result.exit_code == 1 and "leaves_at" in result.stderr and "zone" in result.stderr


@pytest.mark.parametrize("text,hours", [("24h", 24), ("2d", 48), ("90m", 1.5), ("1d12h", 36)])
def test_durations(text: str, hours: float) -> None:
    assert parse_duration(text) == dt.timedelta(hours=hours)


def test_an_unverified_action_leaves_access_not_proven_removed() -> None:
    acts = [{"person": "A", "system": "s", "planned": "change", "outcome": "done", "verification": "verified",
             "time": "2026-12-02T10:00:00Z"},
            {"person": "A", "system": "s", "planned": "change", "outcome": "attention",
             "verification": "unverifiable", "time": "2026-12-02T10:01:00Z"}]
    [row] = table(acts, {"leaves_at": {"A": "2026-12-02T09:00:00+00:00"}, "sla_seconds": 86400}, ["s"])
    assert row["within_sla"] is False and row["removed_at"] is None and "1 of 2" in row["margin"]
    assert span(dt.timedelta(hours=3, minutes=12)) == "3h 12m"
