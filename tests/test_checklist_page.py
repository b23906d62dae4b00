"""The checklist page is read and edited without disturbing a byte revoke did not mean to change."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from revoke.checklist.page import ChecklistError, ChecklistPage, Link, canonical_status, link_markdown

SEED = Path(__file__).parent / "data" / "customer-offboarding-checklist.md"
SEED_BYTES = SEED.read_bytes()
SEED_TEXT = SEED_BYTES.decode("utf-8")


def row_of(text: str, number: int) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {number} |"))


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    """(old, new) pairs of lines replaced, and ('', new) for lines added."""
    out = []
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        olds, news = a[i1:i2], b[j1:j2]
        out.extend((olds[k] if k < len(olds) else "", news[k] if k < len(news) else "")
                   for k in range(max(len(olds), len(news))))
    return out


def test_seed_page_round_trips_byte_for_byte(tmp_path):
    page = ChecklistPage.read(SEED)
    assert page.to_bytes() == SEED_BYTES
    out = page.write(tmp_path / "copy.md")
    assert out.read_bytes() == SEED_BYTES


def test_seed_items_are_read_with_number_status_title_and_owner():
    page = ChecklistPage.read(SEED)
    assert [(it.number, it.status, it.title) for it in page.items] == [
        (1, "To Do", "Deliverable Acceptance"), (2, "To Do", "Mobilize Retrospective"),
        (3, "To Do", "Site/Network Access"), (4, "To Do", "Team Collaboration"), (5, "To Do", "Celebrate Success")]
    item3 = page.item(3)
    assert item3.activity.startswith("-  Customer network accounts/system access revoked")
    assert item3.owner == "AWS Engagement Manager  Workstream Leads"
    assert page.attachments == [Link("image2020-10-12_15-54-52.png",
                                     "/.attachments/DK-MobilizeAccelerator/image2020-10-12_15-54-52.png")]
    # the empty four-column table above the rule is not mistaken for the checklist
    assert len(page.items) == 5


def test_setting_a_status_changes_only_that_cell():
    page = ChecklistPage(SEED_TEXT)
    assert page.set_status(3, "Done")
    old_row = row_of(SEED_TEXT, 3)
    assert page.text == SEED_TEXT.replace(old_row, old_row.replace("| To Do |", "| Done |", 1))
    assert page.item(3).status == "Done"
    assert not page.set_status(3, "Done")  # already so: no edit


def test_owner_link_is_added_after_the_cell_content_keeping_its_padding():
    page = ChecklistPage(SEED_TEXT)
    link = link_markdown("apply on 2026-11-25: 4 verified", "/.attachments/acme/run 1/closure-report.html#item-3")
    page.append_to_owner(3, link)
    row = row_of(page.text, 3)
    assert row.endswith("|   AWS Engagement Manager  Workstream Leads <br>[apply on 2026-11-25: 4 verified]"
                        "(/.attachments/acme/run%201/closure-report.html#item-3)   |")
    assert page.item(3).links == [Link("apply on 2026-11-25: 4 verified",
                                       "/.attachments/acme/run%201/closure-report.html#item-3")]
    assert not page.append_to_owner(3, link)  # the same link twice is one link
    assert [new for old, new in changed_lines(SEED_TEXT, page.text)] == [row + "\n"]


def test_attachments_are_appended_to_the_attachments_section_only():
    page = ChecklistPage(SEED_TEXT)
    added = page.add_attachments([Link("run1/closure-report.html", "/.attachments/acme/run1/closure-report.html"),
                                  Link("run1/manifest.json", "/.attachments/acme/run1/manifest.json")])
    assert len(added) == 2
    assert page.text == SEED_TEXT + ("\n[run1/closure-report.html](/.attachments/acme/run1/closure-report.html)\n"
                                     "\n[run1/manifest.json](/.attachments/acme/run1/manifest.json)\n")
    assert [a.target for a in page.attachments][1:] == ["/.attachments/acme/run1/closure-report.html",
                                                        "/.attachments/acme/run1/manifest.json"]
    again = page.add_attachments([Link("run1/manifest.json", "/.attachments/acme/run1/manifest.json")])
    assert again == []


def test_crlf_page_round_trips_and_edits_keep_crlf():
    crlf = SEED_BYTES.replace(b"\n", b"\r\n")
    page = ChecklistPage(crlf.decode("utf-8"))
    assert page.to_bytes() == crlf
    page.set_status(4, "Blocked")
    page.append_to_owner(4, "[x](/.attachments/x.md)")
    page.add_attachments([Link("x.md", "/.attachments/x.md")])
    out = page.to_bytes()
    assert b"\n" not in out.replace(b"\r\n", b"")  # every line ending is still CRLF, added lines included
    assert out.startswith(crlf[:crlf.index(b"| 4 |")])
    assert page.item(4).status == "Blocked" and page.item(4).links == [Link("x", "/.attachments/x.md")]
    assert out.endswith(b"image2020-10-12_15-54-52.png)\r\n\r\n[x.md](/.attachments/x.md)\r\n")


def test_page_with_extra_rows_maps_items_by_bold_title():
    extra = "| 3 | To Do | **Hardware Return** | -  Laptops back to the customer | Workstream Leads |\n"
    text = SEED_TEXT.replace("| 3 | To Do |", "| 4 | To Do |").replace("| 4 | To Do | **Team", "| 5 | To Do | **Team")
    text = text.replace("| 5 | To Do | **Celebrate", "| 6 | To Do | **Celebrate")
    text = text.replace("| 4 | To Do | **Site", extra + "| 4 | To Do | **Site")
    page = ChecklistPage(text)
    assert [it.number for it in page.items] == [1, 2, 3, 4, 5, 6]
    assert page.item(3, "Site/Network Access").number == 4
    assert page.item(4, "Team Collaboration").number == 5
    assert page.item(3).title == "Hardware Return"  # no title given: by number
    page.set_status(4, "Done", "Site/Network Access")
    assert [(o, n) for o, n in changed_lines(text, page.text)] == [
        (row_of(text, 4) + "\n", row_of(text, 4).replace("To Do", "Done", 1) + "\n")]


def test_renamed_statuses_and_headers_are_kept_and_edited_in_place():
    text = SEED_TEXT.replace("| # | Status |", "| No. | State |").replace("| To Do |", "|  Not started  |")
    page = ChecklistPage(text)
    assert [it.status for it in page.items] == ["Not started"] * 5
    assert page.to_bytes() == text.encode()
    page.set_status(2, "Done")
    assert row_of(page.text, 2).startswith("| 2 |  Done  | **Mobilize Retrospective** |")
    assert len(changed_lines(text, page.text)) == 1


def test_escaped_pipes_stay_inside_their_cell():
    text = SEED_TEXT.replace("-  Close email distribution lists\u00a0", r"-  Close email lists a\|b and c\|d ")
    text = text.replace("| AWS Engagement Manager |", r"| AWS Engagement Manager \| PMO |")
    page = ChecklistPage(text)
    item = page.item(4)
    assert item.activity.endswith("Close email lists a|b and c|d")
    assert item.owner == "AWS Engagement Manager | PMO"
    assert page.to_bytes() == text.encode()
    page.set_status(4, "Done")
    page.append_to_owner(4, link_markdown("notes | with a pipe\nand a newline", "/.attachments/n.md"))
    row = row_of(page.text, 4)
    assert row.endswith(r"| AWS Engagement Manager \| PMO <br>[notes \| with a pipe and a newline]"
                        "(/.attachments/n.md) |")
    assert page.item(4).activity == item.activity and page.item(4).status == "Done"
    assert len(changed_lines(text, page.text)) == 1


def test_tables_and_headings_inside_code_fences_are_not_the_checklist():
    example = ("```markdown\n| # | Status | | Activity | Owner/Link |\n| --- | --- | --- | --- | --- |\n"
               "| 3 | To Do | **Site/Network Access** | example | x |\n```\n\n~~~\n **Attachments:** \n~~~\n")
    text = example + SEED_TEXT + "\n```\n **Attachments:** \n[a](/.attachments/in-code.png)\n```\n"
    page = ChecklistPage(text)
    assert [it.line for it in page.items] == [ln + example.count("\n") for ln in (19, 20, 21, 22, 23)]
    page.set_status(3, "Done")
    page.add_attachments([Link("b.md", "/.attachments/b.md")])
    assert page.text.startswith(example)  # the example in code is untouched
    assert "image2020-10-12_15-54-52.png)\n\n[b.md](/.attachments/b.md)\n\n```\n" in page.text


def test_page_without_attachments_section_gets_one_at_the_end():
    text = SEED_TEXT[:SEED_TEXT.index(" **Attachments:**")].rstrip("\n")  # and no final newline
    page = ChecklistPage(text)
    page.add_attachments([Link("a.md", "/.attachments/a.md")])
    assert page.text == text + "\n\n **Attachments:** \n\n[a.md](/.attachments/a.md)\n"
    assert page.attachments == [Link("a.md", "/.attachments/a.md")]


def test_attachments_section_followed_by_more_content_gains_lines_inside_it():
    text = SEED_TEXT + "\n## Sign-off\n\nApproved by the EM.\n"
    page = ChecklistPage(text)
    page.add_attachments([Link("a.md", "/.attachments/a.md")])
    assert "png)\n\n[a.md](/.attachments/a.md)\n\n## Sign-off\n" in page.text
    assert page.text.endswith("Approved by the EM.\n")


def test_missing_item_names_what_the_page_has():
    page = ChecklistPage(SEED_TEXT)
    with pytest.raises(ChecklistError, match=r"no item 9 .*1 Deliverable Acceptance, 2 Mobilize Retrospective"):
        page.set_status(9, "Done")


def test_row_without_an_owner_cell_is_refused_not_damaged():
    text = SEED_TEXT.replace("| AWS Engagement Manager |\n", "\n")
    page = ChecklistPage(text)
    with pytest.raises(ChecklistError, match="item 4 has no owner cell"):
        page.append_to_owner(4, "x")
    assert page.text == text


def test_status_names_are_accepted_in_any_case_and_spelling():
    assert canonical_status("done") == "Done"
    assert canonical_status("in-progress") == "In Progress"
    assert canonical_status("TODO") == "To Do"
    with pytest.raises(ChecklistError, match="use one of To Do, In Progress, Done, Blocked"):
        canonical_status("finished")


@settings(max_examples=60, deadline=None)
@given(junk=st.binary(max_size=40), where=st.integers(min_value=0, max_value=len(SEED_BYTES)))
def test_any_bytes_round_trip_and_edits_touch_only_the_status(tmp_path_factory, junk, where):
    """Bytes that are not UTF-8 and stray characters elsewhere on the page survive a read, an edit and a write."""
    cut = SEED_BYTES.index(b"Customer Offboarding Checklist\n=")
    where = min(where, cut)  # junk before the checklist heading, so the table itself stays a table
    data = SEED_BYTES[:where] + junk + SEED_BYTES[where:]
    path = tmp_path_factory.mktemp("page") / "p.md"
    path.write_bytes(data)
    page = ChecklistPage.read(path)
    assert page.to_bytes() == data
    if page.item(3).status == "To Do" and len([it for it in page.items if it.number == 3]) == 1:
        page.set_status(3, "Done")
        page.write()
        row = data[data.index(b"| 3 | To Do |"):].split(b"\n", 1)[0]
        assert path.read_bytes() == data.replace(row, row.replace(b"| To Do |", b"| Done |", 1))


_CELL_TEXT = st.lists(st.sampled_from(list("ab Z-_*/()<>&#\u00a0é✓") + ["\\|", "  ", "**x**", "[l](/u)"]),
                      max_size=12).map("".join)


@st.composite
def checklist_pages(draw):
    """Checklist tables with arbitrary cell text, padding, escaped pipes and line endings."""
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    pad = st.sampled_from(["", " ", "  ", "\u00a0 "])
    numbers = draw(st.lists(st.integers(1, 40), min_size=1, max_size=6, unique=True))
    rows = []
    for n in numbers:
        status = draw(st.sampled_from(["To Do", "Not started", "In Progress", "x"]))
        cells = [str(n), status, f"**{draw(_CELL_TEXT).strip('*') or 'T'}**", draw(_CELL_TEXT), draw(_CELL_TEXT)]
        rows.append("|" + "|".join(f"{draw(pad)}{c}{draw(pad)}" if c.strip() else " " for c in cells) + "|")
    head = ["Intro text", "", "| # | Status |  | Activity | Owner/Link |", "| --- | --- | --- | --- | --- |"]
    tail = ["", " **Attachments:** ", "", "[a](/.attachments/a.png)"]
    return newline.join(head + rows + tail) + draw(st.sampled_from(["", newline])), numbers


@settings(max_examples=100, deadline=None)
@given(page_and_numbers=checklist_pages(), pick=st.integers(0, 5), link=_CELL_TEXT)
def test_edits_on_arbitrary_pages_change_only_the_status_and_owner_cells_of_one_row(page_and_numbers, pick, link):
    text, numbers = page_and_numbers
    page = ChecklistPage(text)
    assert page.text == text and [it.number for it in page.items] == numbers
    number = numbers[pick % len(numbers)]
    before = {it.number: it for it in page.items}
    page.set_status(number, "Blocked")
    page.append_to_owner(number, link_markdown(link or "x", "/.attachments/r/closure-report.html#item-3"))
    after = {it.number: it for it in page.items}
    for n, it in before.items():
        changed = after[n]
        if n != number:
            assert changed.cells["status"].raw == it.cells["status"].raw and changed.owner == it.owner
        else:
            assert changed.status == "Blocked"
            assert changed.links[-1].target == "/.attachments/r/closure-report.html#item-3"
        assert (changed.title, changed.activity, changed.line) == (it.title, it.activity, it.line)
    old_lines, new_lines = text.split("\n"), page.text.split("\n")
    assert len(old_lines) == len(new_lines)
    assert [i for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b] == [before[number].line - 1]
