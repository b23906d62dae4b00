"""The `slack` connector end to end through the CLI, against the Slack fake: what a user would check in Slack."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, Iterator

import pytest
from pydantic import SecretStr

from revoke.connector import RunContext
from revoke.connectors.slack.connector import SlackConnector
from revoke.evidence import now, read_records, verify_run
from revoke.errors import ActionFailed
from revoke.plan import Action, action_id, fingerprint, load_plan
from revoke.runtime import FakeClock
from revoke.sandbox.slack import BOT_SCOPES, SlackFake
from revoke.secrets import Secrets
from tests.conftest import write_runbook, yesterday

CLOSING = "This channel closes today: thank you all. Archived by revoke."


@pytest.fixture
def fake() -> Iterator[SlackFake]:
    with SlackFake(page_cap=2) as f:  # two items a page: every list call pages
        yield f


@pytest.fixture
def ws(fake: SlackFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Alice and Bob leave, Carol (the client) stays; the engagement's channels start with acme-."""
    token = "xoxb-" + secrets.token_hex(16)
    bot = fake.add_bot("revoke")
    fake.add_token(token, bot)
    monkeypatch.setenv("REVOKE_SLACK_TOKEN", token)
    alice = fake.add_user("alice", "alice@consult.example")
    bob = fake.add_user("bob", "bob@consult.example")
    carol = fake.add_user("carol", "carol@client.example")
    ids = {
        "general": fake.add_channel("general", members=[alice, bob, carol], general=True),
        "dev": fake.add_channel("acme-dev", members=[alice, bob, carol]),
        "private": fake.add_channel("acme-private", members=[alice, carol, bot], private=True),
        "old": fake.add_channel("acme-old", members=[alice], archived=True),
        "team": fake.add_channel("client-team", members=[alice, carol]),
        "random": fake.add_channel("random", members=[bob, carol]),
    }
    return {"token": token, "bot": bot, "alice": alice, "bob": bob, "carol": carol, "dir": tmp_path, **ids}


def runbook(ws: dict[str, Any], *, settings: dict[str, Any] | None = None, lists: list | None = None,
            people: list | None = None, **extra: Any) -> Path:
    base = {"token": {"secret": "slack_token"}, "base_url": ws["fake"].base_url, "channel_prefix": "#acme-*",
            "closing_message": CLOSING}
    base.update(settings or {})
    data = {"engagement": "acme-2026", "final_day": yesterday(),
            "systems": {"slack": {"connector": "slack", "identify_by": "email", "settings": base}},
            "people": people if people is not None else [{"name": "Alice", "email": "alice@consult.example"},
                                                         {"name": "Bob", "email": "bob@consult.example"}],
            "lists": lists if lists is not None else [{"system": "slack", "id": "#client-team", "close": "keep"}],
            **extra}
    return write_runbook(ws["dir"] / "acme.yaml", data)


@pytest.fixture(autouse=True)
def _bind_fake(ws: dict[str, Any], fake: SlackFake) -> None:
    ws["fake"] = fake


def apply_json(run_cli: Any, path: Path, *extra: str) -> tuple[Any, Path, list[dict[str, Any]]]:
    result = run_cli("--quiet", "--output", "json", "apply", str(path), "--yes",
                     "--evidence-dir", str(path.parent / "evidence"), *extra)
    assert "run_dir" in json.loads(result.output), result.output + result.stderr
    run_dir = Path(json.loads(result.output)["run_dir"])
    return result, run_dir, [r for r in read_records(run_dir) if r["type"] == "action"]


def test_plan_shows_channels_and_memberships_and_writes_nothing(ws: dict, fake: SlackFake, run_cli: Any) -> None:
    result = run_cli("--quiet", "plan", str(runbook(ws)), "--out", str(ws["dir"] / "plan.json"),
                     "--evidence-dir", str(ws["dir"] / "evidence"))
    assert result.exit_code == 2, result.output + result.stderr
    text = result.output
    assert "- post the closing message in #acme-dev" in text
    assert "- archive #acme-dev" in text and "3 members; public" in text
    assert "- archive #acme-private" in text and "private" in text
    assert "= already archived: #acme-old" in text
    assert "- remove from #client-team" in text       # Alice, from the channel that stays open
    assert "= not in #client-team" in text            # Bob was never in it
    assert "Slack account stays active and signed in" in text  # issue 11: sessions are stated, not hidden
    assert "still valid after apply" in text and "Slack account, still active" in text
    assert fake.writes() == []
    plan = json.loads((ws["dir"] / "plan.json").read_text())["plan"]
    archive = next(a for a in plan["actions"] if a["kind"] == "archive-channel" and a["label"] == "#acme-dev")
    assert archive["before"] == {"exists": True, "archived": False, "name": "acme-dev", "private": False,
                                 "shared": False}


def test_apply_archives_channels_and_removes_leavers_from_channels_that_stay(ws: dict, fake: SlackFake,
                                                                             run_cli: Any) -> None:
    result, run_dir, records = apply_json(run_cli, runbook(ws))
    assert result.exit_code == 0, result.output + result.stderr

    assert fake.channel("acme-dev").is_archived and fake.channel("acme-private").is_archived
    assert [m["text"] for m in fake.messages("acme-dev")] == [CLOSING]
    assert [m["text"] for m in fake.messages("acme-private")] == [CLOSING]
    # the message went out before the archive, in each channel
    order = [(c.method, c.params.get("channel")) for c in fake.calls if c.ok]
    for ch in (ws["dev"], ws["private"]):
        assert order.index(("chat.postMessage", ch)) < order.index(("conversations.archive", ch))
    assert ws["alice"] not in fake.members("client-team") and ws["carol"] in fake.members("client-team")
    assert not fake.channel("client-team").is_archived
    # untouched: channels outside the engagement, and Carol everywhere
    assert not fake.channel("random").is_archived and ws["bob"] in fake.members("random")
    assert ws["carol"] in fake.members("acme-dev")
    assert verify_run(run_dir).ok
    done = [r for r in records if r["outcome"] == "done"]
    assert {r["kind"] for r in done} == {"post-closing-message", "archive-channel", "remove-from-channel"}
    assert all(r["verification"] == "verified" for r in done)
    # a closing message posted by its channel's archive (which may run first) is in that archive's request ids
    assert all(r["request_ids"] for r in done if r["kind"] != "post-closing-message")
    assert all(r["operator"].startswith("revoke (B") for r in done)
    # issue 11: what Alice can still do in Slack is stated, with no upper bound, since her account stays active
    alice = next(r for r in read_records(run_dir) if r["type"] == "exposure" and r["person"] == "Alice")
    assert any("Slack account, still active" in i["what"] and i["bound"] == "no upper bound known"
               for i in alice["items"])


def test_already_archived_is_a_noop_recorded_already_done(ws: dict, fake: SlackFake, run_cli: Any) -> None:
    path = runbook(ws, settings={"closing_message": None})
    plan_file = ws["dir"] / "plan.json"
    assert run_cli("--quiet", "plan", str(path), "--out", str(plan_file)).exit_code == 2
    fake.channel("acme-dev").is_archived = True  # someone archives it between the plan and the apply
    result, _, records = apply_json(run_cli, plan_file)
    assert result.exit_code == 0, result.output + result.stderr
    by_label = {r["label"]: r for r in records if r["kind"] == "archive-channel"}
    assert by_label["#acme-old"]["outcome"] == "already_done"
    assert by_label["#acme-dev"]["outcome"] == "already_done"
    assert by_label["#acme-dev"]["verification"] == "verified"
    archived = {c.params["channel"] for c in fake.calls_to("conversations.archive")}
    assert archived == {ws["private"]}  # nothing was sent for the two channels already archived
    again = run_cli("--quiet", "plan", str(path))
    assert again.exit_code == 0 and "Plan: 0 to change" in again.output


def test_channel_archived_after_the_plan_makes_its_closing_message_stale(ws: dict, fake: SlackFake,
                                                                         run_cli: Any) -> None:
    plan_file = ws["dir"] / "plan.json"
    assert run_cli("--quiet", "plan", str(runbook(ws)), "--out", str(plan_file)).exit_code == 2
    fake.channel("acme-dev").is_archived = True
    refused = run_cli("apply", str(plan_file))
    assert refused.exit_code == 1 and "post the closing message in #acme-dev" in refused.stderr
    assert fake.writes() == []


def test_throttled_run_finishes_with_each_action_done_once(ws: dict, fake: SlackFake, run_cli: Any,
                                                           fake_clock: FakeClock) -> None:
    fake.throttle("conversations.list", retry_after=0)          # a read: the engine repeats it
    fake.throttle("users.conversations", http_200=True)         # a read throttled without Retry-After
    fake.throttle("conversations.archive", retry_after=1)       # 429 + Retry-After, not applied
    fake.throttle("chat.postMessage", retry_after=1, applied=True)  # applied, yet answered 429
    fake.throttle("conversations.kick", http_200=True)          # `ratelimited` inside an HTTP 200
    result, run_dir, records = apply_json(run_cli, runbook(ws))
    assert result.exit_code == 0, result.output + result.stderr
    assert len({r["action_id"] for r in records}) == len(records)
    changed = [r for r in records if r["outcome"] == "done"]
    assert len(changed) == 5 and all(r["verification"] == "verified" for r in changed)
    # each write carried out exactly once: one message per channel, even the one answered 429 after posting
    assert [m["text"] for m in fake.messages("acme-dev")] + [m["text"] for m in fake.messages("acme-private")] \
        == [CLOSING, CLOSING]
    assert sum(1 for c in fake.calls_to("conversations.archive") if c.ok) == 2
    assert sum(1 for c in fake.calls_to("conversations.kick") if c.ok) == 1
    assert [c.status for c in fake.calls_to("conversations.list")][0] == 429
    assert [c.error for c in fake.calls_to("users.conversations")][0] == "ratelimited"
    assert any(r["attempts"] > 1 for r in changed)
    assert verify_run(run_dir).ok
    # every wait was the engine's, on the run's clock: the 429s' Retry-After and a back-off for the 200s without one
    assert 1.0 in fake_clock.slept and all(0 <= s <= 30 for s in fake_clock.slept)


def test_missing_scope_error_names_the_scope(ws: dict, fake: SlackFake, run_cli: Any) -> None:
    fake.set_scopes(ws["token"], [s for s in BOT_SCOPES if s != "channels:manage"])
    result, _, records = apply_json(run_cli, runbook(ws))
    assert result.exit_code == 3
    failed = {r["label"]: r for r in records if r["outcome"] == "failed"}
    assert "channels:manage" in failed["#acme-dev"]["error"]
    assert "the token lacks the scope channels:manage" in failed["#client-team"]["error"]
    assert "Bot Token Scopes" in failed["#acme-dev"]["error"]
    assert fake.channel("acme-private").is_archived  # private channels need groups:write, which it has
    assert not fake.channel("acme-dev").is_archived

    fake.set_scopes(ws["token"], [s for s in BOT_SCOPES if s != "groups:read"])
    plan = run_cli("--quiet", "plan", str(runbook(ws)))
    assert "groups:read" in plan.output + plan.stderr


def test_shared_channel_is_not_archived_without_the_flag(ws: dict, fake: SlackFake, run_cli: Any) -> None:
    shared = fake.add_channel("acme-partner", members=[ws["alice"], ws["carol"]], shared=True)
    plan = run_cli("--quiet", "plan", str(runbook(ws)))
    assert "needs a person: archive #acme-partner: Slack Connect" in plan.output
    result, _, records = apply_json(run_cli, runbook(ws))
    assert result.exit_code == 3  # a person must decide about the shared channel
    assert not fake.channel(shared).is_archived
    assert ws["alice"] not in fake.members(shared)  # the leaver is removed from it all the same
    assert ws["carol"] in fake.members(shared)
    flagged = next(r for r in records if r["kind"] == "archive-channel" and r["label"] == "#acme-partner")
    assert flagged["outcome"] == "attention"

    result, _, _ = apply_json(run_cli, runbook(ws, settings={"include_shared": True}))
    assert result.exit_code == 0, result.output
    assert fake.channel(shared).is_archived


def test_restore_unarchives_and_reinvites(ws: dict, fake: SlackFake, run_cli: Any) -> None:
    path = runbook(ws)
    result, run_dir, records = apply_json(run_cli, path)
    assert result.exit_code == 0
    restored = run_cli("--quiet", "restore", run_dir.name, "--yes", "--evidence-dir", str(run_dir.parent))
    # the closing messages cannot be taken back: restore says so, and that needs a person
    assert restored.exit_code == 3, restored.output + restored.stderr
    assert "a posted message stays in the channel" in restored.output + restored.stderr
    assert not fake.channel("acme-dev").is_archived and not fake.channel("acme-private").is_archived
    assert fake.channel("acme-old").is_archived  # archived before the run: not part of it, left archived
    assert ws["alice"] in fake.members("client-team")
    assert [m["text"] for m in fake.messages("acme-dev")] == [CLOSING]
    assert sum(1 for c in fake.calls_to("conversations.unarchive") if c.ok) == 2
    assert sum(1 for c in fake.calls_to("conversations.invite") if c.ok) == 1


def test_restore_of_a_connector_action_is_idempotent(ws: dict, fake: SlackFake, run_cli: Any) -> None:
    result, run_dir, records = apply_json(run_cli, runbook(ws))
    assert result.exit_code == 0
    plan = load_plan(run_dir / "plan.json")
    system = plan.runbook.systems["slack"]
    connector = SlackConnector("slack", SlackConnector.Settings.model_validate(system.settings),
                               Secrets({"slack_token": SecretStr(ws["token"])}), RunContext("restore", now()))
    connector.connect()
    done = {r["action_id"] for r in records if r["outcome"] == "done"}
    restorable = [a for a in plan.actions if a.id in done and SlackConnector.kind(a.kind).restorable]
    for _ in range(2):  # the second time Slack answers not_archived / already_in_channel: still no error
        receipts = [connector.restore(a) for a in restorable]
    assert {r.detail.get("answer") for r in receipts} == {"not_archived", "already_in_channel"}
    assert fake.members("client-team").count(ws["alice"]) == 1 and not fake.channel("acme-dev").is_archived


def test_missing_people_and_channels_are_reported(ws: dict, fake: SlackFake, run_cli: Any) -> None:
    path = runbook(ws, settings={"channels": ["#no-such-channel"], "channel_prefix": "zz-"},
                   people=[{"name": "Ghost", "email": "ghost@consult.example"},
                           {"name": "Wrong Id", "ids": {"slack": "U404"}}])
    plan = run_cli("--quiet", "plan", str(path))
    text = plan.output
    assert "channel '#no-such-channel' was not found" in text
    assert "no channel the app can see matches 'zz-*'" in text
    assert "no Slack user 'ghost@consult.example'" in text
    assert "no Slack user 'U404'" in text


def test_scan_all_channels_removes_leavers_everywhere_the_app_sees(ws: dict, fake: SlackFake, run_cli: Any) -> None:
    result, _, _ = apply_json(run_cli, runbook(ws, settings={"scan_all_channels": True}))
    assert result.exit_code == 0, result.output
    assert ws["bob"] not in fake.members("random")            # removed from a channel outside the engagement
    assert ws["carol"] in fake.members("random")
    assert ws["alice"] in fake.members("general")             # Slack never removes anyone from #general
    assert not fake.channel("random").is_archived


def test_protected_channel_is_never_touched(ws: dict, fake: SlackFake, run_cli: Any) -> None:
    result, _, records = apply_json(run_cli, runbook(ws, protect=["#acme-dev"]))
    assert result.exit_code == 0, result.output
    assert not fake.channel("acme-dev").is_archived and fake.messages("acme-dev") == []
    assert {r["outcome"] for r in records if r["label"] == "#acme-dev"} == {"skipped"}


def test_scim_deactivation_signs_leavers_out(ws: dict, fake: SlackFake, run_cli: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    admin = "xoxp-" + secrets.token_hex(16)
    fake.add_token(admin, fake.add_user("owner", "owner@client.example"), scopes=["admin"])
    monkeypatch.setenv("REVOKE_SLACK_SCIM", admin)
    path = runbook(ws, settings={"scim_deactivate": True, "scim_token": {"secret": "slack_scim"},
                                 "scim_url": fake.scim_url})
    plan = run_cli("--quiet", "plan", str(path))
    assert "- deactivate the Slack account (signs out every session)" in plan.output
    assert "stays active and signed in" not in plan.output and "Slack account, still active" not in plan.output
    result, run_dir, records = apply_json(run_cli, path)
    assert result.exit_code == 0, result.output
    assert fake.users[ws["alice"]].deleted and fake.users[ws["bob"]].deleted
    assert not fake.users[ws["carol"]].deleted
    deact = [r for r in records if r["kind"] == "deactivate-user"]
    assert {r["outcome"] for r in deact} == {"done"} and deact[0]["after"]["active"] is False
    exposure = [r for r in read_records(run_dir) if r["type"] == "exposure" and r["system"] == "slack"]
    assert {r["person"] for r in exposure} == {"Alice", "Bob"}
    assert all(r["items"] == [{"what": "none", "until": None, "bound": "nothing remains valid",
                               "basis": "every action was verified and no credential outlives it"}]
               for r in exposure)


def test_a_refused_token_is_reported_with_the_fix(ws: dict, fake: SlackFake, run_cli: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVOKE_SLACK_TOKEN", "xoxb-" + secrets.token_hex(16))
    result = run_cli("--quiet", "plan", str(runbook(ws)))
    text = result.output + result.stderr
    assert "invalid_auth" in text and "check the secret" in text
    assert fake.writes() == []


def _connector(ws: dict[str, Any]) -> SlackConnector:
    settings = SlackConnector.Settings.model_validate({"token": {"secret": "slack_token"},
                                                      "base_url": ws["fake"].base_url})
    connector = SlackConnector("slack", settings, Secrets({"slack_token": SecretStr(ws["token"])}),
                               RunContext("test", now()))
    connector.connect()
    return connector


def _action(kind: str, resource: str, principal: str | None, before: dict[str, Any], **params: Any) -> Action:
    return Action(id=action_id("slack", kind, resource, principal), system="slack", connector="slack", kind=kind,
                  item=4, resource=resource, principal=principal, before=before, fingerprint=fingerprint(before),
                  status="change", params={"private": False, **params})


def test_a_wrong_id_never_reads_as_removed(ws: dict, fake: SlackFake) -> None:
    connector = _connector(ws)
    wrong_user = _action("remove-from-channel", ws["team"], "U404", {"exists": True, "member": True})
    with pytest.raises(ActionFailed, match="user_not_found"):
        connector.apply(wrong_user)
    assert connector.read_back([wrong_user]) == {}  # unreadable, so the engine cannot record it done
    wrong_channel = _action("archive-channel", "C404", None, {"exists": True, "archived": False})
    state = connector.read_back([wrong_channel])[wrong_channel.id]
    assert not SlackConnector.kind("archive-channel").is_done(state)
    # a person who exists but is not in the channel: Slack says not_in_channel, the read-back confirms it
    never_in = _action("remove-from-channel", ws["team"], ws["bob"], {"exists": True, "member": True})
    assert connector.apply(never_in).detail == {"answer": "not_in_channel"}
    assert connector.read_back([never_in])[never_in.id] == {"exists": True, "member": False}


def test_a_scim_token_without_admin_fails_only_the_deactivations(ws: dict, fake: SlackFake, run_cli: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    weak = "xoxp-" + secrets.token_hex(16)
    fake.add_token(weak, fake.add_user("member", "member@client.example"), scopes=["users:read"])
    monkeypatch.setenv("REVOKE_SLACK_SCIM", weak)
    path = runbook(ws, settings={"scim_deactivate": True, "scim_token": {"secret": "slack_scim"},
                                 "scim_url": fake.scim_url})
    result, _, records = apply_json(run_cli, path)
    assert result.exit_code == 3
    failed = [r for r in records if r["outcome"] == "failed"]
    assert {r["kind"] for r in failed} == {"deactivate-user"} and len(failed) == 2
    assert "`admin` scope" in failed[0]["error"]
    assert not fake.users[ws["alice"]].deleted
    assert fake.channel("acme-dev").is_archived and ws["alice"] not in fake.members("client-team")


def test_settings_mistakes_are_located_in_the_runbook(ws: dict, run_cli: Any) -> None:
    path = runbook(ws, settings={"channel_prefix": "#*"})
    result = run_cli("validate", "--offline", str(path))
    assert result.exit_code == 1
    assert "systems.slack.settings.channel_prefix: the prefix is empty" in result.stderr
    path = runbook(ws, settings={"scim_deactivate": True})
    result = run_cli("validate", "--offline", str(path))
    assert result.exit_code == 1 and "scim_deactivate needs scim_token" in result.stderr


def test_closing_message_is_posted_once_whichever_action_runs_first(ws: dict, fake: SlackFake) -> None:
    connector = _connector(ws)
    archive = _action("archive-channel", ws["dev"], None, {"exists": True, "archived": False}, closing_message=CLOSING)
    post = _action("post-closing-message", ws["dev"], None, {"exists": True, "archived": False, "posted": False},
                   text=CLOSING)
    connector.apply(archive)  # the engine runs actions concurrently: here the archive wins the race
    assert connector.apply(post).detail == {"note": "the closing message was already posted"}
    assert [m["text"] for m in fake.messages("acme-dev")] == [CLOSING] and fake.channel("acme-dev").is_archived
    assert connector.read_back([post])[post.id] == {"exists": True, "archived": True, "posted": True}


def test_slack_passes_the_connector_conformance_suite(ws: dict, fake: SlackFake, tmp_path: Path) -> None:
    from revoke.testing import check_connector

    def snapshot() -> Any:
        with fake.lock:
            return ({c.id: (c.is_archived, tuple(c.members), len(c.messages)) for c in fake.channels.values()},
                    {u.id: u.deleted for u in fake.users.values()})

    def restorable() -> Any:
        """What restore brings back: archive states and people's memberships. A closing message stays posted,
        and the app stays in the public channels it joined to post it (its own account, never a leaver's)."""
        with fake.lock:
            return {c.id: (c.is_archived, sorted(m for m in c.members if m != ws["bot"]))
                    for c in fake.channels.values()}

    report = check_connector("slack", {"token": {"secret": "slack_token"}, "base_url": fake.base_url,
                                       "channel_prefix": "acme-", "closing_message": CLOSING},
                             people={"Alice": "alice@consult.example", "Bob": ws["bob"]},
                             lists=[{"id": "#client-team", "close": "keep"}],
                             secrets={"slack_token": ws["token"]}, server_state=snapshot, workdir=tmp_path,
                             restored_state=restorable)
    assert report.restore is not None
    assert not fake.channel("acme-dev").is_archived and ws["alice"] in fake.members("client-team")


def test_many_leavers_are_discovered_in_few_calls(ws: dict, fake: SlackFake, run_cli: Any) -> None:
    crowd = {f"p{i:02d}": fake.add_user(f"p{i:02d}", f"p{i:02d}@consult.example") for i in range(30)}
    fake.channel("client-team").members.extend(crowd.values())
    people = [{"name": n, "email": f"{n}@consult.example"} for n in crowd]
    people.append({"name": "Nobody", "email": "nobody@consult.example"})
    result, _, records = apply_json(run_cli, runbook(ws, people=people, settings={"closing_message": None}))
    assert result.exit_code == 3  # Nobody is not in the workspace: said out loud
    assert not set(crowd.values()) & set(fake.members("client-team")) and ws["carol"] in fake.members("client-team")
    assert fake.calls_to("users.lookupByEmail") == [] and fake.calls_to("users.conversations") == []
    pages = -(-len(fake.users) // fake.page_cap)
    # users.list read page by page once by the plan (discovery and its guardrails share it) and once by apply,
    # which re-derives who the runbook's people are from the live workspace
    assert len(fake.calls_to("users.list")) == 2 * pages
    # memberships: one paged conversations.members per open channel of the engagement, not one call per person
    assert {c.params["channel"] for c in fake.calls_to("conversations.members")} <= {ws["dev"], ws["private"],
                                                                                     ws["team"]}


def test_general_and_archived_channels_that_stay_are_stated_not_touched(ws: dict, fake: SlackFake,
                                                                         run_cli: Any) -> None:
    lists = [{"system": "slack", "id": "#general", "close": "archive"},
             {"system": "slack", "id": "#acme-old", "close": "keep"}]
    plan = run_cli("--quiet", "plan", str(runbook(ws, lists=lists, settings={"channel_prefix": None})))
    assert "immutable: archive #general" in plan.output and "never archives" in plan.output
    assert "#acme-old is archived and stays so" in plan.output
    assert "Slack removes nobody from #general" in plan.output
    assert fake.writes() == []
