"""Runs `revoke` or a bench script with counters, for the benchmarks only.

    python bench/_probe.py revoke ARGS...        # as the `revoke` console script
    python bench/_probe.py script PATH ARGS...   # a bench script (the sequential boto3 baseline)

With BENCH_COUNT_AWS set, counts every AWS HTTP request botocore sends (retries and AssumeRole included) and every
API operation; writes its counters (and the peak memory) as JSON to $BENCH_COUNT_FILE at exit. With
BENCH_EVIDENCE=off, evidence records are numbered in memory but never hashed, serialised, written or sealed (and no
closure reports are written); with BENCH_REPORTS=off only the closure reports are skipped. These bench-only
switches measure what evidence and reports cost. Nothing here is imported by revoke itself.
"""

from __future__ import annotations

import atexit
import json
import os
import runpy
import sys
import threading
from collections import Counter

_lock = threading.Lock()
_counts: Counter[str] = Counter()


def _count(key: str) -> None:
    with _lock:
        _counts[key] += 1


def _peak_rss_kb() -> int | None:
    """This process's own high-water resident set. The kernel's ru_maxrss of a child also counts the pages it
    shared with the harness between fork and exec, so a harness grown large (moto's server runs in it) inflated
    every later child's figure; VmHWM belongs to the memory map exec created."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _write_counts() -> None:
    peak = _peak_rss_kb()
    if peak is not None:
        _counts["peak_rss_kb"] = peak
    path = os.environ.get("BENCH_COUNT_FILE")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dict(_counts), f)


def _count_aws() -> None:
    try:
        from botocore import client, endpoint
    except ImportError:
        return
    send = endpoint.Endpoint._send
    make_call = client.BaseClient._make_api_call

    def counted_send(self, request):  # type: ignore[no-untyped-def]
        _count("aws_http")
        return send(self, request)

    def counted_call(self, operation_name, api_params):  # type: ignore[no-untyped-def]
        _count(f"aws_op:{self.meta.service_model.service_name}:{operation_name}")
        return make_call(self, operation_name, api_params)

    endpoint.Endpoint._send = counted_send
    client.BaseClient._make_api_call = counted_call


def _evidence_off() -> None:
    from revoke import evidence

    def append_many(self, records):  # type: ignore[no-untyped-def]
        out = []
        with self._lock:
            for record in records:
                self.seq += 1
                out.append({"seq": self.seq, "run_id": self.run_id, "engagement": self.engagement, **record,
                            "prev_hash": self.prev, "hash": "0" * 64})
        return out

    evidence.EvidenceLog.append_many = append_many
    evidence.EvidenceLog.seal = lambda self, *attestor: {}  # nothing was written, so nothing to seal


def _reports_off() -> None:
    from revoke import cli_run

    cli_run.report_writer = lambda: None


def main() -> None:
    atexit.register(_write_counts)
    if os.environ.get("BENCH_COUNT_AWS"):
        _count_aws()  # importing botocore to count its requests costs every other benchmark's child ~0.1 s
    if os.environ.get("BENCH_REPORTS") == "off" or os.environ.get("BENCH_EVIDENCE") == "off":
        _reports_off()  # the closure reports are read from the evidence log: without one, none either
    if os.environ.get("BENCH_EVIDENCE") == "off":
        _evidence_off()
    mode, *rest = sys.argv[1:]
    if mode == "revoke":
        from revoke.cli import main as revoke_main

        sys.argv = ["revoke", *rest]
        revoke_main()
    elif mode == "script":
        path, *args = rest
        sys.argv = [path, *args]
        runpy.run_path(path, run_name="__main__")
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
