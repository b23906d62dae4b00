"""Showing plans and runs to a person: the same Plan object that apply executes, drawn as text."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.text import Text

from revoke.connector import load
from revoke.errors import ConnectorNotFound
from revoke.exposure import expected
from revoke.plan import Action, Plan
from revoke.run import RunResult

MARKS = {"change": ("-", "red"), "noop": ("=", "dim"), "skip": ("!", "yellow"), "final": ("!", "yellow")}
OUTCOME_STYLE = {"done": "green", "already_done": "dim", "failed": "bold red", "skipped": "yellow",
                 "skipped_stale": "bold yellow", "not_attempted": "bold yellow",
                 "attention": "yellow", "immutable": "dim", "not_supported": "yellow", "planned": "red"}


def describe(a: Action, done: bool = False, mode: str = "plan") -> str:
    try:
        return load(a.connector).kind(a.kind).describe(a.label or a.resource, done=done, mode=mode)
    except (ConnectorNotFound, KeyError):
        return f"{a.kind} {a.label or a.resource}"


# an outcome decided at plan time, as the plan's `!` line names it
FINAL_WORDS = {"attention": "needs a person", "not_supported": "not supported", "immutable": "immutable",
               "routed": "routed", "skipped": "skipped"}


def action_line(a: Action, mode: str = "plan") -> Text:
    """One line of a plan. A restore plan (mode "restore") says what undoing each action does: `+ unlock
    account`, `+ re-add to ...`, and `! cannot restore ...` for what has no way back."""
    mark, style = MARKS[a.status]
    if mode == "restore" and a.status == "change":
        mark, style = "+", "green"
    text = describe(a, done=a.status == "noop", mode=mode)
    if a.status == "skip":
        text = f"skip {describe(a)}: {a.reason}"
    elif a.status == "final" and mode == "restore":
        text = f"cannot restore: {describe(a)}" + (f": {a.reason.removeprefix('cannot be restored: ')}"
                                                   if a.reason else "")
    elif a.status == "final":
        text = f"{FINAL_WORDS.get(a.outcome or '', a.outcome)}: {describe(a)}" + (f": {a.reason}" if a.reason else "")
    line = Text(f"    {mark} ", style=style)
    line.append(text, style=style if a.status != "change" else None)
    if a.note and a.status not in ("final",):
        line.append(f"  ({a.note})", style="dim")
    return line


def render_plan(plan: Plan, console: Console, mode: str = "plan", restores: str = "") -> None:
    """The plan, per system and person. `mode="restore"`: a restore plan of the run `restores`."""
    rb = plan.runbook
    if mode == "restore":
        console.print(Text(f"revoke restore of run {restores} ({rb.engagement}), restore plan {plan.plan_id}",
                           style="bold"))
    else:
        console.print(Text(f"revoke plan for {rb.engagement} (final day {rb.final_day}), plan {plan.plan_id}",
                           style="bold"))
    by_system: dict[str, list[Action]] = defaultdict(list)
    for a in plan.actions:
        by_system[a.system].append(a)
    for sp in plan.systems:
        console.print()
        who = sp.operator.get("display") or "not connected"
        console.print(Text(f"{sp.name} ({sp.connector}, as {who})", style="bold cyan"))
        for w in sp.warnings:
            console.print(Text(f"  ! warning: {w}", style="yellow"))
        if sp.error:
            console.print(Text(f"  ! discovery failed: {sp.error}", style="bold red"))
        people: dict[str, list[Action]] = defaultdict(list)
        for a in by_system.get(sp.name, []):
            people[a.person or ""].append(a)
        notices = [n for n in plan.notices if n.system == sp.name and not (sp.error and n.message == sp.error)]
        if sp.exposure and people and mode != "restore":
            console.print(Text("  still valid after apply (residual exposure):", style="magenta"))
            for line in expected(sp.exposure):
                console.print(Text(f"    ~ {line}", style="magenta"))
        for person in [p.name for p in rb.people] + [""]:
            acts = people.get(person, [])
            person_notices = [n for n in notices if (n.person or "") == person]
            if not acts and not person_notices:
                continue
            console.print(Text(f"  {person or 'lists and channels'}"))
            for a in acts:
                console.print(action_line(a, mode))
            for n in person_notices:
                console.print(Text(f"    ! {n.message}", style="bold yellow" if n.severity == "error" else "yellow"))
    console.print()
    console.print(Text(restore_summary(plan) if mode == "restore" else plan_summary(plan), style="bold"))
    if mode != "restore" and plan.counts()["final"]:
        console.print(Text(DECIDED, style="dim"))


DECIDED = ("Decided at plan time: what no write can change (immutable, not supported, needing a person, routed "
           "to another system) is recorded as it is by apply, with the reason shown on its `!` line.")


def plan_summary(plan: Plan) -> str:
    c = plan.counts()
    notices = sum(1 for n in plan.notices if n.severity == "error")
    finals: dict[str, int] = {}
    for a in plan.actions:
        if a.status == "final":
            finals[a.outcome or ""] = finals.get(a.outcome or "", 0) + 1
    parts = [f"{c['change']} to change", f"{c['noop']} already done", f"{c['skip']} skipped"]
    if c["final"]:
        parts.append(f"{c['final']} decided at plan time (" + ", ".join(
            f"{n} {FINAL_WORDS.get(o, o)}" for o, n in sorted(finals.items())) + ")")
    if notices:
        parts.append(f"{notices} {'notice needs' if notices == 1 else 'notices need'} a person")
    return "Plan: " + ", ".join(parts) + "."


def restore_summary(plan: Plan) -> str:
    c = plan.counts()
    text = f"Restore: {c['change']} to restore"
    if c["final"]:
        text += f", {c['final']} cannot be restored (`!` lines: a person redoes them)"
    return text + "."


def render_run(result: RunResult, console: Console) -> None:
    for r in result.failed:
        console.print(Text(f"  failed  {r['system']}: {r['summary']}" + (f" ({r['person']})" if r.get("person") else "")
                           + f": {r['error']}", style="bold red"))
    for r in result.skipped_stale:
        console.print(Text(f"  stale  {r['system']}: {r['summary']}" + (f" ({r['person']})" if r.get("person") else "")
                           + ": not done, the target changed since the plan; re-plan to finish it", style="yellow"))
    for r in result.not_attempted:
        console.print(Text(f"  not attempted  {r['system']}: {r['summary']}"
                           + (f" ({r['person']})" if r.get("person") else "") + f": {r['error']}", style="yellow"))
    for r in result.needs_attention:
        what = r.get("summary") or r.get("message")
        console.print(Text(f"  attention  {r['system']}: {what}" + (f": {r['note']}" if r.get("note") else ""),
                           style="yellow"))
    for line in residual_lines(result.other):
        console.print(Text(f"  residual  {line}", style="magenta"))
    console.print(Text(f"{result.mode.capitalize()}: {run_summary(result)}.", style="bold red" if result.exit_code
                       else "bold green"))
    console.print(f"Evidence: {result.run_dir}")


def run_summary(result: RunResult) -> str:
    """The run's counts, one per outcome; the notices that need a person (someone not found) are counted with
    the attention lines, so the number matches the lines above it."""
    counts = result.counts()
    notices = sum(1 for r in result.other if r.get("type") == "notice" and r.get("severity") == "error")
    if notices:
        counts["attention"] = counts.get("attention", 0) + notices
    summary = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(counts.items()))
    if notices:
        summary += f" (attention: {notices} {'notice' if notices == 1 else 'notices'} of the plan, e.g. a person " \
                   "not found)"
    return summary or "nothing recorded"


RESIDUAL_LINES = 12  # beyond this many, the same exposure is shown once per system with a count of people


def residual_lines(records: list[dict[str, Any]]) -> list[str]:
    """What may stay valid after the run, a line per person and system; for a large run, a line per system and
    kind of exposure with the number of people (each person's line is in the closure reports)."""
    found = [(r, item) for r in records if r.get("type") == "exposure" for item in r["items"]
             if item["what"] != "none" and item["basis"] != "the action was not carried out"]
    if len(found) <= RESIDUAL_LINES:
        return [f"{r['person']} in {r['system']}: {item['what']}: {item['bound']}" for r, item in found]
    groups: dict[tuple[str, str, bool], list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for r, item in found:
        what = item["what"].split(" (issued before ")[0]
        groups.setdefault((r["system"], what, item["until"] is None), []).append((r, item))
    lines = []
    for (system, what, unbounded), members in groups.items():
        people = len({r["person"] for r, _ in members})
        if unbounded:
            bound = "no upper bound known"
        else:
            bound = max((item for _, item in members), key=lambda i: i["until"])["bound"] + " at the latest"
        lines.append(f"{people} {'person' if people == 1 else 'people'} in {system}: {what}: {bound} "
                     "(each person's line is in the closure report)")
    return lines


def run_json(result: RunResult) -> dict[str, Any]:
    return {"run_id": result.run_id, "run_dir": str(result.run_dir), "mode": result.mode,
            "counts": result.counts(), "exit_code": result.exit_code,
            "actions": [{k: r.get(k) for k in ("action_id", "system", "kind", "person", "resource", "outcome",
                                              "verification", "error", "request_ids")}
                        for r in result.actions()]}
