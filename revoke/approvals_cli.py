"""`revoke plan approve PLAN --key KEY`: an approver signs a saved plan (see `revoke.approvals`).

`revoke plan RUNBOOK` stays the dry run; `PlanCommand` hands a first word `approve` to the approve command, so
the two read as one command family without making every `revoke plan` call a group invocation.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click


@click.command("approve")
@click.argument("plan_file", metavar="PLAN", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", "-k", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Your SSH key: a private key, or a public key whose private half is in ssh-agent.")
@click.option("--yes", "-y", is_flag=True, help="Sign without asking (the plan is still shown).")
def approve(plan_file: Path, key: Path, yes: bool) -> None:
    """Approve a saved plan: show it, then sign its digest with your SSH key (ssh-keygen -Y sign).

    \b
    The signature goes beside the plan, in PLAN.approvals/ (one file per key; several approvers' files sit
    side by side, and signing again replaces your own). `revoke apply PLAN` counts the distinct signers that the
    runbook's `approvals: {allowed_signers: FILE, required: N}` names, and refuses a plan with fewer, or one
    changed after it was approved. Needs OpenSSH's ssh-keygen (Debian package openssh-client).
    """
    from revoke import approvals
    from revoke.console import out
    from revoke.plan import load_plan
    from revoke.render import render_plan

    plan = load_plan(plan_file)
    render_plan(plan, out)
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("not asking for confirmation without a terminal: add --yes")
        click.confirm(f"Approve plan {plan.plan_id} (digest {plan.digest()[:16]}…)?", abort=True)
    written = approvals.approve(plan, plan_file, key)
    lines = [f"Approved plan {plan.plan_id} (digest {plan.digest()[:16]}…): {written}"]
    verdict = approvals.evaluate(plan, plan_file)
    if verdict is None:
        lines.append("The runbook asks for no approvals (no `approvals:` section): this one is kept, not needed.")
    else:
        mine = next(a for a in verdict.approvals if a.file == written.name)
        if mine.problem:
            lines.append(f"This approval does not count: {mine.problem}.")
        count = len(verdict.signers)
        lines.append(f"Approvals: {', '.join(verdict.signers) or 'none'} ({count} of {verdict.required}); " +
                     (f"ready for `revoke apply {plan_file}`" if count >= verdict.required else
                      f"{verdict.required - count} more needed"))
    out.print("\n".join(lines), markup=False)


class PlanCommand(click.Command):
    """`revoke plan RUNBOOK ...`, and `revoke plan approve PLAN ...` when the first word is `approve`."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        if args and args[0] == "approve":
            return approve.make_context(f"{info_name} approve", args[1:], parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)
