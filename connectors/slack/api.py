"""The Slack client layer of the `slack` connector: slack_sdk for the Web API, requests for SCIM.

Slack answers most failures with HTTP 200 and `ok: false`; slack_sdk raises `SlackApiError` for those and for
non-200 answers. Both become revoke's named errors here, once, with the fix in the message (`missing_scope` names
the scope to add). slack_sdk's own retry handlers are off: every call is made once. A throttled answer (a 429 with
`Retry-After`, or the `ratelimited` that Slack may send inside an HTTP 200 with no `Retry-After`) raises
`ActionFailed(retryable=True, retry_after=...)`. Reads are repeated by the engine's runtime (`Runtime.read`),
which backs off even without a `Retry-After`; writes go back to the engine, which reads the target back before it
tries again (a throttled write may have been carried out anyway).
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence
from urllib.error import URLError

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from revoke.errors import ActionFailed
from revoke.runtime import Runtime

TYPES = "public_channel,private_channel"
BULK = 20  # more people than this: read users.list once rather than look each one up

# errors Slack documents as transient: the same call may succeed later
TRANSIENT = {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited",
             "team_added_to_org", "accesslimited"}
AUTH = {"not_authed", "invalid_auth", "token_revoked", "token_expired", "account_inactive", "no_permission",
        "not_allowed_token_type", "ekm_access_denied"}
HINTS = {
    "invalid_auth": "the token is not valid for this workspace: check the secret, or reinstall the app",
    "not_authed": "no token was sent: set the secret the runbook names",
    "token_revoked": "the token was revoked: reinstall the app and store its new bot token",
    "token_expired": "the token expired: store a fresh token",
    "account_inactive": "the token belongs to a deactivated user or an uninstalled app",
    "channel_not_found": "no channel with that id is visible to the app; a private channel is visible only after "
                         "the app is invited to it (/invite @app)",
    "not_in_channel": "the app (or the person) is not a member of the channel; invite the app to private channels",
    "cant_archive_general": "Slack never archives the workspace's #general channel",
    "cant_archive_required": "the channel is required by the workspace; an admin must make it optional first",
    "cant_kick_from_general": "Slack never removes anyone from #general; deactivate the account instead",
    "cant_kick_self": "the app cannot remove itself",
    "restricted_action": "a workspace setting stops the app doing this; an admin must allow it",
    "method_not_supported_for_channel_type": "this kind of conversation cannot be acted on this way",
    "is_archived": "the channel is archived",
    "user_not_found": "no such user in the workspace",
    "users_not_found": "no user with that email in the workspace",
    "ratelimited": "Slack is throttling the app",
}


class SlackRefused(ActionFailed):
    """ActionFailed with Slack's error code, so the connector can tell `already_archived` from a failure."""

    def __init__(self, reason: str, code: str, **kw: Any):
        super().__init__(reason, **kw)
        self.code = code


class Unproven(ActionFailed):
    """An answer that does not prove the state it was read for (a list or flag missing, another object)."""


class SlackChannel:
    """The fields of a conversation object that revoke plans on."""

    def __init__(self, raw: dict[str, Any]):
        self.id: str = raw["id"]
        self.name: str = raw.get("name") or raw["id"]
        self.private = bool(raw.get("is_private"))
        self.archived = bool(raw.get("is_archived"))
        # Slack Connect: shared with another organisation (or an invitation to share is pending); `is_shared`
        # alone is also true for channels shared between workspaces of one Enterprise Grid org
        self.shared = bool(raw.get("is_ext_shared") or raw.get("is_pending_ext_shared"))
        self.general = bool(raw.get("is_general"))
        self.bot_member = bool(raw.get("is_member"))
        self.members = raw.get("num_members")

    def state(self) -> dict[str, Any]:
        return {"exists": True, "archived": self.archived, "name": self.name, "private": self.private,
                "shared": self.shared}


def header(response: SlackResponse | None, name: str) -> str | None:
    for key, value in ((response.headers or {}) if response is not None else {}).items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) else str(value)
    return None


def request_ids(response: SlackResponse | None) -> list[str]:
    rid = header(response, "x-slack-req-id")
    return [rid] if rid else []


def _retry_after(response: SlackResponse) -> float | None:
    try:
        value = header(response, "retry-after")
        return float(value) if value is not None else None
    except ValueError:
        return None


def translate(method: str, err: SlackApiError) -> SlackRefused:
    """One Slack failure as revoke's ActionFailed, with what to do about it."""
    resp = err.response
    data = resp.data if isinstance(resp.data, dict) else {}
    code = str(data.get("error") or f"HTTP {resp.status_code}")
    ids = request_ids(resp)
    if resp.status_code == 429 or code == "ratelimited":
        wait = _retry_after(resp)
        when = f"retry after {wait:g}s" if wait is not None else "no Retry-After given (an HTTP 200 'ratelimited')"
        return SlackRefused(f"Slack throttled {method}: {when}", "ratelimited", retryable=True, retry_after=wait,
                            request_ids=ids)
    if code == "missing_scope":
        needed = data.get("needed") or "?"
        provided = data.get("provided") or "none"
        return SlackRefused(f"Slack refused {method}: the token lacks the scope {needed} (it has: {provided}); add "
                            f"{needed} to the app's Bot Token Scopes (OAuth & Permissions) and reinstall the app",
                            code, request_ids=ids)
    hint = HINTS.get(code, "")
    message = f"Slack refused {method}: {code}" + (f" ({hint})" if hint else "")
    return SlackRefused(message, code, retryable=code in TRANSIENT or resp.status_code >= 500, request_ids=ids)


class SlackApi:
    """One WebClient on one token that never retries anything itself: reads are repeated by the engine's runtime,
    writes go back to the engine (a connection error after the request left may hide a write that happened)."""

    def __init__(self, token: str, base_url: str, *, timeout: int, runtime: Runtime):
        self.client = WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[])
        self.runtime = runtime
        self._directory: dict[str, dict[str, Any]] | None = None
        self._channels: list[dict[str, Any]] | None = None

    def read(self, method: str, **params: Any) -> SlackResponse:
        """An idempotent call: the runtime repeats it while Slack throttles it, within the system's budget."""
        return self.runtime.read(lambda: self._call(self.client, method, params))

    def write(self, method: str, **params: Any) -> SlackResponse:
        return self._call(self.client, method, params)

    def pages(self, method: str, key: str, **params: Any) -> Iterator[Any]:
        """Every item of a cursor-paged list method."""
        cursor = ""
        while True:
            resp = self.read(method, cursor=cursor, **params) if cursor else self.read(method, **params)
            items = resp.get(key)
            if not isinstance(items, list):  # an answer without its list is not an empty list
                raise Unproven(f"Slack's answer to {method} has no `{key}` list")
            yield from items
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                return

    def find_users(self, idents: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """Each identifier (email or user id) -> its user object, or None when the workspace has no such user.
        Few calls: one lookup per person for a handful, one pass over users.list for many."""
        if len(idents) > BULK:
            if self._directory is None:  # one pass per phase: discovery and the guardrails' look-ups share it
                directory: dict[str, dict[str, Any]] = {}
                for user in self.pages("users.list", "members", limit=200):
                    directory[user["id"].casefold()] = user
                    email = (user.get("profile") or {}).get("email")
                    if email:
                        directory[email.casefold()] = user
                self._directory = directory
            return {ident: self._directory.get(ident.casefold()) for ident in idents}
        out: dict[str, dict[str, Any] | None] = {}
        for ident in idents:
            try:
                resp = (self.read("users.lookupByEmail", email=ident) if "@" in ident
                        else self.read("users.info", user=ident))
                out[ident] = resp["user"]
            except SlackRefused as err:
                if err.code not in ("users_not_found", "user_not_found"):
                    raise
                out[ident] = None
        return out

    def channels(self) -> list[dict[str, Any]]:
        """Every conversation the app can see, archived ones included; listed once per phase."""
        if self._channels is None:
            self._channels = list(self.pages("conversations.list", "channels", types=TYPES, exclude_archived=False,
                                             limit=200))
        return self._channels

    def memberships(self, users: Sequence[str], channels: Sequence[str], *, everywhere: bool) -> dict[str, set[str]]:
        """User id -> ids of the open channels (of `channels`, or of all the app sees with `everywhere`) they are
        in: per channel (conversations.members) when the channels are fewer, else per person (users.conversations,
        which also finds their other channels)."""
        if everywhere or len(channels) >= len(users):
            return {uid: {c["id"] for c in self.pages("users.conversations", "channels", user=uid, types=TYPES,
                                                      exclude_archived=True, limit=200)} for uid in users}
        out: dict[str, set[str]] = {uid: set() for uid in users}
        for cid in channels:
            for member in self.pages("conversations.members", "members", channel=cid, limit=200):
                if str(member) in out:  # conversations.members pages user ids, not objects
                    out[str(member)].add(cid)
        return out

    @staticmethod
    def _call(client: WebClient, method: str, params: dict[str, Any]) -> SlackResponse:
        try:
            return client.api_call(method, params=params)
        except SlackApiError as err:
            raise translate(method, err) from None
        except (URLError, OSError, TimeoutError) as err:
            raise ActionFailed(f"cannot reach Slack for {method}: {err}", retryable=True) from None


class ScimApi:
    """The SCIM v2 `Users` resource, for deactivation (which signs the person out of every Slack session)."""

    def __init__(self, token: str, base_url: str, *, timeout: int):
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/scim+json"})

    def _request(self, verb: str, user_id: str, body: dict | None = None) -> requests.Response:
        try:
            resp = self.session.request(verb, f"{self.base_url}Users/{user_id}", json=body, timeout=self.timeout)
        except requests.RequestException as err:
            raise ActionFailed(f"cannot reach Slack's SCIM API: {type(err).__name__}", retryable=True) from None
        if resp.status_code == 429:
            wait = resp.headers.get("Retry-After")
            raise ActionFailed("Slack's SCIM API throttled the request", retryable=True,
                               retry_after=float(wait) if wait and wait.isdigit() else None)
        if resp.status_code in (401, 403):
            raise ActionFailed(f"Slack's SCIM API refused the token (HTTP {resp.status_code}): SCIM needs a token of "
                               "an Org Owner or Admin with the `admin` scope, on a Business+ or Enterprise Grid plan")
        if resp.status_code == 404:
            raise ActionFailed(f"Slack's SCIM API has no user {user_id} (HTTP 404)")
        if resp.status_code >= 400:
            raise ActionFailed(f"Slack's SCIM API answered HTTP {resp.status_code} for user {user_id}",
                               retryable=resp.status_code >= 500)
        return resp

    def active(self, user_id: str) -> bool:
        body = self._request("GET", user_id).json()
        if not isinstance(body, dict) or not isinstance(body.get("active"), bool) or body.get("id") != user_id:
            raise Unproven(f"the SCIM answer for user {user_id} is not that user with its `active` flag")
        return body["active"]

    def set_active(self, user_id: str, active: bool) -> None:
        self._request("PATCH", user_id, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                         "Operations": [{"op": "replace", "path": "active", "value": active}]})
