"""LDAP benchmarks: revoke against the server's own floor (one `ldapmodify -f`), evidence overhead, scale curve.

Every run starts from the same directory: the slapd database is seeded once (with `dbnosync`, to seed fast), the
server restarts with its normal durable settings, and a copy of its database files is put back before each run.
slapd runs with the `stats` debug level, so the operations each client issued are counted from the server's own log.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ldap3

from bench.common import Measured, Row, check, fitted_exponent, ratio, revoke, run_measured, write_runbook
from revoke.sandbox.slapd import Slapd, slapd_binary

GROUPS = 20
GROUPS_PER_LEAVER = 3
LOCKED = "000001010000Z"
OP_RE = re.compile(r"conn=(\d+) op=(\d+) (SRCH base|MOD dn|ADD dn|DEL dn|BIND dn|EXT oid|UNBIND|CMP dn|MODRDN dn)")
OP_NAMES = {"SRCH base": "search", "MOD dn": "modify", "ADD dn": "add", "DEL dn": "delete", "BIND dn": "bind",
            "EXT oid": "extended", "UNBIND": "unbind", "CMP dn": "compare", "MODRDN dn": "modrdn"}


class BenchSlapd(Slapd):
    """The sandbox slapd with the stats log on, a switch for `dbnosync` while seeding, and database snapshots."""

    nosync = False

    def _config(self) -> str:
        # the sandbox's own server skips syncing; the floor is a real server's, so writes are durable here
        # except while seeding
        conf = super()._config().replace("maxsize 1073741824", "maxsize 4294967296")
        conf = "\n".join(line for line in conf.splitlines() if line.strip() != "dbnosync") + "\n"
        if self.nosync:
            conf = conf.replace("maxsize 4294967296", "maxsize 4294967296\ndbnosync")
        return conf

    def _launch(self) -> None:
        (self.workdir / "slapd.conf").write_text(self._config(), encoding="utf-8")
        log = (self.workdir / "slapd.log").open("ab")
        # -d 256: the `stats` level, one line per operation, which is what the op counts are read from
        self.proc = subprocess.Popen([slapd_binary() or "slapd", "-f", str(self.workdir / "slapd.conf"), "-h",
                                      f"{self.url}/", "-d", "256"], stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._wait_ready()

    def start(self) -> "BenchSlapd":
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "db").mkdir(exist_ok=True)
        self._make_certificates()
        from revoke.sandbox.slapd import free_port

        self.port = free_port()
        self._launch()
        self._seed_base()
        return self

    def relaunch(self, *, nosync: bool | None = None, db_from: Path | None = None) -> None:
        self.stop()
        if nosync is not None:
            self.nosync = nosync
        if db_from is not None:
            shutil.rmtree(self.workdir / "db")
            shutil.copytree(db_from, self.workdir / "db")
        self._launch()

    def snapshot(self, to: Path) -> None:
        self.stop()
        if to.exists():
            shutil.rmtree(to)
        shutil.copytree(self.workdir / "db", to)
        self._launch()

    def log_mark(self) -> int:
        return (self.workdir / "slapd.log").stat().st_size

    def ops_since(self, mark: int) -> Counter[str]:
        with (self.workdir / "slapd.log").open("rb") as f:
            f.seek(mark)
            text = f.read().decode(errors="replace")
        seen: set[tuple[str, str]] = set()
        counts: Counter[str] = Counter()
        for m in OP_RE.finditer(text):
            key = (m.group(1), m.group(2))
            if key in seen:
                continue
            seen.add(key)
            counts[OP_NAMES[m.group(3)]] += 1
        return counts

    def password_file(self, account: Any) -> Path:
        path = self.workdir / f"pw-{secrets.token_hex(4)}"
        path.write_text(account.password, encoding="utf-8")
        path.chmod(0o600)
        return path

    def ldap_tool(self, tool: str, ldif: Path, account: Any) -> list[str]:
        return [tool, "-x", "-ZZ", "-H", self.url, "-D", account.dn, "-y", str(self.password_file(account)),
                "-f", str(ldif)]

    def tool_env(self) -> dict[str, str]:
        return {"LDAPTLS_CACERT": self.ca_file or "", "LDAPTLS_REQCERT": "demand"}


def leaver_dn(s: Slapd, i: int) -> str:
    return f"uid=leaver{i:05d},ou=people,{s.suffix}"


def group_dn(s: Slapd, g: int) -> str:
    return f"cn=bench-g{g:02d},ou=groups,{s.suffix}"


def groups_of(i: int) -> list[int]:
    return sorted({i % GROUPS, (i + 7) % GROUPS, (i + 13) % GROUPS})


def seed_ldif(s: Slapd, n: int) -> str:
    out = []
    for i in range(n):
        out.append(f"dn: {leaver_dn(s, i)}\nobjectClass: inetOrgPerson\nuid: leaver{i:05d}\ncn: Leaver {i}\n"
                   f"sn: leaver\nmail: leaver{i:05d}@example.org\n")
    stayer = f"uid=stayer,ou=people,{s.suffix}"
    out.append(f"dn: {stayer}\nobjectClass: inetOrgPerson\nuid: stayer\ncn: Stayer\nsn: stayer\n")
    members: dict[int, list[str]] = {g: [stayer] for g in range(GROUPS)}
    for i in range(n):
        for g in groups_of(i):
            members[g].append(leaver_dn(s, i))
    for g in range(GROUPS):
        lines = "".join(f"member: {m}\n" for m in members[g])
        out.append(f"dn: {group_dn(s, g)}\nobjectClass: groupOfNames\ncn: bench-g{g:02d}\n{lines}")
    return "\n".join(out)


def floor_ldif(s: Slapd, n: int) -> str:
    """The same modifications revoke makes, one change record per action: lock, then leave each group."""
    out = []
    for i in range(n):
        out.append(f"dn: {leaver_dn(s, i)}\nchangetype: modify\nreplace: pwdAccountLockedTime\n"
                   f"pwdAccountLockedTime: {LOCKED}\n")
    for g in range(GROUPS):
        for i in range(n):
            if g in groups_of(i):
                out.append(f"dn: {group_dn(s, g)}\nchangetype: modify\ndelete: member\nmember: {leaver_dn(s, i)}\n")
    return "\n".join(out)


@dataclass
class LdapWorld:
    server: BenchSlapd
    n: int
    snapshot: Path
    runbook: Path
    env: dict[str, str]
    workdir: Path

    def reset(self) -> None:
        self.server.relaunch(db_from=self.snapshot)
        for p in (self.workdir / "evidence",):
            if p.exists():
                shutil.rmtree(p)

    def end_state(self) -> tuple[int, int]:
        """(leavers locked, leaver memberships left), asked of the server as the admin."""
        with self.server.admin_connection() as c:
            c.search(f"ou=people,{self.server.suffix}", f"(&(uid=leaver*)(pwdAccountLockedTime={LOCKED}))",
                     attributes=["1.1"], paged_size=None)
            locked = len(c.entries)
            left = 0
            for g in range(GROUPS):
                c.search(group_dn(self.server, g), "(objectClass=*)", search_scope=ldap3.BASE, attributes=["member"])
                left += sum(1 for m in c.response[0]["raw_attributes"].get("member", []) if b"uid=leaver" in m)
        return locked, left


def build_world(root: Path, n: int, concurrency: int = 4) -> LdapWorld:
    work = root / f"ldap-{n}"
    server = BenchSlapd(work / "slapd")
    server.nosync = True
    try:
        server.start()
        seed = work / "seed.ldif"
        seed.write_text(seed_ldif(server, n), encoding="utf-8")
        admin_add = run_measured(server.ldap_tool("ldapadd", seed, server.admin), env=server.tool_env())
        check(admin_add.code == 0, "seeding slapd", admin_add)
        server.nosync = False
        snapshot = work / "db-snapshot"
        server.snapshot(snapshot)
    except BaseException:
        server.stop()
        raise
    system = {"connector": "ldap", "blast_radius": n + 10, "concurrency": concurrency, "settings": {
        "url": server.url, "bind_dn": server.service.dn, "bind_password": {"secret": "corp_ldap"},
        "ca_file": server.ca_file, "base_dn": server.suffix, "people_base": f"ou=people,{server.suffix}",
        "group_base": f"ou=groups,{server.suffix}"}}
    people = [{"name": f"Leaver {i}", "ids": {"corp-ldap": f"leaver{i:05d}"}} for i in range(n)]
    runbook = write_runbook(work / "bench.yaml", f"bench-ldap-{n}", {"corp-ldap": system}, people)
    return LdapWorld(server, n, snapshot, runbook, {"REVOKE_CORP_LDAP": server.service.password}, work)


def run_floor(w: LdapWorld) -> tuple[Measured, Counter[str]]:
    w.reset()
    ldif = w.workdir / "floor.ldif"
    ldif.write_text(floor_ldif(w.server, w.n), encoding="utf-8")
    mark = w.server.log_mark()
    m = run_measured(w.server.ldap_tool("ldapmodify", ldif, w.server.service), env=w.server.tool_env())
    check(m.code == 0, "ldapmodify floor", m)
    ops = w.server.ops_since(mark)
    state = w.end_state()
    check(state == (w.n, 0), f"floor end state {state}", m)
    return m, ops


def run_plan(w: LdapWorld) -> tuple[Measured, Counter[str], Path]:
    plan_file = w.workdir / "plan.json"
    mark = w.server.log_mark()
    m = run_measured(revoke("--quiet", "plan", str(w.runbook), "--out", str(plan_file)), env=w.env)
    check(m.code == 2, "revoke plan", m)
    return m, w.server.ops_since(mark), plan_file


def run_apply(w: LdapWorld, plan_file: Path, *extra: str, env: dict[str, str] | None = None
              ) -> tuple[Measured, Counter[str]]:
    mark = w.server.log_mark()
    m = run_measured(revoke("--quiet", "apply", str(plan_file), *extra), env={**w.env, **(env or {})})
    check(m.code == 0, "revoke apply", m)
    ops = w.server.ops_since(mark)
    state = w.end_state()
    check(state == (w.n, 0), f"apply end state {state}", m)
    return m, ops


def _ops_text(ops: Counter[str], n: int) -> str:
    total = sum(ops.values())
    parts = ", ".join(f"{k} {v}" for k, v in sorted(ops.items()))
    return f"{total / n:.2f} ({total} ops: {parts})"


def bench_floor(root: Path, n: int) -> list[Row]:
    """Benchmarks 1 and 5 on one directory of `n` leavers."""
    w = build_world(root, n)
    try:
        floor, floor_ops = run_floor(w)
        w.reset()
        plan, plan_ops, plan_file = run_plan(w)
        apply_, apply_ops = run_apply(w, plan_file)
        w.reset()
        no_fsync, _ = run_apply(w, plan_file, "--no-fsync")
        w.reset()
        no_reports, _ = run_apply(w, plan_file, env={"BENCH_REPORTS": "off"})
        w.reset()
        no_evidence, _ = run_apply(w, plan_file, env={"BENCH_EVIDENCE": "off"})
    finally:
        w.server.stop()
    name = f"1 LDAP floor ({n} leavers x {GROUPS_PER_LEAVER} of {GROUPS} groups)"
    # the hash-chained log's share: with and without it, both without the closure reports (which read the log)
    overhead = ratio(no_reports.seconds - no_evidence.seconds, apply_.seconds)
    fsync_cost = ratio(apply_.seconds - no_fsync.seconds, apply_.seconds)
    reports_cost = ratio(apply_.seconds - no_reports.seconds, apply_.seconds)
    return [
        Row(name, "ldapmodify -f (floor) wall", f"{floor.seconds:.2f} s"),
        Row(name, "floor LDAP ops per leaver", _ops_text(floor_ops, n)),
        Row(name, "revoke plan wall", f"{plan.seconds:.2f} s = {ratio(plan.seconds, floor.seconds):.2f}x floor",
            "<= 1.0x floor", plan.seconds <= floor.seconds),
        Row(name, "revoke plan LDAP ops per leaver", _ops_text(plan_ops, n)),
        Row(name, "revoke apply wall (verify + fsync'd evidence)",
            f"{apply_.seconds:.2f} s = {ratio(apply_.seconds, floor.seconds):.2f}x floor", "<= 2.0x floor",
            apply_.seconds <= 2.0 * floor.seconds),
        Row(name, "revoke apply LDAP ops per leaver", _ops_text(apply_ops, n)),
        Row(name, "revoke apply peak memory", f"{apply_.peak_mb:.0f} MB"),
        Row("5 evidence overhead", "apply --no-fsync wall", f"{no_fsync.seconds:.2f} s (fsync = {fsync_cost:.1%})"),
        Row("5 evidence overhead", "apply without closure reports (bench switch) wall",
            f"{no_reports.seconds:.2f} s (closure reports = {reports_cost:.1%} of apply)"),
        Row("5 evidence overhead", "apply without reports and evidence log (bench switch) wall",
            f"{no_evidence.seconds:.2f} s"),
        Row("5 evidence overhead", "hash-chained fsync'd evidence share of apply wall",
            f"{overhead:.1%} (({no_reports.seconds:.2f} - {no_evidence.seconds:.2f}) / {apply_.seconds:.2f} s)",
            "< 15%", overhead < 0.15),
    ]


def bench_scale(root: Path, sizes: list[int]) -> list[Row]:
    """Benchmark 4: plan and apply time and peak memory against the number of leavers."""
    rows: list[Row] = []
    plan_pts: list[tuple[float, float]] = []
    apply_pts: list[tuple[float, float]] = []
    peaks: dict[int, float] = {}
    name = "4 LDAP scale"
    for n in sizes:
        w = build_world(root / "scale", n)
        try:
            w.reset()
            plan, _, plan_file = run_plan(w)
            apply_, _ = run_apply(w, plan_file)
        finally:
            w.server.stop()
        plan_pts.append((n, plan.seconds))
        apply_pts.append((n, apply_.seconds))
        peaks[n] = max(plan.peak_mb, apply_.peak_mb)
        rows.append(Row(name, f"{n} leavers: plan / apply wall, peak memory",
                        f"{plan.seconds:.2f} s / {apply_.seconds:.2f} s, {plan.peak_mb:.0f} / {apply_.peak_mb:.0f} MB"))
        shutil.rmtree(w.workdir, ignore_errors=True)
    pe, ae = fitted_exponent(plan_pts), fitted_exponent(apply_pts)
    rows.append(Row(name, "fitted exponent (time ~ n^b): plan", f"{pe:.2f}", "~1 (<= 1.15)", pe <= 1.15))
    rows.append(Row(name, "fitted exponent (time ~ n^b): apply", f"{ae:.2f}", "~1 (<= 1.15)", ae <= 1.15))
    top = max(sizes)
    rows.append(Row(name, f"peak memory at {top} leavers", f"{peaks[top]:.0f} MB", "< 300 MB"
                    if top >= 10000 else f"< 300 MB at 10,000 (ran {top})", peaks[top] < 300))
    return rows


def main_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="revoke-bench-ldap-"))


def bench_attest(root: Path, n: int, rounds: int = 3) -> list[Row]:
    """Issue 18: what signing (ssh-keygen), an RFC 3161 timestamp (a local openssl TSA) and the OSCAL export add to
    benchmark 1's apply. Plain and attested applies alternate `rounds` times from the same directory; medians."""
    import statistics

    import yaml

    from revoke.sandbox.tsa import local_tsa

    w = build_world(root / "attest", n)   # its own directory: bench 1 may have run in `root` already
    key = w.workdir / "signing-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    plain_s, attested_s, export_s = [], [], []
    try:
        with local_tsa() as tsa:
            data = yaml.safe_load(w.runbook.read_text())
            data["timestamp_authority"] = tsa.url
            attested_runbook = w.runbook.with_name("bench-attested.yaml")
            attested_runbook.write_text(yaml.safe_dump(data, sort_keys=False))
            w.reset()
            _, _, plain_plan = run_plan(w)
            attested_plan = w.workdir / "plan-attested.json"
            m = run_measured(revoke("--quiet", "plan", str(attested_runbook), "--out", str(attested_plan)),
                             env=w.env)
            check(m.code == 2, "revoke plan (attested runbook)", m)
            for _ in range(rounds):
                w.reset()
                plain_s.append(run_apply(w, plain_plan)[0].seconds)
                w.reset()
                attested_s.append(run_apply(w, attested_plan, "--signing-key", str(key))[0].seconds)
                run_dir = max((w.workdir / "evidence").glob("*apply*"), key=lambda p: p.stat().st_mtime)
                check((run_dir / "seal.sha256.sig").is_file() and (run_dir / "seal.sha256.tsr").is_file(),
                      "signed and timestamped run", m)
                out = w.workdir / "sar.json"
                e = run_measured(revoke("evidence", "export", str(run_dir), "--format", "oscal", "--out", str(out)))
                check(e.code == 0, "revoke evidence export", e)
                export_s.append(e.seconds)
    finally:
        w.server.stop()
    plain, attested, export = (statistics.median(x) for x in (plain_s, attested_s, export_s))
    added = ratio(attested - plain + export, plain)
    name = f"18 signed, timestamped, OSCAL ({n} leavers, bench 1's world)"
    return [
        Row(name, "apply wall, plain / signed + timestamped (medians of "
            f"{rounds})", f"{plain:.2f} s / {attested:.2f} s"),
        Row(name, "OSCAL export wall (median)", f"{export:.2f} s"),
        # fixed costs (a process start, one TSA round-trip) dominate a tiny run: the target is judged at size
        Row(name, "signing + timestamp + OSCAL share of apply", f"{added:.1%}",
            "< 5%" if n >= 1000 else "< 5% at 1,000+ leavers", added < 0.05 if n >= 1000 else None),
    ]
