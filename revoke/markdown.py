"""Neutralised Markdown: the one place text from outside is made safe for a Markdown page or table."""

from __future__ import annotations

import re

# Text from outside (names, notes, providers' messages) that reaches Markdown is neutralised: control characters
# (NUL included) dropped, line breaks folded, HTML's < > & as entities (no <script>, no <img onerror>), and the
# characters that make links, images, emphasis, code or a new cell escaped (no [x](javascript:...)).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")
_MARKUP = re.compile(r"([\\`*\[\]!|])")
# What begins every line revoke itself writes into a checklist cell: a note is escaped, so it cannot begin so.
REVOKE_MARK = "**revoke:**"


def escape_cell(text: str) -> str:
    """Text that stays plain inside one table cell: no markup, no line breaks, no new cells."""
    text = " ".join(_CONTROL.sub("", text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKUP.sub(r"\\\1", text)


def escape_code(text: str) -> str:
    """Text for inside a `code span` in a table cell (where backslash escapes do not work): one line, no
    backtick to close the span early, pipes escaped for the table."""
    return " ".join(_CONTROL.sub("", text).split()).replace("`", "'").replace("|", "\\|")
