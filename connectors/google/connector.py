"""The `google-workspace` connector: leavers' Google Workspace accounts closed, their Google Groups memberships
removed, the engagement's Google Groups archived or deleted and its Chat spaces left (google-api-python-client with
its bundled discovery documents, google-auth service-account credentials with domain-wide delegation).

Per leaver (their primary email, an alias or their user id), in this order: backup verification codes
invalidated, app passwords deleted, OAuth grants to third-party apps deleted, every session signed out, the account
suspended; then removed from every group where they are a member, manager or owner. A super administrator is never
suspended unless the settings allow it, and the delegated admin is never acted on (it is the connector's identity).
Listed groups are made archive-only (restorable) or deleted (not restorable); listed Chat spaces lose the leavers.

Files: `client.py` (services, transport, batches, quota, errors), `discovery.py` (the leavers' reads and steps),
`lists.py` (listed groups and spaces, `identify`), `writes.py` (apply, ordered per person), `readback.py`,
`restore.py`, `kinds.py` (the kinds and their OAuth scopes), `settings.py`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

from revoke.actions import ActionKind, State
from revoke.connector import Connector, Discovery, Entity, Identity, ListTarget, Notice, Receipt, Subject
from revoke.connectors.google.client import Google, GoogleRefused
from revoke.connectors.google.discovery import discover_people, resolve, user_names
from revoke.connectors.google.kinds import (
    KINDS,
    READ_PERMISSIONS,
    DeleteAppPassword,
    DeleteOAuthToken,
    SignOut,
    SuspendUser,
    permissions_document,
    scopes_for,
)
from revoke.connectors.google.lists import identify, plan_lists
from revoke.connectors.google.readback import read_states
from revoke.connectors.google.restore import restore
from revoke.connectors.google.settings import GoogleSettings
from revoke.connectors.google.writes import Writer
from revoke.errors import ActionFailed, ConnectionFailed, RevokeError
from revoke.exposure import ExposureRule


class GoogleWorkspaceConnector(Connector):
    name: ClassVar[str] = "google-workspace"
    version: ClassVar[str] = "1.0"
    Settings = GoogleSettings
    kinds = KINDS
    read_permissions = READ_PERMISSIONS
    permission_format = "text"
    # one engine batch becomes one Directory batch request per phase: Google takes up to 1000 calls in one
    batch_size: ClassVar[int] = 1000

    settings: GoogleSettings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._google: Google | None = None
        self._writer: Writer | None = None
        self.me: dict[str, Any] = {}

    @classmethod
    def permissions_document(cls, kinds: Sequence[type[ActionKind]]) -> str:
        return permissions_document(kinds)

    @property
    def google(self) -> Google:
        if self._google is None:
            key = self.secrets.get(self.settings.service_account_key)
            if not key:
                raise ConnectionFailed(self.system, "service_account_key: the secret is empty or not set")
            scopes = self.settings.scopes or scopes_for(KINDS, chat=self.settings.chat,
                                                         mobile=self.settings.wipe_mobile_devices)
            quota_key = (self.settings.api_endpoint, self.settings.customer, hash(key))
            self._google = Google(self.settings, key, scopes, self.context.runtime, quota_key)
        return self._google

    @property
    def writer(self) -> Writer:
        if self._writer is None:
            self._writer = Writer(self.google, self.context.runtime)
        return self._writer

    def close(self) -> None:
        if self._google is not None:
            self._google.close()
            self._google = None

    def exposure(self) -> list[ExposureRule]:
        return [
            ExposureRule("OAuth access tokens issued before the sign-out and the grant's deletion (Google does not "
                         "end them: they expire on their own)", SignOut.name, 60,
                         "Google's access tokens live one hour"),
            ExposureRule("IMAP or POP sessions opened with an app password before it was deleted",
                         DeleteAppPassword.name, None,
                         "Google does not say when a mail client's open session notices the deletion"),
            ExposureRule("files the leaver owns and shared outside the domain: they stay shared (revoke does not "
                         "transfer Drive files; use the Admin console's data transfer)", SuspendUser.name, None,
                         "suspension blocks the person, not the links they shared"),
            ExposureRule("tokens of apps the person authorised after the plan was made", DeleteOAuthToken.name, None,
                         "plan again just before apply, or suspend first"),
        ]

    # ---- connection

    def connect(self) -> Identity:
        g = self.google
        try:
            admin = g.read(f"the delegated admin {self.settings.admin}",
                           lambda: g.directory.users().get(userKey=self.settings.admin))
        except GoogleRefused as err:
            raise ConnectionFailed(self.system, f"cannot read the delegated admin {self.settings.admin}: {err}") \
                from None
        except ActionFailed as err:
            raise ConnectionFailed(self.system, err.reason) from None
        if not admin.get("isAdmin"):
            raise ConnectionFailed(self.system, f"{self.settings.admin} is not a super administrator: domain-wide "
                                   "delegation acts with that user's rights, and revoke needs a super admin's")
        self.me = admin
        sa = str(getattr(g.credentials, "service_account_email", "") or "")
        aliases = tuple(sorted(user_names(admin) | ({sa} if sa else set())))
        return Identity(display=f"{admin.get('primaryEmail')} (through service account {sa})", aliases=aliases,
                        detail={"admin": admin.get("primaryEmail"), "admin_id": admin.get("id"),
                                "service_account": sa, "customer": self.settings.customer,
                                "api_endpoint": self.settings.api_endpoint})

    # ---- discovery

    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        if not self.me:
            self.connect()
        found = Discovery()
        people = resolve(self.google, subjects, found)
        discover_people(self.google, self.settings, people, found)
        plan_lists(self, lists, people, found)
        if not self.settings.chat:
            found.notices.append(Notice("Chat spaces are not closed here (chat: false): the leavers stay in the "
                                        "spaces not listed, until their suspension ends their access",
                                        severity="warning"))
        return found

    def identify(self, names: Sequence[str]) -> dict[str, Entity | None]:
        return identify(self, names)

    # ---- apply, read back, restore

    def apply_many(self, actions: Sequence[Any]) -> dict[str, Receipt | RevokeError]:
        return self.writer.apply_many(actions)

    def apply(self, action: Any) -> Receipt:
        answer = self.writer.apply_many([action])[action.id]
        if isinstance(answer, RevokeError):
            raise answer
        return answer

    def read_back(self, actions: Sequence[Any]) -> dict[str, State]:
        states = read_states(self.google, actions)
        # a step read back as done (before this run, or a write answered with an error that happened anyway) is not
        # sent again as an earlier step of a suspension
        self.writer.seen_done([a for a in actions if self.kind(a.kind).is_done(states[a.id])])
        return states

    def restore(self, action: Any) -> Receipt:
        return restore(self.google, action)
