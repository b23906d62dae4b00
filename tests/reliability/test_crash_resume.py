"""SIGKILL the apply at ten points; after a resume the directory equals the plan and each action is recorded
done exactly once, in one unbroken evidence chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from revoke.evidence import read_records, verify_run
from revoke.sandbox.slapd import Slapd

HARNESS = Path(__file__).with_name("crashing_apply.py")


def _crash(plan_file: Path, kill_at: int, where: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.run([sys.executable, str(HARNESS), str(kill_at), where, "--quiet", "apply", str(plan_file)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("kill_at", [1, 2, 4, 6, 7])  # the engagement plans 7 writes
@pytest.mark.parametrize("where", ["before", "after"])
def test_resume_after_sigkill(engagement: dict, slapd: Slapd, run_cli, kill_at: int, where: str) -> None:
    plan_file = engagement["dir"] / "plan.json"
    run_cli("--quiet", "plan", str(engagement["runbook"]), "--out", str(plan_file))
    planned = json.loads(plan_file.read_text())["plan"]
    changes = {a["id"] for a in planned["actions"] if a["status"] == "change"}

    crashed = _crash(plan_file, kill_at, where, engagement["dir"])
    assert crashed.returncode == -9, crashed.stderr
    runs = [p for p in (engagement["dir"] / "evidence").iterdir() if "-apply-" in p.name]
    assert len(runs) == 1 and not (runs[0] / "manifest.json").exists()

    # a plain re-run of the same plan finishes the interrupted run instead of starting another
    again = run_cli("--quiet", "apply", str(plan_file))
    assert again.exit_code == 0, again.output + again.stderr
    assert "was interrupted; finishing it first" in again.output
    assert [p for p in (engagement["dir"] / "evidence").iterdir() if "-apply-" in p.name] == runs

    records = read_records(runs[0])
    finals = Counter(r["action_id"] for r in records if r["type"] == "action")
    assert set(finals) == {a["id"] for a in planned["actions"]} and max(finals.values()) == 1
    outcomes = {r["action_id"]: r["outcome"] for r in records if r["type"] == "action"}
    assert all(outcomes[i] == "done" for i in changes), outcomes
    assert verify_run(runs[0]).ok

    people = engagement["people"]
    assert not slapd.can_bind(people["alice"].dn, people["alice"].password)
    assert not slapd.can_bind(engagement["erin"].dn, engagement["erin"].password)
    assert slapd.read(engagement["list"]) is None
    assert people["alice"].dn not in slapd.read(engagement["eng"])["member"]
    assert slapd.can_bind(people["dave"].dn, people["dave"].password)


def test_a_record_torn_by_the_crash_is_dropped_on_resume(engagement: dict, slapd: Slapd, run_cli) -> None:
    plan_file = engagement["dir"] / "plan.json"
    run_cli("--quiet", "plan", str(engagement["runbook"]), "--out", str(plan_file))
    assert _crash(plan_file, 2, "after", engagement["dir"]).returncode == -9
    run_dir = next(p for p in (engagement["dir"] / "evidence").iterdir() if "-apply-" in p.name)
    with (run_dir / "evidence.jsonl").open("a") as f:
        f.write('{"seq": 99, "type": "action", "outc')  # half a line, as a kill mid-write leaves it
    result = run_cli("--quiet", "apply", "--resume", str(run_dir))
    assert result.exit_code == 0, result.stderr
    assert verify_run(run_dir).ok
