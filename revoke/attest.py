"""Evidence that verifies without trusting the operator: the sealed run signed (SSH) and timestamped (RFC 3161).

The hash chain and the manifest only catch accidents: whoever holds the files can rewrite a record and recompute
every hash. So, once a run is sealed, revoke writes `seal.sha256`, the SHA-256 of every file of the run folder in
`sha256sum` format (the evidence log, whose last record is the seal, the manifest, plan, summary and reports), and

- with a signing key (`--signing-key`, or REVOKE_SIGNING_KEY: an SSH key, as for git commit signing), signs it
  with `ssh-keygen -Y sign -n revoke-evidence` into `seal.sha256.sig`;
- with the runbook's `timestamp_authority:` (an RFC 3161 TSA URL), asks that authority for a timestamp token over
  it, `seal.sha256.tsr`: proof, from outside, that the evidence existed at that time.

An auditor checks a run with standard tools, in its folder, without revoke:

    ssh-keygen -Y verify -f allowed_signers -I alice@example.org -n revoke-evidence -s seal.sha256.sig \\
        < seal.sha256 && sha256sum -c seal.sha256

and the timestamp with `openssl ts -verify -data seal.sha256 -in seal.sha256.tsr -CAfile tsa-ca.pem`.
`revoke evidence verify DIR --allowed-signers FILE [--tsa-ca FILE]` runs the same checks and names the signer.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from revoke import sshsig
from revoke.errors import RevokeError

NAMESPACE = "revoke-evidence"
LISTING = "seal.sha256"
SIGNATURE = LISTING + ".sig"
TOKEN = LISTING + ".tsr"
FILES = (LISTING, SIGNATURE, TOKEN)  # written after the seal: not in it, checked here instead
_LINE = re.compile(r"^([0-9a-f]{64})  (.+)$")


def listing(run_dir: Path) -> bytes:
    """`sha256sum` lines for every file of the run folder but these attestation files, sorted by path."""
    lines = []
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(run_dir).as_posix()
        if rel in FILES:
            continue
        if "\n" in rel or "\\" in rel:  # sha256sum would escape it; revoke never names a file so
            raise RevokeError(f"{run_dir}: cannot list {rel!r} for signing")
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {rel}\n")
    return "".join(lines).encode()


@dataclass(frozen=True)
class Attestor:
    """What a run does after its seal. Either part may be off; with both off nothing is written."""

    signing_key: Path | None = None
    timestamp_authority: str | None = None

    def __bool__(self) -> bool:
        return self.signing_key is not None or bool(self.timestamp_authority)

    def __call__(self, run_dir: Path) -> None:
        if not self:
            return
        signed = listing(run_dir)
        (run_dir / LISTING).write_bytes(signed)
        if self.signing_key is not None:
            (run_dir / SIGNATURE).write_text(sshsig.sign(self.signing_key, NAMESPACE, signed))
        if self.timestamp_authority:
            (run_dir / TOKEN).write_bytes(timestamp(signed, self.timestamp_authority))


def attestor(timestamp_authority: str | None, signing_key: Path | None = None) -> Attestor:
    """The run's attestor: `signing_key`, else REVOKE_SIGNING_KEY (settings), and the runbook's TSA."""
    if signing_key is None:
        from revoke.secrets import RevokeSettings

        signing_key = RevokeSettings().signing_key
    if signing_key is not None and not signing_key.expanduser().is_file():
        raise RevokeError(f"signing key {signing_key} not found: give an SSH key (private, or public with its "
                          "private half in ssh-agent) with --signing-key or REVOKE_SIGNING_KEY")
    return Attestor(signing_key.expanduser() if signing_key else None, timestamp_authority)


# ---- RFC 3161, through the openssl command line


def _openssl(args: list[str], data: bytes | None = None) -> subprocess.CompletedProcess:
    found = shutil.which("openssl")
    if found is None:
        raise RevokeError("timestamps need the openssl command line (Debian package openssl); install it")
    return subprocess.run([found, *args], input=data, capture_output=True, timeout=60, check=False)


def timestamp(data: bytes, url: str) -> bytes:
    """A timestamp token (the TSA's whole reply, DER) over SHA-256 of `data`, checked to be granted for it."""
    import requests

    with tempfile.TemporaryDirectory(prefix="revoke-tsa-") as tmp:
        src, query, reply = Path(tmp) / "data", Path(tmp) / "q.tsq", Path(tmp) / "r.tsr"
        src.write_bytes(data)
        made = _openssl(["ts", "-query", "-data", str(src), "-sha256", "-cert", "-out", str(query)])
        if made.returncode != 0:
            raise RevokeError(f"openssl could not make a timestamp query: {made.stderr.decode(errors='replace')}")
        try:
            answer = requests.post(url, data=query.read_bytes(), timeout=30,
                                   headers={"Content-Type": "application/timestamp-query"})
        except requests.RequestException as err:
            raise RevokeError(f"timestamp_authority {url}: {type(err).__name__}: {err}") from None
        if answer.status_code != 200:
            raise RevokeError(f"timestamp_authority {url} answered HTTP {answer.status_code}")
        reply.write_bytes(answer.content)
        status = _openssl(["ts", "-reply", "-in", str(reply), "-text"])
        text = status.stdout.decode(errors="replace")
        if status.returncode != 0 or "Status: Granted" not in text:
            raise RevokeError(f"timestamp_authority {url} did not grant a timestamp: {text.strip()[:300]}")
        # the token's signature is checked by `revoke evidence verify --tsa-ca` (it needs the TSA's CA); here,
        # that it timestamps these bytes
        if token_imprint(reply) != hashlib.sha256(data).hexdigest():
            raise RevokeError(f"timestamp_authority {url} answered with a token for other data")
        return answer.content


def token_time(token: Path) -> str | None:
    shown = _openssl(["ts", "-reply", "-in", str(token), "-text"]).stdout.decode(errors="replace")
    found = re.search(r"^Time stamp: (.+)$", shown, re.MULTILINE)
    return found.group(1).strip() if found else None


def token_imprint(token: Path) -> str | None:
    """The hex digest the token timestamps, from openssl's dump ("    0000 - 3e 8a ... 11-22 ...   ascii")."""
    shown = _openssl(["ts", "-reply", "-in", str(token), "-text"]).stdout.decode(errors="replace")
    lines = shown.split("Message data:\n", 1)[-1].splitlines() if "Message data:" in shown else []
    out = ""
    for line in lines:
        m = re.match(r"^\s+[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -]){0,15}[0-9a-f]{2})", line)
        if m is None:
            break
        out += re.sub(r"[ -]", "", m.group(1))
    return out or None


# ---- verifying


@dataclass
class Attestation:
    signed: bool = False
    signer: str | None = None
    timestamped: bool = False
    timestamp: str | None = None
    problems: list[str] = field(default_factory=list)


def verify(run_dir: Path, allowed_signers: Path | None = None, tsa_ca: Path | None = None) -> Attestation:
    """Check a run's attestation files; `allowed_signers` makes a signature by a key it names required."""
    out = Attestation()
    listed_path = run_dir / LISTING
    if not listed_path.is_file():
        if allowed_signers is not None:
            out.problems.append(f"{LISTING}: missing; the run was not signed (apply with --signing-key)")
        return out
    signed = listed_path.read_bytes()
    out.problems += _check_listing(run_dir, signed)
    _verify_signature(run_dir, signed, allowed_signers, out)
    _verify_token(run_dir, signed, tsa_ca, out)
    return out


def _check_listing(run_dir: Path, signed: bytes) -> list[str]:
    problems, seen = [], set()
    for n, line in enumerate(signed.decode("utf-8", errors="replace").splitlines(), start=1):
        m = _LINE.match(line)
        if m is None:
            problems.append(f"{LISTING} line {n}: not a sha256sum line")
            continue
        digest, rel = m.groups()
        seen.add(rel)
        path = run_dir / rel
        if not path.is_file():
            problems.append(f"{rel}: listed in {LISTING} but missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"{rel}: changed after the run was signed (SHA-256 differs from {LISTING})")
    extra = {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()} - seen - set(FILES)
    problems += [f"{rel}: present but not in {LISTING} (added after the run was signed)" for rel in sorted(extra)]
    return problems


def _verify_signature(run_dir: Path, signed: bytes, allowed_signers: Path | None, out: Attestation) -> None:
    sig_path = run_dir / SIGNATURE
    if not sig_path.is_file():
        if allowed_signers is not None:
            out.problems.append(f"{SIGNATURE}: missing; the run was not signed")
        return
    out.signed = True
    if allowed_signers is None:
        return
    signature = sig_path.read_text()
    out.signer = sshsig.signer(signature, NAMESPACE, signed, allowed_signers)
    if out.signer is None:
        why = ("was made by a key it does not name" if not sshsig.known_key(signature, allowed_signers)
               else "does not verify: the signed listing or the signature was changed")
        out.problems.append(f"{SIGNATURE}: checked against {allowed_signers}, the signature {why}")


def _verify_token(run_dir: Path, signed: bytes, tsa_ca: Path | None, out: Attestation) -> None:
    token = run_dir / TOKEN
    if not token.is_file():
        return
    out.timestamped = True
    out.timestamp = token_time(token)
    if token_imprint(token) != hashlib.sha256(signed).hexdigest():
        out.problems.append(f"{TOKEN}: the timestamp is not of this {LISTING} (its imprint differs)")
        return
    if tsa_ca is None:
        return
    done = _openssl(["ts", "-verify", "-data", str(run_dir / LISTING), "-in", str(token), "-CAfile", str(tsa_ca)])
    if done.returncode != 0 or b"Verification: OK" not in done.stdout:
        out.problems.append(f"{TOKEN}: does not verify against {tsa_ca}: "
                            f"{(done.stdout + done.stderr).decode(errors='replace').strip()[:300]}")
