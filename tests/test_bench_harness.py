"""The benchmark harness runs end to end at tiny sizes and prints its table. Figures are never asserted here:
benchmarks are measurements (bench/README.md), not timed tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from revoke.sandbox.slapd import unavailable_reason

REPO = Path(__file__).resolve().parent.parent


def test_quick_benchmarks_complete_and_print_the_table() -> None:
    # the timeout only stops a hung harness; nothing is asserted about how long it took
    done = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--quick"], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "| benchmark" in out and "| measured" in out
    assert "FAILED" not in out
    expected = ["2 Graph", "3 AWS fan-out"]
    if unavailable_reason() is None:
        expected += ["1 LDAP floor", "4 LDAP scale", "5 evidence overhead", "fitted exponent"]
    for name in expected:
        assert name in out, out
