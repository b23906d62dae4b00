"""`revoke evidence verify s3://bucket/prefix/RUN`: the run folder fetched from the store and verified as any."""

from __future__ import annotations

import tempfile

from revoke.errors import EvidenceInvalid
from revoke.evidence import verify_run
from revoke.scheduler.store import MANIFEST, S3Store, fetch_run, open_store


def verify_s3(url: str) -> str:
    base, _, run_id = url.rstrip("/").rpartition("/")
    store = open_store(base if base != "s3:/" else url)
    if not run_id or base in ("s3:", "s3:/"):
        raise EvidenceInvalid([f"{url}: name the run, s3://BUCKET/PREFIX/RUN_ID"])
    with tempfile.TemporaryDirectory(prefix="revoke-verify-") as tmp:
        from pathlib import Path

        run_dir = fetch_run(store, run_id, Path(tmp))
        report = verify_run(run_dir)
    if not report.ok:
        raise EvidenceInvalid([f"{url}: evidence does NOT verify:"] + [f"  {p}" for p in report.problems])
    kept = f"; {store.retention(f'{run_id}/{MANIFEST}')}" if isinstance(store, S3Store) else ""
    return (f"{url}: verified: {report.records} records in an unbroken chain, {report.files} files match the "
            f"manifest and the seal{kept}")
