"""What the `slack` connector plans: the engagement's channels (from the settings and the runbook's `lists:`, by
name, id or pattern), each one's closing message and archive or the leavers' removal from it (`#general` and Slack
Connect channels said as what they are), the leavers' other channels with `scan_all_channels`, and per leaver
either their deactivation (SCIM) or a notice that their sessions stay."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Sequence

from revoke.connector import Discovery, ListTarget, Notice, Step, Subject
from revoke.connectors.slack import names as slack_names
from revoke.connectors.slack.api import SlackChannel
from revoke.connectors.slack.kinds import ArchiveChannel, DeactivateUser, PostClosingMessage, RemoveFromChannel

if TYPE_CHECKING:
    from revoke.connectors.slack.connector import SlackConnector

CLOSE_MODES = ("default", "archive", "keep")


class SlackDiscovery:
    def __init__(self, slack: SlackConnector):
        self.api = slack.api
        self.channels = slack.channels
        self.settings = slack.settings

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
        out: dict[str, tuple[SlackChannel, str]] = {}
        for ref, mode, pattern in self._refs(lists, found):
            for c in self._match(channels, ref, pattern, found):
                out[c.id] = (c, mode)
        return out

    def _refs(self, lists: Sequence[ListTarget], found: Discovery) -> list[tuple[str, str, bool]]:
        """(name, id or pattern; its close mode; whether it is a pattern) for each channel the run closes."""
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
        return refs

    @staticmethod
    def _match(channels: list[SlackChannel], ref: str, pattern: bool, found: Discovery) -> list[SlackChannel]:
        key = ref.strip().lstrip("#")
        if pattern or "*" in key:
            matched = [c for c in channels if fnmatch.fnmatchcase(c.name.casefold(), key.casefold())]
            if not matched:
                found.notices.append(Notice(f"no channel the app can see matches '{ref}': check the prefix; "
                                            "private channels need the app invited", resource=ref))
            return matched
        matched = slack_names.match_channels(channels, ref)
        if not matched:
            found.notices.append(Notice(f"channel '{ref}' was not found: check its name or id; a private "
                                        "channel is visible only after the app is invited to it", resource=ref))
        elif slack_names.ambiguous(ref, matched):
            found.notices.append(Notice(f"channel '{ref}' could be any of {len(matched)} channels (" +
                                        ", ".join(f"#{c.name} {c.id}" for c in matched) + "): none is "
                                        "closed; name the one to close by its exact name or id", resource=ref))
            return []
        return matched

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
                if mode == "archive" and not ch.archived and ch.bot_member and self.channels.posted(cid, text)}

    def _plan_channel(self, ch: SlackChannel, mode: str, leavers: dict[str, tuple[Subject, dict]],
                      memberships: dict[str, set[str]], posted: set[str], found: Discovery) -> None:
        if mode == "archive" and self._archivable(ch, found):
            inside = [s.person for uid, (s, _) in leavers.items() if ch.id in memberships[uid]]
            self._plan_archive(ch, inside, ch.id in posted, found)
            return
        if ch.archived:
            found.notices.append(Notice(f"#{ch.name} is archived and stays so: Slack removes nobody from an archived "
                                        "channel, and its history stays readable to its members", resource=ch.id,
                                        severity="warning"))
            return
        for uid, (subject, user) in leavers.items():
            self._plan_removal(ch, subject, user, ch.id in memberships[uid], found)

    def _archivable(self, ch: SlackChannel, found: Discovery) -> bool:
        """False, with a settled step saying why, for #general and (without include_shared) Slack Connect."""
        label = f"#{ch.name}"
        if ch.general:
            found.steps.append(Step(kind=ArchiveChannel.name, resource=ch.id, before=ch.state(), needed=False,
                                    label=label, outcome="immutable", aliases=(label, ch.name),
                                    note="Slack never archives a workspace's #general channel"))
            return False
        if ch.shared and not self.settings.include_shared and not ch.archived:
            found.steps.append(Step(kind=ArchiveChannel.name, resource=ch.id, before=ch.state(), needed=False,
                                    label=label, outcome="attention", aliases=(label, ch.name),
                                    note="Slack Connect channel: archiving it closes it for the other organisation "
                                         "too; set include_shared: true to archive it, or close: keep. The leavers "
                                         "are removed from it meanwhile"))
            return False
        return True

    def _plan_archive(self, ch: SlackChannel, inside: list[str], posted: bool, found: Discovery) -> None:
        label = f"#{ch.name}"
        count = "" if ch.members is None else f"{ch.members} member" + ("" if ch.members == 1 else "s")
        facts = [count, "private" if ch.private else "public",
                 "Slack Connect (shared with another organisation)" if ch.shared else ""]
        if not ch.bot_member and not ch.private and not ch.archived:
            facts.append("the app joins it to act")
        msg = self.settings.closing_message
        if msg and not ch.archived:
            found.steps.append(Step(kind=PostClosingMessage.name, resource=ch.id, label=label,
                                    before={"exists": True, "archived": False, "posted": posted},
                                    needed=not posted, aliases=(label, ch.name),
                                    params={"text": msg, "private": ch.private}))
        if inside and not ch.archived:
            facts.append(f"leaving members ({', '.join(inside)}) can still read its history while their Slack "
                         "accounts are active")
        found.steps.append(Step(kind=ArchiveChannel.name, resource=ch.id, before=ch.state(),
                                needed=not ch.archived, label=label, aliases=(label, ch.name),
                                params={"closing_message": msg if msg and not ch.archived else None,
                                        "private": ch.private},
                                note="; ".join(f for f in facts if f)))

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
