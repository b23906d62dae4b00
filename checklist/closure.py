"""The closure record of one run, read from its evidence: per checklist item, who did what, when, before and after,
the provider's request ids and how the result was verified.

This is the one model that the Markdown, HTML and JSON reports and the checklist page all render; each reads the
same values, so the page cannot say Done where the report says Blocked.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from revoke.checklist.items import DEFAULT_TITLES, ItemVerdict, problem_of, verdict
from revoke.checklist.page import ChecklistError, ChecklistPage

from revoke.errors import RevokeError
from revoke.evidence import LOG, read_records
from revoke.exposure import expected
from revoke.plan import load_plan

CLOSURE_FORMAT = "revoke-closure/1"
ACTION_FIELDS = ("action_id", "system", "connector", "kind", "summary", "person", "resource", "principal", "label",
                 "before", "observed", "after", "request_ids", "receipt", "operator", "outcome", "verification",
                 "error", "note", "attempts", "time", "seq")


def read_run(run_dir: Path) -> list[dict[str, Any]]:
    if not (run_dir / LOG).is_file():
        raise ChecklistError(f"{run_dir}: no {LOG}; this is not a revoke run folder")
    return read_records(run_dir)


def _plan_facts(run_dir: Path) -> dict[str, Any]:
    """What the saved plan adds to the evidence: the runbook's people, final day and item titles."""
    path = run_dir / "plan.json"
    if not path.is_file():
        return {}
    try:
        plan = load_plan(path)
    except RevokeError:  # a damaged plan.json is reported by `revoke evidence verify`, not here
        return {}
    rb = plan.runbook
    titles: dict[int, str] = {}
    if rb.checklist is not None:
        # The page's own titles when it is where the runbook says; the seed's titles otherwise.
        page = Path(plan.runbook_path).parent / rb.checklist.page
        try:
            titles = {it.number: it.title for it in ChecklistPage.read(page).items}
        except (ChecklistError, OSError):
            pass
    expected_exposure = {sp.name: expected(sp.exposure) for sp in plan.systems if sp.exposure}
    return {"statuses": {a.id: a.status for a in plan.actions}, "expected_exposure": expected_exposure,
            "final_day": rb.final_day.isoformat(), "people": [p.name for p in rb.people],
            "lists": [f"{entry.system}:{entry.id}" for entry in rb.lists], "titles": titles,
            "runbook_path": plan.runbook_path, "plan_created_at": plan.created_at.isoformat()}


def item_title(number: int, titles: dict[int, str]) -> str:
    return titles.get(number) or DEFAULT_TITLES.get(number) or f"Item {number}"


def build_closure(run_dir: Path) -> dict[str, Any]:
    """The closure record as plain data (it is also closure-report.json)."""
    # Seal records are left out: they are written after the reports, and leaving them out makes the reports a
    # pure function of the evidence they describe, so re-rendering a sealed run reproduces the sealed bytes.
    records = [r for r in read_run(run_dir) if r.get("type") != "seal"]
    runs = [r for r in records if r.get("type") == "run"]
    if not runs:
        raise ChecklistError(f"{run_dir / LOG}: no run record; the run did not start properly")
    first = runs[0]
    mode = first.get("mode", "apply")
    facts = _plan_facts(run_dir)
    titles: dict[int, str] = facts.get("titles", {})
    statuses: dict[str, str] = facts.get("statuses", {})

    # A resumed run appends records for the same action again: the latest record is the action's state, and the
    # attempts before it stay in the evidence log.
    latest: dict[str, dict[str, Any]] = {}
    history: Counter = Counter()
    for rec in records:
        if rec.get("type") == "action":
            latest[rec["action_id"]] = rec
            history[rec["action_id"]] += 1
    notices = [r for r in records if r.get("type") == "notice"]
    # Residual exposure per person and system; a resumed run may state it again, the latest statement counts.
    exposure: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:
        if rec.get("type") == "exposure":
            exposure[(rec.get("person", ""), rec.get("system", ""))] = {
                "person": rec.get("person"), "system": rec.get("system"), "items": rec.get("items") or []}
    ends = [r for r in records if r.get("type") == "end"]

    numbers = sorted({int(a.get("item", 0)) for a in latest.values()} | {int(n.get("item", 0)) for n in notices})
    items = []
    for number in numbers:
        actions = [a for a in latest.values() if int(a.get("item", 0)) == number]
        actions.sort(key=lambda a: (a.get("system", ""), a.get("person") or "", a.get("seq", 0)))
        its_notices = [n for n in notices if int(n.get("item", 0)) == number]
        v: ItemVerdict = verdict(mode, number, actions, its_notices, statuses)
        entries = [{**{k: a.get(k) for k in ACTION_FIELDS}, "records": history[a["action_id"]],
                    "problem": None if mode == "plan" else problem_of(a, statuses.get(a["action_id"]))}
                   for a in actions]
        shown_notices = [{k: n.get(k) for k in ("system", "person", "resource", "message", "severity", "time")}
                         for n in its_notices]
        # What a person must still do for this item: problem actions first, then notices that block it.
        needs_person = [{"system": e["system"], "person": e["person"], "what": e["summary"] or e["kind"],
                         "resource": e["resource"], "problem": e["problem"], "detail": e["error"] or e["note"] or ""}
                        for e in entries if e["problem"]]
        needs_person += [{"system": n["system"], "person": n["person"], "what": n["message"],
                          "resource": n["resource"], "problem": "needs attention", "detail": ""}
                         for n in shown_notices if (n["severity"] or "error") == "error"]
        items.append({
            "number": number, "title": item_title(number, titles), "status": v.status, "result": v.text,
            "problems": dict(v.problems),
            "needs_person": needs_person, "actions": entries, "notices": shown_notices,
        })
    people = facts.get("people") or sorted({a["person"] for a in latest.values() if a.get("person")})
    order = {name: i for i, name in enumerate(people)}
    residual = sorted(exposure.values(), key=lambda e: (order.get(e["person"], len(order)), e["person"] or "",
                                                        e["system"] or ""))
    return {
        "format": CLOSURE_FORMAT,
        "run": {
            "run_id": first.get("run_id"), "engagement": first.get("engagement"), "mode": mode,
            "started": first.get("time"), "ended": ends[-1]["time"] if ends else None,
            "finished": bool(ends),
            "resumed": len(runs) - 1 + sum(1 for r in records if r.get("type") == "resume"),
            "plan_id": first.get("plan_id"),
            "plan_digest": first.get("plan_digest"), "runbook_sha256": first.get("runbook_sha256"),
            "runbook_path": facts.get("runbook_path"), "final_day": facts.get("final_day"),
            "tool": first.get("tool"),
        },
        "people": people,
        "lists": facts.get("lists", []),
        "systems": {name: {"connector": s.get("connector", ""), "operator": s.get("operator") or {},
                           "warnings": s.get("warnings") or [], "error": s.get("error")}
                    for name, s in (first.get("systems") or {}).items()},
        "counts": ends[-1].get("counts", {}) if ends else {},
        "items": items,
        "exposure": residual,
        "expected_exposure": facts.get("expected_exposure", {}) if mode == "plan" else {},
        "evidence": {"log": LOG, "records": len(records), "chain_head": records[-1]["hash"] if records else None},
    }


def closure_json(closure: dict[str, Any]) -> str:
    return json.dumps(closure, indent=1, sort_keys=True, ensure_ascii=False, default=str) + "\n"
