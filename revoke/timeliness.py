"""Timeliness: when each person's access was removed, against the time they left and the runbook's SLA.

Auditors sample terminations and compare the HR termination time with the removal time in every system against a
written SLA (commonly 24 hours). A runbook gives each person a `leaves_at` (a date-time with its zone), or takes
the default: `final_day` at the runbook's `cutoff` (17:00 unless said) in its `timezone` (UTC unless said); and
an `sla` such as `24h`. Per person and system, access counts as removed at the latest verified time of that
person's actions there (each record's time, written when its read-back proved the state), and only when every
one of them is done: an action left failed or unverified leaves the access not proven removed.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Iterable
from zoneinfo import ZoneInfo

DONE = ("done", "already_done")
PROVEN = ("verified", "absent")
_DURATION = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*$")


def parse_duration(text: str) -> dt.timedelta:
    """`24h`, `2d`, `90m`, `1d12h`: a duration, or ValueError saying the form."""
    m = _DURATION.match(text or "")
    if not m or not any(m.groups()):
        raise ValueError(f"'{text}' is not a duration: write it as 24h, 2d, 90m or 1d12h")
    days, hours, minutes = (int(g or 0) for g in m.groups())
    return dt.timedelta(days=days, hours=hours, minutes=minutes)


def leaves_at(rb: Any, person: Any) -> dt.datetime:
    """When `person` leaves: their own `leaves_at`, else final_day at the runbook's cutoff in its timezone."""
    if person.leaves_at is not None:
        return person.leaves_at
    return dt.datetime.combine(rb.final_day, rb.cutoff, tzinfo=ZoneInfo(rb.timezone))


def facts(rb: Any) -> dict[str, Any]:
    """What the evidence keeps for the report: each person's leave time and the SLA in seconds (None: none)."""
    return {"leaves_at": {p.name: leaves_at(rb, p).isoformat() for p in rb.people},
            "sla_seconds": int(parse_duration(rb.sla).total_seconds()) if rb.sla else None,
            "sla": rb.sla}


def schedule_warnings(rb: Any, now: dt.datetime) -> list[str]:
    """Why the schedule cannot meet the SLA: apply is allowed from the final day on, so a deadline before the final
    day begins cannot be met, and one already past is missed."""
    if not rb.sla:
        return []
    sla = parse_duration(rb.sla)
    first_apply = dt.datetime.combine(rb.final_day, dt.time(0), tzinfo=ZoneInfo(rb.timezone))
    out = []
    for p in rb.people:
        deadline = leaves_at(rb, p) + sla
        if deadline < now:
            out.append(f"{p.name}: the SLA ({rb.sla} after leaving at {_show(leaves_at(rb, p))}) ended "
                       f"{_show(deadline)}, {span(now - deadline)} ago: it is already missed")
        elif deadline < first_apply:
            out.append(f"{p.name}: the SLA ends {_show(deadline)}, before apply is allowed (final_day "
                       f"{rb.final_day}): give them a later leaves_at, or apply with --before-final-day")
    return out


def table(actions: Iterable[dict[str, Any]], timing: dict[str, Any], systems: Iterable[str]) -> list[dict[str, Any]]:
    """One row per person and system with actions on that person: removed at, within the SLA, by how much."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for a in actions:
        if a.get("person") and a.get("planned") in ("change", "noop") and a.get("outcome") != "planned":
            groups.setdefault((a["person"], a["system"]), []).append(a)
    leaves, sla = timing.get("leaves_at") or {}, timing.get("sla_seconds")
    people = list(leaves) + sorted({p for p, _ in groups} - set(leaves))
    order = {name: i for i, name in enumerate(people)}
    rows = []
    for (person, system), acts in sorted(groups.items(), key=lambda g: (order.get(g[0][0], 0), g[0][1])):
        rows.append(_row(person, system, acts, leaves.get(person), sla))
    return rows


def _row(person: str, system: str, acts: list[dict[str, Any]], left: str | None, sla: int | None) -> dict[str, Any]:
    open_ = [a for a in acts if a.get("outcome") not in DONE or a.get("verification") not in PROVEN]
    removed = None if open_ else max(_parse(a["time"]) for a in acts)
    row: dict[str, Any] = {"person": person, "system": system, "leaves_at": left, "actions": len(acts),
                           "open": len(open_), "removed_at": removed.isoformat() if removed else None,
                           "deadline": None, "within_sla": None, "margin_seconds": None, "margin": ""}
    if left is None or sla is None:
        row["margin"] = "no SLA" if sla is None else "no leave time"
        return row
    deadline = _parse(left) + dt.timedelta(seconds=sla)
    row["deadline"] = deadline.isoformat()
    if removed is None:
        row.update(within_sla=False, margin=f"not proven removed ({len(open_)} of {len(acts)} actions open)")
        return row
    margin = deadline - removed
    row.update(within_sla=margin >= dt.timedelta(0), margin_seconds=int(margin.total_seconds()),
               margin=f"{span(margin)} early" if margin >= dt.timedelta(0) else f"{span(-margin)} late")
    return row


def span(delta: dt.timedelta) -> str:
    """A duration as people say it: `3h 12m`, `2d 1h`, `45s`."""
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes and not days else ""]
    text = " ".join(p for p in parts if p)
    return text or f"{secs}s"


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _show(t: dt.datetime) -> str:
    return t.isoformat(timespec="minutes")
