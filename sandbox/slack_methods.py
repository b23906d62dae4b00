"""The Web API methods of the Slack fake: one function per method, each answering like Slack's documentation.

A method receives the fake (already locked), the calling token's grant and the call's parameters, and returns the
fields of an `ok: true` answer, or raises `SlackError` with the documented error code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from revoke.sandbox.slack import SlackFake
    from revoke.sandbox.slack_model import Channel, Token, User


class SlackError(Exception):
    def __init__(self, code: str, **extra: Any):
        super().__init__(code)
        self.code = code
        self.extra = extra


# Bot-token scopes per method, for public and private channels (docs.slack.dev, "Scopes" of each method).
CHANNEL_SCOPES: dict[str, tuple[str, str]] = {
    "conversations.info": ("channels:read", "groups:read"),
    "conversations.members": ("channels:read", "groups:read"),
    "conversations.history": ("channels:history", "groups:history"),
    "conversations.join": ("channels:join", "channels:join"),
    "conversations.archive": ("channels:manage", "groups:write"),
    "conversations.unarchive": ("channels:manage", "groups:write"),
    "conversations.kick": ("channels:manage", "groups:write"),
    "conversations.invite": ("channels:manage", "groups:write"),
    "chat.postMessage": ("chat:write", "chat:write"),
}
USER_SCOPES = {"users.info": ("users:read",), "users.list": ("users:read",),
               "users.lookupByEmail": ("users:read.email",), "auth.test": ()}
TYPE_SCOPES = {"public_channel": "channels:read", "private_channel": "groups:read", "mpim": "mpim:read",
               "im": "im:read"}


def scopes_needed(fake: "SlackFake", method: str, params: dict[str, Any]) -> list[str]:
    if method in USER_SCOPES:
        return list(USER_SCOPES[method])
    if method in ("conversations.list", "users.conversations"):
        types = _types(params)
        return [TYPE_SCOPES[t] for t in types]
    public, private = CHANNEL_SCOPES[method]
    ch = fake.channels.get(str(params.get("channel", "")))
    return [private if ch is not None and ch.is_private else public]


def _types(params: dict[str, Any]) -> list[str]:
    types = [t.strip() for t in str(params.get("types") or "public_channel").split(",") if t.strip()]
    if not types or any(t not in TYPE_SCOPES for t in types):
        raise SlackError("invalid_types")
    return types


def _flag(params: dict[str, Any], name: str) -> bool:
    return str(params.get(name, "")).lower() in ("1", "true")


def _visible(ch: "Channel", grant: "Token") -> bool:
    # a bot sees a private channel only from inside it
    return not ch.is_private or grant.user_id in ch.members


def _channel(fake: "SlackFake", grant: "Token", params: dict[str, Any]) -> "Channel":
    ch = fake.channels.get(str(params.get("channel", "")))
    if ch is None or not _visible(ch, grant):
        raise SlackError("channel_not_found")
    return ch


def _user(fake: "SlackFake", user_id: str) -> "User":
    user = fake.users.get(user_id)
    if user is None:
        raise SlackError("user_not_found")
    return user


def conversation(ch: "Channel", grant: "Token", num_members: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": ch.id, "name": ch.name, "name_normalized": ch.name, "is_channel": True, "is_group": False,
        "is_im": False, "is_mpim": False, "is_private": ch.is_private, "is_archived": ch.is_archived,
        "is_general": ch.is_general, "is_shared": ch.is_ext_shared, "is_ext_shared": ch.is_ext_shared,
        "is_org_shared": False, "is_pending_ext_shared": False, "is_member": grant.user_id in ch.members,
        "created": ch.created, "creator": ch.creator, "topic": {"value": ""}, "purpose": {"value": ""},
    }
    if num_members:
        out["num_members"] = len(ch.members)
    return out


def user_object(fake: "SlackFake", user: "User", grant: "Token") -> dict[str, Any]:
    profile: dict[str, Any] = {"real_name": user.real_name, "display_name": user.name}
    if user.email and "users:read.email" in grant.scopes:
        profile["email"] = user.email
    out: dict[str, Any] = {"id": user.id, "team_id": fake.team_id, "name": user.name, "deleted": user.deleted,
                           "real_name": user.real_name, "is_bot": user.is_bot, "is_admin": False,
                           "is_restricted": user.is_restricted, "is_ultra_restricted": False, "profile": profile}
    if user.bot_id:
        profile["bot_id"] = user.bot_id
    return out


# ------------------------------------------------------------------------------------------------- methods


def auth_test(fake: "SlackFake", grant: "Token", params: dict[str, Any]) -> dict[str, Any]:
    user = fake.users[grant.user_id]
    out = {"url": f"https://{fake.domain}.slack.com/", "team": fake.team, "user": user.name,
           "team_id": fake.team_id, "user_id": user.id, "is_enterprise_install": False}
    if user.bot_id:
        out["bot_id"] = user.bot_id
    return out


def users_info(fake: "SlackFake", grant: "Token", params: dict[str, Any]) -> dict[str, Any]:
    return {"user": user_object(fake, _user(fake, str(params.get("user", ""))), grant)}


def users_list(fake: "SlackFake", grant: "Token", params: dict[str, Any]) -> dict[str, Any]:
    chunk, cursor = fake.page(list(fake.users.values()), params)
    return {"members": [user_object(fake, u, grant) for u in chunk], "response_metadata": {"next_cursor": cursor}}


def users_lookup_by_email(fake: "SlackFake", grant: "Token", params: dict[str, Any]) -> dict[str, Any]:
    email = str(params.get("email", "")).casefold()
    for user in fake.users.values():
        if email and user.email and user.email.casefold() == email:
            return {"user": user_object(fake, user, grant)}
    raise SlackError("users_not_found")  # sic: this method's code is plural, users.info's is not


def conversations_list(fake: "SlackFake", grant: "Token", params: dict[str, Any]) -> dict[str, Any]:
    types = _types(params)
    found = [ch for ch in fake.channels.values()
             if _visible(ch, grant) and ("private_channel" if ch.is_private else "public_channel") in types
             and not (ch.is_archived and _flag(params, "exclude_archived"))]
    chunk, cursor = fake.page(found, params)
    return {"channels": [conversation(ch, grant) for ch in chunk], "response_metadata": {"next_cursor": cursor}}


def users_conversations(fake: "SlackFake", grant: "Token", params: dict[str, Any]) -> dict[str, Any]:
    types = _types(params)
    user_id = str(params.get("user") or grant.user_id)
    _user(fake, user_id)
    found = [ch for ch in fake.channels.values()
             if user_id in ch.members and _visible(ch, grant)
             and ("private_channel" if ch.is_private else "public_channel") in types
             and not (ch.is_archived and _flag(params, "exclude_archived"))]
    chunk, cursor = fake.page(found, params)
    return {"channels": [conversation(ch, grant, num_members=False) for ch in chunk],
            "response_metadata": {"next_cursor": cursor}}


def conversations_info(fake: "SlackFake", grant: "Token", params: dict[str, Any]) -> dict[str, Any]:
    ch = _channel(fake, grant, params)
    return {"channel": conversation(ch, grant, num_members=_flag(params, "include_num_members"))}


def conversations_members(fake: "SlackFake", grant: "Token", params: dict[str, Any]) -> dict[str, Any]:
    ch = _channel(fake, grant, params)
    chunk, cursor = fake.page(list(ch.members), params)
    return {"members": chunk, "response_metadata": {"next_cursor": cursor}}


def conversations_history(fake: "SlackFake", grant: "Token", params: dict[str, Any]) -> dict[str, Any]:
    ch = _channel(fake, grant, params)
    if grant.user_id not in ch.members:
        raise SlackError("not_in_channel")
    chunk, cursor = fake.page(list(reversed(ch.messages)), params)
    return {"messages": [dict(m) for m in chunk], "has_more": bool(cursor),
            "response_metadata": {"next_cursor": cursor}}


def conversations_join(fake: "SlackFake", grant: "Token", params: dict[str, Any]) -> dict[str, Any]:
    ch = _channel(fake, grant, params)
    if ch.is_private:
        raise SlackError("method_not_supported_for_channel_type")
    if ch.is_archived:
        raise SlackError("is_archived")
    out: dict[str, Any] = {}
    if grant.user_id in ch.members:
        out["warning"] = "already_in_channel"
        out["response_metadata"] = {"warnings": ["already_in_channel"]}
    else:
        ch.members.append(grant.user_id)
    out["channel"] = conversation(ch, grant)
    return out


def chat_post_message(fake: "SlackFake", grant: "Token", params: dict[str, Any]) -> dict[str, Any]:
    ch = _channel(fake, grant, params)
    if ch.is_archived:
        raise SlackError("is_archived")
    if grant.user_id not in ch.members and not ("chat:write.public" in grant.scopes and not ch.is_private):
        raise SlackError("not_in_channel")
    text = str(params.get("text") or "")
    if not text and not params.get("blocks"):
        raise SlackError("no_text")
    user = fake.users[grant.user_id]
    message = {"type": "message", "text": text, "user": user.id, "ts": fake.next_ts()}
    if user.bot_id:
        message["bot_id"] = user.bot_id
    ch.messages.append(message)
    return {"channel": ch.id, "ts": message["ts"], "message": dict(message)}


def _caller_in(ch: "Channel", grant: "Token") -> None:
    if grant.user_id not in ch.members:
        raise SlackError("not_in_channel")


def conversations_archive(fake: "SlackFake", grant: "Token", params: dict[str, Any]) -> dict[str, Any]:
    ch = _channel(fake, grant, params)
    if ch.is_archived:
        raise SlackError("already_archived")
    if ch.is_general:
        raise SlackError("cant_archive_general")
    _caller_in(ch, grant)
    ch.is_archived = True
    return {}


def conversations_unarchive(fake: "SlackFake", grant: "Token", params: dict[str, Any]) -> dict[str, Any]:
    ch = _channel(fake, grant, params)
    if not ch.is_archived:
        raise SlackError("not_archived")
    _caller_in(ch, grant)
    ch.is_archived = False
    return {}


def conversations_kick(fake: "SlackFake", grant: "Token", params: dict[str, Any]) -> dict[str, Any]:
    ch = _channel(fake, grant, params)
    user = _user(fake, str(params.get("user", "")))
    if user.id == grant.user_id:
        raise SlackError("cant_kick_self")
    if ch.is_general:
        raise SlackError("cant_kick_from_general")
    if ch.is_archived:
        raise SlackError("is_archived")
    _caller_in(ch, grant)
    if user.id not in ch.members:
        raise SlackError("not_in_channel")
    ch.members.remove(user.id)
    return {}


def conversations_invite(fake: "SlackFake", grant: "Token", params: dict[str, Any]) -> dict[str, Any]:
    ch = _channel(fake, grant, params)
    if ch.is_archived:
        raise SlackError("is_archived")
    _caller_in(ch, grant)
    ids = [u.strip() for u in str(params.get("users", "")).split(",") if u.strip()]
    if not ids:
        raise SlackError("no_user")
    for uid in ids:
        if uid == grant.user_id:
            raise SlackError("cant_invite_self")
        _user(fake, uid)
        if uid in ch.members:
            raise SlackError("already_in_channel",
                             errors=[{"user": uid, "ok": False, "error": "already_in_channel"}])
    ch.members.extend(ids)
    return {"channel": conversation(ch, grant)}


METHODS: dict[str, Callable[["SlackFake", "Token", dict[str, Any]], dict[str, Any]]] = {
    "auth.test": auth_test,
    "users.info": users_info,
    "users.lookupByEmail": users_lookup_by_email,
    "users.list": users_list,
    "users.conversations": users_conversations,
    "conversations.list": conversations_list,
    "conversations.info": conversations_info,
    "conversations.members": conversations_members,
    "conversations.history": conversations_history,
    "conversations.join": conversations_join,
    "chat.postMessage": chat_post_message,
    "conversations.archive": conversations_archive,
    "conversations.unarchive": conversations_unarchive,
    "conversations.kick": conversations_kick,
    "conversations.invite": conversations_invite,
}
