"""Approvals, the two-person rule: a plan is applied only once enough of the people the runbook names have signed it.

A runbook asks for them with

    approvals:
      allowed_signers: approvers.allowed_signers   # git's SSH-signing format, relative to the runbook
      required: 2                                  # distinct signers

Each approver runs `revoke plan approve plan.json --key ~/.ssh/id_ed25519`, which signs a short statement of the
plan (engagement, plan id, digest) with OpenSSH (`ssh-keygen -Y sign`, namespace `revoke-plan`) and keeps it beside
the plan, in `plan.json.approvals/`, one file per signing key (approving again replaces the file; several
approvers' files sit side by side). `revoke apply` checks them with `ssh-keygen -Y find-principals` and
`ssh-keygen -Y verify` against the runbook's allowed_signers before anything is read or changed, at every phase it
runs: applying a saved plan, finishing an interrupted run (the approvals travel into the run folder, so the
evidence keeps them and a resume checks them again). A signature is counted once per signer (a person who signs
twice, with one key or two, is one signer); a signature of another plan or of an earlier version of this one, or
by a key allowed_signers does not name, is not counted, and the refusal says who signed what. No cryptography is
done here: OpenSSH does it all.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revoke import sshsig
from revoke.errors import GuardrailRefused, Problem, RunbookError
from revoke.plan import Plan
from revoke.runbook import ApprovalsSpec, Runbook, load_runbook

NAMESPACE = "revoke-plan"
FORMAT = "revoke-plan-approval/1"
SUFFIX = ".approvals"


def approvals_dir(plan_file: Path) -> Path:
    """Where a plan file's approvals live: `plan.json` -> `plan.json.approvals/`."""
    return plan_file.with_name(plan_file.name + SUFFIX)


def statement(engagement: str, plan_id: str, digest: str, signed_at: str) -> bytes:
    """The bytes an approver signs: what they approve, in words a person can read in the approval file."""
    return (f"revoke plan approval\nengagement: {engagement}\nplan: {plan_id}\ndigest: sha256:{digest}\n"
            f"signed at: {signed_at}\n").encode()


# ---- the requirement: from the runbook file, so an edited plan cannot drop it


def requirement(plan: Plan) -> tuple[ApprovalsSpec, Path] | None:
    """The approvals the plan's runbook asks for and its allowed_signers file, or None. Read from the runbook file
    when it is there and from the runbook embedded in the plan, the stricter of the two: a plan edited to drop
    `approvals:` (and its digest recomputed) still needs what the runbook on disk asks."""
    runbook_path = Path(plan.runbook_path)
    found: list[tuple[ApprovalsSpec, Path]] = []
    if plan.runbook.approvals is not None:
        found.append((plan.runbook.approvals, runbook_path.parent))
    if runbook_path.is_file():
        on_disk: Runbook = load_runbook(runbook_path).runbook
        if on_disk.approvals is not None:
            found.append((on_disk.approvals, runbook_path.parent))
    if not found:
        return None
    spec, base = max(found, key=lambda f: f[0].required)
    signers = Path(spec.allowed_signers)
    return spec, signers if signers.is_absolute() else base / signers


# ---- signing


def approve(plan: Plan, plan_file: Path, key: Path, *, now: dt.datetime | None = None) -> Path:
    """Sign `plan` with `key` (a private key, or a public key whose private half is in ssh-agent); returns the
    approval file written beside the plan. ssh-keygen may ask for the key's passphrase on the terminal."""
    signed_at = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    message = statement(plan.engagement, plan.plan_id, plan.digest(), signed_at)
    signature = sshsig.sign(key, NAMESPACE, message)
    fingerprint = sshsig.fingerprint(signature, NAMESPACE, message)
    folder = approvals_dir(plan_file)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (fingerprint.replace("SHA256:", "").replace("/", "_").replace("+", "-") + ".json")
    record = {"format": FORMAT, "engagement": plan.engagement, "plan_id": plan.plan_id, "digest": plan.digest(),
              "signed_at": signed_at, "key": fingerprint, "namespace": NAMESPACE, "signature": signature}
    tmp_path = path.with_name(path.name + ".tmp")
    tmp_path.write_text(json.dumps(record, indent=1) + "\n")
    tmp_path.replace(path)
    return path


# ---- verifying


@dataclass
class Approval:
    file: str
    key: str
    signed_at: str
    principal: str | None = None   # who allowed_signers says signed, when the signature verifies
    problem: str = ""              # why it does not count


@dataclass
class Verdict:
    required: int
    allowed_signers: str
    approvals: list[Approval] = field(default_factory=list)

    @property
    def signers(self) -> list[str]:
        return sorted({a.principal for a in self.approvals if a.principal and not a.problem})

    def header(self) -> dict[str, Any]:
        """What the run's first evidence record says of its approvals."""
        return {"approvals": {"required": self.required, "allowed_signers": self.allowed_signers,
                              "signers": self.signers,
                              "signatures": [{"file": a.file, "key": a.key, "signed_at": a.signed_at,
                                              "principal": a.principal, "counted": not a.problem,
                                              **({"problem": a.problem} if a.problem else {})}
                                             for a in self.approvals]}}


def verify(plan: Plan, plan_file: Path | None) -> Verdict | None:
    """Check the approvals of `plan` (saved as `plan_file`, None for a plan made in this run) against what its
    runbook requires. Returns the verdict (for evidence) or None when none are required; raises GuardrailRefused
    when too few distinct, valid signers approved exactly this plan."""
    verdict = evaluate(plan, plan_file)
    if verdict is not None and len(verdict.signers) < verdict.required:
        raise GuardrailRefused(_refusal(plan, plan_file, verdict))
    return verdict


def evaluate(plan: Plan, plan_file: Path | None) -> Verdict | None:
    """Each approval of `plan` checked, and who counts; None when its runbook requires none. Refuses nothing."""
    required = requirement(plan)
    if required is None:
        return None
    spec, signers_file = required
    if not signers_file.is_file():
        raise RunbookError([Problem(str(plan.runbook_path), None, "approvals.allowed_signers",
                                    f"{signers_file} not found", "the file lists who may approve, one "
                                    "'principal key' line each, as git's gpg.ssh.allowedSignersFile")])
    verdict = Verdict(spec.required, str(signers_file))
    folder = approvals_dir(plan_file) if plan_file is not None else None
    if folder is not None and folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            verdict.approvals.append(_check(path, plan, signers_file))
    return verdict


def _check(path: Path, plan: Plan, signers_file: Path) -> Approval:
    try:
        record = json.loads(path.read_text())
        fields = (record["engagement"], record["plan_id"], record["digest"], record["signed_at"])
        signature, key = str(record["signature"]), str(record.get("key", "?"))
    except (OSError, ValueError, KeyError, TypeError):
        return Approval(path.name, "?", "?", problem="not a readable approval file")
    approval = Approval(path.name, key, str(fields[3]))
    message = statement(*(str(f) for f in fields))
    if not sshsig.known_key(signature, signers_file):
        approval.problem = f"signed by key {key}, which {signers_file.name} does not name"
        return approval
    approval.principal = sshsig.signer(signature, NAMESPACE, message, signers_file)
    if approval.principal is None:
        approval.problem = f"the signature by key {key} does not verify (the approval file was changed)"
    elif (fields[0], fields[1], fields[2]) != (plan.engagement, plan.plan_id, plan.digest()):
        approval.problem = (f"approved plan {fields[1]} with digest {str(fields[2])[:16]}…, not this one "
                            f"({plan.plan_id}, digest {plan.digest()[:16]}…): the plan changed after approval")
    return approval


def _refusal(plan: Plan, plan_file: Path | None, verdict: Verdict) -> str:
    have = len(verdict.signers)
    lines = [f"the runbook requires {verdict.required} approval(s) of this plan by distinct signers in "
             f"{verdict.allowed_signers}; it has {have}, nothing was changed:"]
    for a in verdict.approvals:
        who = a.principal or "unknown signer"
        lines.append(f"  {a.file}: {who} (key {a.key}, {a.signed_at}): " + (a.problem or "counted"))
    if plan_file is None:
        lines.append("  a plan made by this apply has no approvals: save one with `revoke plan RUNBOOK --out "
                     "plan.json`, have it approved, then `revoke apply plan.json`")
    elif not verdict.approvals:
        lines.append(f"  no approvals found in {approvals_dir(plan_file)}")
    target = plan_file or Path("plan.json")
    lines.append(f"each approver reviews the plan and runs `revoke plan approve {target} --key KEY`")
    return "\n".join(lines)


def keep(verdict: Verdict | None, plan_file: Path | None, run_dir: Path) -> None:
    """Copy the approvals beside the run's own plan.json, so the sealed evidence holds them and a resumed run
    checks them again."""
    if verdict is None or plan_file is None or not approvals_dir(plan_file).is_dir():
        return
    dest = approvals_dir(run_dir / "plan.json")
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(approvals_dir(plan_file).glob("*.json")):
        shutil.copyfile(path, dest / path.name)


def require(plan: Plan, *, resume: Path | None = None) -> Verdict | None:
    """The one call of a run: the approvals of the plan a run executes (its saved file, or for a resumed run the
    copy in its run folder), verified, or GuardrailRefused."""
    plan_file = resume / "plan.json" if resume is not None else plan.source_file
    return verify(plan, plan_file)


def header(verdict: Verdict | None) -> dict[str, Any]:
    """The approvals part of a run's first evidence record (nothing when the runbook requires none)."""
    return verdict.header() if verdict is not None else {}
