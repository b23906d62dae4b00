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
from revoke.errors import RevokeError
from revoke.redaction import REDACTOR, install_log_filter

EXIT_CHANGES = 2
QUIET_SDKS = ("slack_sdk", "botocore", "boto3", "urllib3", "msal", "ldap3", "githubkit", "httpx", "okta",
              "googleapiclient", "google.auth", "temporalio")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


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


class RevokeGroup(click.Group):
    """Turns revoke's named errors into one message and an exit code; a traceback only with --debug. Whatever
    is printed passes through the redactor first (`revoke.redaction`), tracebacks included."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RevokeError as e:
            _traceback(ctx)
            err.print("[bold red]error:[/] ", end="")
            err.print(REDACTOR(str(e)), markup=False)
            ctx.exit(e.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            err.print("interrupted; `revoke apply` again resumes where this run stopped", markup=False)
            ctx.exit(130)
        except Exception as e:  # noqa: BLE001 - last resort: a message, not a traceback
            _traceback(ctx)
            err.print(REDACTOR(f"internal error: {type(e).__name__}: {_describe(e)}") +
                      ("" if _debugging(ctx) else "\nrun again with --debug for the traceback"), markup=False)
            ctx.exit(1)


def _debugging(ctx: click.Context) -> bool:
    return bool(ctx.obj and ctx.obj.debug)


def _traceback(ctx: click.Context) -> None:
    """With --debug, the traceback, redacted (re-raising would let Python print it as it is), each exception of
    the chain described as `_describe` does: a ValidationError's input values are not printed."""
    if not _debugging(ctx):
        return
    import traceback

    chain: list[BaseException] = []
    e: BaseException | None = sys.exc_info()[1]
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
    parts = []
    for e in reversed(chain):
        parts.append("Traceback (most recent call last):\n" + "".join(traceback.format_tb(e.__traceback__)) +
                     f"{type(e).__module__}.{type(e).__qualname__}: {_describe(e)}\n")
    err.print(REDACTOR("\nThe above exception was the direct cause of the following exception:\n\n".join(parts),
                       log=True), markup=False, end="")


def _describe(e: BaseException) -> str:
    """An exception's message; a pydantic ValidationError without the input values it would otherwise quote."""
    from pydantic import ValidationError

    if isinstance(e, ValidationError):
        return f"{e.error_count()} validation error(s) for {e.title}: " + "; ".join(
            f"{'.'.join(str(p) for p in x['loc']) or '(root)'}: {x['msg']}" for x in e.errors(include_input=False,
                                                                                              include_url=False))
    return str(e)


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
    REVOKE_CORP_LDAP, .env or REVOKE_SECRETS_DIR), the lists to close and what to protect. Every field is in
    docs/runbook.md (`revoke schema` prints it as JSON Schema); `revoke init` writes a first runbook from an HR
    export; runbooks/ holds an example per connector.

    Exit codes: 0 done or nothing to do, 1 error, 2 plan has changes, 3 apply finished with failures.
    """
    level = logging.DEBUG if debug or verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    install_log_filter()  # SDKs (botocore, urllib3, msal, slack_sdk, ldap3) log through it too, redacted
    if not (debug or verbose):
        # an SDK's own ERROR line ("ERROR slack_sdk...: Failed to send a request") says what revoke then reports
        # in its own words, with the fix: without -v, only revoke speaks
        for name in QUIET_SDKS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
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


@cli.command(cls=PlanCommand)
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
    result = record_plan(the_plan, root, before_seal=_report_writer(), signing_key=signing_key)
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
    _update_checklist(obj, the_plan.runbook, Path(the_plan.runbook_path).parent, result.run_dir,
                      mark=mark_checklist, commit=commit, push=push)
    failed = [s.name for s in the_plan.systems if s.error]
    if failed:
        err.print(f"error: discovery failed in {', '.join(failed)}: the plan is incomplete; fix the connection "
                  "and plan again", markup=False)
        sys.exit(1)
    if the_plan.changes():
        sys.exit(EXIT_CHANGES)


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
    from revoke.engine import ApplyOptions, apply_plan, build_plan, resume_plan, unfinished_runs
    from revoke.plan import load_plan
    from revoke.render import plan_summary, render_plan
    from revoke.runbook import load_runbook

    writer = _report_writer()
    options = ApplyOptions(evidence_root=Path("."), before_final_day=before_final_day, skip_stale=skip_stale,
                           fsync=not no_fsync, before_seal=writer, observe=getattr(writer, "observe", None),
                           runbook_changed_ok=runbook_changed_ok, signing_key=signing_key)
    if resume_id:
        run_dir = _find_run(resume_id, evidence_dir, source)
        the_plan, mode = resume_plan(run_dir)
        _say(obj, f"Resuming {run_dir.name}.")
        _finish(obj, apply_plan(the_plan, options, progress=obj.progress(), mode=mode, resume=run_dir), the_plan,
                commit, push)
        return
    if source is None:
        raise click.UsageError("give a runbook or a saved plan, or --resume RUN_ID")
    if source.suffix == ".json":
        the_plan = load_plan(source)
        runbook_dir = Path(the_plan.runbook_path).parent
        root = evidence_dir or (runbook_dir / the_plan.runbook.evidence_dir)
        engagement = the_plan.engagement
    else:
        loaded = load_runbook(source)
        runbook_dir = loaded.path.parent
        root = evidence_dir or loaded.relative(loaded.runbook.evidence_dir)
        engagement = loaded.runbook.engagement
    options.evidence_root = root
    interrupted = unfinished_runs(root, engagement)
    if interrupted:
        run_dir = interrupted[-1]
        the_plan, mode = resume_plan(run_dir)
        _say(obj, f"Run {run_dir.name} was interrupted; finishing it first (its own plan, same evidence chain).")
        _finish(obj, apply_plan(the_plan, options, progress=obj.progress(), mode=mode, resume=run_dir), the_plan,
                commit, push)
        return
    if source.suffix != ".json":
        the_plan = build_plan(loaded, progress=obj.progress())
        if obj.output != "json":
            render_plan(the_plan, out)
        if not the_plan.changes():
            waiting = [n for n in the_plan.notices if n.severity == "error"] + [
                a for a in the_plan.actions if a.status == "final" and a.outcome in ("attention", "failed")]
            if obj.output == "json":
                click.echo(json.dumps({"plan": plan_summary(the_plan), "changes": 0, "need_a_person": len(waiting)}))
            elif waiting:
                out.print(f"Nothing to do here, but {len(waiting)} item(s) above need a person.")
            else:
                out.print("Nothing to do.")
            sys.exit(3 if waiting else 0)
        if not yes:
            if not sys.stdin.isatty():  # exit 1, an error: 2 is `plan`'s "found changes"
                raise RevokeError("not asking for confirmation without a terminal: nothing was changed; add --yes, "
                                  "or apply a saved plan (`revoke plan RUNBOOK --out plan.json`, then "
                                  "`revoke apply plan.json`)")
            click.confirm(f"Apply {len(the_plan.changes())} change(s)?", abort=True)
    _finish(obj, apply_plan(the_plan, options, progress=obj.progress()), the_plan, commit, push)


@cli.command()
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

    run_dir = _find_run(run_id, evidence_dir, None)
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
    writer = _report_writer()
    options = ApplyOptions(evidence_root=run_dir.parent, before_seal=writer, observe=getattr(writer, "observe", None),
                           skip_stale=skip_stale)
    result = apply_plan(the_plan, options, progress=obj.progress(), mode="restore",
                        header={"restores": run_dir.name})
    _finish(obj, result, the_plan)


def _find_run(run_id: str, evidence_dir: Path | None, source: Path | None) -> Path:
    candidate = Path(run_id)
    if (candidate / "evidence.jsonl").is_file():
        return candidate
    roots = [evidence_dir] if evidence_dir else [Path("evidence")]
    if source is not None and source.suffix != ".json":
        roots.append(source.parent / "evidence")
    for root in roots:
        if root and (root / run_id / "evidence.jsonl").is_file():
            return root / run_id
    raise RevokeError(f"no run '{run_id}' found (looked in {', '.join(str(r) for r in roots if r)}); "
                      "give the run folder's path or --evidence-dir")


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
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--allowed-signers", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="git's allowed_signers file: the run must be signed by a key it names (the signer is shown).")
@click.option("--tsa-ca", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="The timestamp authority's CA certificate(s), PEM: checks the run's RFC 3161 token.")
@click.pass_obj
def evidence_verify(obj: Context, run_dir: str, allowed_signers: Path | None, tsa_ca: Path | None) -> None:
    """Recompute the hash chain and every file hash of a run folder; exit 1 on any difference.

    RUN_DIR is a folder or, for a run in an S3 evidence store, s3://BUCKET/PREFIX/RUN_ID.

    \b
    The chain alone catches accidents, not a rewrite (anyone with the files can recompute every hash). With
    --allowed-signers the sealed run must carry a signature (`revoke apply --signing-key`) by a key that file
    names; with --tsa-ca its trusted timestamp is checked too. Outside revoke, in the run folder:
      ssh-keygen -Y verify -f allowed_signers -I SIGNER -n revoke-evidence -s seal.sha256.sig < seal.sha256 \\
        && sha256sum -c seal.sha256
    """
    from revoke.errors import EvidenceInvalid
    from revoke.evidence import verify_run

    if run_dir.startswith("s3://"):
        from revoke.scheduler.verify import verify_s3

        line = verify_s3(run_dir)
        out.print(line, markup=False)
        return
    folder = Path(run_dir)
    if not folder.is_dir():
        raise RevokeError(f"{folder}: no such folder; give a run folder, e.g. evidence/<run-id>/ "
                          "(`ls evidence/` beside the runbook lists them)")
    if not any((folder / name).exists() for name in ("evidence.jsonl", "manifest.json", "plan.json")):
        raise RevokeError(f"{folder}: not a revoke run folder (no evidence.jsonl, manifest or plan); give a run "
                          "folder, e.g. evidence/<run-id>/")
    report = verify_run(folder, allowed_signers=allowed_signers, tsa_ca=tsa_ca)
    if not report.ok:
        raise EvidenceInvalid([f"{run_dir}: evidence does NOT verify:"] + [f"  {p}" for p in report.problems])
    out.print(f"{run_dir}: verified: {report.records} records in an unbroken chain, {report.files} files "
              "match the manifest and the seal", markup=False)
    if report.signer:
        out.print(f"signed by {report.signer} (a key {allowed_signers} names)", markup=False)
    elif report.signed:
        out.print("signed, but the signer was not checked: give --allowed-signers", markup=False)
    if report.timestamp:
        out.print(f"timestamped {report.timestamp} by the timestamp authority"
                  + ("" if tsa_ca else " (its signature not checked: give --tsa-ca)"), markup=False)


@evidence.command("export")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["oscal", "pdf"]), default="oscal", show_default=True,
              help="oscal: an OSCAL 1.1 assessment-results document (JSON); pdf: the closure report printed on A4 "
              "by headless Chromium (needs --out).")
@click.option("--out", "out_path", type=click.Path(path_type=Path), help="Write it here (default: standard output; "
              "not into the run folder, which is sealed).")
@click.pass_obj
def evidence_export(obj: Context, run_dir: Path, fmt: str, out_path: Path | None) -> None:
    """Export a run's evidence for a GRC tool: observations per action (with the evidence record and when it was
    collected) and findings for NIST SP 800-53 AC-2 and PS-4, satisfied or not."""
    if fmt == "pdf":
        from revoke.pdf import html_to_pdf

        if out_path is None:
            raise click.UsageError("--format pdf needs --out FILE.pdf")
        html_to_pdf(run_dir / "closure-report.html", out_path)
        _say(obj, f"Wrote {out_path} (the closure report, A4).")
        return
    from revoke.oscal import export

    # one line: a run of thousands of actions exports in a fraction of a second (pretty-print it with jq)
    text = json.dumps(export(run_dir), ensure_ascii=False, separators=(",", ":")) + "\n"
    if out_path is None:
        click.echo(text, nl=False)
    else:
        out_path.write_text(text, encoding="utf-8")
        _say(obj, f"Wrote {out_path} (OSCAL assessment-results).")


@cli.command()
@click.pass_obj
def connectors(obj: Context) -> None:
    """List installed connector plugins (built-in and third-party) with their actions and versions."""
    from importlib.metadata import PackageNotFoundError

    from revoke.connector import installed

    rows = []
    for name, ep in sorted(installed().items()):
        dist = ep.dist.name if ep.dist else "?"
        try:
            cls = ep.load()
            kinds = ", ".join(k.name for k in cls.kinds)
            rows.append({"name": name, "package": dist, "version": getattr(cls, "version", "?"), "actions": kinds})
        except (ImportError, AttributeError, PackageNotFoundError) as e:
            rows.append({"name": name, "package": dist, "version": "?", "actions": f"cannot load: {e}"})
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
    from revoke.engine import check_runbook
    from revoke.runbook import load_runbook

    loaded = load_runbook(runbook)
    docs = {}
    for name, setup in check_runbook(loaded).items():
        docs[name] = {"connector": setup.cls.name, "format": setup.cls.permission_format,
                      "document": setup.cls.permissions_document(setup.cls.kinds)}
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


def _add_reference_commands() -> None:
    """`revoke schema` (revoke/schema_cmd.py) and `revoke init` (revoke/init_cmd.py) live in their own modules."""
    from revoke.init_cmd import init
    from revoke.schema_cmd import schema

    cli.add_command(schema)
    cli.add_command(init)


_add_reference_commands()


def _add_scheduler_commands() -> None:
    """`revoke schedule|worker|runs` live with the durable runs in revoke.scheduler (extra `revoke[temporal]`)."""
    from revoke.scheduler.cli import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


_add_scheduler_commands()


def main() -> None:
    try:
        cli(prog_name="revoke")
    except SystemExit as e:
        scheduler = sys.modules.get("revoke.scheduler.client")
        if scheduler is not None and scheduler.CONNECTED:
            scheduler.hard_exit(e.code)
        raise


if __name__ == "__main__":
    main()
