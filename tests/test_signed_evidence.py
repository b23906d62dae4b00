"""Signed evidence (issue 18): a sealed run signed with an SSH key (`ssh-keygen -Y sign -n revoke-evidence`) that
`revoke evidence verify --allowed-signers` checks and names, and that an auditor checks with OpenSSH and coreutils
alone, from the README's own command. A run rewritten and re-hashed (chain, seal, manifest and listing all
recomputed) passes the chain check, and fails the signature check, in revoke and in OpenSSH."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from revoke import attest
from revoke.evidence import LOG, MANIFEST, file_sha256, manifest_text, read_records, record_hash, verify_run
from tests.conftest import skip_unless_ci

if shutil.which("ssh-keygen") is None:
    skip_unless_ci("needs ssh-keygen (openssh-client)", module=True)
README = Path(__file__).parents[1] / "README.md"


def make_key(folder: Path, who: str) -> tuple[Path, str]:
    path = folder / who
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(path)], check=True)
    return path, " ".join(path.with_suffix(".pub").read_text().split()[:2])


@pytest.fixture
def signed_run(engagement: dict, tmp_path: Path, run_cli: Any) -> dict[str, Any]:
    keys = tmp_path / "keys"
    keys.mkdir()
    key, public = make_key(keys, "operator")
    _, other = make_key(keys, "someone-else")
    signers = tmp_path / "allowed_signers"
    signers.write_text(f'ops@example.org namespaces="revoke-evidence" {public}\n')
    strangers = tmp_path / "strangers"
    strangers.write_text(f"eve@example.org {other}\n")
    result = run_cli("--quiet", "--output", "json", "apply", str(engagement["runbook"]), "--yes",
                     "--signing-key", str(key))
    assert result.exit_code in (0, 3), result.output + result.stderr
    run_dir = Path(json.loads(result.output)["run_dir"])
    return {**engagement, "run_dir": run_dir, "signers": signers, "strangers": strangers}


def outsider_command() -> str:
    """The auditor's command as the README prints it, with the README's placeholders."""
    text = README.read_text(encoding="utf-8")
    found = re.search(r"```sh\n(ssh-keygen -Y verify [^\n]*revoke-evidence[^\n]*)\n```", text)
    assert found, "the README shows the one-line OpenSSH verification of a signed run"
    return found.group(1)


def run_outsider(run_dir: Path, signers: Path, signer: str = "ops@example.org") -> subprocess.CompletedProcess:
    command = outsider_command().replace("allowed_signers", str(signers)).replace("SIGNER", signer)
    return subprocess.run(["bash", "-c", command], cwd=run_dir, capture_output=True, text=True, check=False)


def test_revoke_verify_names_the_signer(signed_run: dict, run_cli: Any) -> None:
    run_dir = signed_run["run_dir"]
    assert {attest.LISTING, attest.SIGNATURE} <= {p.name for p in run_dir.iterdir()}
    listed = (run_dir / attest.LISTING).read_text().splitlines()
    assert any(line.endswith(f"  {LOG}") for line in listed) and any(line.endswith(f"  {MANIFEST}")
                                                                     for line in listed)
    result = run_cli("evidence", "verify", str(run_dir), "--allowed-signers", str(signed_run["signers"]))
    assert result.exit_code == 0, result.stderr
    assert "signed by ops@example.org" in result.output


def test_the_readme_command_verifies_with_openssh_alone(signed_run: dict) -> None:
    done = run_outsider(signed_run["run_dir"], signed_run["signers"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'Good "revoke-evidence" signature for ops@example.org' in done.stdout + done.stderr


def test_a_key_allowed_signers_does_not_name_fails(signed_run: dict, run_cli: Any) -> None:
    result = run_cli("evidence", "verify", str(signed_run["run_dir"]), "--allowed-signers",
                     str(signed_run["strangers"]))
    assert result.exit_code == 1 and "made by a key it does not name" in result.stderr, result.stderr
    assert run_outsider(signed_run["run_dir"], signed_run["strangers"], "eve@example.org").returncode != 0


def test_an_unsigned_run_fails_when_a_signer_is_required(engagement: dict, run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("--quiet", "--output", "json", "apply", str(engagement["runbook"]), "--yes")
    run_dir = Path(json.loads(result.output)["run_dir"])
    _, public = make_key(tmp_path, "ops")
    signers = tmp_path / "allowed_signers"
    signers.write_text(f"ops@example.org {public}\n")
    assert run_cli("evidence", "verify", str(run_dir)).exit_code == 0
    verdict = run_cli("evidence", "verify", str(run_dir), "--allowed-signers", str(signers))
    assert verdict.exit_code == 1 and "not signed" in verdict.stderr


def forge(run_dir: Path) -> int:
    """Rewrite every action record that needed a person as done and verified, then recompute what a forger can:
    every record's hash, the seal, the manifest and the signed listing. Returns how many records were changed."""
    records = read_records(run_dir)
    changed, prev = 0, records[0]["prev_hash"]
    for rec in records:
        if rec.get("type") == "action" and rec.get("outcome") not in ("done", "already_done"):
            rec.update(outcome="done", verification="verified", error="")
            changed += 1
        rec["prev_hash"] = prev
        if rec.get("type") == "seal":
            rec["files"] = {rel: file_sha256(run_dir / rel) for rel in rec["files"]}
        rec["hash"] = record_hash(rec)
        prev = rec["hash"]
    (run_dir / LOG).write_text("".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records),
                               encoding="utf-8")
    files = {p.relative_to(run_dir).as_posix(): file_sha256(p) for p in sorted(run_dir.rglob("*"))
             if p.is_file() and p.name not in attest.FILES and p.name != MANIFEST}
    (run_dir / MANIFEST).write_text(manifest_text(records[-1]["run_id"], prev, len(records), files),
                                    encoding="utf-8")
    (run_dir / attest.LISTING).write_bytes(attest.listing(run_dir))
    return changed


def test_a_rehashed_forgery_passes_the_chain_and_fails_the_signature(signed_run: dict, run_cli: Any) -> None:
    run_dir = signed_run["run_dir"]
    assert forge(run_dir) > 0   # the engagement has a protected person and a tool account: records to rewrite
    assert verify_run(run_dir).ok, verify_run(run_dir).problems   # the chain alone only catches accidents
    result = run_cli("evidence", "verify", str(run_dir), "--allowed-signers", str(signed_run["signers"]))
    assert result.exit_code == 1, result.output
    assert "does not verify" in result.stderr, result.stderr
    assert run_outsider(run_dir, signed_run["signers"]).returncode != 0   # and OpenSSH says so too


def test_a_file_changed_after_signing_fails_sha256sum(signed_run: dict) -> None:
    run_dir = signed_run["run_dir"]
    summary = next(p for p in run_dir.iterdir() if p.name.startswith("summary"))
    summary.write_text(summary.read_text() + " ")
    done = run_outsider(run_dir, signed_run["signers"])
    assert done.returncode != 0 and "FAILED" in done.stdout, done.stdout
    assert any(summary.name in p for p in verify_run(run_dir, allowed_signers=signed_run["signers"]).problems)
