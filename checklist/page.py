"""A lossless reader and editor of the offboarding checklist page (an Azure DevOps wiki page in Markdown).

The page is the record people sign off, so revoke changes only what it means to change: a Status cell, an
Owner/Link cell, lines added to the Attachments section. Every other byte stays as it was, including line endings
(LF, CRLF or a mix), non-breaking spaces, odd spacing inside cells and escaped pipes (`\\|`).

The page is kept as text and every edit is a splice at offsets found by parsing; nothing is re-rendered from a
model. Bytes that are not UTF-8 survive too (decoded with `surrogateescape`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from revoke.checklist.attachments import root_above
from revoke.errors import RevokeError

STATUSES = ("To Do", "In Progress", "Done", "Blocked")

# Header names seen on checklist pages for each role of a column; the page's own spelling is kept.
NUMBER_HEADERS = {"#", "no", "no.", "nr", "number", "item #", "step"}
STATUS_HEADERS = {"status", "state"}
TITLE_HEADERS = {"", "title", "item", "name", "task"}
ACTIVITY_HEADERS = {"activity", "activities", "tasks", "description", "details"}

_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")
_DELIMITER_CELL = re.compile(r"^\s*:?-+:?\s*$")
_NUMBER = re.compile(r"^(\d+)\.?$")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_LINK = re.compile(r"\[((?:\\.|[^\]\\])*)\]\(([^()\s]*(?:\([^()\s]*\)[^()\s]*)*)(?:\s+\"[^\"]*\")?\)")
_ATTACHMENTS_HEADING = re.compile(r"^\s*(?:\*\*|__)\s*attachments\s*:?\s*(?:\*\*|__)\s*:?\s*$"
                                  r"|^\s*#{1,6}\s*attachments\s*:?\s*#*\s*$", re.IGNORECASE)
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})(.*)$")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s|^\s{0,3}(?:=+|-+)\s*$")


class ChecklistError(RevokeError):
    """The checklist page cannot be read or does not have what revoke needs; the message says what to fix."""


def canonical_status(text: str) -> str:
    """`done`, `in-progress`, `TODO` -> the page's spelling of the standard statuses."""
    key = re.sub(r"[\s_-]+", "", text).casefold()
    for status in STATUSES:
        if status.replace(" ", "").casefold() == key:
            return status
    raise ChecklistError(f"unknown status '{text}': use one of {', '.join(STATUSES)}")


from revoke.markdown import REVOKE_MARK, escape_cell, escape_code  # noqa: E402,F401 - one place, re-exported


def escape_link_text(text: str) -> str:
    return escape_cell(text)


def link_markdown(label: str, target: str) -> str:
    return f"[{escape_link_text(label)}]({target.replace(' ', '%20')})"


@dataclass(frozen=True)
class Link:
    label: str
    target: str


@dataclass(frozen=True)
class Cell:
    start: int     # offsets into the page text of the cell's raw content, between its two pipes
    end: int
    raw: str

    @property
    def text(self) -> str:
        return self.raw.strip().replace("\\|", "|")

    @property
    def links(self) -> list[Link]:
        return [Link(m.group(1).replace("\\[", "[").replace("\\]", "]"), m.group(2))
                for m in _LINK.finditer(self.text)]


@dataclass(frozen=True)
class Item:
    number: int
    title: str
    status: str
    activity: str
    owner: str
    links: list[Link]
    line: int                  # 1-based line of the row in the page
    cells: dict[str, Cell]     # by role: number, status, title, activity, owner


@dataclass(frozen=True)
class _Line:
    start: int
    body: str       # without the line ending; a CR of a CRLF ending is not part of it
    end: int        # offset just past the line ending


def _lines(text: str) -> list[_Line]:
    out = []
    for m in _LINE.finditer(text):
        chunk = m.group(0)
        body = chunk.removesuffix("\n")
        body = body.removesuffix("\r")
        out.append(_Line(m.start(), body, m.end()))
    return out


def _code_lines(lines: list[_Line]) -> set[int]:
    """Lines inside fenced code blocks: an example table or link shown in code is not part of the page's record."""
    inside: set[int] = set()
    fence = ""
    for n, line in enumerate(lines):
        m = _FENCE.match(line.body)
        if fence:
            inside.add(n)
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not m.group(2).strip():
                fence = ""
        elif m:
            fence = m.group(1)
            inside.add(n)
    return inside


def _split_row(line: _Line) -> list[Cell]:
    """Cells of a table row, split on pipes that are not escaped by an odd number of backslashes."""
    body = line.body
    pipes = []
    backslashes = 0
    for i, ch in enumerate(body):
        if ch == "|" and backslashes % 2 == 0:
            pipes.append(i)
        backslashes = backslashes + 1 if ch == "\\" else 0
    lead = len(body) - len(body.lstrip())
    bounds = pipes[:]
    if not bounds or bounds[0] != lead:
        bounds.insert(0, lead - 1)          # a row without a leading pipe
    trailing = body.rstrip()
    if bounds[-1] != len(trailing) - 1:
        bounds.append(len(body))            # a row without a trailing pipe
    cells = []
    for a, b in pairwise(bounds):
        cells.append(Cell(line.start + a + 1, line.start + b, body[a + 1:b]))
    return cells


def _is_delimiter(cells: list[Cell]) -> bool:
    return bool(cells) and all(_DELIMITER_CELL.match(c.raw) for c in cells)


def _title_of(cell_text: str) -> str:
    m = _BOLD.search(cell_text)
    return (m.group(1) or m.group(2)).strip() if m else cell_text.strip()


def _roles(header: list[str]) -> dict[str, int] | None:
    """Which column is which, from the header; None when this table is not a checklist."""
    names = [h.strip().strip("*_").strip().casefold() for h in header]
    roles: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in STATUS_HEADERS and "status" not in roles:
            roles["status"] = i
        elif name in NUMBER_HEADERS and "number" not in roles:
            roles["number"] = i
        elif name in ACTIVITY_HEADERS and "activity" not in roles:
            roles["activity"] = i
        elif ("owner" in name or "link" in name) and "owner" not in roles:
            roles["owner"] = i
    if "status" not in roles:
        return None
    roles.setdefault("number", 0)
    for i, name in enumerate(names):
        if i not in roles.values() and name in TITLE_HEADERS:
            roles["title"] = i
            break
    return roles


class ChecklistPage:
    """The page's text and the items parsed from it. Edits splice the text and parse it again."""

    def __init__(self, text: str, path: Path | None = None):
        self.text = text
        self.path = path
        self._parse()

    @classmethod
    def read(cls, path: Path) -> ChecklistPage:
        """The page at `path`; a symlink is followed to its real file (see `real_page`), which is then the page's
        path: written there, with attachments beside it."""
        path = real_page(Path(path))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ChecklistError(f"{path}: checklist page not found; check `checklist:` in the runbook") from None
        return cls(data.decode("utf-8", "surrogateescape"), path)

    def to_bytes(self) -> bytes:
        return self.text.encode("utf-8", "surrogateescape")

    def write(self, path: Path | None = None) -> Path:
        target = Path(path or self.path)  # type: ignore[arg-type]
        tmp = target.with_name(target.name + ".revoke-tmp")
        tmp.write_bytes(self.to_bytes())
        os.replace(tmp, target)
        return target

    @property
    def newline(self) -> str:
        """The line ending to use for added lines: the page's own."""
        return "\r\n" if self.text.count("\r\n") * 2 > self.text.count("\n") else "\n"

    # ---- parsing -------------------------------------------------------------------------------------------

    def _parse(self) -> None:
        self.lines = _lines(self.text)
        self.in_code = _code_lines(self.lines)
        self.items: list[Item] = []

        def row(n: int) -> bool:
            return n < len(self.lines) and n not in self.in_code and self.lines[n].body.lstrip().startswith("|")

        i = 0
        while i < len(self.lines):
            if not row(i):
                i += 1
                continue
            j = i
            while row(j):
                j += 1
            self._parse_table(i, j)
            i = j
        self._parse_attachments()

    def _parse_table(self, first: int, stop: int) -> None:
        if stop - first < 2:
            return
        header = _split_row(self.lines[first])
        if not _is_delimiter(_split_row(self.lines[first + 1])):
            return
        roles = _roles([c.raw for c in header])
        if roles is None:
            return
        for n in range(first + 2, stop):
            cells = _split_row(self.lines[n])
            by_role = {role: cells[idx] for role, idx in roles.items() if idx < len(cells)}
            number = _NUMBER.match(by_role["number"].text) if "number" in by_role else None
            if not number or "status" not in by_role:
                continue
            if "title" not in by_role:
                bold = next((c for c in cells if _BOLD.search(c.text)), None)
                if bold is not None:
                    by_role["title"] = bold
            text = {role: cell.text for role, cell in by_role.items()}
            self.items.append(Item(
                number=int(number.group(1)), title=_title_of(text.get("title", "")), status=text["status"],
                activity=text.get("activity", ""), owner=text.get("owner", ""),
                links=by_role["owner"].links if "owner" in by_role else [], line=n + 1, cells=by_role))

    def _parse_attachments(self) -> None:
        self.attachments_heading: int | None = None
        self.attachments_end: int | None = None   # index of the last non-blank line of the section
        for n, line in enumerate(self.lines):
            if n not in self.in_code and _ATTACHMENTS_HEADING.match(line.body):
                self.attachments_heading = n
        if self.attachments_heading is None:
            self.attachments = []
            return
        last = self.attachments_heading
        for n in range(self.attachments_heading + 1, len(self.lines)):
            body = self.lines[n].body
            if n in self.in_code or _HEADING.match(body) or body.lstrip().startswith("|"):
                break
            if body.strip():
                last = n
        self.attachments_end = last
        section = "\n".join(ln.body for ln in self.lines[self.attachments_heading + 1:last + 1])
        self.attachments = [Link(m.group(1), m.group(2)) for m in _LINK.finditer(section)]

    # ---- lookup --------------------------------------------------------------------------------------------

    def item(self, number: int | None = None, title: str | None = None) -> Item:
        """The item with this bold title if there is one (pages get renumbered), else the one with this number."""
        by_title = [it for it in self.items if title and it.title.casefold() == title.casefold()]
        by_number = [it for it in self.items if it.number == number]
        for it in by_title:
            if it.number == number:
                return it
        if len(by_title) == 1:
            return by_title[0]
        if len(by_number) == 1:
            return by_number[0]
        where = self.path or "the checklist page"
        if len(by_number) > 1:
            raise ChecklistError(f"{where}: {len(by_number)} rows are numbered {number}; number them uniquely")
        wanted = f"item {number}" + (f" ('{title}')" if title else "")
        known = ", ".join(f"{it.number} {it.title}" for it in self.items) or "none"
        raise ChecklistError(f"{where}: no {wanted} in the checklist table (items: {known}); "
                             "fix the page or the runbook's checklist.items mapping")

    # ---- edits ---------------------------------------------------------------------------------------------

    def _splice(self, start: int, end: int, new: str) -> None:
        self.text = self.text[:start] + new + self.text[end:]
        self._parse()

    def _cell(self, number: int, role: str, title: str | None = None) -> Cell:
        it = self.item(number, title)
        cell = it.cells.get(role)
        if cell is None:
            raise ChecklistError(f"{self.path or 'the checklist page'}:{it.line}: item {it.number} has no "
                                 f"{role} cell; give the row as many cells as the table's header")
        return cell

    def _replace_content(self, cell: Cell, content: str) -> None:
        """Replace what is between the cell's padding, keeping the padding itself."""
        if not cell.raw.strip():
            self._splice(cell.start, cell.end, f" {content} ")
            return
        lead = len(cell.raw) - len(cell.raw.lstrip())
        trail = len(cell.raw) - len(cell.raw.rstrip())
        self._splice(cell.start + lead, cell.end - trail, content)

    def set_status(self, number: int, status: str, title: str | None = None) -> bool:
        """Set one item's Status cell; False when it already says so (the page is left untouched)."""
        cell = self._cell(number, "status", title)
        if cell.text == status:
            return False
        self._replace_content(cell, escape_cell(status))
        return True

    def append_to_owner(self, number: int, markdown: str, title: str | None = None) -> bool:
        """Add a note or link to the Owner/Link cell after what is there; False if it is there already."""
        cell = self._cell(number, "owner", title)
        if markdown in cell.raw:
            return False
        current = cell.raw.strip()
        self._replace_content(cell, f"{current} <br>{markdown}" if current else markdown)
        return True

    def add_attachments(self, links: list[Link]) -> list[Link]:
        """List files in the Attachments section (made at the end if missing); returns the links added."""
        nl = self.newline
        if self.attachments_heading is None:
            tail = "" if not self.text or self.text.endswith("\n") else nl
            self._splice(len(self.text), len(self.text), f"{tail}{nl} **Attachments:** {nl}")
        known = {a.target for a in self.attachments}
        new = [link for link in links if link.target.replace(" ", "%20") not in known and link.target not in known]
        if not new:
            return []
        last = self.lines[self.attachments_end]  # type: ignore[index]
        at = last.end
        prefix = "" if self.text[:at].endswith("\n") else nl
        block = "".join(f"{nl}{link_markdown(link.label, link.target)}{nl}" for link in new)
        self._splice(at, at, prefix + block)
        return new


def real_page(page: Path) -> Path:
    """The file a checklist page path names. A page that is a symlink (a wiki that keeps one page under two
    names) is followed to its real file, so the page is written there and its attachments go beside it, where
    `checklist show` finds them; replacing the link with a copy would leave the real page stale. The real file
    must lie inside the wiki the link is in (the nearest folder above it with `.attachments` or `.git`): a link
    that leads elsewhere is refused, so a page path can never make revoke write outside the wiki."""
    if not page.is_symlink():
        return page
    link = page.parent.resolve() / page.name  # the folders resolved; the page itself not yet
    real = link.resolve()
    root = root_above(link.parent)
    if not real.is_relative_to(root):
        raise ChecklistError(f"{page}: the checklist page is a symlink to {real}, outside the wiki ({root}); "
                             "revoke writes only inside the wiki: point `checklist:` at the real page")
    if not real.is_file():
        raise ChecklistError(f"{page}: the checklist page is a symlink to {real}, which does not exist; "
                             "fix the link or point `checklist:` at the real page")
    return real

