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

import fnmatch
import threading
from collections import defaultdict
from typing import Any, ClassVar, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from revoke.actions import ACCESS, LISTS, ActionKind, State, unverifiable
from revoke.connector import Connector, Discovery, Entity, Identity, ListTarget, Notice, Receipt, Step, Subject
from revoke.connectors.slack import names as slack_names
from revoke.connectors.slack.api import ScimApi, SlackApi, SlackChannel, SlackRefused, Unproven, header
from revoke.connectors.slack.api import request_ids as _ids
from revoke.errors import ActionFailed, ConnectionFailed, NotSupported
from revoke.evidence import now
from revoke.exposure import ExposureRule
from revoke.runbook import SecretRef

CLOSE_MODES = ("default", "archive", "keep")


class SlackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "token": {"secret": "slack_token"}, "channel_prefix": "acme-",
        "closing_message": "This engagement has ended; the channel is archived. Thank you!"}]})

    token: SecretRef = Field(description="the app's bot token (xoxb-...)", examples=[{"secret": "slack_token"}])
    base_url: str = Field("https://slack.com/api/", description="the Web API root (another only for a rehearsal "
                          "against a fake)")
    channels: list[str] = Field(default_factory=list, description="channel names (#acme-dev) or ids (C0123...)")
    channel_prefix: str | None = Field(None, description="every channel whose name starts so: acme- or #acme-*")
    closing_message: str | None = Field(None, description="posted in each channel before it is archived")
    archive: bool = Field(True, description="archive the engagement's channels (false: only remove the leavers)")
    include_shared: bool = Field(False, description="archive Slack Connect channels too (it closes them for the "
                                 "other organisation as well)")
    scan_all_channels: bool = Field(False, description="remove the leavers from every channel the app can see, "
                                    "not only the engagement's")
    scim_deactivate: bool = Field(False, description="deactivate the leavers' Slack accounts through SCIM (needs "
                                  "scim_token; ends every session)")
    scim_token: SecretRef | None = Field(None, description="SCIM token of an Org Owner/Admin (admin scope)")
    scim_url: str = Field("https://api.slack.com/scim/v2/", description="the SCIM API root")
    timeout: int = Field(30, ge=1, description="seconds to wait for an answer")

    @field_validator("base_url", "scim_url")
    @classmethod
    def _slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("channel_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is None:
            return None
        cleaned = value.strip().lstrip("#").rstrip("*")
        if not cleaned:
            raise ValueError("the prefix is empty: it would match every channel; list the channels instead")
        return cleaned

    @model_validator(mode="after")
    def _scim(self) -> "SlackSettings":
        if self.scim_deactivate and self.scim_token is None:
            raise ValueError("scim_deactivate needs scim_token: {secret: NAME} (an admin token for Slack's SCIM API)")
        return self


class PostClosingMessage(ActionKind):
    name = "post-closing-message"
    summary = "post the closing message in"
    done_summary = "closing message already in"
    item = LISTS
    resource_types = ("group",)
    permissions = ("chat:write", "channels:join", "channels:history", "groups:history")
    desired = {"posted": True}
    restorable = False
    restore_note = "a posted message stays in the channel"


class ArchiveChannel(ActionKind):
    name = "archive-channel"
    summary = "archive"
    done_summary = "already archived:"
    item = LISTS
    resource_types = ("group",)
    permissions = ("channels:manage", "groups:write", "channels:join")
    desired = {"exists": True, "archived": True}
    restore_note = "restore unarchives the channel"


class RemoveFromChannel(ActionKind):
    name = "remove-from-channel"
    summary = "remove from"
    done_summary = "not in"
    item = LISTS
    permissions = ("channels:manage", "groups:write", "channels:join")
    desired = {"exists": True, "member": False}
    restore_note = "restore invites the person back"


class DeactivateUser(ActionKind):
    name = "deactivate-user"
    summary = "deactivate the Slack account (signs out every session)"
    done_summary = "Slack account already deactivated"
    item = ACCESS
    shows_resource = False
    permissions = ("admin",)
    desired = {"exists": True, "active": False}
    restore_note = "restore reactivates the account; its sessions do not come back (the person signs in again)"


class SlackConnector(Connector):
    name: ClassVar[str] = "slack"
    version: ClassVar[str] = "1.0"
    Settings = SlackSettings
    kinds = (PostClosingMessage, ArchiveChannel, RemoveFromChannel, DeactivateUser)
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
        found = Discovery()
        channels = [SlackChannel(c) for c in self.api.channels()]
        targets = self._targets(channels, lists, found)
        leavers = self._leavers(subjects, found)
        memberships = self.api.memberships(list(leavers), [c for c, (ch, _) in targets.items() if not ch.archived],
                                           everywhere=self.settings.scan_all_channels)
        posted = self._already_posted(targets)
        for ch, mode in sorted(targets.values(), key=lambda t: t[0].name):
            self._plan_channel(ch, mode, leavers, memberships, posted, found)
        if self.settings.scan_all_channels:
            by_id = {c.id: c for c in channels}
            for uid, (subject, user) in leavers.items():
                for cid in sorted(memberships[uid] - set(targets)):
                    if cid in by_id:
                        self._plan_removal(by_id[cid], subject, user, True, found)
        for subject, user in leavers.values():
            self._plan_sessions(subject, user, found)
        return found

    def _targets(self, channels: list[SlackChannel], lists: Sequence[ListTarget],
                 found: Discovery) -> dict[str, tuple[SlackChannel, str]]:
        """Channel id -> (channel, "archive" | "keep"), from the settings first and the runbook's lists after."""
        default = "archive" if self.settings.archive else "keep"
        refs: list[tuple[str, str, bool]] = [(c, default, False) for c in self.settings.channels]
        if self.settings.channel_prefix:
            refs.append((self.settings.channel_prefix + "*", default, True))
        for lst in lists:
            if slack_names.is_user_name(lst.ident):
                found.notices.append(Notice(f"{lst.ident} names a Slack user, not a channel: it is not closed",
                                            resource=lst.ident, severity="refused"))
                continue
            if lst.close not in CLOSE_MODES:
                found.notices.append(Notice(f"close: {lst.close} is not supported by the slack connector "
                                            "(use archive or keep)", resource=lst.ident))
                continue
            refs.append((lst.ident, default if lst.close == "default" else lst.close, "*" in lst.ident))
        out: dict[str, tuple[SlackChannel, str]] = {}
        for ref, mode, pattern in refs:
            key = ref.strip().lstrip("#")
            if pattern or "*" in key:
                matched = [c for c in channels if fnmatch.fnmatchcase(c.name.casefold(), key.casefold())]
                if not matched:
                    found.notices.append(Notice(f"no channel the app can see matches '{ref}': check the prefix; "
                                                "private channels need the app invited", resource=ref))
            else:
                matched = slack_names.match_channels(channels, ref)
                if not matched:
                    found.notices.append(Notice(f"channel '{ref}' was not found: check its name or id; a private "
                                                "channel is visible only after the app is invited to it",
                                                resource=ref))
                elif slack_names.ambiguous(ref, matched):
                    found.notices.append(Notice(f"channel '{ref}' could be any of {len(matched)} channels (" +
                                                ", ".join(f"#{c.name} {c.id}" for c in matched) + "): none is "
                                                "closed; name the one to close by its exact name or id",
                                                resource=ref))
                    matched = []
            for c in matched:
                out[c.id] = (c, mode)
        return out

    def _leavers(self, subjects: Sequence[Subject], found: Discovery) -> dict[str, tuple[Subject, dict]]:
        out: dict[str, tuple[Subject, dict]] = {}
        users = self.api.find_users([s.ident for s in subjects])
        for subject in subjects:
            user = users.get(subject.ident)
            if user is None:
                found.notices.append(Notice(f"no Slack user '{subject.ident}' in this workspace: check the email, "
                                            "or give the Slack user id under ids:", person=subject.person))
            elif user.get("is_bot"):
                found.notices.append(Notice(f"'{subject.ident}' is a bot user, not a person", person=subject.person))
            else:
                out[user["id"]] = (subject, user)
        return out

    def _already_posted(self, targets: dict[str, tuple[SlackChannel, str]]) -> set[str]:
        text = self.settings.closing_message
        if not text:
            return set()
        return {cid for cid, (ch, mode) in targets.items()
                if mode == "archive" and not ch.archived and ch.bot_member and self._posted(cid, text)}

    def _posted(self, channel: str, text: str) -> bool:
        # the 100 latest messages: a closing message is the last thing said before the archive
        resp = self.api.read("conversations.history", channel=channel, limit=100)
        messages = resp.get("messages")
        if not isinstance(messages, list):
            raise Unproven("Slack's answer to conversations.history has no `messages` list")
        return any(m.get("user") == self.bot_user and m.get("text") == text for m in messages)

    def _plan_channel(self, ch: SlackChannel, mode: str, leavers: dict[str, tuple[Subject, dict]],
                      memberships: dict[str, set[str]], posted: set[str], found: Discovery) -> None:
        count = "" if ch.members is None else f"{ch.members} member" + ("" if ch.members == 1 else "s")
        facts = [count, "private" if ch.private else "public",
                 "Slack Connect (shared with another organisation)" if ch.shared else ""]
        if not ch.bot_member and not ch.private and not ch.archived:
            facts.append("the app joins it to act")
        inside = [s.person for uid, (s, _) in leavers.items() if ch.id in memberships[uid]]
        label = f"#{ch.name}"
        archive = mode == "archive"
        if archive and ch.general:
            found.steps.append(Step(kind=ArchiveChannel.name, resource=ch.id, before=ch.state(), needed=False,
                                    label=label, outcome="immutable", aliases=(label, ch.name),
                                    note="Slack never archives a workspace's #general channel"))
            archive = False
        elif archive and ch.shared and not self.settings.include_shared and not ch.archived:
            found.steps.append(Step(kind=ArchiveChannel.name, resource=ch.id, before=ch.state(), needed=False,
                                    label=label, outcome="attention", aliases=(label, ch.name),
                                    note="Slack Connect channel: archiving it closes it for the other organisation "
                                         "too; set include_shared: true to archive it, or close: keep. The leavers "
                                         "are removed from it meanwhile"))
            archive = False
        if archive:
            msg = self.settings.closing_message
            if msg and not ch.archived:
                found.steps.append(Step(kind=PostClosingMessage.name, resource=ch.id, label=label,
                                        before={"exists": True, "archived": False, "posted": ch.id in posted},
                                        needed=ch.id not in posted, aliases=(label, ch.name),
                                        params={"text": msg, "private": ch.private}))
            if inside and not ch.archived:
                facts.append(f"leaving members ({', '.join(inside)}) can still read its history while their Slack "
                             "accounts are active")
            found.steps.append(Step(kind=ArchiveChannel.name, resource=ch.id, before=ch.state(),
                                    needed=not ch.archived, label=label, aliases=(label, ch.name),
                                    params={"closing_message": msg if msg and not ch.archived else None,
                                            "private": ch.private},
                                    note="; ".join(f for f in facts if f)))
            return
        if ch.archived:
            found.notices.append(Notice(f"{label} is archived and stays so: Slack removes nobody from an archived "
                                        "channel, and its history stays readable to its members", resource=ch.id,
                                        severity="warning"))
            return
        for uid, (subject, user) in leavers.items():
            self._plan_removal(ch, subject, user, ch.id in memberships[uid], found)

    def _plan_removal(self, ch: SlackChannel, subject: Subject, user: dict, member: bool, found: Discovery) -> None:
        label = f"#{ch.name}"
        email = (user.get("profile") or {}).get("email")
        aliases = tuple(a for a in (label, ch.name, email, user.get("name")) if a)
        before = {"exists": True, "member": member}
        if member and ch.general:
            found.steps.append(Step(kind=RemoveFromChannel.name, resource=ch.id, principal=user["id"], before=before,
                                    needed=False, person=subject.person, label=label, aliases=aliases,
                                    outcome="immutable", note="Slack removes nobody from #general; deactivating "
                                    "the account ends that access"))
        else:
            joins = member and not ch.bot_member and not ch.private
            found.steps.append(Step(kind=RemoveFromChannel.name, resource=ch.id, principal=user["id"], before=before,
                                    needed=member, person=subject.person, label=label, aliases=aliases,
                                    params={"private": ch.private},
                                    note="the app joins the channel to act" if joins else ""))

    def _plan_sessions(self, subject: Subject, user: dict, found: Discovery) -> None:
        active = not user.get("deleted")
        email = (user.get("profile") or {}).get("email")
        if self.settings.scim_deactivate:
            found.steps.append(Step(kind=DeactivateUser.name, resource=user["id"], principal=user["id"],
                                    person=subject.person, before={"exists": True, "active": active},
                                    needed=active, label=email or user.get("name", ""),
                                    aliases=tuple(a for a in (email, user.get("name")) if a)))
        elif active:
            found.notices.append(Notice(
                f"{subject.person}'s Slack account stays active and signed in (a bot token cannot end Slack "
                "sessions): deactivate it in Slack's admin pages, or set scim_deactivate: true with a SCIM admin "
                "token (Business+ or Enterprise Grid)",
                person=subject.person, severity="warning"))

    # ---- apply

    def apply(self, action: Any) -> Receipt:
        if action.kind == PostClosingMessage.name:
            with self._lock(action.resource):
                return self._ensure_posted(action.resource, action.params["text"], bool(action.params.get("private")))
        if action.kind == ArchiveChannel.name:
            with self._lock(action.resource):
                return self._archive(action)
        if action.kind == RemoveFromChannel.name:
            return self._kick(action)
        if action.kind == DeactivateUser.name:
            self.scim.set_active(action.resource, False)
            return Receipt(detail={"scim": "active=false", "deactivated_at": now().isoformat(timespec="seconds"),
                                   "residual": {"slack_sessions": "none: deactivation signs the person out of every "
                                                "Slack session and client at once"}})
        raise NotSupported(f"slack has no action '{action.kind}'")

    def _lock(self, channel: str) -> threading.Lock:
        # one channel's closing message and archive run in that order, whatever the engine's concurrency
        with self._guard:
            return self._channel_locks[channel]

    def _join(self, channel: str, private: bool) -> list[str]:
        if private:
            return []  # a private channel the app sees is one it is in; it cannot join others
        return _ids(self.api.write("conversations.join", channel=channel))

    def _ensure_posted(self, channel: str, text: str, private: bool) -> Receipt:
        # look first: when the archive of this channel ran first it posted the message, and joining an archived
        # channel would fail
        if self._posted_state(channel, text)["posted"]:
            return Receipt(detail={"note": "the closing message was already posted"})
        ids = self._join(channel, private)
        resp = self.api.write("chat.postMessage", channel=channel, text=text)
        return Receipt(request_ids=tuple(ids + _ids(resp)), detail={"ts": resp.get("ts")})

    def _archive(self, action: Any) -> Receipt:
        private = bool(action.params.get("private"))
        ids: list[str] = []
        text = action.params.get("closing_message")
        try:
            if text:
                ids += list(self._ensure_posted(action.resource, text, private).request_ids)
            else:
                ids += self._join(action.resource, private)
            ids += _ids(self.api.write("conversations.archive", channel=action.resource))
        except SlackRefused as err:
            if err.code != "already_archived" and not (err.code == "is_archived" and not ids):
                raise
            return Receipt(request_ids=tuple(ids + err.request_ids), detail={"answer": "already_archived"})
        return Receipt(request_ids=tuple(ids))

    def _kick(self, action: Any) -> Receipt:
        ids = self._join(action.resource, bool(action.params.get("private")))
        try:
            ids += _ids(self.api.write("conversations.kick", channel=action.resource, user=action.principal))
        except SlackRefused as err:
            if err.code != "not_in_channel":
                raise
            # the read-back confirms the channel and the person exist before this counts as done
            return Receipt(request_ids=tuple(ids + err.request_ids), detail={"answer": "not_in_channel"})
        return Receipt(request_ids=tuple(ids))

    # ---- read back

    def read_back(self, actions: Sequence[Any]) -> dict[str, State]:
        out: dict[str, State] = {}
        members: dict[str, set[str] | None] = {}
        for a in actions:
            try:
                if a.kind == ArchiveChannel.name:
                    out[a.id] = self._channel_state(a.resource)
                elif a.kind == PostClosingMessage.name:
                    out[a.id] = self._posted_state(a.resource, a.params["text"])
                elif a.kind == RemoveFromChannel.name:
                    if a.resource not in members:
                        members[a.resource] = self._members(a.resource)
                    held = members[a.resource]
                    self.api.read("users.info", user=a.principal)  # the person exists: not a wrong id
                    out[a.id] = {"exists": False, "member": False} if held is None else {
                        "exists": True, "member": a.principal in held}
                elif a.kind == DeactivateUser.name:
                    out[a.id] = {"exists": True, "active": self.scim.active(a.resource)}
            except Unproven as err:
                out[a.id] = unverifiable(err.reason)
            except ActionFailed as err:
                if err.retryable:
                    raise
                # unreadable (no scope, unknown user, SCIM refused): left out, so the engine records it as not
                # verified; the other actions of the batch are still read
        return out

    def _channel_state(self, channel: str) -> State:
        try:
            info = self.api.read("conversations.info", channel=channel).get("channel")
        except SlackRefused as err:
            if err.code == "channel_not_found":
                return {"exists": False, "archived": False}
            raise
        if not isinstance(info, dict) or info.get("id") != channel or not isinstance(info.get("is_archived"), bool):
            raise Unproven(f"Slack's answer to conversations.info is not channel {channel} with its is_archived")
        return SlackChannel(info).state()

    def _members(self, channel: str) -> set[str] | None:
        try:
            return set(self.api.pages("conversations.members", "members", channel=channel, limit=200))
        except SlackRefused as err:
            if err.code == "channel_not_found":
                return None
            raise

    def _posted_state(self, channel: str, text: str) -> State:
        # `archived` is part of the state: a channel archived since the plan can no longer take the message,
        # so the plan is stale there rather than failing at apply time
        info = self._channel_state(channel)
        if not info["exists"]:
            return {"exists": False, "archived": False, "posted": False}
        try:
            posted = self._posted(channel, text)
        except SlackRefused as err:
            if err.code != "not_in_channel":
                raise
            posted = False  # the app never joined, so it never posted there
        return {"exists": True, "archived": info["archived"], "posted": posted}

    # ---- restore

    def restore(self, action: Any) -> Receipt:
        if action.kind == ArchiveChannel.name:
            if action.before.get("archived"):
                return Receipt(detail={"note": "the channel was archived before the run; left archived"})
            try:
                return Receipt(request_ids=tuple(_ids(self.api.write("conversations.unarchive",
                                                                     channel=action.resource))))
            except SlackRefused as err:
                if err.code != "not_archived":
                    raise
                return Receipt(request_ids=tuple(err.request_ids), detail={"answer": "not_archived"})
        if action.kind == RemoveFromChannel.name:
            if not action.before.get("member"):
                return Receipt(detail={"note": "was not a member before the run"})
            ids = self._join(action.resource, bool(action.params.get("private")))
            try:
                ids += _ids(self.api.write("conversations.invite", channel=action.resource, users=action.principal))
            except SlackRefused as err:
                if err.code != "already_in_channel":
                    raise
                return Receipt(request_ids=tuple(ids + err.request_ids), detail={"answer": "already_in_channel"})
            return Receipt(request_ids=tuple(ids))
        if action.kind == DeactivateUser.name:
            if action.before.get("active"):
                self.scim.set_active(action.resource, True)
            return Receipt()
        raise NotSupported(f"{action.kind} cannot be restored: {PostClosingMessage.restore_note}")
