"""Shared set-up for the `github` tests: the seeded fake and runbooks that point at it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from revoke.sandbox.github import GitHubFake
from revoke.sandbox.github_seed import Seeded
from tests.conftest import write_runbook, yesterday


def runbook(path: Path, fake: GitHubFake, seeded: Seeded, *, settings: dict[str, Any] | None = None,
            people: list[dict[str, Any]] | None = None, lists: list[Any] | None = None,
            protect: list[Any] | None = None) -> Path:
    base = seeded.settings(fake)
    if settings and "app_id" in settings:
        del base["token"]   # a GitHub App instead of the owner's token
    system = {"connector": "github", "settings": {**base, **(settings or {})}}
    if people is None:
        people = [{"name": n, "email": f"{login}@consult.example", "ids": {"gh": login}}
                  for n, login in seeded.leavers.items()]
    data = {"engagement": "acme-2026", "final_day": yesterday(), "systems": {"gh": system}, "people": people,
            "lists": [{"system": "gh", **({"id": x} if isinstance(x, str) else x)}
                      for x in (seeded.lists if lists is None else lists)],
            "protect": protect or [], "evidence_dir": str(path.parent / "evidence")}
    return write_runbook(path, data)


def app_settings(fake: GitHubFake, app_id: int, orgs: list[str], **extra: Any) -> dict[str, Any]:
    return {"organizations": orgs, "app_id": app_id, "private_key": {"secret": "github_app_key"},
            "base_url": fake.base_url, "ca_bundle": fake.ca_file, **extra}
