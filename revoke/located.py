"""YAML loading that remembers where every value came from, so an error can name the file and line.

PyYAML's plain loaders forget positions and silently keep the last of two duplicate keys; a runbook with the same
person twice under one key must be an error, not a quiet overwrite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from revoke.composer import Composer, Path_, dotted
from revoke.errors import Problem, RunbookError

__all__ = ["LocatedDocument", "MAX_BYTES", "dotted", "load_yaml", "parse_yaml"]

# A runbook of 10,000 people is about 1 MB; the largest one read is eight times that (a file of 100,000 duplicate
# people: about 5 s and 350 MB to list the first 50 problems). A larger file is refused before it is parsed.
MAX_BYTES = 8 * 1024 * 1024
MAX_CHARACTERS = MAX_BYTES  # text: no more characters than that many bytes could hold


def _too_large(file: str, size: int) -> Problem:
    return Problem(file, None, "", f"the file is {size / 1048576:.1f} MB; a runbook may be at most "
                   f"{MAX_BYTES // 1048576} MB (many tens of thousands of people)", "split the engagement into "
                   "several runbooks; is this the runbook?")


class LocatedDocument:
    """Parsed YAML data plus the line of every mapping key and sequence item, keyed by its path."""

    def __init__(self, file: str, data: Any, lines: dict[Path_, int]):
        self.file = file
        self.data = data
        self.lines = lines

    def line_of(self, path: Path_) -> int | None:
        # A missing field has no line of its own: point at the closest parent that exists.
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None

    def problem(self, path: Path_, message: str, hint: str = "") -> Problem:
        return Problem(self.file, self.line_of(path), dotted(path), message, hint)

    def problems_from(self, err: ValidationError, hints: dict[str, str] | None = None) -> list[Problem]:
        found = []
        for e in err.errors(include_url=False):
            loc = tuple(p for p in e["loc"] if not _is_union_tag(p))
            message = _message(e)
            hint = _hint(e, loc, hints or {})
            found.append(self.problem(loc, message, hint))
        return found


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the chosen union member's name in loc (e.g. 'function-after[...]'); users never wrote that
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _message(e: Any) -> str:
    kind = e["type"]
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        return "is not a known field"
    msg = str(e["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return msg


def _hint(e: Any, loc: Path_, hints: dict[str, str]) -> str:
    name = next((str(p) for p in reversed(loc) if isinstance(p, str)), "")
    if name in hints:
        return hints[name]
    if e["type"] == "extra_forbidden":
        return "check the spelling; every field is in docs/runbook.md, and `revoke schema` prints them all"
    return ""


def load_yaml(path: Path) -> LocatedDocument:
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise RunbookError([_too_large(file, size)])
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)  # a file that grows while it is read is cut at the limit
        if len(data) > MAX_BYTES:
            raise RunbookError([_too_large(file, len(data))])
    except FileNotFoundError:
        raise RunbookError([Problem(file, None, "", "file not found", "check the path")]) from None
    except OSError as exc:
        raise RunbookError([Problem(file, None, "", f"cannot read the file: {exc}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RunbookError([Problem(file, line, "", f"not UTF-8 text (byte 0x{data[exc.start]:02x})",
                                    "save the file as UTF-8")]) from None
    return parse_yaml(text, file)


def _loader(text: str) -> yaml.SafeLoader:
    """libyaml's parser when PyYAML has it (a runbook of 10,000 people: 0.5 s instead of 12 s), with the same
    nodes, marks and constructors. Text with a character YAML does not allow goes to the pure-Python reader,
    which rejects it with a precise message; libyaml's differs."""
    if getattr(yaml, "CSafeLoader", None) is not None and not yaml.reader.Reader.NON_PRINTABLE.search(text):
        return yaml.CSafeLoader(text)  # type: ignore[return-value]
    return yaml.SafeLoader(text)  # its reader rejects control characters


def parse_yaml(text: str, file: str) -> LocatedDocument:
    if len(text) > MAX_CHARACTERS:
        raise RunbookError([_too_large(file, len(text.encode("utf-8", "replace")))])
    loader: yaml.SafeLoader | None = None
    try:
        loader = _loader(text)
        composer = Composer(loader, file)
        found, data = composer.compose()
        if not found:
            raise RunbookError([Problem(file, 1, "", "the file is empty", "start from runbooks/example.yaml")])
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise RunbookError([Problem(file, line, "", f"YAML syntax error: {what}",
                                    "check indentation, colons and quotes on this line or the one above")]) from None
    except yaml.YAMLError as exc:
        position = getattr(exc, "position", None)  # a ReaderError has no mark, only a character offset
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
        char = getattr(exc, "character", None)
        reason = getattr(exc, "reason", exc)
        what = f"character #x{char:04x}: {reason}" if isinstance(char, int) else str(exc)
        raise RunbookError([Problem(file, line, "", f"YAML error: {what}",
                                    "remove control characters; a runbook is plain text")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if composer.problems:
        raise RunbookError(composer.problems)
    return LocatedDocument(file, data, composer.lines)
