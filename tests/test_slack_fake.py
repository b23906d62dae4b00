"""The Slack fake answers as Slack's documentation says Slack answers; slack_sdk works against it unmodified."""

from __future__ import annotations

import secrets

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from revoke.sandbox.slack import BOT_SCOPES, SlackFake, seed_engagement


@pytest.fixture()
def fake():
    with SlackFake(page_cap=3) as f:
        yield f


@pytest.fixture()
def token(fake):
    value = "xoxb-" + secrets.token_hex(12)
    fake.bot = fake.add_bot("revoke")
    fake.add_token(value, fake.bot)
    return value


def post(fake, method, token=None, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(fake.base_url + method, data=params, headers=headers, timeout=5)


def test_answers_carry_request_id_and_granted_scopes(fake, token):
    r = post(fake, "auth.test", token)
    assert r.status_code == 200
    assert r.json()["ok"] is True and r.json()["user_id"] == fake.bot and r.json()["bot_id"].startswith("B")
    assert r.headers["x-slack-req-id"]
    assert r.headers["x-oauth-scopes"].split(",") == list(BOT_SCOPES)


def test_unknown_or_missing_token_is_refused(fake, token):
    assert post(fake, "auth.test").json() == {"ok": False, "error": "not_authed"}
    assert post(fake, "auth.test", "xoxb-wrong").json() == {"ok": False, "error": "invalid_auth"}


def test_missing_scope_names_needed_and_provided(fake, token):
    fake.set_scopes(token, ["channels:read"])
    body = post(fake, "users.lookupByEmail", token, email="a@example.com").json()
    assert body == {"ok": False, "error": "missing_scope", "needed": "users:read.email", "provided": "channels:read"}


def test_private_channel_needs_groups_scope_public_needs_channels_scope(fake, token):
    pub = fake.add_channel("acme-pub", members=[fake.bot])
    priv = fake.add_channel("acme-priv", members=[fake.bot], private=True)
    fake.set_scopes(token, ["channels:read", "channels:manage"])
    assert post(fake, "conversations.archive", token, channel=pub).json() == {"ok": True}
    body = post(fake, "conversations.archive", token, channel=priv).json()
    assert body["error"] == "missing_scope" and body["needed"] == "groups:write"


def test_lookup_by_email_errors_are_plural_info_singular(fake, token):
    alice = fake.add_user("alice", "Alice@Example.com")
    assert post(fake, "users.lookupByEmail", token, email="alice@example.com").json()["user"]["id"] == alice
    assert post(fake, "users.lookupByEmail", token, email="bob@example.com").json()["error"] == "users_not_found"
    assert post(fake, "users.info", token, user="U404").json()["error"] == "user_not_found"


def test_list_pages_with_cursor_and_hides_private_channels_the_bot_is_not_in(fake, token):
    for i in range(7):
        fake.add_channel(f"acme-{i}", members=[fake.bot] if i % 2 else [])
    fake.add_channel("hidden", private=True)
    seen_private = fake.add_channel("visible", private=True, members=[fake.bot])
    names, cursor, pages = [], "", 0
    while True:
        body = post(fake, "conversations.list", token, types="public_channel,private_channel", limit=100,
                    cursor=cursor).json()
        pages += 1
        names += [c["name"] for c in body["channels"]]
        cursor = body["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert pages == 3  # 8 visible channels, at most 3 per page
    assert "hidden" not in names and "visible" in names and len(names) == 8
    assert post(fake, "conversations.info", token, channel=seen_private).json()["channel"]["is_private"] is True
    assert post(fake, "conversations.list", token, cursor="bogus").json()["error"] == "invalid_cursor"
    assert post(fake, "conversations.list", token, limit=1001).json()["error"] == "invalid_limit"


def test_exclude_archived_and_shared_flags(fake, token):
    fake.add_channel("old", archived=True)
    shared = fake.add_channel("partner", shared=True)
    body = post(fake, "conversations.list", token, exclude_archived="true").json()
    assert [c["name"] for c in body["channels"]] == ["partner"]
    info = post(fake, "conversations.info", token, channel=shared, include_num_members="true").json()["channel"]
    assert info["is_ext_shared"] is True and info["num_members"] == 0


def test_archive_twice_answers_already_archived(fake, token):
    ch = fake.add_channel("acme-x", members=[fake.bot])
    assert post(fake, "conversations.archive", token, channel=ch).json() == {"ok": True}
    assert post(fake, "conversations.archive", token, channel=ch).json() == {"ok": False, "error": "already_archived"}
    assert fake.channel(ch).is_archived
    assert post(fake, "conversations.unarchive", token, channel=ch).json() == {"ok": True}
    assert post(fake, "conversations.unarchive", token, channel=ch).json()["error"] == "not_archived"


def test_bot_must_be_in_channel_to_archive_and_can_join_public(fake, token):
    ch = fake.add_channel("acme-y")
    assert post(fake, "conversations.archive", token, channel=ch).json()["error"] == "not_in_channel"
    assert post(fake, "conversations.join", token, channel=ch).json()["ok"] is True
    assert fake.bot in fake.members(ch)
    assert post(fake, "conversations.archive", token, channel=ch).json() == {"ok": True}


def test_kick_and_invite_errors(fake, token):
    alice = fake.add_user("alice", "alice@example.com")
    ch = fake.add_channel("acme-z", members=[fake.bot, alice])
    assert post(fake, "conversations.kick", token, channel=ch, user=fake.bot).json()["error"] == "cant_kick_self"
    assert post(fake, "conversations.kick", token, channel=ch, user=alice).json() == {"ok": True}
    assert alice not in fake.members(ch)
    assert post(fake, "conversations.kick", token, channel=ch, user=alice).json()["error"] == "not_in_channel"
    assert post(fake, "conversations.kick", token, channel="C404", user=alice).json()["error"] == "channel_not_found"
    assert post(fake, "conversations.invite", token, channel=ch, users=alice).json()["ok"] is True
    assert alice in fake.members(ch)
    assert post(fake, "conversations.invite", token, channel=ch, users=alice).json()["error"] == "already_in_channel"


def test_throttle_429_with_retry_after_changes_nothing(fake, token):
    ch = fake.add_channel("acme-t", members=[fake.bot])
    fake.throttle("conversations.archive", retry_after=7)
    r = post(fake, "conversations.archive", token, channel=ch)
    assert r.status_code == 429 and r.headers["Retry-After"] == "7" and r.json()["error"] == "ratelimited"
    assert not fake.channel(ch).is_archived
    assert post(fake, "conversations.archive", token, channel=ch).json() == {"ok": True}


def test_throttle_inside_http_200_has_no_retry_after(fake, token):
    ch = fake.add_channel("acme-u", members=[fake.bot])
    fake.throttle("conversations.archive", http_200=True, applied=True)
    r = post(fake, "conversations.archive", token, channel=ch)
    assert r.status_code == 200 and "Retry-After" not in r.headers
    assert r.json() == {"ok": False, "error": "ratelimited"}
    assert fake.channel(ch).is_archived  # applied although answered as throttled


def test_post_message_and_history(fake, token):
    ch = fake.add_channel("acme-m", members=[fake.bot])
    body = post(fake, "chat.postMessage", token, channel=ch, text="closing").json()
    assert body["ok"] and body["message"]["text"] == "closing" and body["message"]["user"] == fake.bot
    history = post(fake, "conversations.history", token, channel=ch).json()["messages"]
    assert [m["text"] for m in history] == ["closing"]
    fake.channel(ch).is_archived = True
    assert post(fake, "chat.postMessage", token, channel=ch, text="x").json()["error"] == "is_archived"


def test_slack_sdk_pages_through_members(fake, token):
    people = [fake.add_user(f"u{i}", f"u{i}@example.com") for i in range(8)]
    ch = fake.add_channel("acme-big", members=people)
    client = WebClient(token=token, base_url=fake.base_url)
    members = [m for page in client.conversations_members(channel=ch, limit=200) for m in page["members"]]
    assert members == people
    with pytest.raises(SlackApiError) as err:
        client.conversations_members(channel="C404")
    assert err.value.response["error"] == "channel_not_found"


def test_scim_deactivation_needs_admin_and_sets_active_false(fake, token):
    alice = fake.add_user("alice", "alice@example.com")
    admin = "xoxp-" + secrets.token_hex(8)
    fake.add_token(admin, fake.add_user("owner", "owner@example.com"), scopes=["admin"])
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations": [{"op": "replace", "path": "active", "value": False}]}
    url = fake.scim_url + "Users/" + alice
    assert requests.patch(url, json=patch, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 403
    r = requests.patch(url, json=patch, headers={"Authorization": f"Bearer {admin}"}, timeout=5)
    assert r.status_code == 200 and r.json()["active"] is False
    assert fake.users[alice].deleted
    assert requests.get(fake.scim_url + "Users/U404", headers={"Authorization": f"Bearer {admin}"},
                        timeout=5).status_code == 404
    assert [c.method for c in fake.writes()] == ["scim.patch", "scim.patch"]


def test_seeded_engagement_is_what_the_demo_rehearses(fake):
    token = "xoxb-" + secrets.token_hex(12)
    ids = seed_engagement(fake, token)
    names = [c["name"] for page in WebClient(token=token, base_url=fake.base_url).conversations_list(
        types="public_channel,private_channel") for c in page["channels"]]
    assert sorted(names) == ["acme-dev", "acme-general", "acme-kickoff", "acme-leads", "acme-partner",
                             "client-team", "general"]
    assert fake.channel("acme-partner").is_ext_shared and fake.channel("acme-kickoff").is_archived
    assert ids["alice"] in fake.members("acme-dev") and fake.user_by_email("carol@client.example").id == ids["carol"]
