"""Restore: the inverse of a run, built from the before-states in its evidence, as a plan of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from revoke.actions import Outcome
from revoke.connector import load
from revoke.errors import GuardrailRefused, RevokeError
from revoke.evidence import now, verify_run
from revoke.plan import Action, NoticeRecord, Plan, fingerprint, load_plan
from revoke.planner import new_run_id
from revoke.resume import check_resumed_digest, prior_records


def build_restore_plan(run_dir: Path, *, system: str | None = None, person: str | None = None) -> Plan:
    """The inverse of a run, from the before-states in its evidence: its own plan, shown and applied like any.

    Restore writes what the evidence says was there before, so it trusts the evidence only as far as it verifies:
    a chain that does not verify, or a plan.json that is not the one the run started with, is refused. What the
    restore plan then does is checked by apply's guardrails like any plan (protected accounts, traceability)."""
    report = verify_run(run_dir)
    if not report.ok:
        raise GuardrailRefused(f"{run_dir.name}: its evidence does not verify ({report.problems[0]}); restore reads "
                               "the before-states from it and refuses: nothing was changed")
    original = load_plan(run_dir / "plan.json")
    check_resumed_digest(original, prior_records(run_dir), run_dir)
    by_id = {a.id: a for a in original.actions}
    last: dict[str, dict[str, Any]] = {}
    for r in prior_records(run_dir):
        if r.get("type") == "action" and r.get("mode") == "apply":
            last[r["action_id"]] = r
    actions: list[Action] = []
    left_out: list[Action] = []  # done, but outside --system/--person
    for action_id_, rec in last.items():
        a = by_id.get(action_id_)
        if a is None or rec["outcome"] != Outcome.DONE.value:
            continue
        if (system and a.system != system) or (person and (a.person or "").casefold() != person.casefold()):
            left_out.append(a)
            continue
        kind = load(a.connector).kind(a.kind)
        if not kind.restorable:
            why = f"cannot be restored: {kind.restore_note or 'the connector has no way back'}"
            # said in the plan and recorded as needing a person, who redoes it (enrols the MFA device again)
            actions.append(a.model_copy(update={"status": "final", "outcome": Outcome.ATTENTION.value,
                                                "reason": why, "note": why}))
            continue
        after = rec.get("after") or {}
        actions.append(a.model_copy(update={"status": "change", "fingerprint": fingerprint(after),
                                            "note": kind.restore_note or a.note}))
    if not actions:
        which = " ".join(x for x in (f"system {system}" if system else "", f"person {person}" if person else "") if x)
        raise RevokeError(f"run {run_dir.name} made no change that can be restored" + (f" for {which}" if which
                                                                                       else ""))
    systems = [sp.model_copy(update={"targets": len({a.principal or a.resource for a in actions
                                                     if a.system == sp.name and a.status == "change"})})
               for sp in original.systems if any(a.system == sp.name for a in actions)]
    return Plan(plan_id=new_run_id(original.engagement, "restore-plan"), created_at=now(),
                runbook_path=original.runbook_path, runbook_sha256=original.runbook_sha256,
                runbook=original.runbook, systems=systems, actions=actions,
                notices=_containers_left_out(actions, left_out))


def _containers_left_out(actions: list[Action], left_out: list[Action]) -> list[NoticeRecord]:
    """A restore of part of a run (--system, --person) that leaves out the list or group its memberships are in
    (closed by another system of the run) says so: those memberships cannot come back before it does."""
    kept = {a.resource.casefold(): a.system for a in actions if a.status == "change"}
    out = []
    for c in left_out:
        if load(c.connector).kind(c.kind).resource_types and c.resource.casefold() in kept:
            out.append(NoticeRecord(system=kept[c.resource.casefold()], item=c.item, resource=c.resource,
                                    severity="warning",
                                    message=f"{c.label or c.resource} was closed by {c.system} in this run too and "
                                    f"is left out of this restore: restore it first (--system {c.system}), or "
                                    "the memberships in it cannot come back"))
    return out
