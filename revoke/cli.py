"""The `revoke` command line.

Exit codes: 0 success or nothing to do; 1 error (bad input, cannot connect, refused by a guardrail);
2 `plan` found changes; 3 `apply` finished with some actions failed or needing a person (the rest done).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from revoke import __version__
from revoke.console import Context, err, out
from revoke.errors import RevokeError
from revoke.redaction import REDACTOR, install_log_filter

QUIET_SDKS = ("slack_sdk", "botocore", "boto3", "urllib3", "msal", "ldap3", "githubkit", "httpx", "okta",
              "googleapiclient", "google.auth", "temporalio")

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


def _add_commands() -> None:
    """Each command lives with what it is about: runs (revoke/cli_run.py), evidence and connectors
    (revoke/cli_evidence.py), `schema` and `init`, the checklist page (revoke.checklist) and the durable runs
    (revoke.scheduler, extra `revoke[temporal]`). Registered in the order `revoke --help` lists them."""
    from revoke import cli_evidence, cli_run
    from revoke.checklist.cli import checklist
    from revoke.init_cmd import init
    from revoke.scheduler.cli import COMMANDS as SCHEDULER
    from revoke.schema_cmd import schema

    for command in [*cli_run.COMMANDS, *cli_evidence.COMMANDS, checklist, schema, init, *SCHEDULER]:
        cli.add_command(command)


_add_commands()


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
