"""A run's evidence as an OSCAL 1.1 assessment-results document (`revoke evidence export DIR --format oscal`).

One result per run: an observation per action (what was checked, how it ended, the evidence record it rests on,
when it was collected) and two findings, NIST SP 800-53 AC-2 (account management: the leavers' accounts disabled
and their access removed, checklist item 3) and PS-4 (personnel termination: all of their access, lists and
channels included, removed, within the runbook's SLA when it has one), each satisfied only when every action it
covers was done and proven by a read-back. Identifiers are UUIDv5 of the run and action ids, so exporting the same
run twice gives the same document. The document points at the run folder's files; it is not itself sealed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from revoke import timeliness
from revoke.evidence import LOG

OSCAL_VERSION = "1.1.3"
NAMESPACE = uuid.UUID("6f1c4c0e-5d1a-4a53-9f0e-2f6a3c1b7d21")  # revoke's own: ids derive from run and action ids
PROVEN = ("verified", "absent")
DONE = ("done", "already_done")


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def _time(value: str | None) -> str:
    """RFC 3339 with a zone, as OSCAL's date-time asks (the evidence writes UTC with a Z)."""
    return value or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _prop(name: str, value: Any) -> dict[str, str]:
    return {"name": name, "ns": "https://github.com/revoke/revoke/ns/oscal", "value": str(value)}


def export(run_dir: Path) -> dict[str, Any]:
    """The assessment-results document of the run in `run_dir`."""
    records = _records(run_dir)
    run = next((r for r in records if r.get("type") == "run"), None)
    if run is None:
        raise ValueError(f"{run_dir}: no run record; not a revoke run folder")
    end = next((r for r in reversed(records) if r.get("type") == "end"), None)
    latest: dict[str, dict[str, Any]] = {}
    for r in records:
        if r.get("type") == "action":
            latest[r["action_id"]] = r
    run_id = str(run["run_id"])
    acting = [a for a in latest.values() if a.get("person") and a.get("planned") in ("change", "noop")]
    observations = [_observation(run_id, a) for a in acting]
    late = _late(run, latest.values())
    result = {
        "uuid": _uuid(run_id, "result"),
        "title": f"revoke {run.get('mode', 'apply')} {run_id}",
        "description": f"Access revocation for engagement {run.get('engagement')}: each leaver's accounts, "
                       "memberships, credentials, lists and channels, changed and read back by revoke.",
        "start": _time(run.get("time")),
        **({"end": _time(end.get("time"))} if end else {}),
        "reviewed-controls": {"control-selections": [{"include-controls": [{"control-id": "ac-2"},
                                                                           {"control-id": "ps-4"}]}]},
        "findings": [
            _finding(run_id, "ac-2", "AC-2 Account Management: accounts of leavers disabled and their access "
                     "removed", [a for a in acting if int(a.get("item") or 0) == 3], observations, acting),
            _finding(run_id, "ps-4", "PS-4 Personnel Termination: all system access of leavers revoked"
                     + (" within the SLA" if late is not None else ""), acting, observations, acting, late),
        ],
    }
    if observations:
        result["observations"] = observations
    return {"assessment-results": {
        "uuid": _uuid(run_id),
        "metadata": {"title": f"revoke evidence of {run.get('engagement')}, run {run_id}",
                     "last-modified": _time(end.get("time") if end else run.get("time")),
                     "version": str(run.get("tool") or "revoke"), "oscal-version": OSCAL_VERSION,
                     "props": [_prop("run-id", run_id), _prop("plan-digest", run.get("plan_digest")),
                               _prop("chain-head", records[-1].get("hash"))]},
        "import-ap": {"href": "plan.json",
                      "remarks": "The assessment plan is revoke's plan of the run (plan.json in the run folder)."},
        "results": [result],
    }}


def _observation(run_id: str, a: dict[str, Any]) -> dict[str, Any]:
    proven = a.get("verification") in PROVEN
    return {
        "uuid": _uuid(run_id, a["action_id"]),
        "title": str(a.get("summary") or a.get("kind")),
        "description": f"{a.get('summary') or a.get('kind')} ({a.get('person')}, {a.get('system')}): "
                       f"{a.get('outcome')}, read back as {a.get('verification')}"
                       + (f"; {a['error']}" if a.get("error") else ""),
        "props": [_prop("system", a.get("system")), _prop("action-kind", a.get("kind")),
                  _prop("outcome", a.get("outcome")), _prop("verification", a.get("verification"))],
        "methods": ["TEST"] if proven else ["EXAMINE"],
        "relevant-evidence": [{"href": f"evidence.jsonl#seq={a.get('seq')}",
                               "description": f"evidence record {a.get('seq')}, SHA-256 {a.get('hash')}"}],
        "collected": _time(a.get("time")),
    }


def _finding(run_id: str, control: str, title: str, covered: list[dict[str, Any]],
             observations: list[dict[str, Any]], acting: list[dict[str, Any]],
             late: list[str] | None = None) -> dict[str, Any]:
    open_ = [a for a in covered if a.get("outcome") not in DONE or a.get("verification") not in PROVEN]
    ok = bool(covered) and not open_ and not late
    why = ("every action done and proven by a read-back" if ok else
           "no action covers it in this run" if not covered else
           f"{len(open_)} of {len(covered)} action(s) not done and proven" if open_ else
           f"access removed after the SLA for: {', '.join(late or [])}")
    by_id = {a["action_id"]: o["uuid"] for a, o in zip(acting, observations)}
    finding: dict[str, Any] = {
        "uuid": _uuid(run_id, control),
        "title": title,
        "description": why,
        "target": {"type": "objective-id", "target-id": f"{control}_obj",
                   "status": {"state": "satisfied" if ok else "not-satisfied", "reason": "pass" if ok else "fail"}},
    }
    related = [{"observation-uuid": by_id[a["action_id"]]} for a in covered if a["action_id"] in by_id]
    if related:
        finding["related-observations"] = related
    return finding


def _late(run: dict[str, Any], actions: Any) -> list[str] | None:
    """People whose access was not proven removed within the SLA (revoke/timeliness.py), None without an SLA."""
    timing = (run.get("plan_facts") or {}).get("timing") or {}
    if not timing.get("sla"):
        return None
    rows = timeliness.table(actions, timing, [])
    return sorted({f"{r['person']} ({r['system']})" for r in rows if r.get("within_sla") is False})


def _records(run_dir: Path) -> list[dict[str, Any]]:
    """The log's records but intents (half of a run's lines, and nothing an assessment reads)."""
    import json

    with (run_dir / LOG).open("rb") as f:
        return [json.loads(line) for line in f if line.strip() and b'"type": "intent"' not in line]
