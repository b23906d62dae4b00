"""End to end against a real slapd: `revoke plan --mark-checklist` then `revoke apply` report back to the wiki page,
and the closure report they attach is covered by `revoke evidence verify`."""

from __future__ import annotations

import difflib
import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from revoke.checklist.cli import checklist
from revoke.checklist.page import ChecklistPage

from revoke.evidence import verify_run
from revoke.sandbox.slapd import Slapd
from tests.checklist_runs import SEED, make_wiki
from tests.conftest import ldap_system, write_runbook, yesterday


@pytest.fixture
def engagement(slapd: Slapd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("REVOKE_CORP_LDAP", slapd.service.password)
    alice = slapd.add_user("alice", mail="alice@example.org")
    carol = slapd.add_user("carol", mail="carol@example.org")
    eng = slapd.add_group("eng", [alice.dn, carol.dn])
    team_list = slapd.add_group("acme-team", [alice.dn, carol.dn], ou="lists", mail="acme-team@example.org")
    page = make_wiki(tmp_path)
    runbook = write_runbook(tmp_path / "acme.yaml", {
        "engagement": "acme-2026",
        "final_day": yesterday(),
        "systems": {"corp-ldap": ldap_system(slapd)},
        "people": [{"name": "Alice Example", "ids": {"corp-ldap": "alice"}}],
        "lists": [{"system": "corp-ldap", "id": team_list}],
        "checklist": "wiki/Offboarding.md",
    })
    return {"runbook": runbook, "page": page, "alice": alice, "carol": carol, "eng": eng, "list": team_list,
            "dir": tmp_path}


def changed_rows(before: str, after: str) -> tuple[list[tuple[str, str]], list[str]]:
    a, b = before.splitlines(), after.splitlines()
    replaced, added = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "replace" and i2 - i1 == j2 - j1:
            replaced.extend(zip(a[i1:i2], b[j1:j2]))
        elif op == "insert":
            added.extend(b[j1:j2])
        elif op != "equal":
            raise AssertionError(f"unexpected {op}: {a[i1:i2]} -> {b[j1:j2]}")
    return replaced, added


def cells(row: str) -> list[str]:
    return row.replace("\\|", "\0").split("|")


def test_dry_run_then_apply_take_the_page_to_done_touching_only_status_links_and_attachments(
        engagement: dict, slapd: Slapd, run_cli) -> None:
    page = engagement["page"]
    seed = SEED.read_text(encoding="utf-8")

    planned = run_cli("--quiet", "plan", str(engagement["runbook"]), "--mark-checklist")
    assert planned.exit_code == 2, planned.output + planned.stderr
    after_plan = ChecklistPage.read(page)
    assert [(it.number, it.status) for it in after_plan.items] == [
        (1, "To Do"), (2, "To Do"), (3, "In Progress"), (4, "In Progress"), (5, "To Do")]
    dry = after_plan.item(3).links[-1]
    assert dry.label.startswith("dry run on ") and dry.label.endswith(" actions planned")
    assert slapd.can_bind(engagement["alice"].dn, engagement["alice"].password)  # the dry run changed nothing

    applied = run_cli("--quiet", "apply", str(engagement["runbook"]), "--yes")
    assert applied.exit_code == 0, applied.output + applied.stderr
    assert not slapd.can_bind(engagement["alice"].dn, engagement["alice"].password)
    assert slapd.read(engagement["list"]) is None

    final = ChecklistPage.read(page)
    assert [(it.number, it.status) for it in final.items] == [
        (1, "To Do"), (2, "To Do"), (3, "Done"), (4, "Done"), (5, "To Do")]
    replaced, added = changed_rows(seed, page.read_text(encoding="utf-8"))
    assert [old.split("|")[1].strip() for old, _ in replaced] == ["3", "4"]
    for old, new in replaced:
        o, n = cells(old), cells(new)
        assert [i for i in range(len(o)) if o[i] != n[i]] == [2, 5]  # Status and Owner/Link only
        assert n[5].count("](/.attachments/acme-2026/") == 2          # the dry run's link and the apply's
    assert all(not ln or ln.startswith("[acme-2026-") for ln in added)

    # every attachment the page lists exists, and each attached run folder verifies on its own
    root = page.parent
    runs = {Path(a.target).parent for a in final.attachments[1:]}
    assert len(runs) == 2
    for link in final.attachments[1:]:
        assert (root / link.target.lstrip("/")).is_file(), link.target
    for run in runs:
        assert verify_run(root / str(run).lstrip("/")).ok

    # the apply link leads to the item's part of a closure report that says who, what and how it was verified
    apply_link = final.item(3).links[-1]
    report_path = root / apply_link.target.split("#")[0].lstrip("/")
    assert apply_link.target.endswith("closure-report.html#item-3") and report_path.is_file()
    report = json.loads(report_path.with_name("closure-report.json").read_text())
    access = next(i for i in report["items"] if i["number"] == 3)
    assert access["status"] == "Done"
    lock = next(a for a in access["actions"] if a["kind"] == "lock-account")
    assert lock["person"] == "Alice Example" and lock["verification"] == "verified"
    assert lock["before"]["locked"] is False and lock["after"]["locked"] is True
    assert lock["operator"].startswith("uid=revoke-svc")
    assert [(e["person"], e["system"]) for e in report["exposure"]] == [("Alice Example", "corp-ldap")]
    assert report["exposure"][0]["items"][0]["what"].startswith("sessions of applications")


def test_tampered_closure_report_fails_evidence_verify(engagement: dict, run_cli) -> None:
    assert run_cli("--quiet", "apply", str(engagement["runbook"]), "--yes").exit_code == 0
    (run_dir,) = (engagement["dir"] / "evidence").glob("*-apply-*")
    for name in ("closure-report.md", "closure-report.html", "closure-report.json"):
        assert name in json.loads((run_dir / "manifest.json").read_text())["files"]
    assert run_cli("evidence", "verify", str(run_dir)).exit_code == 0
    report = run_dir / "closure-report.md"
    report.write_text(report.read_text().replace("verified", "verifled", 1))
    verdict = run_cli("evidence", "verify", str(run_dir))
    assert verdict.exit_code == 1
    assert "closure-report.md" in verdict.stderr


def test_checklist_show_after_apply(engagement: dict, run_cli) -> None:
    assert run_cli("--quiet", "apply", str(engagement["runbook"]), "--yes").exit_code == 0
    shown = CliRunner().invoke(checklist, ["show", str(engagement["page"])], catch_exceptions=False)
    assert shown.exit_code == 0
    assert "  3  Done         Site/Network Access" in shown.output
    assert "  4  Done         Team Collaboration" in shown.output
    assert "(file missing)" not in shown.output


def test_restore_reopens_the_items_it_undid(engagement: dict, slapd: Slapd, run_cli) -> None:
    assert run_cli("--quiet", "apply", str(engagement["runbook"]), "--yes").exit_code == 0
    (run_dir,) = (engagement["dir"] / "evidence").glob("*-apply-*")
    restored = run_cli("--quiet", "restore", str(run_dir), "--yes", "--system", "corp-ldap",
                       "--person", "Alice Example")
    assert restored.exit_code == 0, restored.output + restored.stderr
    assert slapd.can_bind(engagement["alice"].dn, engagement["alice"].password)
    page = ChecklistPage.read(engagement["page"])
    assert page.item(3).status == "In Progress"  # access is back: the item is no longer done
    assert page.item(3).links[-1].label.startswith("restore on ")
    assert page.item(3).links[-1].target.endswith("closure-report.html#item-3")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_apply_with_commit_versions_the_page_in_the_wiki_clone(engagement: dict, run_cli) -> None:
    wiki = engagement["page"].parent
    remote = engagement["dir"] / "wiki-remote.git"
    _git(engagement["dir"], "init", "--quiet", "--bare", "-b", "main", str(remote))
    _git(wiki, "init", "--quiet", "-b", "main")
    _git(wiki, "config", "user.name", "Test Operator")
    _git(wiki, "config", "user.email", "operator@example.org")
    _git(wiki, "remote", "add", "origin", str(remote))
    _git(wiki, "add", "-A")
    _git(wiki, "commit", "--quiet", "-m", "wiki")
    _git(wiki, "push", "--quiet", "-u", "origin", "main")
    pushed = _git(remote, "rev-parse", "main")

    applied = run_cli("--quiet", "apply", str(engagement["runbook"]), "--yes", "--commit")
    assert applied.exit_code == 0, applied.output + applied.stderr
    (run_dir,) = (engagement["dir"] / "evidence").glob("*-apply-*")
    assert _git(wiki, "log", "-1", "--format=%s").strip() == (
        f"revoke: acme-2026 run {run_dir.name}: apply: item 3 Done, item 4 Done")
    committed = set(_git(wiki, "show", "--name-only", "--format=", "HEAD").split())
    assert "Offboarding.md" in committed
    assert f".attachments/acme-2026/{run_dir.name}/closure-report.html" in committed
    assert _git(wiki, "status", "--porcelain") == ""
    assert _git(remote, "rev-parse", "main") == pushed  # --commit alone never pushes


def test_checklist_commands_are_part_of_revoke(engagement: dict, run_cli) -> None:
    assert run_cli("--quiet", "apply", str(engagement["runbook"]), "--yes").exit_code == 0
    shown = run_cli("checklist", "show", str(engagement["page"]))
    assert shown.exit_code == 0 and "  3  Done         Site/Network Access" in shown.output
    marked = run_cli("checklist", "mark", str(engagement["page"]), "2", "done", "--note", "retro held",
                     env={"REVOKE_OPERATOR": "em@example.org"})
    assert marked.exit_code == 0, marked.output + marked.stderr
    assert ChecklistPage.read(engagement["page"]).item(2).status == "Done"


def test_validate_reports_a_checklist_item_the_page_lacks(engagement: dict, run_cli) -> None:
    runbook = engagement["runbook"]
    runbook.write_text(runbook.read_text().replace("checklist: wiki/Offboarding.md",
                                                   "checklist:\n  page: wiki/Offboarding.md\n  lists_item: 9"))
    result = run_cli("validate", str(runbook))
    assert result.exit_code == 1
    assert "no item 9 in the checklist table" in result.output + result.stderr
