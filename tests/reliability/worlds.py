"""Small multi-system engagements for the reliability suite: slapd plus the Slack fake (and, where a test needs them,
the Graph fake and moto), with helpers that read the servers independently of revoke."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from pathlib import Path
from typing import Any

import ldap3
import pytest

from revoke.sandbox.slack import SlackFake
from revoke.sandbox.slapd import Slapd

CLOSING = "This channel closes today. Archived by revoke."


def slack_world(fake: SlackFake, monkeypatch: pytest.MonkeyPatch, token: str | None = None) -> dict[str, Any]:
    """Alice leaves, Carol stays; #acme-dev is archived, Alice leaves #client-team. Five writes in all."""
    token = token or "xoxb-" + secrets.token_hex(16)
    bot = fake.add_bot("revoke")
    fake.add_token(token, bot)
    monkeypatch.setenv("REVOKE_SLACK_TOKEN", token)
    alice = fake.add_user("alice", "alice@example.org")
    carol = fake.add_user("carol", "carol@client.example")
    fake.add_channel("acme-dev", members=[alice, carol])
    fake.add_channel("acme-ops", members=[alice, carol, bot], private=True)
    fake.add_channel("client-team", members=[alice, carol])
    return {"token": token, "bot": bot, "alice": alice, "carol": carol}


def slack_system(fake: SlackFake, **extra: Any) -> dict[str, Any]:
    settings = {"token": {"secret": "slack_token"}, "base_url": fake.base_url, "channel_prefix": "#acme-*",
                "closing_message": CLOSING}
    settings.update(extra)
    return {"connector": "slack", "identify_by": "email", "settings": settings}


def assert_each_slack_write_once(fake: SlackFake) -> None:
    """The workspace holds each change exactly once: one closing message in each engagement channel (counted in
    the channel: a post can be made and still answered `ratelimited`), one archive each, one kick of the leaver.
    Joins, which the app makes to act in a public channel, are idempotent and not counted."""
    done = Counter((c.method, c.params.get("channel"), c.params.get("user")) for c in fake.writes()
                   if c.ok and c.method != "conversations.join")
    assert max(done.values()) == 1, done
    per_method = Counter(method for method, _, _ in done)
    assert (per_method["conversations.archive"], per_method["conversations.kick"]) == (2, 1), per_method
    for channel in ("acme-dev", "acme-ops"):
        assert [m["text"] for m in fake.messages(channel)] == [CLOSING], channel


def directory(server: Slapd) -> dict[str, dict[str, list[str]]]:
    """Every entry under the suffix with all its attributes, operational ones included (entryCSN changes on any
    write), read as the admin."""
    conn = server.admin_connection()
    try:
        conn.search(server.suffix, "(objectClass=*)", search_scope=ldap3.SUBTREE, attributes=["*", "+"])
        return {e["dn"]: {k: sorted(v.decode() if isinstance(v, bytes) else str(v) for v in vals)
                          for k, vals in e["raw_attributes"].items()}
                for e in conn.response if e.get("type") == "searchResEntry"}
    finally:
        conn.unbind()


def cli_json(result: Any) -> dict[str, Any]:
    assert result.output.strip(), result.stderr
    return json.loads(result.output)


def run_dirs(root: Path, mode: str = "apply") -> list[Path]:
    """The run folders of runs that went ahead (a refused run's folder records only its refusal)."""
    return [p for p in _mode_dirs(root, mode) if p not in refused_runs(root, mode)]


def refused_runs(root: Path, mode: str = "apply") -> list[Path]:
    """Folders of runs refused before any change: a run record and a `refused` record, sealed."""
    def refused(p: Path) -> bool:
        log = p / "evidence.jsonl"
        return log.is_file() and any(json.loads(line).get("type") == "refused"
                                     for line in log.read_text().splitlines() if line.strip())
    return [p for p in _mode_dirs(root, mode) if refused(p)]


def _mode_dirs(root: Path, mode: str) -> list[Path]:
    return sorted(p for p in root.iterdir() if f"-{mode}-" in p.name) if root.is_dir() else []
