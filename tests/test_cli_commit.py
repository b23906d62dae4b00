"""`revoke apply --commit` versions the closure record in the wiki's git clone, and never pushes unasked."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

SEED = Path(__file__).parent / "data" / "customer-offboarding-checklist.md"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_apply_commit_versions_page_and_evidence(engagement: dict, run_cli) -> None:
    wiki = engagement["dir"] / "wiki"
    wiki.mkdir()
    shutil.copy(SEED, wiki / "Offboarding.md")
    git(wiki, "init", "-q", "-b", "main")
    git(wiki, "-c", "user.email=t@example.org", "-c", "user.name=t", "add", ".")
    git(wiki, "-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-qm", "seed")
    remote = engagement["dir"] / "wiki-remote.git"   # the wiki's server, as a clone of Azure DevOps' wiki has one
    git(engagement["dir"], "init", "-q", "--bare", "-b", "main", str(remote))
    git(wiki, "remote", "add", "origin", str(remote))
    git(wiki, "push", "-q", "-u", "origin", "main")
    seed = git(remote, "rev-parse", "main")
    runbook = engagement["runbook"]
    data = yaml.safe_load(runbook.read_text())
    data["checklist"] = "wiki/Offboarding.md"
    runbook.write_text(yaml.safe_dump(data, sort_keys=False))

    assert run_cli("validate", str(runbook)).exit_code == 0
    result = run_cli("--quiet", "apply", str(runbook), "--yes", "--commit",
                     env={"GIT_AUTHOR_NAME": "ops", "GIT_AUTHOR_EMAIL": "ops@example.org",
                          "GIT_COMMITTER_NAME": "ops", "GIT_COMMITTER_EMAIL": "ops@example.org"})
    assert result.exit_code == 0, result.output + result.stderr
    message = git(wiki, "log", "-1", "--format=%B")
    run_id = next((engagement["dir"] / "evidence").glob("*-apply-*")).name
    assert "acme-2026" in message and run_id in message
    assert git(wiki, "status", "--porcelain") == ""  # page and attachments are all in the commit
    assert "| 3 | Done |" in (wiki / "Offboarding.md").read_text()
    # committed in the clone, never sent: the wiki's server still has only the seed (`--push` would send it)
    assert git(wiki, "rev-parse", "HEAD") != seed and git(remote, "rev-parse", "main") == seed
    assert git(wiki, "status", "--porcelain", "--branch").startswith("## main...origin/main [ahead 1]")


def test_validate_reports_a_missing_checklist_page(engagement: dict, run_cli) -> None:
    runbook = engagement["runbook"]
    data = yaml.safe_load(runbook.read_text())
    data["checklist"] = "wiki/Nope.md"
    runbook.write_text(yaml.safe_dump(data, sort_keys=False))
    result = run_cli("validate", str(runbook))
    assert result.exit_code == 1 and f"{runbook}:" in result.stderr and "checklist" in result.stderr
