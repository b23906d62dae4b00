"""`revoke checklist show|mark`: read the checklist page and record the manual items on it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import click

from revoke.checklist.attachments import wiki_root
from revoke.checklist.git import commit_page
from revoke.checklist.page import ChecklistPage, Item
from revoke.checklist.record import mark_item
from revoke.errors import RevokeError


def _missing(root: Path, target: str) -> bool:
    """Whether a root-relative attachment link points at no file in this clone of the wiki."""
    if not target.startswith("/.attachments/"):
        return False
    return not (root / unquote(target.split("#", 1)[0]).lstrip("/")).is_file()


def _show_item(item: Item, root: Path) -> list[str]:
    out = [f"{item.number:>3}  {item.status:<12} {item.title}"]
    for link in item.links:
        flag = "  (file missing)" if _missing(root, link.target) else ""
        out.append(f"{'':>5}{'':<12} - {link.label}: {link.target}{flag}")
    return out


@click.group("checklist")
def checklist() -> None:
    """Read the offboarding checklist page and record its manual items."""


@checklist.command("show")
@click.argument("page", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def show(page: Path) -> None:
    """Print each item with its status and evidence links."""
    try:
        parsed = ChecklistPage.read(page)
    except RevokeError as err:
        raise click.ClickException(str(err)) from None
    if not parsed.items:
        raise click.ClickException(f"{page}: no checklist table found (a table with a Status column and "
                                   "numbered rows)")
    root = wiki_root(page)
    lines = [f"{page}"]
    for item in parsed.items:
        lines.extend(_show_item(item, root))
    done = sum(1 for it in parsed.items if it.status == "Done")
    lines.append(f"{done} of {len(parsed.items)} items Done; {len(parsed.attachments)} attachments listed")
    click.echo("\n".join(lines))


@checklist.command("mark")
@click.argument("page", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("number", type=int)
@click.argument("status")
@click.option("--note", required=True, help="What was done, e.g. 'acceptance signed by J. Doe'.")
@click.option("--attach", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file to attach (copied under the wiki's .attachments/ and linked from the item).")
@click.option("--commit", "do_commit", is_flag=True, help="Commit the page and the attachment if in a git clone.")
@click.option("--push", is_flag=True, help="Push after committing (implies --commit).")
def mark(page: Path, number: int, status: str, note: str, attach: Path | None, do_commit: bool, push: bool) -> None:
    """Set item NUMBER to STATUS (To Do, In Progress, Done, Blocked) with a note, recording who and when.

    The operator is REVOKE_OPERATOR if set, else the OS user."""
    try:
        parsed, written = mark_item(page, number, status, note, attach=attach)
        item = parsed.item(number)
        click.echo(f"{page}: item {item.number} {item.title} -> {item.status}")
        if do_commit or push:
            message = f"checklist: item {item.number} {item.title} {item.status}: {note}"
            click.echo(commit_page(page, written[1:], message, push=push))
    except RevokeError as err:
        raise click.ClickException(str(err)) from None
