"""The `slack` connector: closes an engagement's Slack channels and removes the people leaving (slack_sdk).

Channels come from the settings (`channels`, `channel_prefix` such as `acme-` or `#acme-*`) and from the runbook's
`lists:` (`close: archive` or `close: keep`); leavers are Slack users found by email (`users.lookupByEmail`) or by
id. A channel that closes gets the optional closing message and is archived; from a channel that stays open
the leavers are removed (`conversations.kick`); `scan_all_channels` also removes them from every other channel the
app can see. Slack Connect channels are shared with other organisations, so archiving one closes it for them too:
it needs `include_shared: true`, and is otherwise reported for a person to decide (the leavers are still removed).

The bot must be in a channel to post, archive or kick there: the connector joins public channels as it acts.
Private channels are visible to the app only after someone invites it; a named one it cannot see is reported.

Slack sessions: a bot token cannot sign anyone out. Only deactivation does (SCIM, with an admin token on Business+
or Enterprise Grid): `scim_deactivate: true` plans it per leaver; otherwise the plan says, per leaver, that their
Slack sessions stay valid and what they can still read.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any, ClassVar, Sequence

from revoke.actions import ActionKind, State, unverifiable
from revoke.connector import Connector, Discovery, Entity, Identity, ListTarget, Receipt, Subject
from revoke.connectors.slack import names as slack_names
from revoke.connectors.slack.api import ScimApi, SlackApi, Unproven, header
from revoke.connectors.slack.channels import Channels
from revoke.connectors.slack.discovery import SlackDiscovery
from revoke.connectors.slack.kinds import KINDS, DeactivateUser, PostClosingMessage, SlackKind
from revoke.connectors.slack.settings import SlackSettings
from revoke.errors import ActionFailed, ConnectionFailed, NotSupported
from revoke.exposure import ExposureRule

__all__ = ["SlackConnector", "SlackSettings"]


class SlackConnector(Connector):
    name: ClassVar[str] = "slack"
    version: ClassVar[str] = "1.0"
    Settings = SlackSettings
    kinds = KINDS
    read_permissions = ("channels:read", "groups:read", "users:read", "users:read.email")
    permission_format = "text"

    settings: SlackSettings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._api: SlackApi | None = None
        self._scim: ScimApi | None = None
        self._me: dict[str, Any] = {}
        self._guard = threading.Lock()
        self._channel_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._channels: Channels | None = None

    @classmethod
    def permissions_document(cls, kinds: Sequence[type[ActionKind]]) -> str:
        bot = sorted(set(cls.read_permissions).union(*(k.permissions for k in kinds if k is not DeactivateUser)))
        lines = ["Bot Token Scopes of the Slack app (api.slack.com/apps > OAuth & Permissions):"]
        lines += [f"- {scope}" for scope in bot]
        if DeactivateUser in kinds:
            lines += ["SCIM API token (scim_token; only with scim_deactivate: true), a user token of an Org Owner or "
                      "Admin on Business+ or Enterprise Grid:", "- admin"]
        return "\n".join(lines)

    # ---- connection

    @property
    def api(self) -> SlackApi:
        if self._api is None:
            s = self.settings
            self._api = SlackApi(self.secrets.get(s.token) or "", s.base_url, timeout=s.timeout,
                                 runtime=self.context.runtime)
        return self._api

    @property
    def scim(self) -> ScimApi:
        if self._scim is None:
            s = self.settings
            self._scim = ScimApi(self.secrets.get(s.scim_token) or "", s.scim_url, timeout=s.timeout)
        return self._scim

    @property
    def channels(self) -> Channels:
        if self._channels is None:
            self._channels = Channels(self.api, lambda: self.bot_user)
        return self._channels

    def exposure(self) -> list[ExposureRule]:
        if self.settings.scim_deactivate:
            return []  # deactivation signs the person out of every Slack session and client at once
        return [ExposureRule("the Slack account, still active, and its signed-in sessions: public channels (which it "
                             "can rejoin) and the history of archived channels it was in", None, None,
                             "a bot token cannot end Slack sessions; they last until the account is deactivated "
                             "(Slack's admin pages, or scim_deactivate: true)")]

    def warnings(self) -> list[str]:
        out = []
        if not self.settings.base_url.startswith("https://"):
            out.append(f"{self.settings.base_url}: not https: the bot token crosses the network in clear text")
        return out

    def connect(self) -> Identity:
        try:
            resp = self.api.read("auth.test")
        except ActionFailed as err:
            raise ConnectionFailed(self.system, err.reason) from None
        me = resp.data if isinstance(resp.data, dict) else {}
        scopes = header(resp, "x-oauth-scopes") or ""
        self._me = me
        who = me.get("user") or me.get("user_id")
        display = f"{who} ({me.get('bot_id') or me.get('user_id')}) in {me.get('team')}"
        aliases = tuple(a for a in (me.get("user_id"), me.get("bot_id"), me.get("user")) if a)
        return Identity(display=display, aliases=aliases,
                        detail={"team": me.get("team"), "team_id": me.get("team_id"), "url": me.get("url"),
                                "user_id": me.get("user_id"), "bot_id": me.get("bot_id"),
                                "scopes": [s for s in scopes.split(",") if s]})

    def identify(self, names: Sequence[str]) -> dict[str, Entity | None]:
        return slack_names.identify(self.api, names)

    def selected_lists(self) -> list[str]:
        prefix = self.settings.channel_prefix
        return [*self.settings.channels, *([prefix + "*"] if prefix else [])]

    @property
    def bot_user(self) -> str:
        if not self._me:
            self.connect()
        return str(self._me.get("user_id"))

    # ---- discovery

    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        return SlackDiscovery(self).discover(subjects, lists)

    # ---- apply, read back, restore: each kind's own (kinds.py)

    def _kind(self, name: str) -> type[SlackKind] | None:
        return next((k for k in KINDS if k.name == name), None)

    def apply(self, action: Any) -> Receipt:
        kind = self._kind(action.kind)
        if kind is None:
            raise NotSupported(f"slack has no action '{action.kind}'")
        return kind.apply(self, action)

    def channel_lock(self, channel: str) -> threading.Lock:
        # one channel's closing message and archive run in that order, whatever the engine's concurrency
        with self._guard:
            return self._channel_locks[channel]

    def read_back(self, actions: Sequence[Any]) -> dict[str, State]:
        out: dict[str, State] = {}
        members: dict[str, set[str] | None] = {}
        for a in actions:
            kind = self._kind(a.kind)
            if kind is None:
                continue
            try:
                out[a.id] = kind.read(self, a, members)
            except Unproven as err:
                out[a.id] = unverifiable(err.reason)
            except ActionFailed as err:
                if err.retryable:
                    raise
                # unreadable (no scope, unknown user, SCIM refused): left out, so the engine records it as not
                # verified; the other actions of the batch are still read
        return out

    def restore(self, action: Any) -> Receipt:
        kind = self._kind(action.kind)
        if kind is None:
            raise NotSupported(f"{action.kind} cannot be restored: {PostClosingMessage.restore_note}")
        return kind.restore(self, action)
