"""OpenSSH signatures (`ssh-keygen -Y`), git's own signing primitives: the one place revoke calls ssh-keygen.

Plan approvals (revoke/approvals.py, namespace `revoke-plan`) and signed evidence (revoke/attest.py, namespace
`revoke-evidence`) both sign bytes with a key the operator already has for git, and check them against a file in
git's allowed_signers format. No cryptography is done here: OpenSSH does it all.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from revoke.errors import RevokeError


def ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise RevokeError("signing needs OpenSSH's ssh-keygen (Debian package openssh-client); install it")
    return found


def run(args: list[str], data: bytes | None = None, timeout: float | None = 30) -> subprocess.CompletedProcess:
    return subprocess.run([ssh_keygen(), *args], input=data, capture_output=True, timeout=timeout, check=False)


def sign(key: Path, namespace: str, message: bytes) -> str:
    """The armored SSH signature of `message` by `key` (a private key, or a public key whose private half is in
    ssh-agent). ssh-keygen may ask for the key's passphrase on the terminal."""
    with tempfile.TemporaryDirectory(prefix="revoke-sign-") as tmp:
        msg = Path(tmp) / "message"
        msg.write_bytes(message)
        done = run(["-Y", "sign", "-f", str(key), "-n", namespace, str(msg)], timeout=None)
        if done.returncode != 0:
            raise RevokeError(f"ssh-keygen could not sign with {key}: {done.stderr.decode(errors='replace').strip()}")
        return msg.with_name(msg.name + ".sig").read_text()


def fingerprint(signature: str, namespace: str, message: bytes) -> str:
    """The signing key's fingerprint, as OpenSSH reads it from the signature itself."""
    with tempfile.TemporaryDirectory(prefix="revoke-sign-") as tmp:
        sig = Path(tmp) / "message.sig"
        sig.write_text(signature)
        done = run(["-Y", "check-novalidate", "-n", namespace, "-s", str(sig)], data=message)
    words = done.stdout.decode(errors="replace").split()
    if done.returncode != 0 or not words:
        raise RevokeError("ssh-keygen made a signature it cannot read back: " +
                          done.stderr.decode(errors="replace").strip())
    return words[-1]


def signer(signature: str, namespace: str, message: bytes, allowed_signers: Path) -> str | None:
    """Who `allowed_signers` says made `signature` over `message` in `namespace`, or None when no principal it
    names verifies (an unknown key, or a message or signature changed)."""
    with tempfile.TemporaryDirectory(prefix="revoke-verify-") as tmp:
        sig = Path(tmp) / "message.sig"
        sig.write_text(signature)
        found = run(["-Y", "find-principals", "-s", str(sig), "-f", str(allowed_signers)])
        principals = found.stdout.decode(errors="replace").split() if found.returncode == 0 else []
        for principal in principals:
            done = run(["-Y", "verify", "-f", str(allowed_signers), "-I", principal, "-n", namespace,
                        "-s", str(sig)], data=message)
            if done.returncode == 0:
                return principal
    return None


def known_key(signature: str, allowed_signers: Path) -> bool:
    """Whether allowed_signers names the key that made `signature` (for whatever principal)."""
    with tempfile.TemporaryDirectory(prefix="revoke-verify-") as tmp:
        sig = Path(tmp) / "message.sig"
        sig.write_text(signature)
        found = run(["-Y", "find-principals", "-s", str(sig), "-f", str(allowed_signers)])
    return found.returncode == 0 and bool(found.stdout.strip())
