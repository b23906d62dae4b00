"""Where the command line writes: results to stdout, progress and errors to stderr, and the options every
command shares (`revoke --quiet --output json ...`)."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Context:
    def __init__(self, debug: bool, verbose: int, quiet: bool, progress: bool, output: str):
        self.debug = debug
        self.verbose = verbose
        self.quiet = quiet
        self.show_progress = progress
        self.output = output

    def progress(self) -> Any:
        from revoke.progress import LineProgress, LiveProgress, Progress

        if self.quiet or self.output == "json":
            return Progress()
        if self.show_progress and err.is_terminal:
            return LiveProgress(err)
        return LineProgress(sys.stderr)

    def say(self, text: str) -> None:
        """A line for people; a pipeline reading `--output json` gets only the JSON."""
        if self.output != "json":
            out.print(text, markup=False)
