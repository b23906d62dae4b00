"""The channel reads and writes the Slack kinds share. The bot must be in a public channel to post, archive or
kick there, so each write joins first (a private channel it sees is one it is in); Slack's "already so" answers
(`already_archived`, `not_in_channel`, ...) are receipts, which the read-back then proves."""

from __future__ import annotations

from typing import Callable

from revoke.actions import State
from revoke.connector import Receipt
from revoke.connectors.slack.api import SlackApi, SlackChannel, SlackRefused, Unproven
from revoke.connectors.slack.api import request_ids as _ids


class Channels:
    def __init__(self, api: SlackApi, bot_user: Callable[[], str]):
        self.api = api
        self.bot_user = bot_user

    # ---- writes

    def join(self, channel: str, private: bool) -> list[str]:
        if private:
            return []  # a private channel the app sees is one it is in; it cannot join others
        return _ids(self.api.write("conversations.join", channel=channel))

    def ensure_posted(self, channel: str, text: str, private: bool) -> Receipt:
        # look first: when the archive of this channel ran first it posted the message, and joining an archived
        # channel would fail
        if self.posted_state(channel, text)["posted"]:
            return Receipt(detail={"note": "the closing message was already posted"})
        ids = self.join(channel, private)
        resp = self.api.write("chat.postMessage", channel=channel, text=text)
        return Receipt(request_ids=tuple(ids + _ids(resp)), detail={"ts": resp.get("ts")})

    def archive(self, channel: str, text: str | None, private: bool) -> Receipt:
        ids: list[str] = []
        try:
            if text:
                ids += list(self.ensure_posted(channel, text, private).request_ids)
            else:
                ids += self.join(channel, private)
            ids += _ids(self.api.write("conversations.archive", channel=channel))
        except SlackRefused as err:
            if err.code != "already_archived" and not (err.code == "is_archived" and not ids):
                raise
            return Receipt(request_ids=tuple(ids + err.request_ids), detail={"answer": "already_archived"})
        return Receipt(request_ids=tuple(ids))

    def unarchive(self, channel: str) -> Receipt:
        try:
            return Receipt(request_ids=tuple(_ids(self.api.write("conversations.unarchive", channel=channel))))
        except SlackRefused as err:
            if err.code != "not_archived":
                raise
            return Receipt(request_ids=tuple(err.request_ids), detail={"answer": "not_archived"})

    def kick(self, channel: str, user: str, private: bool) -> Receipt:
        ids = self.join(channel, private)
        try:
            ids += _ids(self.api.write("conversations.kick", channel=channel, user=user))
        except SlackRefused as err:
            if err.code != "not_in_channel":
                raise
            # the read-back confirms the channel and the person exist before this counts as done
            return Receipt(request_ids=tuple(ids + err.request_ids), detail={"answer": "not_in_channel"})
        return Receipt(request_ids=tuple(ids))

    def invite(self, channel: str, user: str, private: bool) -> Receipt:
        ids = self.join(channel, private)
        try:
            ids += _ids(self.api.write("conversations.invite", channel=channel, users=user))
        except SlackRefused as err:
            if err.code != "already_in_channel":
                raise
            return Receipt(request_ids=tuple(ids + err.request_ids), detail={"answer": "already_in_channel"})
        return Receipt(request_ids=tuple(ids))

    # ---- reads

    def channel_state(self, channel: str) -> State:
        try:
            info = self.api.read("conversations.info", channel=channel).get("channel")
        except SlackRefused as err:
            if err.code == "channel_not_found":
                return {"exists": False, "archived": False}
            raise
        if not isinstance(info, dict) or info.get("id") != channel or not isinstance(info.get("is_archived"), bool):
            raise Unproven(f"Slack's answer to conversations.info is not channel {channel} with its is_archived")
        return SlackChannel(info).state()

    def members(self, channel: str) -> set[str] | None:
        try:
            return set(self.api.pages("conversations.members", "members", channel=channel, limit=200))
        except SlackRefused as err:
            if err.code == "channel_not_found":
                return None
            raise

    def posted_state(self, channel: str, text: str) -> State:
        # `archived` is part of the state: a channel archived since the plan can no longer take the message,
        # so the plan is stale there rather than failing at apply time
        info = self.channel_state(channel)
        if not info["exists"]:
            return {"exists": False, "archived": False, "posted": False}
        try:
            posted = self.posted(channel, text)
        except SlackRefused as err:
            if err.code != "not_in_channel":
                raise
            posted = False  # the app never joined, so it never posted there
        return {"exists": True, "archived": info["archived"], "posted": posted}

    def posted(self, channel: str, text: str) -> bool:
        # the 100 latest messages: a closing message is the last thing said before the archive
        resp = self.api.read("conversations.history", channel=channel, limit=100)
        messages = resp.get("messages")
        if not isinstance(messages, list):
            raise Unproven("Slack's answer to conversations.history has no `messages` list")
        return any(m.get("user") == self.bot_user() and m.get("text") == text for m in messages)
