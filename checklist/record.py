"""Report a sealed run, or a person's manual step, back to the checklist page.

The CLI calls `record_run` after the run is sealed: it copies the run folder under the wiki's `.attachments/`,
sets the Status of each item the run touched, adds a link to that item's part of the closure report in the
Owner/Link cell and lists the files in the Attachments section. Nothing else on the page changes.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from pathlib import Path

from revoke.checklist.attachments import attach_file, copy_run, link_target, run_attachment_dir, wiki_root
from revoke.checklist.closure import build_closure
from revoke.checklist.items import DEFAULT_TITLES, NOT_COVERED
from revoke.checklist.page import (
    REVOKE_MARK,
    ChecklistError,
    ChecklistPage,
    Link,
    canonical_status,
    escape_cell,
    link_markdown,
)
from revoke.runbook import ChecklistSpec

_MODE_WORDS = {"plan": "dry run", "apply": "apply", "restore": "restore"}


def page_path(spec: ChecklistSpec, runbook_dir: Path) -> Path:
    p = Path(spec.page)
    return p if p.is_absolute() else Path(runbook_dir) / p


def title_hint(number: int, spec: ChecklistSpec) -> str | None:
    """The seed's bold title for the default items, so a page with rows added above them still matches."""
    if (number == 3 and spec.accounts_item == 3) or (number == 4 and spec.lists_item == 4):
        return DEFAULT_TITLES[number]
    return None


def check_checklist(spec: ChecklistSpec, runbook_dir: Path) -> list[str]:
    """What would stop `record_run` from marking the page, for `revoke validate` to report before any run."""
    try:
        page = ChecklistPage.read(page_path(spec, runbook_dir))
    except ChecklistError as err:
        return [str(err)]
    numbers = {spec.accounts_item, spec.lists_item, *spec.items.values()}
    problems = []
    for number in sorted(numbers):
        try:
            page.item(number, title_hint(number, spec))
        except ChecklistError as err:
            problems.append(str(err))
    return problems


def recorded_paths(spec: ChecklistSpec, runbook_dir: Path, run_dir: Path) -> list[Path]:
    """What `record_run` writes, for `revoke.checklist.git.commit_page`."""
    page = page_path(spec, runbook_dir)
    closure = build_closure(Path(run_dir))
    return [page, run_attachment_dir(page, closure["run"]["engagement"], closure["run"]["run_id"])]


def record_run(spec: ChecklistSpec, runbook_dir: Path, run_dir: Path, *, mark: bool) -> str:
    """Mark the page from a sealed run. Returns one line for the CLI to print."""
    run_dir = Path(run_dir)
    page_file = page_path(spec, runbook_dir)
    closure = build_closure(run_dir)
    run = closure["run"]
    mode = run["mode"]
    if mode == "plan" and not mark:
        return f"checklist {page_file.name}: not marked (add --mark-checklist to attach this dry run)"
    page = ChecklistPage.read(page_file)  # a symlink is followed to the real page: page.path
    root = wiki_root(page.path or page_file)
    # Find every row before writing anything, so a page without the item changes nothing.
    rows = [(item, page.item(item["number"], title_hint(item["number"], spec))) for item in closure["items"]]
    dest = inside_wiki(root, run_attachment_dir(page.path or page_file, run["engagement"], run["run_id"]))
    copies = copy_run(run_dir, dest)
    names = {c.relative_to(dest).as_posix(): c for c in copies}
    report = next(names[n] for n in ("closure-report.html", "summary.md", "evidence.jsonl", *names) if n in names)
    day = (run.get("started") or "")[:10]
    said = []
    for item, row in rows:
        status = item["status"]
        if status == NOT_COVERED:
            status = row.status  # whoever does it by hand marks it; the run only says it did not
        elif mode == "plan" and row.status == "Done":
            status = row.status  # a rehearsal after the work is done does not reopen the item
        page.set_status(row.number, status, row.title)
        label = f"{_MODE_WORDS.get(mode, mode)} on {day}: {item['result']}"
        page.append_to_owner(row.number, f"{REVOKE_MARK} " + link_markdown(
            label, f"{link_target(root, report)}#item-{item['number']}"), row.title)
        detail = f" ({item['result']})" if status == "Blocked" or item["status"] == NOT_COVERED else ""
        said.append(f"item {row.number} {row.title} -> {status}{detail}")
    page.add_attachments([Link(f"{run['run_id']}/{name}", link_target(root, c)) for name, c in names.items()])
    page.write()
    where = dest.relative_to(root)
    items = "; ".join(said) or "no item touched by this run"
    return f"checklist {page_file.name}: {items}; {len(copies)} evidence files attached under {where}"


def inside_wiki(root: Path, path: Path) -> Path:
    """`path`, if it really lies inside the wiki (no symlinked folder leads out of it); refused otherwise."""
    real = path.resolve()
    if not real.is_relative_to(root.resolve()):
        raise ChecklistError(f"{path} leads to {real}, outside the wiki ({root}): revoke writes only inside the "
                             "wiki; remove the symlink")
    return path


def operator_name() -> str:
    return os.environ.get("REVOKE_OPERATOR") or getpass.getuser()


def mark_item(page_file: Path, number: int, status: str, note: str, *, attach: Path | None = None,
              operator: str | None = None, when: dt.datetime | None = None) -> tuple[ChecklistPage, list[Path]]:
    """Record a manual item (1 Deliverable Acceptance, 2 Retrospective, 5 Celebrate Success, or any other):
    status, who, when, a note, and optionally a file. Returns the page and the files written."""
    status = canonical_status(status)
    page = ChecklistPage.read(page_file)
    row = page.item(number)
    who = operator or operator_name()
    stamp = (when or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"{status} by {who} on {stamp}: {note}".rstrip(": ")
    written = [page_file]
    page.set_status(row.number, status, row.title)
    if attach is not None:
        root = wiki_root(page.path or page_file)
        copy = attach_file(page.path or page_file, attach, inside=lambda p: inside_wiki(root, p))
        target = link_target(root, copy)
        page.append_to_owner(row.number, link_markdown(text, target), row.title)
        page.add_attachments([Link(copy.name, target)])
        written.append(copy)
    else:
        page.append_to_owner(row.number, escape_cell(text), row.title)
    page.write()
    return page, written
