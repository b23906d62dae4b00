"""YAML events to plain data, with the line of every key and item, within bounds a hostile file cannot pass.

PyYAML's composer builds a node graph in which an alias is the anchored node itself, so walking it expands every
alias (a "billion laughs" file grows past any memory), a node that contains its own alias (`a: &a [*a]`) is a loop,
and deep nesting recurses. This composer reads libyaml's events instead (the same parser, marks and scalar
constructors as before), builds each value once on an explicit stack, and counts: an alias costs the size of what
it names, and all aliases together may expand to `MAX_ALIAS_NODES` nodes; nesting stops at `MAX_DEPTH`; an alias
inside the node it names is refused. Every refusal names the line of the alias or of the node that went too deep.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from revoke.errors import Problem, RunbookError

Path_ = tuple[str | int, ...]

MAX_ALIAS_NODES = 10_000  # all aliases of a file together; a runbook's anchors share a few settings, not lists
MAX_DEPTH = 64            # a runbook nests about 6 deep; connector settings a few more

STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"
VALUE_TAG = "tag:yaml.org,2002:value"
UNREADABLE = object()  # a value that could not be read: its problem is recorded, the value is left out
_NO_KEY = object()


class _Frame:
    """A mapping or sequence being built."""

    __slots__ = ("value", "path", "anchor", "size", "key", "merges", "line")

    def __init__(self, value: dict[str, Any] | list[Any], path: Path_, anchor: str | None, line: int):
        self.value = value
        self.path = path
        self.anchor = anchor
        self.size = 1
        self.key: Any = _NO_KEY          # a mapping's key waiting for its value
        self.merges: list[tuple[Any, int]] = []  # `<<` values, merged when the mapping ends
        self.line = line


class Composer:
    """Builds the one document of a loader's event stream into plain data; `lines` maps paths to lines."""

    def __init__(self, loader: Any, file: str):
        self.loader = loader
        self.file = file
        self.lines: dict[Path_, int] = {}
        self.problems: list[Problem] = []
        self.anchors: dict[str, tuple[Any, int, int]] = {}  # name -> value, size, line
        self.open_anchors: dict[str, int] = {}              # anchors of nodes still being built -> their line
        self.expanded = 0
        self.stack: list[_Frame] = []
        self.root: Any = UNREADABLE
        resolvers = loader.yaml_implicit_resolvers
        # the first characters of implicit types (int, bool, date, null...): other plain scalars are strings
        self.resolved_first = frozenset(k for k in resolvers if k)
        self.resolve_all = None in resolvers  # a resolver for any first character (none in SafeLoader)

    def compose(self) -> tuple[bool, Any]:
        """(False, None) for an empty stream, else (True, the document's data)."""
        loader = self.loader
        loader.get_event()  # stream start
        if loader.check_event(StreamEndEvent):
            loader.get_event()
            return False, None
        document = loader.get_event()
        while not loader.check_event(DocumentEndEvent):
            self._step(loader.get_event())
        loader.get_event()
        if not loader.check_event(StreamEndEvent):
            event = loader.get_event()
            raise yaml.composer.ComposerError("expected a single document in the stream", document.start_mark,
                                              "but found another document", event.start_mark)
        loader.get_event()
        return True, self.root

    def _step(self, event: Any) -> None:
        line = event.start_mark.line + 1
        kind = type(event)
        if kind is ScalarEvent:
            if event.anchor is not None:
                self._register(event.anchor, line)
            self._done(self._scalar(event), 1, line, event.anchor)
        elif kind is AliasEvent:
            self._alias(event, line)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            self._open(event, line)
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            frame = self.stack.pop()
            if frame.merges:
                self._merge(frame)
            if frame.anchor is not None:
                self.open_anchors.pop(frame.anchor, None)
            self._done(frame.value, frame.size, frame.line, frame.anchor)

    def _register(self, anchor: str | None, line: int) -> None:
        if anchor is None:
            return
        if anchor in self.anchors or anchor in self.open_anchors:
            first = self.anchors[anchor][2] if anchor in self.anchors else self.open_anchors[anchor]
            raise RunbookError([Problem(self.file, line, self._where(), f"anchor &{anchor} is defined twice "
                                        f"(first on line {first})", "give each anchor its own name")])

    def _open(self, event: Any, line: int) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise RunbookError([Problem(self.file, line, self._where(), f"nested deeper than {MAX_DEPTH} levels",
                                        "a runbook nests a few levels deep; this file is not a runbook")])
        self._register(event.anchor, line)
        if event.anchor is not None:
            self.open_anchors[event.anchor] = line
        value: dict[str, Any] | list[Any] = {} if isinstance(event, MappingStartEvent) else []
        self.stack.append(_Frame(value, self._child_path(), event.anchor, line))

    def _alias(self, event: Any, line: int) -> None:
        name = event.anchor
        if name in self.open_anchors:
            raise RunbookError([Problem(self.file, line, self._where(), f"alias *{name} is inside the node it "
                                        f"names (anchored on line {self.open_anchors[name]}): a loop",
                                        "a runbook holds no loops; repeat the value or remove the alias")])
        if name not in self.anchors:
            raise yaml.composer.ComposerError(None, None, f"found undefined alias {name!r}", event.start_mark)
        value, size, _ = self.anchors[name]
        self.expanded += size
        if self.expanded > MAX_ALIAS_NODES:
            raise RunbookError([Problem(self.file, line, self._where(), f"alias *{name} expands past "
                                        f"{MAX_ALIAS_NODES:,} nodes", "a runbook's aliases repeat a few "
                                        "settings; write large parts out once")])
        # the anchored value is shared, not copied: nothing downstream changes the data it is given
        self._done(value, size, line, None)

    def _scalar(self, event: Any) -> Any:
        tag, value = event.tag, event.value
        if tag is None and (not event.implicit[0] or (value and not self.resolve_all
                                                      and value[0] not in self.resolved_first)):
            return value  # quoted, or plain text no implicit type starts with: a string (most of a runbook)
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, value, event.implicit)
        if tag in (STR_TAG, VALUE_TAG):
            return event.value
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        if tag == MERGE_TAG:
            return _Merge()
        try:  # PyYAML's scalar constructors raise plain ValueErrors, e.g. for 2026-02-30 or `!!int x`
            return self.loader.construct_object(node, deep=True)
        except (ValueError, TypeError, OverflowError) as exc:
            self.problems.append(Problem(self.file, event.start_mark.line + 1, self._where(),
                                         f"cannot read this value: {exc}", "quote it to keep it as text, or "
                                         "write a valid value (dates as YYYY-MM-DD)"))
            return UNREADABLE
        finally:
            self.loader.constructed_objects.pop(node, None)

    def _child_path(self) -> Path_:
        """The path of the node about to be placed in the innermost container."""
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            return frame.path + (len(frame.value),)
        if frame.key is _NO_KEY or not isinstance(frame.key, str):
            return frame.path  # a key itself, or the value of a key that is not kept
        return frame.path + (frame.key,)

    def _where(self) -> str:
        return dotted(self._child_path())

    def _done(self, value: Any, size: int, line: int, anchor: str | None) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, size, line)
        if not self.stack:
            self.lines[()] = line
            self.root = None if value is UNREADABLE else value
            return
        frame = self.stack[-1]
        frame.size += size
        if isinstance(frame.value, list):
            self.lines[frame.path + (len(frame.value),)] = line
            frame.value.append(None if value is UNREADABLE else value)
        elif frame.key is _NO_KEY:
            frame.key = self._key(frame, value, line)
        else:
            self._set(frame, frame.key, value, line)
            frame.key = _NO_KEY

    def _key(self, frame: _Frame, key: Any, line: int) -> Any:
        if key is UNREADABLE or isinstance(key, _Merge):
            return key
        if not isinstance(key, (str, int, float, bool)) or key is None:
            self.problems.append(Problem(self.file, line, dotted(frame.path), "a key must be a plain name",
                                         "quote the key"))
            return UNREADABLE
        key = str(key)
        assert isinstance(frame.value, dict)
        if key in frame.value:
            self.problems.append(Problem(self.file, line, dotted(frame.path + (key,)),
                                         f"duplicate key (first on line {self.lines[frame.path + (key,)]})",
                                         "remove one of the two entries"))
            return UNREADABLE
        self.lines[frame.path + (key,)] = line
        return key

    def _set(self, frame: _Frame, key: Any, value: Any, line: int) -> None:
        assert isinstance(frame.value, dict)
        if isinstance(key, _Merge):
            frame.merges.append((value, line))
        elif key is not UNREADABLE:
            frame.value[key] = None if value is UNREADABLE else value

    def _merge(self, frame: _Frame) -> None:
        """`<<: *defaults` (or a list of them): keys written in the mapping win, then earlier merges."""
        assert isinstance(frame.value, dict)
        explicit = frame.value
        merged: dict[str, Any] = {}
        for value, line in frame.merges:
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(s, dict) for s in sources):
                self.problems.append(Problem(self.file, line, dotted(frame.path), "a merge (<<) takes a mapping "
                                             "or a list of mappings", "merge an anchored mapping: <<: *name"))
                continue
            for source in sources:
                for k, v in source.items():
                    if k not in explicit and k not in merged:
                        merged[k] = v
                        self.lines.setdefault(frame.path + (k,), line)
        frame.value = {**merged, **explicit}


class _Merge:
    """The `<<` key of a mapping."""


def dotted(path: Path_) -> str:
    """A path as the user reads it: people[0].ids.corp-ldap."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
