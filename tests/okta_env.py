"""Shared set-up for the `okta` tests: the seeded fake and runbooks that point at it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from revoke.sandbox.okta import OktaFake
from revoke.sandbox.okta_seed import Seeded, seed_engagement
from tests.conftest import write_runbook, yesterday


@pytest.fixture
def fake() -> Iterator[OktaFake]:
    with OktaFake(page_cap=2) as f:   # two items a page: every listing pages through Link and `after`
        yield f


@pytest.fixture
def seeded(fake: OktaFake, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    s = seed_engagement(fake)
    monkeypatch.setenv("REVOKE_OKTA_TOKEN", s.token)
    return s


def runbook(path: Path, fake: OktaFake, seeded: Seeded, *, settings: dict[str, Any] | None = None,
            people: list[dict[str, Any]] | None = None, lists: list[Any] | None = None,
            protect: list[Any] | None = None) -> Path:
    base = seeded.settings(fake)
    if settings and "client_id" in settings:
        del base["api_token"]   # an OAuth service app instead of the API token
    if people is None:
        people = [{"name": n, "ids": {"okta": login}} for n, login in seeded.leavers.items()]
    data = {"engagement": "acme-2026", "final_day": yesterday(),
            "systems": {"okta": {"connector": "okta", "settings": {**base, **(settings or {})}}}, "people": people,
            "lists": [{"system": "okta", **({"id": x} if isinstance(x, str) else x)}
                      for x in (seeded.lists if lists is None else lists)],
            "protect": protect or [], "evidence_dir": str(path.parent / "evidence")}
    return write_runbook(path, data)
