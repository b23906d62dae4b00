"""Runs and people report back to the checklist page: statuses, evidence links, attachments, commits."""

from __future__ import annotations

import difflib
import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from revoke.checklist.cli import checklist
from revoke.checklist.git import commit_page, commit_run
from revoke.checklist.page import ChecklistPage
from revoke.checklist.record import check_checklist, record_run, recorded_paths

from revoke.evidence import verify_run
from revoke.runbook import ChecklistSpec
from tests.checklist_runs import SEED, default_steps, make_run, make_wiki

RUN_ID = "acme-2026-20261125T100000Z-apply-abc123"
PLAN_RUN_ID = "acme-2026-20261125T100000Z-plan-abc123"


def diff(before: bytes, after: bytes) -> tuple[list[tuple[str, str]], list[str]]:
    """(replaced old/new line pairs, added lines) between two versions of a page."""
    a, b = before.decode().splitlines(), after.decode().splitlines()
    replaced, added = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "replace":
            assert i2 - i1 == j2 - j1, (a[i1:i2], b[j1:j2])
            replaced.extend(zip(a[i1:i2], b[j1:j2]))
        elif op == "insert":
            added.extend(b[j1:j2])
        elif op == "delete":
            raise AssertionError(f"lines removed: {a[i1:i2]}")
    return replaced, added


def cells(row: str) -> list[str]:
    return [c for c in row.replace("\\|", "\0").split("|")]


@pytest.fixture
def wiki(tmp_path: Path) -> Path:
    return make_wiki(tmp_path)


def test_apply_run_marks_items_links_evidence_and_changes_nothing_else(wiki: Path, tmp_path: Path):
    run = make_run(tmp_path / "evidence")
    before = wiki.read_bytes()
    line = record_run(ChecklistSpec(page="wiki/Offboarding.md"), tmp_path, run, mark=False)
    assert line == ("checklist Offboarding.md: item 3 Site/Network Access -> Done; item 4 Team Collaboration -> "
                    f"Done; 7 evidence files attached under .attachments/acme-2026/{RUN_ID}")
    after = wiki.read_bytes()
    replaced, added = diff(before, after)
    # exactly the two rows, and in them exactly the Status and Owner/Link cells
    assert [old.split("|")[1].strip() for old, _ in replaced] == ["3", "4"]
    for old, new in replaced:
        o, n = cells(old), cells(new)
        assert [i for i in range(len(o)) if o[i] != n[i]] == [2, 5]
        assert n[2] == " Done "
        assert n[5].startswith(o[5].rstrip())
    link = f"/.attachments/acme-2026/{RUN_ID}/closure-report.html"
    assert f"<br>**revoke:** [apply on 2026-11-25: 1 already done, 1 skipped, 2 verified]({link}#item-3)" in replaced[0][1]
    assert f"**revoke:** [apply on 2026-11-25: 1 verified, 1 verified gone]({link}#item-4)" in replaced[1][1]
    # the rest is the Attachments section gaining one line per evidence file
    expected = before.decode()
    for old, new in replaced:
        expected = expected.replace(old, new)
    assert after.decode().startswith(expected)
    files = [ln for ln in added if ln]
    assert files[0] == f"[{RUN_ID}/closure-report.html]({link})"
    assert len(files) == 7 and all(ln.startswith(f"[{RUN_ID}/") for ln in files)
    assert set(added) - set(files) == {""}


def test_attached_evidence_is_a_verifiable_copy_of_the_run(wiki: Path, tmp_path: Path):
    run = make_run(tmp_path / "evidence")
    record_run(ChecklistSpec(page="wiki/Offboarding.md"), tmp_path, run, mark=False)
    copy = wiki.parent / ".attachments" / "acme-2026" / RUN_ID
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in run.iterdir())
    for p in run.iterdir():
        assert (copy / p.name).read_bytes() == p.read_bytes()
    assert verify_run(copy).ok
    page = ChecklistPage.read(wiki)
    for link in page.attachments[1:]:
        assert (wiki.parent / link.target.lstrip("/")).is_file(), link


def test_recording_the_same_run_twice_changes_nothing_more(wiki: Path, tmp_path: Path):
    run = make_run(tmp_path / "evidence")
    spec = ChecklistSpec(page="wiki/Offboarding.md")
    record_run(spec, tmp_path, run, mark=False)
    once = wiki.read_bytes()
    record_run(spec, tmp_path, run, mark=False)
    assert wiki.read_bytes() == once


def test_failed_action_leaves_its_item_blocked_with_the_count(wiki: Path, tmp_path: Path):
    run = make_run(tmp_path / "evidence", steps=default_steps(list_fails=True))
    line = record_run(ChecklistSpec(page="wiki/Offboarding.md"), tmp_path, run, mark=False)
    assert "item 4 Team Collaboration -> Blocked (1 failed, 1 verified)" in line
    page = ChecklistPage.read(wiki)
    assert [(it.number, it.status) for it in page.items] == [(1, "To Do"), (2, "To Do"), (3, "Done"),
                                                              (4, "Blocked"), (5, "To Do")]
    assert page.item(4).links[-1].label == "apply on 2026-11-25: 1 failed, 1 verified"


def test_plan_run_marks_nothing_unless_asked(wiki: Path, tmp_path: Path):
    run = make_run(tmp_path / "evidence", mode="plan")
    before = wiki.read_bytes()
    spec = ChecklistSpec(page="wiki/Offboarding.md")
    line = record_run(spec, tmp_path, run, mark=False)
    assert "not marked" in line and "--mark-checklist" in line
    assert wiki.read_bytes() == before
    assert not (wiki.parent / ".attachments" / "acme-2026").exists()
    record_run(spec, tmp_path, run, mark=True)
    page = ChecklistPage.read(wiki)
    assert page.item(3).status == "In Progress" and page.item(4).status == "In Progress"
    assert page.item(3).links[-1].label == "dry run on 2026-11-25: 2 actions planned"
    assert any(a.target.endswith(f"{PLAN_RUN_ID}/plan.json") for a in page.attachments)


def test_dry_run_after_the_item_is_done_does_not_reopen_it(wiki: Path, tmp_path: Path):
    spec = ChecklistSpec(page="wiki/Offboarding.md")
    record_run(spec, tmp_path, make_run(tmp_path / "evidence"), mark=False)
    record_run(spec, tmp_path, make_run(tmp_path / "evidence", mode="plan"), mark=True)
    page = ChecklistPage.read(wiki)
    assert page.item(3).status == "Done"
    assert page.item(3).links[-1].label.startswith("dry run on")


def test_renumbered_page_is_matched_by_bold_title(tmp_path: Path):
    text = SEED.read_text()
    extra = "| 3 | To Do | **Hardware Return** | -  Laptops back | Workstream Leads |\n"
    text = text.replace("| 5 | To Do |", "| 6 | To Do |").replace("| 4 | To Do |", "| 5 | To Do |")
    text = text.replace("| 3 | To Do |", "| 4 | To Do |").replace("| 4 | To Do | **Site", extra + "| 4 | To Do | **Site")
    wiki = make_wiki(tmp_path, text.encode())
    record_run(ChecklistSpec(page="wiki/Offboarding.md"), tmp_path, make_run(tmp_path / "evidence"), mark=False)
    page = ChecklistPage.read(wiki)
    assert [(it.number, it.title, it.status) for it in page.items][2:5] == [
        (3, "Hardware Return", "To Do"), (4, "Site/Network Access", "Done"), (5, "Team Collaboration", "Done")]


def test_page_without_the_item_is_left_untouched(tmp_path: Path):
    text = SEED.read_text()
    row4 = next(ln for ln in text.splitlines(keepends=True) if ln.startswith("| 4 |"))
    wiki = make_wiki(tmp_path, text.replace(row4, "").encode())
    from revoke.checklist.page import ChecklistError
    with pytest.raises(ChecklistError, match="no item 4 .'Team Collaboration'."):
        record_run(ChecklistSpec(page="wiki/Offboarding.md"), tmp_path, make_run(tmp_path / "evidence"), mark=False)
    assert wiki.read_bytes() == text.replace(row4, "").encode()
    assert not (wiki.parent / ".attachments" / "acme-2026").exists()


# ---- revoke checklist show / mark -------------------------------------------------------------------------------


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(checklist, list(args), env=env, catch_exceptions=False)


def test_show_lists_items_statuses_and_evidence_links(wiki: Path, tmp_path: Path):
    record_run(ChecklistSpec(page="wiki/Offboarding.md"), tmp_path,
               make_run(tmp_path / "evidence", steps=default_steps(list_fails=True)), mark=False)
    result = invoke("show", str(wiki))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "  3  Done         Site/Network Access" in lines
    assert "  4  Blocked      Team Collaboration" in lines
    assert any(ln.strip().startswith("- apply on 2026-11-25: 1 failed, 1 verified: /.attachments/acme-2026/")
               and "(file missing)" not in ln for ln in lines)
    assert lines[-1] == "1 of 5 items Done; 8 attachments listed"


def test_show_flags_evidence_links_whose_file_is_gone(wiki: Path, tmp_path: Path):
    record_run(ChecklistSpec(page="wiki/Offboarding.md"), tmp_path, make_run(tmp_path / "evidence"), mark=False)
    (wiki.parent / ".attachments" / "acme-2026" / RUN_ID / "closure-report.html").unlink()
    assert "(file missing)" in invoke("show", str(wiki)).output


def test_mark_records_a_manual_item_with_operator_time_note_and_file(wiki: Path, tmp_path: Path):
    signed = tmp_path / "acceptance-signed.pdf"
    signed.write_bytes(b"%PDF-1.4 signed")
    before = wiki.read_bytes()
    result = invoke("mark", str(wiki), "1", "done", "--note", "SOW accepted | signed by J. Doe",
                    "--attach", str(signed), env={"REVOKE_OPERATOR": "em@example.org"})
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{wiki}: item 1 Deliverable Acceptance -> Done"
    copy = wiki.parent / ".attachments" / "Offboarding" / "acceptance-signed.pdf"
    assert copy.read_bytes() == b"%PDF-1.4 signed"
    page = ChecklistPage.read(wiki)
    item = page.item(1)
    assert item.status == "Done"
    label = item.links[-1].label
    assert label.startswith("Done by em@example.org on 20") and label.endswith(" UTC: SOW accepted | signed by J. Doe")
    assert item.links[-1].target == "/.attachments/Offboarding/acceptance-signed.pdf"
    assert page.attachments[-1].target == "/.attachments/Offboarding/acceptance-signed.pdf"
    replaced, added = diff(before, wiki.read_bytes())
    assert len(replaced) == 1 and [ln for ln in added if ln] == [
        "[acceptance-signed.pdf](/.attachments/Offboarding/acceptance-signed.pdf)"]


def test_mark_without_a_file_writes_the_note_in_the_cell(wiki: Path):
    result = invoke("mark", str(wiki), "5", "In Progress", "--note", "team dinner booked",
                    env={"REVOKE_OPERATOR": "em"})
    assert result.exit_code == 0, result.output
    item = ChecklistPage.read(wiki).item(5)
    assert item.status == "In Progress"
    assert item.owner.startswith("AWS Engagement Manager  Workstream Leads <br>In Progress by em on ")
    assert item.owner.endswith(" UTC: team dinner booked")


def test_mark_refuses_an_unknown_status_and_changes_nothing(wiki: Path):
    before = wiki.read_bytes()
    result = invoke("mark", str(wiki), "2", "finished", "--note", "x")
    assert result.exit_code == 1
    assert "unknown status 'finished': use one of To Do, In Progress, Done, Blocked" in result.output
    assert wiki.read_bytes() == before


# ---- git ---------------------------------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def wiki_clone(tmp_path: Path) -> tuple[Path, Path]:
    """A bare 'remote' wiki and a clone of it holding the seed page, like an Azure DevOps wiki clone."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(remote))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(remote), str(clone))
    git(clone, "config", "user.name", "Test Operator")
    git(clone, "config", "user.email", "operator@example.org")
    page = make_wiki(clone)
    (clone / "Other-Page.md").write_text("unrelated\n")
    git(clone, "add", "-A")
    git(clone, "commit", "--quiet", "-m", "wiki")
    git(clone, "push", "--quiet", "origin", "HEAD:main")
    return clone, page


def test_commit_records_page_and_evidence_only_and_does_not_push(wiki_clone, tmp_path: Path):
    clone, page = wiki_clone
    spec = ChecklistSpec(page=str(page))
    run = make_run(tmp_path / "evidence")
    record_run(spec, clone, run, mark=False)
    (clone / "Other-Page.md").write_text("someone's unsaved work\n")  # must not be swept into the commit
    said = commit_page(page, recorded_paths(spec, clone, run)[1:], f"revoke: acme-2026 run {RUN_ID}", push=False)
    assert said.startswith("committed Offboarding.md and 1 attachment path(s) as ")
    assert git(clone, "log", "-1", "--format=%s") == f"revoke: acme-2026 run {RUN_ID}\n"
    changed = git(clone, "show", "--name-only", "--format=", "HEAD").split()
    assert "wiki/Offboarding.md" in changed
    assert f"wiki/.attachments/acme-2026/{RUN_ID}/manifest.json" in changed
    assert "Other-Page.md" not in changed and len(changed) == 8
    assert git(clone, "status", "--porcelain") == " M Other-Page.md\n"
    remote_head = git(tmp_path / "remote.git", "rev-parse", "main")
    assert remote_head != git(clone, "rev-parse", "HEAD")  # not pushed
    again = commit_page(page, recorded_paths(spec, clone, run)[1:], "again", push=False)
    assert again == "Offboarding.md: nothing new to commit"


def test_commit_with_push_reaches_the_remote(wiki_clone, tmp_path: Path):
    clone, page = wiki_clone
    result = invoke("mark", str(page), "2", "done", "--note", "retro held", "--push", env={"REVOKE_OPERATOR": "em"})
    assert result.exit_code == 0, result.output
    assert "pushed" in result.output
    assert git(tmp_path / "remote.git", "rev-parse", "main") == git(clone, "rev-parse", "HEAD")
    assert git(clone, "log", "-1", "--format=%s").startswith("checklist: item 2 Mobilize Retrospective Done")


def test_page_outside_git_is_not_committed(wiki: Path):
    assert commit_page(wiki, [], "x", push=False) == "Offboarding.md is not in a git clone; nothing committed"


def test_closure_json_and_page_agree(wiki: Path, tmp_path: Path):
    run = make_run(tmp_path / "evidence", steps=default_steps(list_fails=True))
    record_run(ChecklistSpec(page="wiki/Offboarding.md"), tmp_path, run, mark=False)
    report = json.loads((run / "closure-report.json").read_text())
    page = ChecklistPage.read(wiki)
    assert {i["number"]: i["status"] for i in report["items"]} == {3: page.item(3).status, 4: page.item(4).status}


def test_check_checklist_reports_a_missing_page_or_item_before_any_run(tmp_path: Path):
    assert "checklist page not found" in check_checklist(ChecklistSpec(page="wiki/Offboarding.md"), tmp_path)[0]
    make_wiki(tmp_path)
    assert check_checklist(ChecklistSpec(page="wiki/Offboarding.md"), tmp_path) == []
    problems = check_checklist(ChecklistSpec(page="wiki/Offboarding.md", items={"chat": 7}), tmp_path)
    assert len(problems) == 1 and "no item 7 in the checklist table" in problems[0]


def test_commit_run_names_engagement_run_and_item_statuses(wiki_clone, tmp_path: Path):
    clone, _ = wiki_clone
    spec = ChecklistSpec(page="wiki/Offboarding.md")
    run = make_run(tmp_path / "evidence", steps=default_steps(list_fails=True))
    record_run(spec, clone, run, mark=False)
    said = commit_run(spec, clone, run, push=False)
    assert "committed Offboarding.md" in said and "pushed" not in said
    assert git(clone, "log", "-1", "--format=%s").strip() == (
        f"revoke: acme-2026 run {RUN_ID}: apply: item 3 Done, item 4 Blocked")
    assert git(clone, "status", "--porcelain") == ""
