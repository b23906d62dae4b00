"""Shared set-up for the `google-workspace` tests: the seeded fake and runbooks that point at it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from revoke.sandbox.google import GoogleFake
from revoke.sandbox.google_seed import Seeded, seed_engagement
from tests.conftest import write_runbook, yesterday


@pytest.fixture
def fake() -> Iterator[GoogleFake]:
    with GoogleFake(page_cap=2) as f:   # two items a page: every listing pages through nextPageToken
        yield f


@pytest.fixture
def seeded(fake: GoogleFake, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    s = seed_engagement(fake)
    monkeypatch.setenv("REVOKE_GOOGLE_KEY", s.key_json)
    return s


def runbook(path: Path, fake: GoogleFake, seeded: Seeded, *, settings: dict[str, Any] | None = None,
            people: list[dict[str, Any]] | None = None, lists: list[Any] | None = None,
            protect: list[Any] | None = None, **system: Any) -> Path:
    spec = {"connector": "google-workspace", "settings": {**seeded.settings(fake), **(settings or {})}, **system}
    if people is None:
        people = [{"name": n, "ids": {"gw": email}} for n, email in seeded.leavers.items()]
    data = {"engagement": "acme-2026", "final_day": yesterday(), "systems": {"gw": spec}, "people": people,
            "lists": [{"system": "gw", **({"id": x} if isinstance(x, str) else x)}
                      for x in (seeded.lists if lists is None else lists)],
            "protect": protect or [], "evidence_dir": str(path.parent / "evidence")}
    return write_runbook(path, data)
