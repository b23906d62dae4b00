"""`revoke validate`, `plan`, `apply` and `restore`: parsing and printing; what they decide is in revoke/commands.py
and what they do in the engine."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from revoke.approvals_cli import PlanCommand
from revoke.commands import (
    EXIT_CHANGES,
    ApplyJob,
    apply_job,
    find_run,
    nothing_to_do_exit,
    plan_exit,
    waiting_for_a_person,
)
from revoke.console import Context, err, out
from revoke.errors import RevokeError

if TYPE_CHECKING:
    from revoke.plan import Plan


@click.command()
@click.argument("runbook", type=click.Path(path_type=Path))
@click.option("--offline", is_flag=True, help="Skip the check that every referenced secret is set.")
@click.pass_obj
def validate(obj: Context, runbook: Path, offline: bool) -> None:
    """Check a runbook: schema, references, connector settings and secrets.

    Every mistake is reported with its file, line and field, and a hint; exit 1 if there is any.
    """
    from revoke.engine import check_runbook, load_secrets
    from revoke.runbook import load_runbook

    loaded = load_runbook(runbook)
    setups = check_runbook(loaded)
    if not offline:
        load_secrets(setups, runbook_dir=loaded.path.parent)
    rb = loaded.runbook
    if rb.checklist is not None:
        from revoke.checklist.record import check_checklist
        from revoke.errors import Problem, RunbookError

        problems = check_checklist(rb.checklist, loaded.path.parent)
        if problems:
            line = loaded.doc.line_of(("checklist",))
            raise RunbookError([Problem(str(runbook), line, "checklist", p) for p in problems])
    from revoke.planner import count

    out.print(f"{runbook}: valid: engagement {rb.engagement}, final day {rb.final_day}, "
              f"{count(len(rb.people), 'person', 'people')}, {count(len(rb.systems), 'system')}, "
              f"{count(len(rb.lists), 'list')}, {len(rb.protect)} protected", markup=False)


@click.command(cls=PlanCommand)
@click.argument("runbook", type=click.Path(path_type=Path))
@click.option("--out", "out_path", type=click.Path(path_type=Path), help="Save the plan here for `revoke apply`.")
@click.option("--mark-checklist", is_flag=True, help="Mark the checklist items In Progress and attach the dry run.")
@click.option("--commit", is_flag=True, help="Commit the checklist page and its attachments (a wiki git clone).")
@click.option("--push", is_flag=True, help="Push that commit too (never without this flag).")
@click.option("--evidence-dir", type=click.Path(path_type=Path), help="Where run folders go (default: the "
              "runbook's evidence_dir, relative to the runbook).")
@click.option("--signing-key", type=click.Path(path_type=Path), help="SSH key that signs the sealed run "
              "(as for git commit signing; default REVOKE_SIGNING_KEY). Check with `revoke evidence verify DIR "
              "--allowed-signers FILE`.")
@click.pass_obj
def plan(obj: Context, runbook: Path, out_path: Path | None, mark_checklist: bool, commit: bool, push: bool,
         evidence_dir: Path | None, signing_key: Path | None) -> None:
    """Dry run: discover current access read-only and show what apply would change.

    \b
    Lines read:  - lock account            a change apply will make
                 = already locked          nothing to do
                 ! skip ...: protected     a guardrail or a finding that needs a person
    The plan's evidence (one record per action) goes to evidence/<plan-id>/. Exit 2 when there are changes,
    0 when there are none.

    A runbook with `approvals:` (the two-person rule) is applied only from a saved plan its approvers signed:
    `revoke plan approve PLAN --key KEY` (see `revoke plan approve --help`).
    """
    from revoke.engine import build_plan, record_plan
    from revoke.render import render_plan
    from revoke.runbook import load_runbook

    loaded = load_runbook(runbook)
    the_plan = build_plan(loaded, progress=obj.progress())
    if out_path:
        the_plan.save(out_path)
    root = evidence_dir or loaded.relative(loaded.runbook.evidence_dir)
    result = record_plan(the_plan, root, before_seal=report_writer(), signing_key=signing_key)
    if obj.output == "json":
        click.echo(json.dumps({"plan": the_plan.model_dump(mode="json"), "evidence": str(result.run_dir),
                               "saved": str(out_path) if out_path else None}, indent=1))
    else:
        render_plan(the_plan, out)
        if out_path:
            out.print(f"Saved the plan to {out_path}; apply it with `revoke apply {out_path}`.", markup=False)
            if loaded.runbook.approvals is not None:
                out.print(f"The runbook asks for {loaded.runbook.approvals.required} approval(s) first: each "
                          f"approver runs `revoke plan approve {out_path} --key KEY`.", markup=False)
        out.print(f"Dry-run evidence: {result.run_dir}", markup=False)
    from revoke.evidence import now as _now
    from revoke.timeliness import schedule_warnings

    for warning in schedule_warnings(loaded.runbook, _now()):
        err.print(f"warning: {warning}", markup=False)
    update_checklist(obj, the_plan.runbook, Path(the_plan.runbook_path).parent, result.run_dir,
                      mark=mark_checklist, commit=commit, push=push)
    code, problem = plan_exit(the_plan)
    if problem:
        err.print(f"error: {problem}", markup=False)
    sys.exit(code)


@click.command()
@click.argument("source", type=click.Path(path_type=Path), required=False)
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (when given a runbook).")
@click.option("--before-final-day", is_flag=True, help="Allow applying before the runbook's final_day.")
@click.option("--skip-stale", is_flag=True, help="Apply what still matches the plan; record stale actions as "
              "skipped instead of stopping.")
@click.option("--resume", "resume_id", metavar="RUN_ID", help="Finish an interrupted run (a run id or its folder).")
@click.option("--runbook-changed-ok", is_flag=True, help="Apply a saved plan although its runbook file changed "
              "since the plan; the guardrails then follow the runbook as it is now.")
@click.option("--commit", is_flag=True, help="Commit the checklist page and its attachments (a wiki git clone).")
@click.option("--push", is_flag=True, help="Push that commit too (never without this flag).")
@click.option("--evidence-dir", type=click.Path(path_type=Path), help="Where run folders go.")
@click.option("--no-fsync", is_flag=True, hidden=True, help="Benchmarks only: do not fsync evidence records.")
@click.option("--signing-key", type=click.Path(path_type=Path), help="SSH key that signs the sealed run "
              "(as for git commit signing; default REVOKE_SIGNING_KEY). Check with `revoke evidence verify DIR "
              "--allowed-signers FILE`.")
@click.pass_obj
def apply(obj: Context, source: Path | None, yes: bool, before_final_day: bool, skip_stale: bool,
          resume_id: str | None, runbook_changed_ok: bool, commit: bool, push: bool, evidence_dir: Path | None,
          no_fsync: bool, signing_key: Path | None) -> None:
    """Carry out a plan: SOURCE is a saved plan (from `revoke plan --out`) or a runbook.

    A saved plan is applied as shown, after re-reading every target: if anything changed since the plan was
    made, nothing is changed and you are asked to re-plan. A runbook is planned, shown and applied after you
    confirm. Each action is read back to verify it and recorded in evidence/<run-id>/.

    A run that was interrupted (crash, Ctrl-C, lost connection) is finished by `--resume RUN_ID`, or simply by
    running the same apply again: done actions are not repeated, half-done ones are re-read and completed, and
    the evidence chain continues in the same run folder.

    Before any change, apply re-derives every guardrail from the runbook file and the live systems, never from
    the plan file: protected accounts and the connectors' own identities (matched as accounts, under any of their
    names), that each action is on a runbook person's own account or a runbook list, the list types, the blast
    radius and the final day. A plan whose runbook changed since is refused (unless --runbook-changed-ok), and so
    is a resumed run whose plan.json is not the one it started with.

    Exit 0 when everything is done, 3 when some actions failed or need a person (the others are still done).
    """
    from revoke.engine import ApplyOptions, apply_plan

    if source is None and not resume_id:
        raise click.UsageError("give a runbook or a saved plan, or --resume RUN_ID")
    job = apply_job(source, resume_id, evidence_dir)
    writer = report_writer()
    options = ApplyOptions(evidence_root=job.evidence_root, before_final_day=before_final_day, skip_stale=skip_stale,
                           fsync=not no_fsync, before_seal=writer, observe=getattr(writer, "observe", None),
                           runbook_changed_ok=runbook_changed_ok, signing_key=signing_key)
    if job.why:
        obj.say(job.why)
    the_plan = job.plan or _planned_and_confirmed(obj, job, yes)
    result = apply_plan(the_plan, options, progress=obj.progress(), mode=job.mode, resume=job.resume)
    finish(obj, result, the_plan, commit, push)


def _planned_and_confirmed(obj: Context, job: ApplyJob, yes: bool) -> Plan:
    """`revoke apply RUNBOOK`: the plan, shown, and the user's yes (or --yes); exits when there is nothing to do."""
    from revoke.engine import build_plan
    from revoke.render import plan_summary, render_plan

    assert job.loaded is not None
    the_plan = build_plan(job.loaded, progress=obj.progress())
    if obj.output != "json":
        render_plan(the_plan, out)
    if not the_plan.changes():
        waiting = waiting_for_a_person(the_plan)
        if obj.output == "json":
            click.echo(json.dumps({"plan": plan_summary(the_plan), "changes": 0, "need_a_person": waiting}))
        elif waiting:
            out.print(f"Nothing to do here, but {waiting} item(s) above need a person.")
        else:
            out.print("Nothing to do.")
        sys.exit(nothing_to_do_exit(the_plan))
    if not yes:
        if not sys.stdin.isatty():  # exit 1, an error: 2 is `plan`'s "found changes"
            raise RevokeError("not asking for confirmation without a terminal: nothing was changed; add --yes, "
                              "or apply a saved plan (`revoke plan RUNBOOK --out plan.json`, then "
                              "`revoke apply plan.json`)")
        click.confirm(f"Apply {len(the_plan.changes())} change(s)?", abort=True)
    return the_plan


@click.command()
@click.argument("run_id")
@click.option("--system", help="Only this system's actions.")
@click.option("--person", help="Only this person's actions (their runbook name).")
@click.option("--yes", "-y", is_flag=True, help="Restore without asking. Without it, a terminal asks you to "
              "confirm; without a terminal, only the restore plan is shown (exit 2).")
@click.option("--skip-stale", is_flag=True, help="Restore what still matches the run's after-states; record "
              "the targets that changed since as skipped instead of stopping.")
@click.option("--evidence-dir", type=click.Path(path_type=Path), help="Where run folders are.")
@click.pass_obj
def restore(obj: Context, run_id: str, system: str | None, person: str | None, yes: bool, skip_stale: bool,
            evidence_dir: Path | None) -> None:
    """Undo a run from the before-states in its evidence: re-enable, re-add memberships, reactivate keys.

    \b
    Lines read:  + unlock account          what restore will do
                 ! cannot restore ...      no way back (a posted message, a deleted console password):
                                           a person redoes it
    Shows the restore plan and asks before restoring (--yes: without asking). Lists and groups come back
    before the memberships in them, across systems. Every target is re-read first: one changed since the run
    stops the restore before any change, unless --skip-stale. The restore gets its own evidence folder.

    Exit 0 when everything was restored; 3 when something has no way back (listed: a person redoes it), failed,
    or was skipped as stale; the rest is restored all the same.
    """
    from revoke.engine import ApplyOptions, apply_plan, build_restore_plan
    from revoke.render import render_plan

    run_dir = find_run(run_id, evidence_dir, None)
    the_plan = build_restore_plan(run_dir, system=system, person=person)
    if obj.output != "json":
        render_plan(the_plan, out, mode="restore", restores=run_dir.name)
    if not the_plan.changes():
        out.print("Nothing can be restored automatically.")
        return
    if not yes:
        if not sys.stdin.isatty():
            out.print(f"Dry run only: add --yes to restore these {len(the_plan.changes())} change(s).")
            sys.exit(EXIT_CHANGES)
        click.confirm(f"Restore {len(the_plan.changes())} change(s)?", abort=True)
    writer = report_writer()
    options = ApplyOptions(evidence_root=run_dir.parent, before_seal=writer, observe=getattr(writer, "observe", None),
                           skip_stale=skip_stale)
    result = apply_plan(the_plan, options, progress=obj.progress(), mode="restore",
                        header={"restores": run_dir.name})
    finish(obj, result, the_plan)


def finish(obj: Context, result: Any, the_plan: Any, commit: bool = False, push: bool = False) -> None:
    from revoke.render import render_run, run_json

    if obj.output == "json":
        click.echo(json.dumps(run_json(result), indent=1))
    else:
        render_run(result, out)
    update_checklist(obj, the_plan.runbook, Path(the_plan.runbook_path).parent, result.run_dir, mark=True,
                      commit=commit, push=push)
    sys.exit(result.exit_code)


def report_writer() -> Any:
    from revoke.checklist.reports import ReportWriter

    return ReportWriter()


def update_checklist(obj: Context, runbook: Any, runbook_dir: Path, run_dir: Path, *, mark: bool,
                      commit: bool = False, push: bool = False) -> None:
    """The engine hands the sealed run to the checklist page: statuses, links, attachments, and a commit."""
    if runbook.checklist is None:
        if commit or push:
            raise click.UsageError("--commit needs `checklist:` in the runbook")
        return
    from revoke.checklist.git import commit_run
    from revoke.checklist.record import record_run

    try:
        line = record_run(runbook.checklist, runbook_dir, run_dir, mark=mark)
        if line:
            obj.say(line)
        if commit or push:
            obj.say(commit_run(runbook.checklist, runbook_dir, run_dir, push=push))
    except RevokeError as e:
        # the run itself is done and sealed: say what the page needs, keep the run's own exit code
        err.print(f"checklist not updated: {e}; the run's evidence is complete in {run_dir}", markup=False)


COMMANDS = [validate, plan, apply, restore]
