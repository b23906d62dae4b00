"""Files attached to the wiki page, kept where Azure DevOps wikis keep them.

An Azure DevOps wiki is a git repository whose attachments live in `.attachments/` at its root and are linked
root-relative (`/.attachments/...`). The root is the nearest folder above the page that already has an
`.attachments` folder, else the root of the git clone, else the page's own folder.
"""

from __future__ import annotations

import filecmp
import shutil
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

ATTACHMENTS = ".attachments"

# The order an auditor reads a run's files in; anything else follows alphabetically.
_READING_ORDER = ["closure-report.html", "closure-report.md", "closure-report.json", "summary.md", "plan.json",
                  "evidence.jsonl", "manifest.json"]


def wiki_root(page: Path) -> Path:
    """The wiki root of a page, found from its real location."""
    return root_above(page.resolve().parent)


def root_above(folder: Path) -> Path:
    """The nearest of `folder` and its parents that has `.attachments` or is a git clone's top, else `folder`."""
    for candidate in (folder, *folder.parents):
        if (candidate / ATTACHMENTS).is_dir() or (candidate / ".git").exists():
            return candidate
    return folder


def link_target(root: Path, path: Path) -> str:
    """The root-relative link the wiki resolves, with each path segment URL-quoted."""
    rel = path.resolve().relative_to(root.resolve())
    return "/" + "/".join(quote(part) for part in rel.parts)


def run_attachment_dir(page: Path, engagement: str, run_id: str) -> Path:
    return wiki_root(page) / ATTACHMENTS / engagement / run_id


def run_files(run_dir: Path) -> list[str]:
    files = [str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file() and not p.name.endswith(".tmp")]
    rank = {name: i for i, name in enumerate(_READING_ORDER)}
    return sorted(files, key=lambda name: (rank.get(name, len(rank)), name))


def copy_run(run_dir: Path, dest: Path) -> list[Path]:
    """Copy every file of the sealed run folder; the run folder is the source of truth, so a changed copy is
    replaced. Returns the copies in reading order."""
    copies = []
    for rel in run_files(run_dir):
        src, dst = run_dir / rel, dest / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not (dst.is_file() and filecmp.cmp(src, dst, shallow=False)):
            shutil.copyfile(src, dst)
        copies.append(dst)
    return copies


def attach_file(page: Path, source: Path, inside: Callable[[Path], Path] = lambda p: p) -> Path:
    """Copy one file a person attaches (`revoke checklist mark --attach`) next to the page's other attachments,
    never overwriting a different file of the same name. `inside` checks the folder before anything is made."""
    folder = inside(wiki_root(page) / ATTACHMENTS / page.stem)
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / source.name
    n = 1
    while dst.exists() and not filecmp.cmp(source, dst, shallow=False):
        n += 1
        dst = folder / f"{source.stem}-{n}{source.suffix}"
    if not dst.exists():
        shutil.copyfile(source, dst)
    return dst
