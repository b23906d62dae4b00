"""Issue 16, case 7: `--skip-stale` exited 0 although an action was skipped as stale and the person kept access.
A run that left a planned change undone exits 3, records it as `skipped_stale`, says so in the summary and keeps
the checklist item from Done; a resumed or repeated apply does not turn it into a success either."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from revoke.evidence import read_records
from revoke.sandbox.slapd import Slapd
from tests.reliability.worlds import run_dirs


def test_skip_stale_that_skipped_something_exits_3_and_says_what(engagement: dict, slapd: Slapd,
                                                                 run_cli: Any) -> None:
    plan_file = engagement["dir"] / "plan.json"
    planned = run_cli("--quiet", "plan", str(engagement["runbook"]), "--out", str(plan_file))
    assert planned.exit_code == 2, planned.stderr
    alice = engagement["people"]["alice"]
    with slapd.admin_connection() as c:  # alice is put in a temporary lockout after the plan: her lock is stale
        c.modify(alice.dn, {"pwdAccountLockedTime": [("MODIFY_REPLACE", ["20261125010000Z"])]})
    applied = run_cli("--output", "json", "apply", str(plan_file), "--skip-stale")
    assert applied.exit_code == 3, applied.output + applied.stderr
    result = json.loads(applied.output)
    assert result["exit_code"] == 3
    run_dir = Path(result["run_dir"])
    records = [r for r in read_records(run_dir) if r["type"] == "action"]
    stale = [r for r in records if r["outcome"] == "skipped_stale"]
    assert [(r["person"], r["kind"]) for r in stale] == [("Alice Example", "lock-account")]
    # checked on the server: the stale lock was not written, her temporary lockout is what it was
    assert slapd.read(alice.dn, ["pwdAccountLockedTime"])["pwdAccountLockedTime"] == ["20261125010000Z"]
    assert "Needs a person" in (run_dir / "summary.md").read_text()
    assert "lock account" in (run_dir / "summary.md").read_text().split("Needs a person")[1]

    again = run_cli("--quiet", "--output", "json", "apply", str(plan_file), "--skip-stale")
    assert again.exit_code == 3, "a repeated apply of the same stale plan is not a success either"
    assert len(run_dirs(engagement["dir"] / "evidence")) == 2
