"""`revoke apply --commit` versions the closure record in the wiki's git clone, and never pushes unasked."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

SEED = Path(__file__).parent / "data" / "customer-offboarding-checklist.md"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


OPS = {"GIT_AUTHOR_NAME": "ops", "GIT_AUTHOR_EMAIL": "ops@example.org",
       "GIT_COMMITTER_NAME": "ops", "GIT_COMMITTER_EMAIL": "ops@example.org"}


def _wiki_clone(root: Path) -> tuple[Path, Path]:
    """A wiki clone with an origin (a bare repository on disk), as `git clone` of the Azure DevOps wiki leaves."""
    origin, wiki = root / "origin.git", root / "wiki"
    seed = root / "seed"
    seed.mkdir()
    shutil.copy(SEED, seed / "Offboarding.md")
    git(seed, "init", "-q", "-b", "main")
    git(seed, "-c", "user.email=t@example.org", "-c", "user.name=t", "add", ".")
    git(seed, "-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-qm", "seed")
    git(root, "clone", "-q", "--bare", str(seed), str(origin))
    git(root, "clone", "-q", str(origin), str(wiki))
    shutil.rmtree(seed)
    return origin, wiki


def test_apply_commit_versions_page_and_evidence(engagement: dict, run_cli) -> None:
    origin, wiki = _wiki_clone(engagement["dir"])
    published = git(origin, "rev-parse", "main")
    runbook = engagement["runbook"]
    data = yaml.safe_load(runbook.read_text())
    data["checklist"] = "wiki/Offboarding.md"
    runbook.write_text(yaml.safe_dump(data, sort_keys=False))

    assert run_cli("validate", str(runbook)).exit_code == 0
    result = run_cli("--quiet", "apply", str(runbook), "--yes", "--commit", env=OPS)
    assert result.exit_code == 0, result.output + result.stderr
    message = git(wiki, "log", "-1", "--format=%B")
    run_id = next((engagement["dir"] / "evidence").glob("*-apply-*")).name
    assert "acme-2026" in message and run_id in message
    assert git(wiki, "status", "--porcelain") == ""  # page and attachments are all in the commit
    assert "| 3 | Done |" in (wiki / "Offboarding.md").read_text()
    # committed in the clone, never pushed unasked: the wiki everyone reads is as it was
    assert git(origin, "rev-parse", "main") == published != git(wiki, "rev-parse", "HEAD")


def test_push_publishes_the_commit_to_the_wiki(engagement: dict, run_cli) -> None:
    origin, wiki = _wiki_clone(engagement["dir"])
    runbook = engagement["runbook"]
    data = yaml.safe_load(runbook.read_text())
    data["checklist"] = "wiki/Offboarding.md"
    runbook.write_text(yaml.safe_dump(data, sort_keys=False))
    result = run_cli("--quiet", "apply", str(runbook), "--yes", "--commit", "--push", env=OPS)
    assert result.exit_code == 0, result.output + result.stderr
    assert git(origin, "rev-parse", "main") == git(wiki, "rev-parse", "HEAD")
    assert "| 3 | Done |" in git(origin, "show", "main:Offboarding.md")


def test_validate_reports_a_missing_checklist_page(engagement: dict, run_cli) -> None:
    runbook = engagement["runbook"]
    data = yaml.safe_load(runbook.read_text())
    data["checklist"] = "wiki/Nope.md"
    runbook.write_text(yaml.safe_dump(data, sort_keys=False))
    result = run_cli("validate", str(runbook))
    assert result.exit_code == 1 and f"{runbook}:" in result.stderr and "checklist" in result.stderr
