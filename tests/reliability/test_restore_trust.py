"""Restore writes back what a run's evidence says was there before, so the evidence is an input an attacker could
edit (issue 16: "at apply, on every resume and at restore, the engine re-derives..."). A run folder whose chain does
not verify is refused; a forgery good enough to verify (re-hashed chain, seal and manifest: possible without a
signing key) still meets apply's guardrails: it cannot re-grant access to an account no runbook person owns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from revoke.evidence import LOG, MANIFEST, file_sha256, manifest_text, read_records, record_hash, verify_run
from revoke.plan import load_plan
from revoke.sandbox.slapd import Slapd


def _apply(run_cli: Any, engagement: dict) -> Path:
    applied = run_cli("--quiet", "--output", "json", "apply", str(engagement["runbook"]), "--yes")
    return Path(json.loads(applied.output)["run_dir"])


def _forge(run_dir: Path, edit_plan: Callable[[Any], Any]) -> None:
    """Everything a forger without a signing key can do: edit plan.json, then re-derive every digest after it."""
    plan = load_plan(run_dir / "plan.json")
    plan.model_copy(update={"actions": [edit_plan(a) for a in plan.actions]}).save(run_dir / "plan.json")
    digest = load_plan(run_dir / "plan.json").digest()
    prev, lines, records = "0" * 64, [], read_records(run_dir)
    for rec in records:
        rec = {k: v for k, v in rec.items() if k != "hash"}
        if rec.get("type") == "run":
            rec["plan_digest"] = digest
        if rec.get("type") == "seal":
            rec["files"] = {rel: file_sha256(run_dir / rel) for rel in rec["files"]}
        rec["prev_hash"] = prev if rec["seq"] > 1 else rec["prev_hash"]
        rec["hash"] = prev = record_hash(rec)
        lines.append(json.dumps(rec, sort_keys=True, ensure_ascii=False))
    (run_dir / LOG).write_text("\n".join(lines) + "\n", encoding="utf-8")
    files = {p.name: file_sha256(p) for p in run_dir.iterdir() if p.is_file() and p.name != MANIFEST}
    (run_dir / MANIFEST).write_text(manifest_text(records[0]["run_id"], prev, len(records), files), encoding="utf-8")


def test_restore_refuses_a_run_whose_evidence_was_edited(engagement: dict, slapd: Slapd, run_cli: Any) -> None:
    alice = engagement["people"]["alice"]
    run_dir = _apply(run_cli, engagement)
    log = run_dir / LOG
    log.write_text(log.read_text().replace('"outcome": "already_done"', '"outcome": "done"', 1))
    assert not verify_run(run_dir).ok

    refused = run_cli("restore", str(run_dir), "--yes")
    assert refused.exit_code == 1, refused.output + refused.stderr
    assert "its evidence does not verify" in refused.stderr and "nothing was changed" in refused.stderr
    assert not slapd.can_bind(alice.dn, alice.password)  # still locked
    assert alice.dn not in slapd.read(engagement["eng"])["member"]


def test_a_forged_run_cannot_restore_access_to_an_account_no_leaver_owns(engagement: dict, slapd: Slapd,
                                                                         run_cli: Any) -> None:
    alice, carol = engagement["people"]["alice"], engagement["people"]["carol"]
    run_dir = _apply(run_cli, engagement)
    auditors = engagement["uniq"]
    assert carol.dn not in slapd.read(auditors).get("uniqueMember", [])

    def retarget(a: Any) -> Any:  # "alice was removed from auditors" becomes "carol was", so restore would add carol
        if a.resource == auditors and (a.principal or "").casefold() == alice.dn.casefold():
            return a.model_copy(update={"principal": carol.dn, "person": "Alice Example"})
        return a

    _forge(run_dir, retarget)
    assert verify_run(run_dir).ok  # without a signing key, the forgery verifies: only the guardrails stop it

    refused = run_cli("restore", str(run_dir), "--yes")
    assert refused.exit_code == 1, refused.output + refused.stderr
    assert "is not Alice Example's account" in refused.stderr and "nothing was changed" in refused.stderr
    assert carol.dn not in slapd.read(auditors).get("uniqueMember", [])
    assert not slapd.can_bind(alice.dn, alice.password)
