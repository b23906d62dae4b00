"""Progress displays for long runs: a live per-system display on a terminal, plain lines otherwise."""

from __future__ import annotations

import threading
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress


class Progress:
    """Receives what the engine is doing. The CLI supplies a display; the default says nothing."""

    def phase(self, name: str, totals: dict[str, int]) -> None: ...

    def step(self, system: str, text: str, outcome: str | None = None) -> None: ...

    def done(self) -> None: ...


class LiveProgress(Progress):
    """One bar per system with its count and current action."""

    def __init__(self, console: Console):
        self._console = console
        self._bars: RichProgress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def phase(self, name: str, totals: dict[str, int]) -> None:
        with self._lock:
            self._bars = RichProgress(TextColumn("{task.fields[system]:<18}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("{task.description}"),
                                      console=self._console, transient=True)
            self._tasks = {s: self._bars.add_task(name, total=max(n, 1), system=s) for s, n in totals.items()}
            self._bars.start()

    def step(self, system: str, text: str, outcome: str | None = None) -> None:
        with self._lock:
            if self._bars and system in self._tasks:
                self._bars.update(self._tasks[system], description=text[:60], advance=1 if outcome else 0)

    def done(self) -> None:
        with self._lock:
            if self._bars:
                self._bars.stop()
            self._bars = None


class LineProgress(Progress):
    """A line per event, for logs and pipes."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._lock = threading.Lock()
        self._phase = ""

    def phase(self, name: str, totals: dict[str, int]) -> None:
        self._phase = name
        with self._lock:
            total = sum(totals.values())
            self._stream.write(f"[{name}] {len(totals)} system(s), {total} item(s)\n")
            self._stream.flush()

    def step(self, system: str, text: str, outcome: str | None = None) -> None:
        with self._lock:
            self._stream.write(f"[{self._phase}] {system}: {text}" + (f" -> {outcome}" if outcome else "") + "\n")
            self._stream.flush()
