"""What every benchmark shares: running `revoke` as a user does (a child process), timing it, its peak memory, and
the result table.

A benchmark measures a child process from its start to its exit, so Python's start-up and imports are part of
revoke's figure, as they are of a user's. Peak memory is the child's own maximum resident set (`wait4`), not the
bench process's.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BENCH_DIR = Path(__file__).resolve().parent
PROBE = BENCH_DIR / "_probe.py"


@dataclass
class Measured:
    """One child process: wall time, peak memory, exit code, output, and the counters `_probe` wrote."""

    seconds: float
    peak_mb: float
    code: int
    stdout: str
    stderr: str
    counts: dict[str, Any] = field(default_factory=dict)


def run_measured(args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
                 timeout: float = 1800) -> Measured:
    """Run `args` to completion. Commands made by `revoke()` / `script()` run under bench/_probe.py, which writes
    its counters to BENCH_COUNT_FILE."""
    full_env = {**os.environ, **(env or {})}
    fd, count_file = tempfile.mkstemp(prefix="revoke-bench-", suffix=".json")
    os.close(fd)
    full_env["BENCH_COUNT_FILE"] = count_file
    out_f = tempfile.TemporaryFile()
    err_f = tempfile.TemporaryFile()
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=full_env, cwd=cwd, stdout=out_f, stderr=err_f)
    deadline = start + timeout
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
    except BaseException:  # interrupted: the child this started ends with the harness
        proc.kill()
        proc.wait()
        raise
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out_f.seek(0)
    err_f.seek(0)
    counts: dict[str, Any] = {}
    if count_file:
        try:
            text = Path(count_file).read_text()
            counts = json.loads(text) if text.strip() else {}
        finally:
            os.unlink(count_file)
    # the child's own high-water mark when bench/_probe.py could read it (see _peak_rss_kb there), else the
    # kernel's figure, which also counts pages shared with this harness before exec
    peak_kb = counts.get("peak_rss_kb") or usage.ru_maxrss
    return Measured(seconds, peak_kb / 1024.0, proc.returncode, out_f.read().decode(errors="replace"),
                    err_f.read().decode(errors="replace"), counts)


def revoke(*args: str) -> list[str]:
    """`revoke ARGS` as the console script runs it (revoke.cli:main), under the probe."""
    return [sys.executable, str(PROBE), "revoke", *args]


def script(path: Path, *args: str) -> list[str]:
    """A Python script of bench/ under the probe (its AWS calls are counted the same way as revoke's)."""
    return [sys.executable, str(PROBE), "script", str(path), *args]


def write_runbook(path: Path, engagement: str, systems: dict[str, Any], people: list[dict[str, Any]]) -> Path:
    data = {"engagement": engagement, "final_day": (dt.date.today() - dt.timedelta(days=1)).isoformat(),
            "systems": systems, "people": people, "evidence_dir": str(path.parent / "evidence")}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def check(ok: bool, what: str, m: Measured) -> None:
    if not ok:
        raise RuntimeError(f"{what} failed (exit {m.code}):\n{m.stdout[-3000:]}\n{m.stderr[-3000:]}")


def fitted_exponent(points: list[tuple[float, float]]) -> float:
    """b in y = a * x^b, least squares on log-log."""
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(max(y, 1e-9)) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    num = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    den = sum((x - mx) ** 2 for x in xs)
    return num / den if den else float("nan")


@dataclass
class Row:
    bench: str
    metric: str
    value: str
    target: str = ""
    met: bool | None = None


def table(rows: list[Row]) -> str:
    head = ("benchmark", "metric", "measured", "target", "met")
    body = [(r.bench, r.metric, r.value, r.target, "" if r.met is None else ("yes" if r.met else "NO")) for r in rows]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(5)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    out = [line, sep]
    for b in body:
        out.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(b, widths)) + " |")
    return "\n".join(out)


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")
