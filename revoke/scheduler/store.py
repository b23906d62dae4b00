"""The evidence store of scheduled runs: a local folder, or an S3 bucket that workers on any machine share.

Layout under the store's root (a folder, or `s3://bucket/prefix`):

    .scheduled/RUN/plan.json               the plan as scheduled (and plan.json.approvals/, its signatures)
    .scheduled/RUN/parts/...jsonl          the records each activity produced, until the journal chains them
    RUN/                                   the sealed run folder, as `revoke apply` writes it
    RUN-stage2/                            a later stage's own sealed run folder

On S3 each object is written once. When the bucket has Object Lock (which auditors treat as write-once), objects
are kept in compliance mode: the bucket's default retention applies, or, without one, `retain_days` from now.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

from revoke.errors import RevokeError

SCHEDULED = ".scheduled"
MANIFEST = "manifest.json"


class EvidenceStore(Protocol):
    url: str

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def keys(self, prefix: str) -> list[str]: ...

    def location(self, key: str) -> str: ...


class LocalStore:
    def __init__(self, root: Path):
        self.root = root
        self.url = str(root)

    def path(self, key: str) -> Path:
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise RevokeError(f"{self.path(key)}: not in the evidence store") from None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def keys(self, prefix: str) -> list[str]:
        """Every key that starts with `prefix`, as S3 lists them (a folder, or a folder and a file name's start)."""
        base = self.path(prefix) if prefix.endswith("/") or not prefix else self.path(prefix).parent
        if not base.is_dir():
            return []
        found = (p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())
        return sorted(k for k in found if k.startswith(prefix) and not k.endswith(".tmp"))

    def location(self, key: str) -> str:
        return str(self.path(key))


class S3Store:
    def __init__(self, bucket: str, prefix: str, *, retain_days: int = 365, client: Any = None):
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.retain_days = retain_days
        self.s3 = client or boto3.client("s3")
        self._lock_mode: tuple[bool, bool] | None = None

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def object_lock(self) -> tuple[bool, bool]:
        """(the bucket has Object Lock, it has a default retention rule)."""
        if self._lock_mode is None:
            try:
                conf = self.s3.get_object_lock_configuration(Bucket=self.bucket)["ObjectLockConfiguration"]
                enabled = conf.get("ObjectLockEnabled") == "Enabled"
                self._lock_mode = (enabled, bool(conf.get("Rule", {}).get("DefaultRetention")))
            except self.s3.exceptions.ClientError as err:
                if err.response.get("Error", {}).get("Code") not in ("ObjectLockConfigurationNotFoundError",
                                                                    "ObjectLockConfigurationNotFound"):
                    raise RevokeError(f"{self.url}: cannot read the bucket's Object Lock configuration: "
                                      f"{err.response.get('Error', {}).get('Code')}") from None
                self._lock_mode = (False, False)
        return self._lock_mode

    def put(self, key: str, data: bytes) -> None:
        extra: dict[str, Any] = {}
        enabled, has_default = self.object_lock()
        if enabled and not has_default:
            until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=self.retain_days)
            extra = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until}
        self.s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ChecksumAlgorithm="SHA256", **extra)

    def get(self, key: str) -> bytes:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            raise RevokeError(f"{self.location(key)}: not in the evidence store") from None

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except self.s3.exceptions.ClientError:
            return False

    def keys(self, prefix: str) -> list[str]:
        out: list[str] = []
        cut = len(self._key(""))
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            out += [o["Key"][cut:] for o in page.get("Contents", [])]
        return sorted(out)

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def retention(self, key: str) -> str:
        """The Object Lock retention of one object, in words (for `revoke evidence verify`). HeadObject answers
        it with the object's other metadata (GetObjectRetention needs the version too)."""
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.s3.exceptions.ClientError:
            return "no Object Lock retention could be read"
        if not head.get("ObjectLockMode"):
            return "no Object Lock retention"
        return f"{head['ObjectLockMode'].lower()} mode until {head['ObjectLockRetainUntilDate']:%Y-%m-%d}"


def open_store(url: str | Path) -> EvidenceStore:
    text = str(url)
    if text.startswith("s3://"):
        bucket, _, prefix = text[5:].partition("/")
        if not bucket:
            raise RevokeError(f"{text}: name a bucket, e.g. s3://my-evidence/revoke")
        return S3Store(bucket, prefix, retain_days=int(os.environ.get("REVOKE_EVIDENCE_RETAIN_DAYS", "365")))
    return LocalStore(Path(text).absolute())


def put_run(store: EvidenceStore, run_dir: Path, run_id: str) -> str:
    """Copy a sealed run folder into the store, the manifest last (a folder without one is not complete)."""
    files = sorted(p for p in run_dir.rglob("*") if p.is_file())
    for p in sorted(files, key=lambda p: p.name == MANIFEST):
        store.put(f"{run_id}/{p.relative_to(run_dir).as_posix()}", p.read_bytes())
    return store.location(run_id)


def fetch_run(store: EvidenceStore, run_id: str, into: Path) -> Path:
    """A run folder from the store, as a local folder for `verify_run`."""
    keys = store.keys(f"{run_id}/")
    if not keys:
        raise RevokeError(f"{store.location(run_id)}: no run folder there")
    dest = into / run_id
    for key in keys:
        path = dest / key[len(run_id) + 1:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(store.get(key))
    return dest


def fetch_plan(store: EvidenceStore, run_id: str, cache: Path) -> Path:
    """The scheduled plan (and its approvals) in a local folder: `load_plan` checks its digest."""
    dest = cache / run_id
    prefix = f"{SCHEDULED}/{run_id}/"
    for key in store.keys(prefix):
        if "/parts/" in key:
            continue
        path = dest / key[len(prefix):]
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as f:  # workers may share the cache
                f.write(store.get(key))
            os.replace(f.name, path)
    return dest / "plan.json"


def clear_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
