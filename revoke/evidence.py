"""Evidence: a hash-chained JSON Lines log per run, sealed with the hashes of the run's other files.

Each record holds the SHA-256 of the previous one, so changing, removing or inserting a record breaks the chain at
that point. When a run ends, a `seal` record in the chain lists the hashes of every other file in the run folder
(summary, closure reports) and `manifest.json` lists the hashes of all files including the log. Editing a report
and the manifest together still fails: the seal inside the chain disagrees.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from revoke.plan import canonical
from revoke.redaction import REDACTOR

GENESIS = "0" * 64
LOG = "evidence.jsonl"
MANIFEST = "manifest.json"


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _free_text(record: dict[str, Any]) -> str:
    """The fields of a record that carry providers' and connectors' own words (error messages, receipts), where
    a credential could hide in a shape revoke did not load; the rest is revoke's own vocabulary."""
    parts = [str(record[k]) for k in ("error", "message", "note", "reason", "receipt", "detail") if record.get(k)]
    return "\n".join(parts)


class EvidenceLog:
    """Append-only, hash-chained, fsync'd. Safe to append from several threads."""

    def __init__(self, run_dir: Path, run_id: str, engagement: str, *, fsync: bool = True):
        self.run_dir = run_dir
        self.run_id = run_id
        self.engagement = engagement
        self.fsync = fsync
        self.path = run_dir / LOG
        self._lock = threading.Lock()
        run_dir.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(self.path)
        self.prev, self.seq = _tail(self.path)
        self._file = self.path.open("a", encoding="utf-8")

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        return self.append_many([record])[0]

    def append_many(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Chain and write several records with one fsync (the intents of a batch)."""
        out = []
        with self._lock:
            for record in records:
                full = {"seq": self.seq + 1, "time": iso(now()), "run_id": self.run_id,
                        "engagement": self.engagement, **record, "prev_hash": self.prev}
                full["hash"] = record_hash(full)
                line = json.dumps(full, sort_keys=True, ensure_ascii=False, default=str)
                if REDACTOR.knows(line) or REDACTOR.shaped(_free_text(full)):  # masked, then hashed
                    del full["hash"]
                    full = REDACTOR.scrub(json.loads(json.dumps(full, default=str)))
                    full["hash"] = record_hash(full)
                    line = json.dumps(full, sort_keys=True, ensure_ascii=False, default=str)
                self._file.write(line + "\n")
                self.prev, self.seq = full["hash"], full["seq"]
                out.append(full)
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
        return out

    def seal(self, attestor: Callable[[Path], None] | None = None) -> dict[str, Any]:
        """Chain the hashes of every other file in the run folder, then write the manifest; then `attestor`
        (revoke.attest.Attestor) signs and timestamps the sealed folder."""
        files = {rel: file_sha256(self.run_dir / rel) for rel in _files(self.run_dir) if rel not in (LOG, MANIFEST)}
        sealed = self.append({"type": "seal", "files": files})
        self.close()
        files = {rel: file_sha256(self.run_dir / rel) for rel in _files(self.run_dir) if rel != MANIFEST}
        tmp = self.run_dir / (MANIFEST + ".tmp")
        tmp.write_text(manifest_text(self.run_id, sealed["hash"], sealed["seq"], files), encoding="utf-8")
        os.replace(tmp, self.run_dir / MANIFEST)
        if attestor:
            attestor(self.run_dir)
        return sealed

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def manifest_text(run_id: str, head: str, records: int, files: dict[str, str]) -> str:
    manifest = {"format": "revoke-manifest/1", "run_id": run_id, "chain_head": head, "records": records,
                "files": files}
    return json.dumps(manifest, indent=1, sort_keys=True) + "\n"


def _drop_torn_tail(path: Path) -> None:
    """A process killed mid-write leaves a last line without its newline: that record never happened."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    with path.open("r+b") as f:
        f.truncate(data.rfind(b"\n") + 1)
        f.flush()
        os.fsync(f.fileno())


def _tail(path: Path) -> tuple[str, int]:
    """Where an existing log ends, so a resumed run continues the same chain."""
    if not path.exists():
        return GENESIS, 0
    prev, seq = GENESIS, 0
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                prev, seq = rec["hash"], rec["seq"]
    return prev, seq


def _files(run_dir: Path, *, with_tmp: bool = False) -> list[str]:
    # sealing skips *.tmp (a file being written); verifying must not, or an added x.tmp would go unnoticed
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()
                  and (with_tmp or not p.name.endswith(".tmp")))


def read_records(run_dir: Path) -> list[dict[str, Any]]:
    with (run_dir / LOG).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass
class VerifyReport:
    run_dir: Path
    records: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)
    signer: str | None = None       # who allowed_signers says signed the sealed run
    signed: bool = False
    timestamp: str | None = None    # the trusted timestamp's time, when the run has one

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Chain:
    prev: str = GENESIS
    run_id: str = ""
    last_seal: dict[str, Any] | None = None


def verify_run(run_dir: Path, *, allowed_signers: Path | None = None, tsa_ca: Path | None = None) -> VerifyReport:
    """Recompute the chain and every file hash; report the first place each check breaks. With `allowed_signers`
    the sealed run must also carry a signature by a key that file names (revoke/attest.py); a trusted timestamp
    in the run is checked against `tsa_ca` when given."""
    from revoke import attest

    report = VerifyReport(run_dir)
    log = run_dir / LOG
    if not log.is_file():
        report.problems.append(f"{log}: missing; this is not a revoke run folder")
        return report
    chain = _verify_chain(log, report)
    if report.problems:
        return report
    present = set(_files(run_dir, with_tmp=True)) - set(attest.FILES)
    _verify_seal(run_dir, chain, present, report)
    _verify_manifest(run_dir, chain, present, report)
    attested = attest.verify(run_dir, allowed_signers, tsa_ca)
    report.problems += attested.problems
    report.signer, report.signed, report.timestamp = attested.signer, attested.signed, attested.timestamp
    return report


def _verify_chain(log: Path, report: VerifyReport) -> _Chain:
    chain = _Chain()
    with log.open("rb") as f:
        raw_lines = f.read().split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    for n, raw in enumerate(raw_lines, start=1):
        problem, rec = _record_problem(n, raw, chain.prev)
        if problem:
            report.problems.append(problem)
            break
        if rec.get("type") == "seal":
            chain.last_seal = rec
        chain.prev = rec["hash"]
        chain.run_id = str(rec.get("run_id", ""))
        report.records = n
    return chain


def _record_problem(n: int, raw: bytes, prev: str) -> tuple[str, dict[str, Any]]:
    """What is wrong with line `n` of the log (empty when nothing), and the record it holds."""
    where = f"{LOG} line {n}"
    try:
        rec = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return f"{where}: not valid JSON: the record was changed or truncated", {}
    if not isinstance(rec, dict) or "hash" not in rec or "prev_hash" not in rec:
        return f"{where}: not an evidence record (no hash fields)", {}
    label = f"{where} (record {rec.get('seq')}, {rec.get('type', '?')} {rec.get('action_id', '')})".rstrip()
    if rec.get("seq") != n:
        return (f"{label}: sequence number {rec.get('seq')} where {n} was expected: a record was removed, "
                "inserted or reordered"), rec
    if rec["prev_hash"] != prev:
        return (f"{label}: prev_hash does not match the record before it: a record before this one was changed, "
                "removed or inserted"), rec
    if record_hash(rec) != rec["hash"]:
        return f"{label}: hash mismatch: this record was changed after it was written", rec
    if raw.decode("utf-8") != json.dumps(rec, sort_keys=True, ensure_ascii=False):
        return (f"{label}: its bytes differ from what revoke wrote (spacing or escapes edited; the content still "
                "matches its hash)"), rec
    return "", rec


def _verify_seal(run_dir: Path, chain: _Chain, present: set[str], report: VerifyReport) -> None:
    seal = chain.last_seal
    if seal is None:
        report.problems.append(f"{LOG}: the run was never sealed (interrupted?); resume it to finish and seal")
        return
    for rel, digest in sorted(seal["files"].items()):
        if rel not in present:
            report.problems.append(f"{rel}: listed in the seal record but missing")
        elif file_sha256(run_dir / rel) != digest:
            report.problems.append(f"{rel}: changed after the run was sealed (SHA-256 differs from the seal)")
    if chain.prev != seal["hash"]:
        report.problems.append(f"{LOG}: records were appended after the last seal")


def _verify_manifest(run_dir: Path, chain: _Chain, present: set[str], report: VerifyReport) -> None:
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        report.problems.append(f"{MANIFEST}: missing")
        return
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        listed: dict[str, str] = manifest["files"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        report.problems.append(f"{MANIFEST}: not a valid manifest (changed or damaged)")
        return
    for rel in sorted(present - {MANIFEST}):
        if rel not in listed:
            report.problems.append(f"{rel}: present but not in the manifest (added after the run)")
    sealed = chain.last_seal["files"] if chain.last_seal else {}
    for rel, digest in sorted(listed.items()):
        if rel not in present:
            report.problems.append(f"{rel}: in the manifest but missing")
        elif (actual := file_sha256(run_dir / rel)) != digest:
            # the file is what the chain sealed (the log was checked byte for byte above): the manifest changed
            if sealed.get(rel) == actual or rel == LOG:
                report.problems.append(f"{MANIFEST}: the SHA-256 it lists for {rel} is not the sealed file's: "
                                       "the manifest was changed")
            else:
                report.problems.append(f"{rel}: SHA-256 differs from the manifest")
    if manifest.get("chain_head") != chain.prev:
        report.problems.append(f"{MANIFEST}: chain_head does not match the last record of {LOG}")
    elif not report.problems and manifest_path.read_text(encoding="utf-8") != manifest_text(
            chain.run_id, chain.prev, report.records, listed):  # the chain's run id: the manifest's own could be edited
        report.problems.append(f"{MANIFEST}: its bytes differ from what revoke wrote (edited by hand?)")
    report.files = len(listed)
