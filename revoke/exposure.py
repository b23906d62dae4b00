"""Residual exposure: what a leaver could still use after the run, per system, and until when at most.

A disabled account is not the end of access: Kerberos tickets, access tokens and application sessions issued
before the change stay valid until they expire. Each connector states these as rules (what stays valid, after
which kind of action, for how long at most, and on what basis); the plan records them, and a run turns them into
times from the recorded time of each action. "none" is said only where no rule applies and nothing failed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from revoke.actions import Outcome


@dataclass(frozen=True)
class ExposureRule:
    what: str                      # "Kerberos tickets issued before the disable"
    after_kind: str | None         # measured from this kind of action; None: from the person's last action here
    minutes: int | None            # at most this long; None: no bound is known (said so)
    basis: str                     # "the domain's default ticket lifetime (10 h)", "documented by Microsoft"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


REVOKED = {Outcome.DONE.value, Outcome.ALREADY_DONE.value}


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _hhmm(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def residual(rules: dict[str, list[dict[str, Any]]], records: Iterable[dict[str, Any]],
             people: dict[str, list[str]], at: dt.datetime) -> list[dict[str, Any]]:
    """Per person and system, what could still be valid after these action records, with an upper time bound.
    `people` names who is in each system per the runbook: someone with nothing to revoke there still gets the
    system's standing rules (those not tied to an action kind), measured from `at`, the end of the run."""
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        if r.get("type") == "action" and r.get("person"):
            by.setdefault((r["person"], r["system"]), []).append(r)
    order = list(dict.fromkeys(p for names in people.values() for p in names))
    order += [p for p, _ in by if p not in order]
    out = []
    for person in order:
        for system in rules:
            recs = by.get((person, system))
            if recs:
                out.append({"person": person, "system": system, "items": _items(rules[system], recs)})
            elif person in people.get(system, []):
                standing = [r for r in rules[system] if r["after_kind"] is None]
                stamp = {"time": at.isoformat(), "outcome": Outcome.ALREADY_DONE.value, "kind": ""}
                out.append({"person": person, "system": system, "items": _items(standing, [stamp])})
    return out


def _items(rules: list[dict[str, Any]], recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items = []
    for r in recs:
        if "summary" in r and r["outcome"] in (Outcome.FAILED.value, Outcome.ATTENTION.value,
                                               Outcome.NOT_SUPPORTED.value, Outcome.SKIPPED.value,
                                               Outcome.SKIPPED_STALE.value, Outcome.PLANNED.value,
                                               Outcome.NOT_ATTEMPTED.value):
            why = r.get("error") or r.get("note") or r["outcome"]
            items.append({"what": f"still in place: {r['summary']} ({r['outcome']}: {why})", "until": None,
                          "bound": "until a person acts", "basis": "the action was not carried out"})
    for rule in rules:
        times = [_time(r["time"]) for r in recs if r["outcome"] in REVOKED
                 and (rule["after_kind"] is None or r["kind"] == rule["after_kind"]) and r.get("time")]
        if not times:
            continue
        start = max(times)
        if rule["minutes"] is None:
            items.append({"what": f"{rule['what']} (issued before {_hhmm(start)})", "until": None,
                          "bound": "no upper bound known", "basis": rule["basis"]})
        else:
            end = start + dt.timedelta(minutes=rule["minutes"])
            items.append({"what": f"{rule['what']} (issued before {_hhmm(start)})", "until": end.isoformat(),
                          "bound": f"until about {_hhmm(end)}", "basis": rule["basis"]})
    return items or [{"what": "none", "until": None, "bound": "nothing remains valid",
                      "basis": "every action was verified and no credential outlives it"}]


def expected(rules: list[dict[str, Any]]) -> list[str]:
    """The residual exposure a plan can announce before the run: relative to the time of apply."""
    lines = []
    for rule in rules:
        if rule["minutes"] is None:
            lines.append(f"{rule['what']}: no upper bound known ({rule['basis']})")
        else:
            hours, minutes = divmod(rule["minutes"], 60)
            span = f"{hours} h" + (f" {minutes} min" if minutes else "") if hours else f"{minutes} min"
            lines.append(f"{rule['what']}: up to {span} after apply ({rule['basis']})")
    return lines
