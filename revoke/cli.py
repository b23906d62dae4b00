"""The `revoke` command line.

Exit codes: 0 success or nothing to do; 1 error (bad input, cannot connect, refused by a guardrail);
2 `plan` found changes; 3 `apply` finished with some actions failed or needing a person (the rest done).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from revoke import __version__
from revoke.approvals_cli import PlanCommand
from revoke.cli_errors import RevokeGroup, err
from revoke.commands import (
    ApplyStart,
    failed_systems,
    find_run,
    nothing_to_apply_exit_code,
    plan_exit_code,
    restore_dry_run_exit_code,
    start_apply,
    waiting_for_a_person,
)
from revoke.errors import RevokeError
from revoke.redaction import install_log_filter

out = Console(highlight=False, soft_wrap=True)


class Context:
    def __init__(self, debug: bool, verbose: int, quiet: bool, progress: bool, output: str):
        self.debug = debug
        self.verbose = verbose
        self.quiet = quiet
        self.show_progress = progress
        self.output = output

    def progress(self) -> Any:
        from revoke.progress import LineProgress, LiveProgress, Progress

        if self.quiet or self.output == "json":
            return Progress()
        if self.show_progress and err.is_terminal:
            return LiveProgress(err)
        return LineProgress(sys.stderr)


@click.group(cls=RevokeGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="revoke")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only results and errors; no progress lines.")
@click.option("--no-progress", is_flag=True, help="Plain progress lines even on a terminal.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: machine-readable plan and run results on stdout, for pipelines.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: int, quiet: bool, no_progress: bool, output: str) -> None:
    """Revoke a leaving team's access as code: plan it, apply it, prove it.

    \b
    The week before:   revoke validate runbook.yaml
                       revoke plan runbook.yaml --out plan.json --mark-checklist
    The final day:     revoke apply plan.json
    After:             revoke evidence verify evidence/<run-id>/
    Try it locally:    revoke demo

    A runbook (YAML) names the engagement, its final_day, the people leaving with their id in each system, the
    systems (connector + settings; secrets by reference only, e.g. bind_password: {secret: corp_ldap}, read from
    REVOKE_CORP_LDAP, .env or REVOKE_SECRETS_DIR), the lists to close and what to protect. See runbooks/.

    Exit codes: 0 done or nothing to do, 1 error, 2 plan has changes, 3 apply finished with failures.
    """
    level = logging.DEBUG if debug or verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    install_log_filter()  # SDKs (botocore, urllib3, msal, slack_sdk, ldap3) log through it too, redacted
    ctx.obj = Context(debug, verbose, quiet, not no_progress, output)


# ---------------------------------------------------------------------------------------------------------------


@cli.command()
@click.argument("runbook", type=click.Path(path_type=Path))
@click.option("--offline", is_flag=True, help="Skip the check that every referenced secret is set.")
@click.pass_obj
def validate(obj: Context, runbook: Path, offline: bool) -> None:
    """Check a runbook: schema, references, connector settings and secrets.

    Every mistake is reported with its file, line and field, and a hint; exit 1 if there is any.
    """
    from revoke.commands import validate_runbook

    rb = validate_runbook(runbook, offline=offline)
    out.print(f"{runbook}: valid: engagement {rb.engagement}, final day {rb.final_day}, {len(rb.people)} people, "
              f"{len(rb.systems)} systems, {len(rb.lists)} lists, {len(rb.protect)} protected", markup=False)


@cli.command(cls=PlanCommand)
@click.argument("runbook", type=click.Path(path_type=Path))
@click.option("--out", "out_path", type=click.Path(path_type=Path), help="Save the plan here for `revoke apply`.")
@click.option("--mark-checklist", is_flag=True, help="Mark the checklist items In Progress and attach the dry run.")
@click.option("--commit", is_flag=True, help="Commit the checklist page and its attachments (a wiki git clone).")
@click.option("--push", is_flag=True, help="Push that commit too (never without this flag).")
@click.option("--evidence-dir", type=click.Path(path_type=Path), help="Where run folders go (default: the "
              "runbook's evidence_dir, relative to the runbook).")
@click.pass_obj
def plan(obj: Context, runbook: Path, out_path: Path | None, mark_checklist: bool, commit: bool, push: bool,
         evidence_dir: Path | None) -> None:
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
    result = record_plan(the_plan, root, before_seal=_report_writer())
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
    _update_checklist(obj, the_plan.runbook, Path(the_plan.runbook_path).parent, result.run_dir,
                      mark=mark_checklist, commit=commit, push=push)
    failed = failed_systems(the_plan)
    if failed:
        err.print(f"error: discovery failed in {', '.join(failed)}: the plan is incomplete; fix the connection "
                  "and plan again", markup=False)
    sys.exit(plan_exit_code(the_plan))


@cli.command()
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
@click.pass_obj
def apply(obj: Context, source: Path | None, yes: bool, before_final_day: bool, skip_stale: bool,
          resume_id: str | None, runbook_changed_ok: bool, commit: bool, push: bool, evidence_dir: Path | None,
          no_fsync: bool) -> None:
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
    start = start_apply(source, resume_id=resume_id, evidence_dir=evidence_dir)
    writer = _report_writer()
    options = ApplyOptions(evidence_root=start.evidence_root, before_final_day=before_final_day,
                           skip_stale=skip_stale, fsync=not no_fsync, before_seal=writer,
                           observe=getattr(writer, "observe", None), runbook_changed_ok=runbook_changed_ok)
    if start.resume is not None and start.plan is not None:
        _say(obj, start.why)
        _finish(obj, apply_plan(start.plan, options, progress=obj.progress(), mode=start.mode, resume=start.resume),
                start.plan, commit, push)
        return
    the_plan = start.plan if start.plan is not None else _plan_to_apply(obj, start, yes)
    _finish(obj, apply_plan(the_plan, options, progress=obj.progress()), the_plan, commit, push)


def _plan_to_apply(obj: Context, start: ApplyStart, yes: bool) -> Any:
    """Plan the runbook, show it and ask; exits when there is nothing to change."""
    from revoke.engine import build_plan
    from revoke.render import plan_summary, render_plan

    assert start.loaded is not None
    the_plan = build_plan(start.loaded, progress=obj.progress())
    if obj.output != "json":
        render_plan(the_plan, out)
    if not the_plan.changes():
        waiting = waiting_for_a_person(the_plan)
        if obj.output == "json":
            click.echo(json.dumps({"plan": plan_summary(the_plan), "changes": 0, "need_a_person": len(waiting)}))
        elif waiting:
            out.print(f"Nothing to do here, but {len(waiting)} item(s) above need a person.")
        else:
            out.print("Nothing to do.")
        sys.exit(nothing_to_apply_exit_code(the_plan))
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("not asking for confirmation without a terminal: add --yes")
        click.confirm(f"Apply {len(the_plan.changes())} change(s)?", abort=True)
    return the_plan


@cli.command()
@click.argument("run_id")
@click.option("--system", help="Only this system's actions.")
@click.option("--person", help="Only this person's actions (their runbook name).")
@click.option("--yes", "-y", is_flag=True, help="Restore without asking; without it, only the plan is shown.")
@click.option("--evidence-dir", type=click.Path(path_type=Path), help="Where run folders are.")
@click.pass_obj
def restore(obj: Context, run_id: str, system: str | None, person: str | None, yes: bool,
            evidence_dir: Path | None) -> None:
    """Undo a run from the before-states in its evidence: re-enable, re-add memberships, reactivate keys.

    Shows the restore plan (a dry run) and, with --yes or after you confirm, applies it with its own evidence.
    What cannot be restored (a deleted object past its recycle window, a scrambled password) is stated.
    """
    from revoke.engine import ApplyOptions, apply_plan, build_restore_plan
    from revoke.render import render_plan

    run_dir = find_run(run_id, evidence_dir)
    the_plan = build_restore_plan(run_dir, system=system, person=person)
    if obj.output != "json":
        render_plan(the_plan, out)
    if not the_plan.changes():
        out.print("Nothing can be restored automatically.")
        return
    if not yes:
        if not sys.stdin.isatty():
            out.print(f"Dry run only: add --yes to restore these {len(the_plan.changes())} change(s).")
            sys.exit(restore_dry_run_exit_code(the_plan))
        click.confirm(f"Restore {len(the_plan.changes())} change(s)?", abort=True)
    writer = _report_writer()
    options = ApplyOptions(evidence_root=run_dir.parent, before_seal=writer, observe=getattr(writer, "observe", None))
    result = apply_plan(the_plan, options, progress=obj.progress(), mode="restore",
                        header={"restores": run_dir.name})
    _finish(obj, result, the_plan)


def _say(obj: Context, text: str) -> None:
    if obj.output != "json":
        out.print(text, markup=False)


def _finish(obj: Context, result: Any, the_plan: Any, commit: bool = False, push: bool = False) -> None:
    from revoke.render import render_run, run_json

    if obj.output == "json":
        click.echo(json.dumps(run_json(result), indent=1))
    else:
        render_run(result, out)
    _update_checklist(obj, the_plan.runbook, Path(the_plan.runbook_path).parent, result.run_dir, mark=True,
                      commit=commit, push=push)
    sys.exit(result.exit_code)


def _report_writer() -> Any:
    from revoke.checklist.reports import ReportWriter

    return ReportWriter()


def _update_checklist(obj: "Context", runbook: Any, runbook_dir: Path, run_dir: Path, *, mark: bool,
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
            _say(obj, line)
        if commit or push:
            _say(obj, commit_run(runbook.checklist, runbook_dir, run_dir, push=push))
    except RevokeError as e:
        # the run itself is done and sealed: say what the page needs, keep the run's own exit code
        err.print(f"checklist not updated: {e}; the run's evidence is complete in {run_dir}", markup=False)


# ---------------------------------------------------------------------------------------------------------------


@cli.group()
def evidence() -> None:
    """Check a run's evidence."""


@evidence.command("verify")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.pass_obj
def evidence_verify(obj: Context, run_dir: Path) -> None:
    """Recompute the hash chain and every file hash of a run folder; exit 1 on any difference."""
    from revoke.errors import EvidenceInvalid
    from revoke.evidence import verify_run

    report = verify_run(run_dir)
    if not report.ok:
        raise EvidenceInvalid([f"{run_dir}: evidence does NOT verify:"] + [f"  {p}" for p in report.problems])
    out.print(f"{run_dir}: verified: {report.records} records in an unbroken chain, {report.files} files "
              "match the manifest and the seal", markup=False)


@cli.command()
@click.pass_obj
def connectors(obj: Context) -> None:
    """List installed connector plugins (built-in and third-party) with their actions and versions."""
    from revoke.commands import connector_rows

    rows = connector_rows()
    if obj.output == "json":
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        out.print(f"{r['name']:<22} {r['package']} {r['version']:<6} {r['actions']}", markup=False)


@cli.command()
@click.argument("runbook", type=click.Path(path_type=Path))
@click.pass_obj
def permissions(obj: Context, runbook: Path) -> None:
    """Print the least privilege each system's connector needs for this runbook.

    Derived from the action registry the engine uses (IAM policy JSON for AWS, Graph application permissions,
    Slack scopes, LDAP ACLs), never written by hand.
    """
    from revoke.commands import permission_documents

    docs = permission_documents(runbook)
    if obj.output == "json":
        click.echo(json.dumps(docs, indent=1))
        return
    for name, d in docs.items():
        out.print(f"# {name} ({d['connector']}, {d['format']})", markup=False)
        out.print(d["document"], markup=False)
        out.print()


@cli.command()
@click.option("--keep", is_flag=True, help="Leave the sandbox running to rehearse your own runbooks against it.")
@click.option("--dir", "workdir", type=click.Path(path_type=Path), default=Path("revoke-demo"), show_default=True,
              help="Where the demo's runbook, checklist page and evidence are written.")
@click.pass_obj
def demo(obj: Context, keep: bool, workdir: Path) -> None:
    """Run the whole job locally: a sandbox seeded with an engagement, then validate, plan, apply, verify.

    \b
    The sandbox is on loopback only: a real OpenLDAP slapd if it is installed, AWS emulated by moto, and local
    fakes of Microsoft Graph and Slack. Nothing leaves this machine. The sandbox stops at the end (and on
    Ctrl-C); with --keep it stays up and the demo prints how to point a runbook at it.
    """
    from revoke.demo import run_demo

    flags = ["--quiet"] if obj.quiet else []

    def revoke(args: list[str]) -> int:
        try:
            code = cli.main(args=[*flags, *args], prog_name="revoke", standalone_mode=False)
        except SystemExit as e:
            code = e.code
        return int(code or 0)

    sys.exit(run_demo(workdir.resolve(), keep, lambda text: out.print(text, markup=False), revoke))


def _add_checklist_commands() -> None:
    """`revoke checklist show|mark` live with the page model in revoke.checklist."""
    from revoke.checklist.cli import checklist

    cli.add_command(checklist)


_add_checklist_commands()


def main() -> None:
    cli(prog_name="revoke")


if __name__ == "__main__":
    main()
