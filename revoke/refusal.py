"""A refused run leaves evidence too: the README promises every run a folder, and an auditor asks why nothing
happened on the final day as much as what did.

When apply (or restore) refuses before any change (the final day, the blast radius, a stale plan, an untrusted
action, missing approvals), the engine writes a sealed run folder holding the plan, a `run` record and a `refused`
record with the reason, and says where it is. The folder is sealed, so it is never taken for an interrupted run.
"""

from __future__ import annotations

from pathlib import Path

from revoke import journal
from revoke.errors import RevokeError
from revoke.evidence import EvidenceLog, iso, now
from revoke.plan import Plan


def record_refusal(plan: Plan, run_dir: Path, mode: str, err: RevokeError) -> Path:
    """Write and seal the evidence of a run refused before any change; answers the folder."""
    evidence = EvidenceLog(run_dir, run_dir.name, plan.engagement)
    try:
        plan.save(run_dir / "plan.json")
        evidence.append(journal.run_record(plan, mode, now(), {}))
        evidence.append({"type": "refused", "mode": mode, "error": type(err).__name__, "reason": str(err),
                         "changes": 0, "finished_at": iso(now())})
        evidence.seal()
    finally:
        evidence.close()
    return run_dir


def with_folder(err: RevokeError, run_dir: Path) -> RevokeError:
    """The same error, saying where its evidence is."""
    again = type(err).__new__(type(err))
    RevokeError.__init__(again, f"{err}\nthe refusal is recorded in {run_dir}")
    again.__dict__.update(err.__dict__)
    return again
