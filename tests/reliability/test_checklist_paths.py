"""Issue 16, case 6: a symlinked checklist page was replaced by a regular file while its target was left stale,
the attachments went beside the target, and `checklist show` then reported the link it had just written as
missing. Decided: a symlink is followed to its real file, which must lie inside the wiki the link is in; the
real page is written, its attachments go beside it; a link (or an `.attachments` folder) leading out of the wiki
is refused and nothing outside is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from revoke.checklist.page import ChecklistPage
from revoke.sandbox.slapd import Slapd
from tests.checklist_runs import SEED, make_wiki
from tests.conftest import ldap_system, write_runbook, yesterday


@pytest.fixture
def linked(slapd: Slapd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The wiki keeps the real page under pages/; the runbook names a symlink to it at the wiki's top."""
    monkeypatch.setenv("REVOKE_CORP_LDAP", slapd.service.password)
    alice = slapd.add_user("alice", mail="alice@example.org")
    eng = slapd.add_group("eng", [alice.dn, slapd.add_user("carol").dn])
    real = make_wiki(tmp_path)
    (real.parent / "pages").mkdir()
    real = real.rename(real.parent / "pages" / "Customer-Offboarding-Checklist.md")
    link = tmp_path / "wiki" / "Offboarding.md"
    link.symlink_to(Path("pages") / real.name)
    runbook = write_runbook(tmp_path / "acme.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(), "systems": {"corp-ldap": ldap_system(slapd)},
        "people": [{"name": "Alice Example", "ids": {"corp-ldap": "alice"}}], "checklist": "wiki/Offboarding.md"})
    return {"runbook": runbook, "link": link, "real": real, "wiki": tmp_path / "wiki", "eng": eng, "alice": alice}


def _links(page: Path) -> list[str]:
    return [link.target for item in ChecklistPage.read(page).items for link in item.links]


def test_a_symlinked_page_is_written_through_to_its_real_file(linked: dict[str, Any], slapd: Slapd,
                                                              run_cli: Any) -> None:
    applied = run_cli("apply", str(linked["runbook"]), "--yes")
    assert applied.exit_code == 0, applied.output + applied.stderr
    assert linked["alice"].dn not in slapd.read(linked["eng"])["member"]
    link, real, wiki = linked["link"], linked["real"], linked["wiki"]
    assert link.is_symlink() and link.resolve() == real.resolve()  # the link is still a link
    assert real.read_bytes() != SEED.read_bytes()  # and the real page holds the record
    assert ChecklistPage(real.read_text()).item(3).status == "Done"
    targets = [t for t in _links(real) if t.startswith("/.attachments/acme-2026/")]
    assert targets
    for target in targets:  # every link the page holds resolves to a file of the wiki, checked without revoke
        assert (wiki / unquote(target.split("#")[0]).lstrip("/")).is_file(), target
    shown = run_cli("checklist", "show", str(link))
    assert shown.exit_code == 0 and "(file missing)" not in shown.output, shown.output
    assert "Done" in shown.output


def test_a_symlink_leading_out_of_the_wiki_is_refused(linked: dict[str, Any], tmp_path: Path,
                                                      run_cli: Any) -> None:
    outside = tmp_path / "elsewhere" / "notes.md"
    outside.parent.mkdir()
    outside.write_bytes(SEED.read_bytes())
    linked["link"].unlink()
    linked["link"].symlink_to(outside)
    validated = run_cli("validate", str(linked["runbook"]))
    assert validated.exit_code == 1
    assert f"the checklist page is a symlink to {outside}, outside the wiki ({linked['wiki']})" in validated.stderr
    applied = run_cli("apply", str(linked["runbook"]), "--yes")
    assert applied.exit_code == 0  # the run itself is done and sealed; the page is not touched
    assert "checklist not updated" in applied.stderr and "outside the wiki" in applied.stderr
    assert outside.read_bytes() == SEED.read_bytes() and linked["link"].is_symlink()
    assert not (outside.parent / ".attachments").exists()


def test_an_attachments_folder_leading_out_of_the_wiki_is_refused(linked: dict[str, Any], tmp_path: Path,
                                                                  run_cli: Any) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    attachments = linked["wiki"] / ".attachments"
    (attachments / "acme-2026").symlink_to(outside, target_is_directory=True)
    applied = run_cli("apply", str(linked["runbook"]), "--yes")
    assert "checklist not updated" in applied.stderr and "outside the wiki" in applied.stderr, applied.stderr
    assert list(outside.iterdir()) == []
    assert linked["real"].read_bytes() == SEED.read_bytes()


def test_marking_a_symlinked_page_writes_the_real_page(tmp_path: Path, run_cli: Any) -> None:
    real = make_wiki(tmp_path)
    link = real.with_name("Checklist-link.md")
    link.symlink_to(real.name)
    signed = tmp_path / "acceptance.pdf"
    signed.write_bytes(b"%PDF-1.4 signed")
    marked = run_cli("checklist", "mark", str(link), "1", "done", "--note", "accepted", "--attach", str(signed),
                     env={"REVOKE_OPERATOR": "em@example.org"})
    assert marked.exit_code == 0, marked.output + marked.stderr
    assert link.is_symlink() and ChecklistPage(real.read_text()).item(1).status == "Done"
    assert (tmp_path / "wiki" / ".attachments" / real.stem / "acceptance.pdf").read_bytes() == signed.read_bytes()
    assert "(file missing)" not in run_cli("checklist", "show", str(link)).output
