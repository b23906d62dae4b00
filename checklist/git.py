"""Version the closure record: commit the checklist page and its attachments when the page lives in a git clone
(Azure DevOps project wikis are git repositories). Nothing is pushed unless asked.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from revoke.checklist.closure import build_closure
from revoke.checklist.page import ChecklistError
from revoke.checklist.record import recorded_paths
from revoke.runbook import ChecklistSpec


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def repo_root(path: Path) -> Path | None:
    folder = path if path.is_dir() else path.parent
    try:
        done = _git(folder, "rev-parse", "--show-toplevel")
    except FileNotFoundError:
        return None  # no git installed: the page cannot be in a clone we can commit to
    return Path(done.stdout.strip()) if done.returncode == 0 else None


def commit_message(engagement: str, run_id: str, what: str) -> str:
    return f"revoke: {engagement} run {run_id}: {what}"


def commit_page(page: Path, paths: list[Path], message: str, push: bool) -> str:
    """Commit exactly the page and `paths` (files or folders), nothing else that is staged or changed.
    Returns one line for the CLI to print."""
    root = repo_root(page.resolve())
    if root is None:
        return f"{page.name} is not in a git clone; nothing committed"
    rels = sorted({str(p.resolve().relative_to(root.resolve())) for p in [page, *paths] if p.exists()})
    added = _git(root, "add", "--", *rels)
    if added.returncode != 0:
        raise ChecklistError(f"git add failed in {root}: {added.stderr.strip()}")
    staged = _git(root, "diff", "--cached", "--quiet", "--", *rels)
    if staged.returncode == 0:
        return f"{page.name}: nothing new to commit"
    done = _git(root, "commit", "--quiet", "-m", message, "--", *rels)
    if done.returncode != 0:
        hint = " (set git config user.name and user.email)" if "identity" in done.stderr.lower() else ""
        raise ChecklistError(f"git commit failed in {root}: {done.stderr.strip()}{hint}")
    sha = _git(root, "rev-parse", "--short", "HEAD").stdout.strip()
    said = f"committed {page.name} and {len(rels) - 1} attachment path(s) as {sha} in {root}"
    if push:
        pushed = _git(root, "push", "--quiet")
        if pushed.returncode != 0:
            raise ChecklistError(f"committed {sha} but git push failed: {pushed.stderr.strip()}; "
                                 "push it yourself once the remote is reachable")
        said += ", pushed"
    return said


def commit_run(spec: ChecklistSpec, runbook_dir: Path, run_dir: Path, *, push: bool) -> str:
    """Commit what `record_run` wrote for this run (`revoke plan|apply --commit [--push]`), with a message
    naming the engagement, the run id and each item's new status."""
    run_dir = Path(run_dir)
    closure = build_closure(run_dir)
    run = closure["run"]
    items = ", ".join(f"item {i['number']} {i['status']}" for i in closure["items"]) or "no items"
    page, *paths = recorded_paths(spec, runbook_dir, run_dir)
    return commit_page(page, paths, commit_message(run["engagement"], run["run_id"], f"{run['mode']}: {items}"),
                       push)
