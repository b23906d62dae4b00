"""`revoke demo`, the README's first command, runs the whole job against the local sandbox."""

from __future__ import annotations

from pathlib import Path

from revoke.evidence import read_records, verify_run


def test_demo_runs_end_to_end_and_leaves_a_verified_record(tmp_path: Path, run_cli) -> None:
    workdir = tmp_path / "demo"
    result = run_cli("--quiet", "demo", "--dir", str(workdir))
    assert result.exit_code == 0, result.output + result.stderr
    for command in ("$ revoke validate", "$ revoke plan", "$ revoke apply", "$ revoke evidence verify"):
        assert command in result.output
    run = next((workdir / "evidence").glob("*-apply-*"))
    assert verify_run(run).ok
    systems = {r["system"] for r in read_records(run) if r["type"] == "action" and r["outcome"] == "done"}
    # corp-ldap too where slapd is installed
    assert {"aws", "aws-sso", "entra", "m365", "exchange", "slack", "github", "workspace", "okta"} <= systems
    page = (workdir / "wiki" / "Customer-Offboarding-Checklist.md").read_text()
    assert "| 3 | Done |" in page or "| 3 | Blocked |" in page
    assert "| 4 | Done |" in page  # the distribution list is closed in Exchange Online, not left for a person
    secrets = (workdir / ".env").read_text().splitlines()
    everything = result.output + "".join(p.read_text(errors="replace") for p in run.rglob("*") if p.is_file())
    for line in secrets:
        assert line.split("=", 1)[1] not in everything  # generated secrets never reach output or evidence


def test_demo_refuses_a_folder_that_is_not_its_own(tmp_path: Path, run_cli) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = run_cli("demo", "--dir", str(tmp_path))
    assert result.exit_code == 1 and "not a demo folder" in result.output
    assert (tmp_path / "notes.txt").read_text() == "mine"
