"""Which checklist item an action belongs to, and what a run means for each item's Status.

An item is `Done` only when every action of it was read back in the desired state (verified, absent, or already
so before the run) and no discovery notice of it needs a person. Anything else, failed, needing attention, not
supported or unverifiable, leaves it `Blocked`, with the count of each, so the page never reports success while
access remains.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from revoke.actions import Outcome, Verification

# The seed page's items; items 3 and 4 are the ones revoke carries out.
DEFAULT_TITLES = {
    1: "Deliverable Acceptance",
    2: "Mobilize Retrospective",
    3: "Site/Network Access",
    4: "Team Collaboration",
    5: "Celebrate Success",
}

# Settled without a person: the change happened and was read back, or there was nothing the service allows.
# A `routed` action was carried out through another system of the runbook (a synced user, in AD): settled here.
_SETTLED = {Outcome.ALREADY_DONE.value, Outcome.IMMUTABLE.value, Outcome.SKIPPED.value, Outcome.ROUTED.value}
NOT_COVERED = "Not covered"  # no system of the runbook acts on the item: its Status is left as a person set it
NOT_COVERED_TEXT = "not covered by this runbook (no system of it acts on this item); do it by hand"
_READ_BACK = {Verification.VERIFIED.value, Verification.ABSENT.value}


def problem_of(record: dict[str, Any], planned_status: str | None = None) -> str | None:
    """Why this action record keeps its item from Done, or None when it is settled.

    `planned_status` is the action's status in the run's plan: a skip the plan decided (a protected account) is
    settled, but a planned change skipped at apply time (stale, `--skip-stale`) was not carried out."""
    outcome = record.get("outcome")
    if outcome == Outcome.SKIPPED_STALE.value:
        return "skipped (stale)"
    if outcome == Outcome.SKIPPED.value:  # records of runs before skipped_stale existed said "stale" in the error
        if planned_status is not None:
            return None if planned_status == "skip" else "skipped (stale)"
        return "skipped (stale)" if str(record.get("error", "")).startswith("stale") else None
    verification = record.get("verification")
    if outcome == Outcome.DONE.value:
        if verification in _READ_BACK:
            return None
        return "unverifiable" if verification == Verification.UNVERIFIABLE.value else "failed"
    if outcome in _SETTLED:
        return None
    if outcome == Outcome.FAILED.value:
        return "failed"
    if outcome == Outcome.NOT_ATTEMPTED.value:
        return "not attempted"
    if outcome == Outcome.NOT_SUPPORTED.value:
        return "not supported"
    if outcome == Outcome.PLANNED.value:
        return "not applied"
    return "needs attention"


@dataclass
class ItemVerdict:
    number: int
    status: str                      # the Status the page should show
    text: str                        # one line: "12 verified", "2 failed, 10 verified", "dry run: 12 planned"
    actions: int = 0
    problems: Counter = field(default_factory=Counter)

    @property
    def failures(self) -> int:
        return sum(self.problems.values())


def verdict(mode: str, number: int, actions: list[dict[str, Any]], notices: list[dict[str, Any]],
            planned: dict[str, str] | None = None) -> ItemVerdict:
    """The item's status after a run of `mode` given its (latest) action records, its notices and the status of
    each action in the run's plan (by action id)."""
    statuses = planned or {}

    def problem(a: dict[str, Any]) -> str | None:
        return problem_of(a, statuses.get(a.get("action_id", "")))

    blocking = [n for n in notices if n.get("severity", "error") == "error"]
    if not actions and not blocking:  # only warnings (Slack accounts stay active): nothing here did the item
        return ItemVerdict(number, NOT_COVERED, NOT_COVERED_TEXT)
    if mode == "plan":
        count = sum(1 for a in actions if a.get("outcome") == Outcome.PLANNED.value)
        text = f"{count} action{'s' if count != 1 else ''} planned"
        if blocking:
            text += f", {len(blocking)} notice{'s' if len(blocking) != 1 else ''} to resolve"
        return ItemVerdict(number, "In Progress", text, len(actions))
    if mode == "restore":
        undone = sum(1 for a in actions if a.get("outcome") == Outcome.DONE.value)
        failed = sum(1 for a in actions if problem(a) is not None)
        text = f"{undone} restored" + (f", {failed} not restored" if failed else "")
        return ItemVerdict(number, "In Progress", text, len(actions))
    problems: Counter = Counter(p for p in (problem(a) for a in actions) if p)
    if blocking:
        problems["needs attention"] += len(blocking)
    settled = Counter(_settled_word(a) for a in actions if problem(a) is None)
    parts = [f"{n} {word}" for word, n in problems.most_common()] + [f"{n} {word}" for word, n in
                                                                   sorted(settled.items())]
    status = "Blocked" if problems else "Done"
    return ItemVerdict(number, status, ", ".join(parts) or "nothing to do", len(actions), problems)


def _settled_word(record: dict[str, Any]) -> str:
    outcome = record.get("outcome")
    if outcome == Outcome.DONE.value:
        return "verified gone" if record.get("verification") == Verification.ABSENT.value else "verified"
    return {Outcome.ALREADY_DONE.value: "already done", Outcome.IMMUTABLE.value: "immutable",
            Outcome.SKIPPED.value: "skipped", Outcome.ROUTED.value: "routed"}.get(outcome or "", outcome or "")
