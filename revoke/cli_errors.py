"""How the `revoke` command line turns what went wrong into one message and an exit code: revoke's named errors
as their message (exit code from the error), anything else as an internal error, a traceback only with --debug,
and everything printed passed through the redactor first (`revoke.redaction`), tracebacks included."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console

from revoke.errors import RevokeError
from revoke.redaction import REDACTOR

err = Console(stderr=True, highlight=False, soft_wrap=True)


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
