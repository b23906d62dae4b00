"""When each action of a scheduled run fires: one wave per stage and leave time.

Without `--at` each person's actions fire at their own leave time (`leaves_at`, else the runbook's `final_day` at
its `cutoff` in its `timezone`), and a later stage (`after: 30d`) counts from that person's own time: nobody loses
access before their time or keeps it past theirs. Actions of no one person (lists to close) fire once everyone has
left: at the final day's cutoff, or at the last person's leave time if that is later, so a list closes on nobody
who still works. `--at` sets one time for everyone.

The client computes the waves when it schedules; the check activity computes them again from the trusted plan and
runbook and refuses a wave that does not match (never trust what can be re-derived).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from revoke.plan import Action, Plan
from revoke.runbook import Runbook
from revoke.scheduler.spec import WaveSpec, seconds, utc_iso
from revoke.timeliness import leaves_at


def stage_actions(plan: Plan, rb: Runbook, stage: int) -> list[Action]:
    """Stage 0 carries out every kind no later stage claims; stage n the kinds of the runbook's stages[n-1]. From
    the trusted runbook, not from what the workflow was given."""
    if stage == 0:
        later = {k for s in rb.stages for k in s.kinds}
        return [a for a in plan.actions if a.kind not in later]
    kinds = set(rb.stages[stage - 1].kinds)
    return [a for a in plan.actions if a.kind in kinds]


def leave_times(plan: Plan, rb: Runbook, at: dt.datetime | None = None) -> tuple[dict[str, dt.datetime], dt.datetime]:
    """Each person of the plan's leave time, and the time the actions of no one person fire."""
    default = dt.datetime.combine(rb.final_day, rb.cutoff, tzinfo=ZoneInfo(rb.timezone))
    by_name = {p.name: p for p in rb.people}
    names = {a.person for a in plan.actions if a.person}
    times = {n: at or (leaves_at(rb, by_name[n]) if n in by_name else default) for n in names}
    return times, at or max([default, *times.values()])


def waves_for(plan: Plan, rb: Runbook, at: dt.datetime | None = None) -> list[WaveSpec]:
    """The run's waves in firing order (time, then stage). A stage without actions keeps one empty wave, so it
    still seals its (empty) run folder when its time comes."""
    times, lists_at = leave_times(plan, rb, at)
    first = min([*times.values(), lists_at])
    found: list[tuple[dt.datetime, int, list[str], bool]] = []
    for stage in range(len(rb.stages) + 1):
        after = dt.timedelta(seconds=seconds(rb.stages[stage - 1].after)) if stage else dt.timedelta(0)
        groups: dict[dt.datetime, tuple[set[str], bool]] = {}
        for a in stage_actions(plan, rb, stage):
            when = (times[a.person] if a.person else lists_at) + after
            people, lists = groups.get(when, (set(), False))
            if a.person:
                people.add(a.person)
            groups[when] = (people, lists or not a.person)
        if not groups:
            groups[first + after] = (set(), False)
        found += [(when, stage, sorted(people), lists) for when, (people, lists) in groups.items()]
    found.sort(key=lambda w: (w[0], w[1]))
    last = {stage: i for i, (_, stage, _, _) in enumerate(found)}
    return [WaveSpec(i, stage, utc_iso(when), people, lists, last[stage] == i)
            for i, (when, stage, people, lists) in enumerate(found)]


def wave_actions(plan: Plan, rb: Runbook, wave: WaveSpec) -> list[Action]:
    people = set(wave.people)
    return [a for a in stage_actions(plan, rb, wave.stage) if (a.person in people if a.person else wave.lists)]


def trusted_wave(plan: Plan, rb: Runbook, at: str, wave: WaveSpec) -> WaveSpec | None:
    """The wave as the trusted plan and runbook define it, or None when the workflow's differs."""
    derived = waves_for(plan, rb, dt.datetime.fromisoformat(at) if at else None)
    mine = derived[wave.index] if wave.index < len(derived) else None
    return mine if mine is not None and vars(mine) == vars(wave) else None


def describe(waves: list[WaveSpec]) -> list[dict[str, Any]]:
    """The waves as `revoke schedule` and `revoke runs show` list them."""
    return [{"wave": w.index + 1, "stage": w.stage + 1, "fires_at": w.fire_at, "people": w.people,
             "lists": w.lists} for w in waves]
