"""`revoke schedule`, `revoke worker` and `revoke runs`: the durable-run commands (extra `revoke[temporal]`)."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from revoke.errors import RevokeError

_CONNECTION = [
    click.option("--temporal", "address", metavar="HOST:PORT", help="Temporal frontend (default "
                 "REVOKE_TEMPORAL_ADDRESS or 127.0.0.1:7233). TLS and API key: REVOKE_TEMPORAL_TLS*, "
                 "REVOKE_TEMPORAL_API_KEY (secrets, never flags)."),
    click.option("--namespace", help="Temporal namespace (default REVOKE_TEMPORAL_NAMESPACE or default)."),
    click.option("--task-queue", help="Task queue the workers poll (default revoke)."),
]


def _connection(fn: Any) -> Any:
    for option in reversed(_CONNECTION):
        fn = option(fn)
    return fn


def _temporal() -> Any:
    try:
        from revoke.scheduler import client
    except ImportError as err:
        raise RevokeError(f"durable runs need Temporal's SDK: pip install 'revoke[temporal]' ({err})") from None
    return client


def parse_when(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """'2026-12-05 17:00 Europe/Berlin', an ISO 8601 time with an offset, 'now', or '+90s' / '+2h' / '+1d'."""
    now = now or dt.datetime.now(dt.timezone.utc)
    text = text.strip()
    if text == "now":
        return now
    m = re.fullmatch(r"\+\s*(\d+)\s*([smhdw])", text)
    if m:
        from revoke.scheduler.spec import seconds

        return now + dt.timedelta(seconds=seconds(m.group(1) + m.group(2)))
    zone: dt.tzinfo | None = None
    parts = text.rsplit(" ", 1)
    if len(parts) == 2 and re.fullmatch(r"[A-Za-z_]+(/[A-Za-z0-9_+-]+)+|UTC|GMT", parts[1]):
        try:
            zone = ZoneInfo(parts[1])
        except ZoneInfoNotFoundError:
            raise click.BadParameter(f"unknown time zone '{parts[1]}' (use an IANA name such as Europe/Berlin)",
                                     param_hint="--at") from None
        text = parts[0]
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"'{text}' is not a time: write '2026-12-05 17:00 Europe/Berlin', an ISO 8601 "
                                 "time with an offset, 'now' or '+30m'", param_hint="--at") from None
    if when.tzinfo is None:
        if zone is None:
            raise click.BadParameter("say which time zone: '2026-12-05 17:00 Europe/Berlin' or "
                                     "'2026-12-05T17:00+01:00'", param_hint="--at")
        when = when.replace(tzinfo=zone)
    return when


@click.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--at", "at", metavar="WHEN", help="When to run: '2026-12-05 17:00 Europe/Berlin', ISO 8601 with an "
              "offset, 'now' or '+2h', for everyone. Default: each person at their own leave time (their "
              "leaves_at, else the runbook's final_day at its cutoff in its timezone), lists once all have left.")
@click.option("--cutoff", default=None, help="Instead: the final day at this time of day (HH:MM, without --at).")
@click.option("--tz", "tz", default=None, help="Time zone of --cutoff (default: the runbook's timezone).")
@click.option("--evidence", "evidence", metavar="DIR|s3://BUCKET/PREFIX", help="Evidence store the workers "
              "share (default: the runbook's evidence_dir). With Object Lock on the bucket, runs are kept in "
              "compliance mode.")
@click.option("--before-final-day", is_flag=True, help="Allow the run to fire before the runbook's final_day.")
@click.option("--skip-stale", is_flag=True, help="At fire time, skip and record stale targets instead of stopping "
              "(also the runbook's on_stale: skip).")
@click.option("--runbook-changed-ok", is_flag=True, help="Run although the runbook changed since the plan.")
@click.option("--heartbeat", default=30.0, show_default=True, help="Seconds without a heartbeat after which a "
              "worker is taken for dead and its shard goes to another.")
@click.option("--shard-actions", default=200, show_default=True, help="Actions per shard activity.")
@_connection
@click.pass_obj
def schedule(obj: Any, plan_file: Path, at: str | None, cutoff: str, tz: str | None, evidence: str | None,
             before_final_day: bool, skip_stale: bool, runbook_changed_ok: bool, heartbeat: float,
             shard_actions: int, address: str | None, namespace: str | None, task_queue: str | None) -> None:
    """Schedule a saved plan to run at the leave time on Temporal, with workers on any machine.

    \b
    revoke plan runbook.yaml --out plan.json
    revoke schedule plan.json --at "2026-12-05 17:00 Europe/Berlin"
    revoke worker                       # on each machine that has the connectors and secrets
    revoke runs show RUN_ID

    Without --at, each person's actions fire at their own leave time (one wave per leave time), and a later
    stage (e.g. delete-account after 30d) counts from it, each on a durable timer. At each fire time the plan is
    re-checked exactly as `revoke apply plan.json` would: every guardrail re-derived live, every target of that
    wave re-read; a stale target stops the run (or is skipped with on_stale: skip). The run's id is the
    workflow's, so scheduling the same plan twice is harmless. Evidence is one sealed run folder per stage,
    sealed when the stage's last wave is done.
    """
    from revoke import approvals, guardrails
    from revoke.plan import load_plan
    from revoke.scheduler.store import open_store

    client = _temporal()
    the_plan = load_plan(plan_file)
    rb, warning = guardrails.trusted_runbook(the_plan, runbook_changed_ok)  # refuse now what would be refused then
    approvals.require(the_plan)
    if at:
        when: dt.datetime | None = parse_when(at)
    elif cutoff or tz:
        when = _default_when(rb.final_day, cutoff or rb.cutoff.strftime("%H:%M"), tz or rb.timezone)
    else:
        when = None  # each person at their own leave time
    root = evidence or str(Path(the_plan.runbook_path).parent / rb.evidence_dir)
    store = open_store(root)
    run_id = client.run_id_for(the_plan)
    spec = client.run_spec(the_plan, rb, store, when, run_id, skip_stale=skip_stale,
                           before_final_day=before_final_day, runbook_changed_ok=runbook_changed_ok,
                           heartbeat_seconds=heartbeat, shard_actions=shard_actions)
    if not before_final_day:
        _refuse_before_final_day(spec, rb)
    client.store_plan(store, the_plan, plan_file, run_id)
    s = client.settings(address, namespace, task_queue)
    run_id, again = client.run(client.start(s, spec))
    from revoke.scheduler.waves import describe

    info = {"run_id": run_id, "fire_at": spec.fire_at, "stages": [vars(st) for st in spec.stages],
            "waves": describe(spec.waves), "store": store.url, "already_scheduled": again}
    if obj.output == "json":
        click.echo(json.dumps(info, indent=1))
        return
    click.echo(f"{'Already scheduled' if again else 'Scheduled'}: {run_id} on {s.address}, namespace "
               f"{s.namespace}")
    for w in spec.waves:
        local = dt.datetime.fromisoformat(w.fire_at).astimezone()
        who = ", ".join(w.people + (["lists"] if w.lists else [])) or "nothing to do"
        label = spec.stages[w.stage].label
        click.echo(f"  {w.fire_at} UTC ({local:%Y-%m-%d %H:%M %Z}) stage {w.stage + 1} ({label}): {who}")
    if warning:
        click.echo(f"warning: {warning}")
    click.echo(f"Evidence goes to {store.url}/{run_id}/; watch it with `revoke runs show {run_id}`.")


def _refuse_before_final_day(spec: Any, rb: Any) -> None:
    """A wave that would fire before the final day would be refused then; refuse it now, while it can be fixed."""
    zone = ZoneInfo(rb.timezone)
    early = [w for w in spec.waves if dt.datetime.fromisoformat(w.fire_at).astimezone(zone).date() < rb.final_day]
    if early:
        who = "; ".join(f"{', '.join(w.people) or 'lists'} at {w.fire_at}" for w in early)
        raise click.UsageError(f"these fire before the final day ({rb.final_day}): {who}; schedule them on "
                               "purpose with --before-final-day, or correct their leaves_at")


def _default_when(final_day: dt.date, cutoff: str, tz: str | None) -> dt.datetime:
    try:
        hour, minute = (int(x) for x in cutoff.split(":"))
        zone: dt.tzinfo = ZoneInfo(tz) if tz else dt.datetime.now().astimezone().tzinfo  # type: ignore[assignment]
    except (ValueError, ZoneInfoNotFoundError):
        raise click.BadParameter("--cutoff is HH:MM and --tz an IANA zone such as Europe/Berlin") from None
    return dt.datetime.combine(final_day, dt.time(hour, minute), tzinfo=zone)


@click.command()
@click.option("--max-activities", default=8, show_default=True, help="Activities this worker runs at once.")
@_connection
def worker(max_activities: int, address: str | None, namespace: str | None, task_queue: str | None) -> None:
    """Run a worker: it carries out the scheduled runs' checks, shards and journals.

    Run any number, on any machine; each needs the connectors (extras) and the secrets of the systems it
    serves, and access to the evidence store. A worker that dies mid-shard loses nothing: another one re-reads
    the targets and finishes, and no action is done twice. Stop it with Ctrl-C.
    """
    client = _temporal()
    s = client.settings(address, namespace, task_queue)
    try:
        client.run(client.work(s, max_activities=max_activities,
                               ready=lambda: click.echo(f"worker polling {s.task_queue} on {s.address}", err=True)))
    except KeyboardInterrupt:
        click.echo("worker stopped", err=True)


@click.group()
def runs() -> None:
    """Scheduled runs on Temporal: list, show, cancel."""


@runs.command("list")
@_connection
@click.pass_obj
def runs_list(obj: Any, address: str | None, namespace: str | None, task_queue: str | None) -> None:
    """The scheduled runs, newest first, with their status."""
    client = _temporal()
    rows = client.run(client.list_runs(client.settings(address, namespace, task_queue)))
    if obj.output == "json":
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        click.echo(f"{r['run_id']}  {r['status']:<11} fires {r['fire_at']}  {r['store']}")
    if not rows:
        click.echo("no scheduled runs")


@runs.command("show")
@click.argument("run_id")
@_connection
@click.pass_obj
def runs_show(obj: Any, run_id: str, address: str | None, namespace: str | None, task_queue: str | None) -> None:
    """One run: status, its waves (who leaves when, each wave's state), progress while it runs, each stage's
    evidence and counts once sealed."""
    client = _temporal()
    info = client.run(client.show_run(client.settings(address, namespace, task_queue), run_id))
    click.echo(json.dumps(info, indent=1, default=str))
    if info.get("status") == "failed" or any(st.get("exit_code") for st in info.get("stages", [])):
        sys.exit(3)


@runs.command("cancel")
@click.argument("run_id")
@_connection
def runs_cancel(run_id: str, address: str | None, namespace: str | None, task_queue: str | None) -> None:
    """Cancel a run. Before it fires nothing happens. A run already applying stops each shard after the batch in
    flight, then seals every stage it began: what was done, and each change not done, recorded as cancelled."""
    client = _temporal()
    client.run(client.cancel_run(client.settings(address, namespace, task_queue), run_id))
    click.echo(f"cancel requested for {run_id}")


COMMANDS = [schedule, worker, runs]
