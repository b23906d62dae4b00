"""The closure record of one run, read from its evidence: per checklist item, who did what, when, before and after,
the provider's request ids and how the result was verified.

This is the one model that the Markdown, HTML and JSON reports and the checklist page all render; each reads the
same values, so the page cannot say Done where the report says Blocked.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from pydantic import BaseModel, ConfigDict, ValidationError

from revoke import timeliness
from revoke.checklist.items import DEFAULT_TITLES, ItemVerdict, problem_of, verdict
from revoke.checklist.page import ChecklistError, ChecklistPage
from revoke.evidence import LOG
from revoke.exposure import expected
from revoke.plan import SystemPlan, plan_facts
from revoke.runbook import Runbook

CLOSURE_FORMAT = "revoke-closure/1"
ACTION_FIELDS = ("action_id", "system", "connector", "kind", "summary", "person", "resource", "principal", "label",
                 "before", "observed", "after", "request_ids", "receipt", "operator", "outcome", "verification",
                 "error", "note", "attempts", "time", "seq")


class _PlanBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    created_at: dt.datetime
    runbook_path: str
    runbook: Runbook
    systems: list[SystemPlan]


class _PlanFacts(BaseModel):
    """The parts of plan.json a report needs, parsed straight from the file and without its actions (each action
    record says what the plan decided for it; the digest is `revoke evidence verify`'s business)."""

    model_config = ConfigDict(extra="ignore")

    plan: _PlanBody


class _PlanAction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    status: str


class _PlanActions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    actions: list[_PlanAction]


class _PlanStatuses(BaseModel):
    """Each action's planned status, for logs written before action records carried it."""

    model_config = ConfigDict(extra="ignore")

    plan: _PlanActions


def _plan_facts(run_dir: Path, run: dict[str, Any]) -> dict[str, Any]:
    """What the plan adds to the evidence: the runbook's people, lists, final day and item titles. The run record
    carries them (`Plan.facts`); runs recorded before it did have them read from plan.json."""
    facts = run.get("plan_facts")
    if not isinstance(facts, dict):
        facts = _facts_from_plan_file(run_dir)
        if not facts:
            return {}
    titles: dict[int, str] = {}
    if facts.get("checklist_page"):
        # The page's own titles when it is where the runbook says; the seed's titles otherwise.
        page = Path(facts["runbook_path"]).parent / facts["checklist_page"]
        try:
            titles = {it.number: it.title for it in ChecklistPage.read(page).items}
        except (ChecklistError, OSError):
            pass
    return {"expected_exposure": {name: expected(rules) for name, rules in (facts.get("exposure") or {}).items()},
            "final_day": facts.get("final_day"), "people": facts.get("people") or [],
            "lists": facts.get("lists") or [], "titles": titles, "runbook_path": facts.get("runbook_path"),
            "plan_created_at": facts.get("created_at"), "timing": facts.get("timing") or {}}


def _facts_from_plan_file(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "plan.json"
    if not path.is_file():
        return {}
    try:
        plan = _PlanFacts.model_validate_json(path.read_bytes()).plan
    except ValidationError:  # a damaged plan.json is reported by `revoke evidence verify`, not here
        return {}
    return plan_facts(plan.runbook_path, plan.created_at, plan.runbook, plan.systems)


def _planned_statuses(run_dir: Path) -> dict[str, str]:
    try:
        saved = _PlanStatuses.model_validate_json((run_dir / "plan.json").read_bytes())
        return {a.id: a.status for a in saved.plan.actions}
    except (OSError, ValidationError):
        return {}


class LogRows:
    """Rows of a report that live in the evidence log: a sized, re-iterable sequence that reads each record from
    its offset in the log when iterated, so a report of 40,000 actions holds their offsets, not their records.
    `tail` rows (notices) follow the log's."""

    def __init__(self, log: Path, offsets: list[int], make: Callable[[dict[str, Any]], dict[str, Any]],
                 tail: Sequence[dict[str, Any]] = (), keys: Sequence[tuple[str, int, int]] = ()):
        self._log, self._offsets, self._make, self._tail = log, offsets, make, list(tail)
        # (action id, seq, records of that action) of each log row: what a row rendered during the run is
        # checked against before it is used (`revoke.checklist.reports.ReportWriter`)
        self.keys = list(keys)

    def row_at(self, f: Any, index: int) -> dict[str, Any]:
        """The row of the `index`th log record, read from `f` (the log, opened in binary)."""
        f.seek(self._offsets[index])
        return self._make(json.loads(f.readline()))

    @property
    def log(self) -> Path:
        return self._log

    def __len__(self) -> int:
        return len(self._offsets) + len(self._tail)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._offsets:
            with self._log.open("rb") as f:
                for offset in self._offsets:
                    f.seek(offset)
                    yield self._make(json.loads(f.readline()))
        yield from self._tail

    def __repr__(self) -> str:
        return f"LogRows({len(self)} rows from {self._log.name})"


@dataclass
class _Scan:
    others: list[dict[str, Any]] = field(default_factory=list)   # every record but actions, intents and seals
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)  # per action: its latest record, slimmed
    history: Counter = field(default_factory=Counter)              # records per action
    records: int = 0                                                # records before the seal
    head: str | None = None                                         # the hash of the last of them
    # each list or channel an action closed (item 4, no person): (system, id) -> its name
    closed: dict[tuple[str, str], str] = field(default_factory=dict)


def _scan(run_dir: Path) -> _Scan:
    """One pass over the log: every record but actions and intents (few), and for each action its latest record's
    offset and the fields a verdict needs. Seal records are left out (see build_closure)."""
    path = run_dir / LOG
    if not path.is_file():
        raise ChecklistError(f"{run_dir}: no {LOG}; this is not a revoke run folder")
    scan = _Scan()
    latest, history = scan.latest, scan.history
    with path.open("rb") as f:
        offset = 0
        for line in f:
            here, offset = offset, offset + len(line)
            if not line.strip():
                continue
            rec = json.loads(line)
            kind = rec.get("type")
            if kind == "seal":
                continue
            scan.records += 1
            scan.head = rec.get("hash")
            if kind == "intent":
                continue
            if kind != "action":
                # exposure records come one per person: keep what the report shows of them
                scan.others.append({k: rec.get(k) for k in ("type", "person", "system", "items")}
                                   if kind == "exposure" else rec)
                continue
            aid = rec["action_id"]
            if int(rec.get("item", 0) or 0) == 4 and not rec.get("person") and rec.get("resource"):
                scan.closed.setdefault((rec.get("system") or "", rec["resource"]), rec.get("label") or "")
            history[aid] += 1
            latest.pop(aid, None)  # the latest record counts, in the order the latest records were written
            latest[aid] = {"action_id": aid, "offset": here, "item": int(rec.get("item", 0)),
                           "system": sys.intern(rec.get("system") or ""), "person": rec.get("person") or "",
                           "seq": rec.get("seq", 0), "outcome": sys.intern(rec.get("outcome") or ""),
                           "verification": sys.intern(rec.get("verification") or ""), "error": rec.get("error") or "",
                           "planned": sys.intern(rec.get("planned") or ""), "time": rec.get("time")}
    return scan


def item_title(number: int, titles: dict[int, str]) -> str:
    return titles.get(number) or DEFAULT_TITLES.get(number) or f"Item {number}"


def build_closure(run_dir: Path) -> dict[str, Any]:
    """The closure record as plain data (it is also closure-report.json). The per-action rows of each item are
    `LogRows`: read from the evidence log as they are rendered."""
    # Seal records are left out: they are written after the reports, and leaving them out makes the reports a
    # pure function of the evidence they describe, so re-rendering a sealed run reproduces the sealed bytes.
    run_dir = Path(run_dir)
    scan = _scan(run_dir)
    others, latest = scan.others, scan.latest
    runs = [r for r in others if r.get("type") == "run"]
    if not runs:
        raise ChecklistError(f"{run_dir / LOG}: no run record; the run did not start properly")
    first = runs[0]
    mode = first.get("mode", "apply")
    facts = _plan_facts(run_dir, first)
    statuses = {aid: a["planned"] for aid, a in latest.items() if a["planned"]}
    if len(statuses) < len(latest):
        statuses = _planned_statuses(run_dir)
    ends = [r for r in others if r.get("type") == "end"]
    people = facts.get("people") or sorted({a["person"] for a in latest.values() if a["person"]})
    timing = facts.get("timing") or {}
    protected = _protected(latest.values())
    return {
        "format": CLOSURE_FORMAT,
        "run": _run_header(first, facts, ends, runs, others),
        "people": [p for p in people if p not in protected],
        # runbook people whose every action a guardrail skipped (protected, or revoke's own account): apart
        "protected": [{"person": p, "why": protected[p]} for p in people if p in protected],
        "lists": _lists(facts.get("lists", []), scan.closed),
        "systems": {name: {"connector": s.get("connector", ""), "operator": s.get("operator") or {},
                           "warnings": s.get("warnings") or [], "error": s.get("error")}
                    for name, s in (first.get("systems") or {}).items()},
        "counts": ends[-1].get("counts", {}) if ends else {},
        "items": _items(run_dir / LOG, scan, mode, statuses, facts.get("titles", {})),
        "exposure": _residual(others, people),
        "expected_exposure": facts.get("expected_exposure", {}) if mode == "plan" else {},
        "timeliness": {"sla": timing.get("sla"), "leaves_at": timing.get("leaves_at") or {},
                       "rows": [] if mode != "apply" else timeliness.table(
                           ({**a, "planned": statuses.get(a["action_id"], a["planned"])} for a in latest.values()),
                           timing, first.get("systems") or {})},
        "evidence": {"log": LOG, "records": scan.records, "chain_head": scan.head},
    }


def _lists(runbook_lists: list[str], closed: dict[tuple[str, str], str]) -> list[str]:
    """Every list and channel of the run, named with its id: the runbook's (`system:id`), each with the name its
    closing action gave, then those the run closed that the runbook does not name (a channel prefix's)."""
    out, used = [], set()
    for entry in runbook_lists:
        system, _, ident = entry.partition(":")
        match = next(((key, label) for key, label in closed.items() if key[0] == system and ident in
                      (key[1], label, label.lstrip("#"), "#" + label.lstrip("#"))), None)
        if match is None:
            out.append(entry)
            continue
        used.add(match[0])
        (_, rid), label = match
        out.append(f"{system}: {label} ({rid})" if label and label != rid else f"{system}: {rid}")
    for (system, rid), label in closed.items():
        if (system, rid) not in used:
            out.append(f"{system}: {label} ({rid})" if label and label != rid else f"{system}: {rid}")
    return out


def _protected(actions: Any) -> dict[str, str]:
    """People whose every action was skipped by a guardrail, with the first reason given."""
    by_person: dict[str, list[dict[str, Any]]] = {}
    for a in actions:
        if a["person"]:
            by_person.setdefault(a["person"], []).append(a)
    return {p: next((a["error"] for a in acts if a["error"]), "protected")
            for p, acts in by_person.items() if all(a["outcome"] == "skipped" for a in acts)}


def _run_header(first: dict[str, Any], facts: dict[str, Any], ends: list[dict[str, Any]],
                runs: list[dict[str, Any]], others: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "run_id": first.get("run_id"), "engagement": first.get("engagement"), "mode": first.get("mode", "apply"),
        "started": first.get("time"), "ended": ends[-1]["time"] if ends else None,
        "finished": bool(ends),
        "resumed": len(runs) - 1 + sum(1 for r in others if r.get("type") == "resume"),
        "plan_id": first.get("plan_id"),
        "plan_digest": first.get("plan_digest"), "runbook_sha256": first.get("runbook_sha256"),
        "runbook_path": facts.get("runbook_path"), "final_day": facts.get("final_day"),
        "tool": first.get("tool"),
    }


def _residual(others: list[dict[str, Any]], people: list[str]) -> list[dict[str, Any]]:
    """Residual exposure per person and system; a resumed run may state it again, the latest statement counts."""
    exposure: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in others:
        if rec.get("type") == "exposure":
            exposure[(rec.get("person", ""), rec.get("system", ""))] = {
                "person": rec.get("person"), "system": rec.get("system"), "items": rec.get("items") or []}
    order = {name: i for i, name in enumerate(people)}
    return sorted(exposure.values(), key=lambda e: (order.get(e["person"], len(order)), e["person"] or "",
                                                    e["system"] or ""))


def _items(log: Path, scan: _Scan, mode: str, statuses: dict[str, str],
           titles: dict[int, str]) -> list[dict[str, Any]]:
    latest, history = scan.latest, scan.history
    notices = [r for r in scan.others if r.get("type") == "notice"]

    def problem(a: dict[str, Any]) -> str | None:
        return None if mode == "plan" else problem_of(a, statuses.get(a["action_id"]))

    def entry(rec: dict[str, Any]) -> dict[str, Any]:
        return {**{k: rec.get(k) for k in ACTION_FIELDS}, "records": history[rec["action_id"]],
                "problem": problem(rec)}

    def needs(rec: dict[str, Any]) -> dict[str, Any]:
        return {"system": rec.get("system"), "person": rec.get("person"), "what": rec.get("summary") or rec.get("kind"),
                "resource": rec.get("resource"), "problem": problem(rec),
                "detail": rec.get("error") or rec.get("note") or ""}

    numbers = sorted({a["item"] for a in latest.values()} | {int(n.get("item", 0)) for n in notices})
    items = []
    for number in numbers:
        actions = [a for a in latest.values() if a["item"] == number]
        actions.sort(key=lambda a: (a["system"], a["person"], a["seq"]))
        its_notices = [n for n in notices if int(n.get("item", 0)) == number]
        v: ItemVerdict = verdict(mode, number, actions, its_notices, statuses)
        shown_notices = [{k: n.get(k) for k in ("system", "person", "resource", "message", "severity", "time")}
                         for n in its_notices]
        # What a person must still do for this item: problem actions first, then notices that block it.
        blocking = [{"system": n["system"], "person": n["person"], "what": n["message"], "resource": n["resource"],
                     "problem": "needs attention", "detail": ""}
                    for n in shown_notices if (n["severity"] or "error") == "error"]
        items.append({
            "number": number, "title": item_title(number, titles), "status": v.status, "result": v.text,
            "problems": dict(v.problems),
            "needs_person": LogRows(log, [a["offset"] for a in actions if problem(a)], needs, blocking),
            "actions": LogRows(log, [a["offset"] for a in actions], entry,
                               keys=[(a["action_id"], a["seq"], history[a["action_id"]]) for a in actions]),
            "notices": shown_notices,
        })
    return items


def write_json(value: Any, out: Callable[[str], Any], indent: str = "",
               lines: Callable[[Any, str], Iterator[str]] | None = None) -> None:
    """`value` as JSON with sorted keys, written piece by piece through `out`: indented one space a level, except
    the rows of a `LogRows` and any list of more than 20 objects, written one compact row per line (a run's
    thousands of actions stay readable and cost one C-encoded line each). `lines(rows, "json")` gives rows
    already rendered."""
    if isinstance(value, LogRows) and value:
        rows = lines(value, "json") if lines else (json.dumps(item, sort_keys=True, ensure_ascii=False, default=str)
                                                   for item in value)
        out("[")
        for i, row in enumerate(rows):
            out(("," if i else "") + "\n" + indent + " " + row)
        out("\n" + indent + "]")
    elif isinstance(value, dict) and value:
        inner = indent + " "
        out("{")
        for i, key in enumerate(sorted(value)):
            out(("," if i else "") + "\n" + inner + json.dumps(str(key), ensure_ascii=False) + ": ")
            write_json(value[key], out, inner, lines)
        out("\n" + indent + "}")
    elif isinstance(value, (list, tuple)) and len(value) > 20 and all(isinstance(v, dict) for v in value):
        out("[")
        for i, item in enumerate(value):
            out(("," if i else "") + "\n" + indent + " " + json.dumps(item, sort_keys=True, ensure_ascii=False,
                                                                      default=str))
        out("\n" + indent + "]")
    elif isinstance(value, (list, tuple)) and value:
        inner = indent + " "
        out("[")
        for i, item in enumerate(value):
            out(("," if i else "") + "\n" + inner)
            write_json(item, out, inner, lines)
        out("\n" + indent + "]")
    else:
        out(json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, (dict, list, tuple, LogRows))
            else ("{}" if isinstance(value, dict) else "[]"))
