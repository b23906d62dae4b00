"""Approvals, the two-person rule (issue 16): `plan` -> two `approve` -> `apply`, with real ssh-keygen keys made
here. A plan short of approvals, changed after approval (one byte, or edited with its digest recomputed), signed
twice by one approver or by a key allowed_signers does not name is refused before anything changes, naming who
signed what; each refusal is checked on the LDAP server: the leaver can still bind, the group still lists her."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_unless_ci
from revoke.approvals import approvals_dir
from revoke.evidence import read_records, verify_run
from revoke.plan import load_plan
from revoke.sandbox.slapd import Slapd
from tests.reliability.worlds import run_dirs

@pytest.fixture(autouse=True)
def _ssh_keygen() -> None:
    if shutil.which("ssh-keygen") is None:
        skip_unless_ci("needs ssh-keygen (openssh-client)")
HARNESS = Path(__file__).with_name("crashing_apply.py")


def _key(folder: Path, who: str) -> tuple[Path, str]:
    path = folder / who
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(path)], check=True)
    return path, " ".join(path.with_suffix(".pub").read_text().split()[:2])


@pytest.fixture
def approved_world(engagement: dict, tmp_path: Path) -> dict[str, Any]:
    keys = tmp_path / "keys"  # the approvers' own keys, outside the engagement's folder
    keys.mkdir()
    made = {who: _key(keys, who) for who in ("alice-approver", "bob-approver", "eve")}
    signers = engagement["dir"] / "approvers.allowed_signers"
    signers.write_text(f"alice@example.org {made['alice-approver'][1]}\n"
                       f"bob@example.org namespaces=\"revoke-plan\" {made['bob-approver'][1]}\n")
    runbook = engagement["runbook"]
    text = runbook.read_text() + "approvals:\n  allowed_signers: approvers.allowed_signers\n  required: 2\n"
    runbook.write_text(text)
    return {**engagement, "keys": {who: k for who, (k, _) in made.items()}, "plan": engagement["dir"] / "plan.json"}


def _untouched(world: dict[str, Any], slapd: Slapd) -> None:
    alice = world["people"]["alice"]
    assert slapd.can_bind(alice.dn, alice.password)
    assert alice.dn in slapd.read(world["eng"])["member"]
    assert slapd.read(world["list"]) is not None
    assert run_dirs(world["dir"] / "evidence") == []


def _approve(run_cli: Any, world: dict[str, Any], who: str, plan: Path | None = None) -> Any:
    result = run_cli("plan", "approve", str(plan or world["plan"]), "--key", str(world["keys"][who]), "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    return result


def test_plan_two_approvals_apply(approved_world: dict[str, Any], slapd: Slapd, run_cli: Any) -> None:
    world = approved_world
    planned = run_cli("--quiet", "plan", str(world["runbook"]), "--out", str(world["plan"]))
    assert planned.exit_code == 2, planned.stderr

    refused = run_cli("--quiet", "apply", str(world["plan"]))
    assert refused.exit_code == 1 and "requires 2 approval(s)" in refused.stderr and "it has 0" in refused.stderr
    _untouched(world, slapd)

    first = _approve(run_cli, world, "alice-approver")
    assert "alice@example.org (1 of 2)" in first.output
    _approve(run_cli, world, "alice-approver")  # the same approver again: still one signer
    _approve(run_cli, world, "eve")             # a key allowed_signers does not name
    refused = run_cli("--quiet", "apply", str(world["plan"]))
    assert refused.exit_code == 1 and "it has 1" in refused.stderr, refused.stderr
    assert "alice@example.org" in refused.stderr and "which approvers.allowed_signers does not name" in refused.stderr
    _untouched(world, slapd)

    _approve(run_cli, world, "bob-approver")
    applied = run_cli("--quiet", "--output", "json", "apply", str(world["plan"]))
    assert applied.exit_code == 0, applied.output + applied.stderr
    alice = world["people"]["alice"]
    assert not slapd.can_bind(alice.dn, alice.password)
    assert alice.dn not in slapd.read(world["eng"])["member"]
    run_dir = Path(json.loads(applied.output)["run_dir"])
    header = read_records(run_dir)[0]["approvals"]
    assert header["signers"] == ["alice@example.org", "bob@example.org"] and header["required"] == 2
    assert len(list(approvals_dir(run_dir / "plan.json").glob("*.json"))) == 3  # kept with the evidence
    assert verify_run(run_dir).ok


def test_a_plan_changed_after_approval_is_refused(approved_world: dict[str, Any], slapd: Slapd,
                                                  run_cli: Any) -> None:
    world = approved_world
    run_cli("--quiet", "plan", str(world["runbook"]), "--out", str(world["plan"]))
    _approve(run_cli, world, "alice-approver")
    _approve(run_cli, world, "bob-approver")
    original = world["plan"].read_bytes()

    # one byte changed: the plan no longer matches its own digest
    at = original.index(b"Alice Example")
    world["plan"].write_bytes(original[:at] + b"B" + original[at + 1:])
    refused = run_cli("--quiet", "apply", str(world["plan"]))
    assert refused.exit_code == 1 and "changed after it was made" in refused.stderr
    _untouched(world, slapd)

    # edited with care: the protected account's skip turned into a change and the digest recomputed, as someone
    # with write access to the plan could
    world["plan"].write_bytes(original)
    plan = load_plan(world["plan"])
    actions = [a.model_copy(update={"status": "change", "reason": ""}) if a.status == "skip" else a
               for a in plan.actions]
    edited = plan.model_copy(update={"actions": actions})
    assert edited.digest() != plan.digest()
    edited.save(world["plan"])
    refused = run_cli("--quiet", "apply", str(world["plan"]))
    assert refused.exit_code == 1, refused.output
    assert "it has 0" in refused.stderr and refused.stderr.count("the plan changed after approval") == 2
    assert "alice@example.org" in refused.stderr and "bob@example.org" in refused.stderr
    _untouched(world, slapd)


def test_an_approval_file_edited_to_match_another_plan_is_refused(approved_world: dict[str, Any], slapd: Slapd,
                                                                  run_cli: Any) -> None:
    world = approved_world
    run_cli("--quiet", "plan", str(world["runbook"]), "--out", str(world["plan"]))
    _approve(run_cli, world, "alice-approver")
    _approve(run_cli, world, "bob-approver")
    for path in approvals_dir(world["plan"]).glob("*.json"):  # a new signing time, the signature left as it was
        record = json.loads(path.read_text())
        record["signed_at"] = "2026-01-01T00:00:00Z"
        path.write_text(json.dumps(record))
    refused = run_cli("--quiet", "apply", str(world["plan"]))
    assert refused.exit_code == 1 and refused.stderr.count("does not verify") == 2, refused.stderr
    _untouched(world, slapd)


def test_a_runbook_applied_directly_needs_a_saved_approved_plan(approved_world: dict[str, Any], slapd: Slapd,
                                                                run_cli: Any) -> None:
    refused = run_cli("--quiet", "apply", str(approved_world["runbook"]), "--yes")
    assert refused.exit_code == 1 and "a plan made by this apply has no approvals" in refused.stderr
    _untouched(approved_world, slapd)


def test_an_edited_plan_cannot_drop_the_runbooks_approvals(approved_world: dict[str, Any], slapd: Slapd,
                                                           run_cli: Any) -> None:
    world = approved_world
    run_cli("--quiet", "plan", str(world["runbook"]), "--out", str(world["plan"]))
    plan = load_plan(world["plan"])
    plan.model_copy(update={"runbook": plan.runbook.model_copy(update={"approvals": None})}).save(world["plan"])
    refused = run_cli("--quiet", "apply", str(world["plan"]))
    # refused either way: the plan's copy of the runbook no longer matches the file, and approvals are read from it
    assert refused.exit_code == 1 and ("requires 2 approval(s)" in refused.stderr
                                       or "the plan file was edited" in refused.stderr), refused.stderr
    _untouched(world, slapd)


def test_a_resumed_run_checks_its_approvals_again(approved_world: dict[str, Any], slapd: Slapd,
                                                  run_cli: Any) -> None:
    world = approved_world
    run_cli("--quiet", "plan", str(world["runbook"]), "--out", str(world["plan"]))
    _approve(run_cli, world, "alice-approver")
    _approve(run_cli, world, "bob-approver")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    crashed = subprocess.run([sys.executable, str(HARNESS), "2", "after", "--quiet", "apply", str(world["plan"])],
                             cwd=world["dir"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert crashed.returncode == -9, crashed.stderr
    (run_dir,) = run_dirs(world["dir"] / "evidence")
    kept = approvals_dir(run_dir / "plan.json")
    saved = {p.name: p.read_bytes() for p in kept.glob("*.json")}
    for path in kept.glob("*.json"):
        path.unlink()  # the approvals the run carries are gone: the resume refuses
    refused = run_cli("--quiet", "apply", "--resume", str(run_dir))
    assert refused.exit_code == 1 and "requires 2 approval(s)" in refused.stderr
    for name, data in saved.items():
        (kept / name).write_bytes(data)
    resumed = run_cli("--quiet", "apply", "--resume", str(run_dir))
    assert resumed.exit_code == 0, resumed.output + resumed.stderr
    resume_record = next(r for r in read_records(run_dir) if r["type"] == "resume")
    assert resume_record["approvals"]["signers"] == ["alice@example.org", "bob@example.org"]
    assert not slapd.can_bind(world["people"]["alice"].dn, world["people"]["alice"].password)


def test_validate_names_a_missing_allowed_signers_file(approved_world: dict[str, Any], run_cli: Any) -> None:
    (approved_world["dir"] / "approvers.allowed_signers").unlink()
    result = run_cli("validate", str(approved_world["runbook"]))
    assert result.exit_code == 1
    assert "approvals.allowed_signers: approvers.allowed_signers: file not found" in result.stderr
