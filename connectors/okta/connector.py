"""The `okta` connector: takes leavers out of an Okta org through its Management API (`requests`; see client.py for
why not Okta's SDK).

Per leaver (Okta user id, login or email): sessions ended and OAuth tokens revoked (`DELETE
/api/v1/users/{id}/sessions?oauthTokens=true`), OAuth consent grants revoked one by one, enrolled factors reset
(opt-in, `reset_factors: true`), group memberships removed (a membership Okta will not let go of plainly is planned
as immutable, with why), then the user suspended (restore: unsuspend) or, when the runbook says `lifecycle:
deactivate`, deactivated: destructive, because Okta unassigns the user's apps, which restore cannot bring back (the
plan says so). Listed groups are emptied (every member removed; restore adds them back).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any, ClassVar, Sequence

from revoke.actions import ActionKind, State, unverifiable
from revoke.connector import Connector, Discovery, Entity, Identity, ListTarget, Receipt, Subject
from revoke.connectors.okta.client import OktaClient, OktaRefused, request_ids
from revoke.connectors.okta.discovery import (
    BLOCKED,
    find_group,
    find_user,
    plan_list,
    plan_person,
    resolve,
    rule_targets,
    user_identifiers,
)
from revoke.connectors.okta.kinds import (
    KINDS,
    READ_PERMISSIONS,
    ClearSessions,
    DeactivateUser,
    EmptyGroup,
    RemoveFromGroup,
    ResetFactors,
    RevokeGrant,
    SuspendUser,
    permissions_document,
)
from revoke.connectors.okta.settings import OktaSettings
from revoke.errors import ActionFailed, ConnectionFailed, NotSupported, RevokeError
from revoke.exposure import ExposureRule

SCOPES = sorted({p.split(":", 1)[1] for k in KINDS for p in (*READ_PERMISSIONS, *k.permissions)
                 if p.startswith("scope:")})
NO_SESSION_LIST = ("Okta has no API that lists a user's sessions: the 204 to DELETE /api/v1/users/{id}/sessions?"
                   "oauthTokens=true is the evidence, and no OAuth refresh token of the user is left")


class OktaConnector(Connector):
    name: ClassVar[str] = "okta"
    version: ClassVar[str] = "1.0"
    Settings = OktaSettings
    kinds = KINDS
    read_permissions = READ_PERMISSIONS
    permission_format = "text"
    batch_size: ClassVar[int] = 20   # one read-back for 20 writes: a user's record and groups are read once

    settings: OktaSettings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._client: OktaClient | None = None
        self.me: dict[str, Any] = {}
        self._cleared: set[str] = set()    # users whose sessions this run ended
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)

    @classmethod
    def permissions_document(cls, kinds: Sequence[type[ActionKind]]) -> str:
        return permissions_document(cls.read_permissions, kinds)

    @property
    def client(self) -> OktaClient:
        if self._client is None:
            self._client = OktaClient(self.settings, self.secrets, self.context.runtime, SCOPES)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def warnings(self) -> list[str]:
        out = []
        if not self.settings.org_url.startswith("https://"):
            out.append(f"{self.settings.org_url}: not https: the credentials cross the network in clear text")
        if self.settings.lifecycle == "deactivate":
            out.append("lifecycle: deactivate: Okta unassigns the leavers' apps; restore cannot bring them back")
        return out

    def exposure(self) -> list[ExposureRule]:
        return [
            ExposureRule("sessions the person already holds in downstream apps that signed them in through Okta "
                         "(SAML or OIDC): they last until each app's own session expiry", None, None,
                         "Okta ends its own sessions; an app's session is the app's"),
            ExposureRule("access tokens already issued by the org's authorization servers: valid until they expire",
                         ClearSessions.name, 60, "the default access token lifetime of Okta's authorization "
                         "servers (1 hour); refresh tokens are revoked with oauthTokens=true"),
        ]

    # ---- connection -------------------------------------------------------------------------------------------
    def connect(self) -> Identity:
        try:
            if self.settings.api_token is not None:
                me = self.client.read("the API token's administrator", "/api/v1/users/me")
                self.me = dict(me)
                try:   # what Okta lets these credentials act on (a Super Administrator only by another)
                    self.me["roles"] = [str(r.get("type")) for r in self.client.read(
                        "the administrator's roles", f"/api/v1/users/{me['id']}/roles")]
                except OktaRefused:
                    pass
                login = (me.get("profile") or {}).get("login")
                return Identity(display=f"{login} (API token)", aliases=user_identifiers(me),
                                detail={"org_url": self.settings.org_url, "user_id": me.get("id"), "login": login})
            self.client.read("the org's users", "/api/v1/users", limit=1)
            client_id = str(self.settings.client_id)
            self.me = {"client_id": client_id}
            return Identity(display=f"OAuth service app {client_id}", aliases=(client_id,),
                            detail={"org_url": self.settings.org_url, "client_id": client_id, "scopes": SCOPES})
        except ActionFailed as err:
            raise ConnectionFailed(self.system, err.reason) from None

    # ---- discovery --------------------------------------------------------------------------------------------
    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        if not self.me:
            self.connect()
        found = Discovery()
        rules = rule_targets(self.client)
        for person in resolve(self.client, subjects, found):
            plan_person(self, person, rules, found)
        for lst in lists:
            plan_list(self, lst, rules, found)
        return found

    def identify(self, names: Sequence[str]) -> dict[str, Entity | None]:
        return {n: self._identify(n) for n in names}

    def _identify(self, name: str) -> Entity | None:
        if "/grants/" in name:   # the connector's own address of one consent grant
            return Entity(frozenset({name}), "grant", name)
        user = None if name.strip().startswith("00g") else find_user(self.client, name)
        if user is not None:
            return Entity(frozenset(user_identifiers(user)), "account", (user.get("profile") or {}).get("login", ""))
        group = find_group(self.client, name)
        if group is not None:
            gname = (group.get("profile") or {}).get("name") or ""
            return Entity(frozenset({str(group["id"]), gname} - {""}), "group", gname)
        return None

    def addressed(self, action: Any) -> list[str]:
        # emptying a group removes each member: every one of them must pass the protection check
        return [n for n in (action.resource, action.principal, *action.params.get("members", ())) if n]

    # ---- apply ------------------------------------------------------------------------------------------------
    def apply_many(self, actions: Sequence[Any]) -> dict[str, Receipt | RevokeError]:
        """One attempt each, in order; after a rate-limited answer the rest of the batch is not sent (it would be
        refused too and spend the bucket), but answered with the same wait."""
        out: dict[str, Receipt | RevokeError] = {}
        stop: ActionFailed | None = None
        for a in actions:
            if stop is not None:
                out[a.id] = ActionFailed(f"not sent: {stop.reason}", retryable=True, retry_after=stop.retry_after)
                continue
            try:
                out[a.id] = self.apply(a)
            except ActionFailed as err:
                out[a.id] = err
                if err.retryable and err.retry_after:
                    stop = err
            except RevokeError as err:
                out[a.id] = err
        return out

    def _write(self, what: str, method: str, path: str, **params: Any) -> Receipt:
        try:
            return Receipt(request_ids=tuple(request_ids(self.client.call(what, method, path, **params))))
        except OktaRefused as err:
            if err.status != 404:
                raise
            # gone already, or a wrong id: the read-back, which checks the user and group, decides
            return Receipt(request_ids=tuple(err.request_ids), detail={"answer": f"404 {err.code}"})

    def apply(self, action: Any) -> Receipt:
        p, kind = action.params, action.kind
        uid = p.get("user_id")
        if kind == ClearSessions.name:
            with self._person(uid):
                return self._clear_sessions(uid, p.get("login"))
        if kind == RevokeGrant.name:
            return self._write(f"revoke grant {p['grant_id']} of {p['login']}", "DELETE",
                               f"/api/v1/users/{uid}/grants/{p['grant_id']}")
        if kind == ResetFactors.name:
            return self._lifecycle(action, "reset_factors")
        if kind == RemoveFromGroup.name:
            return self._write(f"remove {p['login']} from {p['group']}", "DELETE",
                               f"/api/v1/groups/{p['group_id']}/users/{uid}")
        if kind in (SuspendUser.name, DeactivateUser.name):
            # sessions end first, whatever the batch order: nothing already signed in outlives the suspension
            with self._person(uid):
                first = self._clear_sessions(uid, p.get("login")) if self.settings.clear_sessions else Receipt()
                done = (self._lifecycle(action, "suspend") if kind == SuspendUser.name
                        else self._lifecycle(action, "deactivate", sendEmail="false"))
                return Receipt(request_ids=first.request_ids + done.request_ids, detail=done.detail)
        if kind == EmptyGroup.name:
            ids: list[str] = []
            for member in p["members"]:
                ids += self._write(f"remove {member} from {p['group']}", "DELETE",
                                   f"/api/v1/groups/{p['group_id']}/users/{member}").request_ids
            return Receipt(request_ids=tuple(ids))
        raise NotSupported(f"okta has no action '{kind}'")

    def _person(self, uid: str) -> threading.Lock:
        with self._guard:
            return self._locks[uid]

    def _clear_sessions(self, uid: str, login: str | None) -> Receipt:
        """Once a run per user (the caller holds the user's lock)."""
        if uid in self._cleared:
            return Receipt(detail={"note": "sessions already ended in this run"})
        # a 404 is not "no sessions": the user is gone, or the id is wrong; either way nothing was ended
        resp = self.client.call(f"clear the sessions of {login}", "DELETE", f"/api/v1/users/{uid}/sessions",
                                oauthTokens="true")
        self._cleared.add(uid)
        return Receipt(request_ids=tuple(request_ids(resp)))

    def _lifecycle(self, action: Any, op: str, **params: Any) -> Receipt:
        uid, login = action.params["user_id"], action.params.get("login")
        try:
            return Receipt(request_ids=tuple(request_ids(self.client.call(
                f"{op} {login}", "POST", f"/api/v1/users/{uid}/lifecycle/{op}", **params))))
        except OktaRefused as err:
            if err.status not in (400, 403):
                raise
            # refused for the user's status: done already (someone suspended them meanwhile) or not allowed now
            state = self._state(action)
            kind = self.kind(action.kind)
            if kind.is_done(state):
                return Receipt(request_ids=tuple(err.request_ids), detail={"answer": f"{err.status} {err.code}"})
            raise ActionFailed(f"{err.reason}; the user is now {state.get('status', 'unreadable')}",
                               request_ids=err.request_ids) from None

    # ---- read back --------------------------------------------------------------------------------------------
    def read_back(self, actions: Sequence[Any]) -> dict[str, State]:
        memo: dict[tuple[str, str], Any] = {}
        return {a.id: self._state(a, memo) for a in actions}

    def _state(self, a: Any, memo: dict[tuple[str, str], Any] | None = None) -> State:
        memo = {} if memo is None else memo
        try:
            return READERS[a.kind](self, a, memo)
        except ActionFailed as err:
            if err.retryable:
                raise
            return unverifiable(str(err))

    def _user(self, uid: str, memo: dict[tuple[str, str], Any]) -> dict[str, Any] | None:
        if ("user", uid) not in memo:
            try:
                memo[("user", uid)] = self.client.read(f"user {uid}", f"/api/v1/users/{uid}")
            except OktaRefused as err:
                if err.status != 404:
                    raise
                memo[("user", uid)] = None
        user = memo[("user", uid)]
        if user is not None and str(user.get("id")) != uid:
            raise ActionFailed(f"Okta answered user {uid} with another user ({user.get('id')})")
        return user

    def _status(self, a: Any, memo: dict[tuple[str, str], Any]) -> State:
        user = self._user(a.params["user_id"], memo)
        if user is None:
            return unverifiable(f"user {a.params['user_id']} no longer exists in Okta (deleted)")
        status = str(user.get("status") or "")
        return {"status": status, "blocked": status in BLOCKED} if a.kind == SuspendUser.name else {"status": status}

    def _sessions(self, a: Any, memo: dict[tuple[str, str], Any]) -> State:
        uid = a.params["user_id"]
        if self._user(uid, memo) is None:
            return unverifiable(f"user {uid} no longer exists in Okta (deleted)")
        left = 0
        for c in self.client.read(f"the OAuth clients of {uid}", f"/api/v1/users/{uid}/clients"):
            left += len(self.client.pages(f"the refresh tokens of {uid}",
                                          f"/api/v1/users/{uid}/clients/{c['client_id']}/tokens"))
        if left:   # the shape of the plan's before-state: the count would make every plan look stale
            return {"sessions_cleared": False}
        return unverifiable(NO_SESSION_LIST)

    def _grant(self, a: Any, memo: dict[tuple[str, str], Any]) -> State:
        uid, gid = a.params["user_id"], a.params["grant_id"]
        try:
            g = self.client.read(f"grant {gid}", f"/api/v1/users/{uid}/grants/{gid}")
            if not isinstance(g, dict) or g.get("id") != gid or not g.get("status"):
                # an answer for another grant, or without its status, proves neither revoked nor active
                return unverifiable(f"Okta answered grant {gid} of user {uid} without its id and status")
            return {"granted": g["status"] == "ACTIVE", "client": g.get("clientId"), "scope": g.get("scopeId")}
        except OktaRefused as err:
            if err.status != 404:
                raise
        if self._user(uid, memo) is None:
            return unverifiable(f"user {uid} no longer exists in Okta: a 404 for the grant proves nothing")
        return {"granted": False, "client": a.before.get("client"), "scope": a.before.get("scope")}

    def _groups_of(self, uid: str, memo: dict[tuple[str, str], Any]) -> set[str] | None:
        if ("groups", uid) not in memo:
            if self._user(uid, memo) is None:
                return None
            memo[("groups", uid)] = {str(g["id"]) for g in self.client.pages(
                f"the groups of {uid}", f"/api/v1/users/{uid}/groups")}
        return memo[("groups", uid)]  # type: ignore[no-any-return,unused-ignore]

    def _membership(self, a: Any, memo: dict[tuple[str, str], Any]) -> State:
        groups = self._groups_of(a.params["user_id"], memo)
        if groups is None:
            return unverifiable(f"user {a.params['user_id']} no longer exists in Okta (deleted)")
        return {"member": str(a.params["group_id"]) in groups}

    def _factors(self, a: Any, memo: dict[tuple[str, str], Any]) -> State:
        uid = a.params["user_id"]
        if self._user(uid, memo) is None:
            return unverifiable(f"user {uid} no longer exists in Okta (deleted)")
        factors = self.client.read(f"the factors of {uid}", f"/api/v1/users/{uid}/factors")
        types = sorted(str(f.get("factorType")) for f in factors if isinstance(f, dict))
        return {"factors": len(types), "types": types}

    def _group(self, a: Any, memo: dict[tuple[str, str], Any]) -> State:
        gid = a.params["group_id"]
        try:
            self.client.read(f"group {gid}", f"/api/v1/groups/{gid}")
        except OktaRefused as err:
            if err.status != 404:
                raise
            return unverifiable(f"group {gid} no longer answers (deleted?)")
        members = self.client.pages(f"the members of {a.params['group']}", f"/api/v1/groups/{gid}/users")
        return {"exists": True, "members": len(members)}

    # ---- restore ----------------------------------------------------------------------------------------------
    def restore(self, action: Any) -> Receipt:
        p, kind, before = action.params, action.kind, action.before
        uid = p.get("user_id")
        if kind == SuspendUser.name:
            if before.get("blocked"):
                return Receipt(detail={"note": "could not sign in before the run; left so"})
            return self._lifecycle_restore(action, "unsuspend")
        if kind == DeactivateUser.name:
            if before.get("status") == "DEPROVISIONED":
                return Receipt(detail={"note": "deactivated before the run; left so"})
            receipt = self._lifecycle_restore(action, "activate", sendEmail="false")
            if before.get("status") == "SUSPENDED":
                receipt = Receipt(request_ids=receipt.request_ids + self._lifecycle_restore(
                    action, "suspend").request_ids)
            return Receipt(request_ids=receipt.request_ids, detail={"note": DeactivateUser.restore_note})
        if kind == RemoveFromGroup.name:
            return Receipt(request_ids=tuple(request_ids(self.client.call(
                f"add {p['login']} back to {p['group']}", "PUT", f"/api/v1/groups/{p['group_id']}/users/{uid}"))))
        if kind == EmptyGroup.name:
            ids: list[str] = []
            for member in p["members"]:
                ids += request_ids(self.client.call(f"add {member} back to {p['group']}", "PUT",
                                                    f"/api/v1/groups/{p['group_id']}/users/{member}"))
            return Receipt(request_ids=tuple(ids))
        raise NotSupported(f"{kind} cannot be restored: {self.kind(kind).restore_note}")

    def _lifecycle_restore(self, action: Any, op: str, **params: Any) -> Receipt:
        uid = action.params["user_id"]
        return Receipt(request_ids=tuple(request_ids(self.client.call(
            f"{op} {action.params.get('login')}", "POST", f"/api/v1/users/{uid}/lifecycle/{op}", **params))))


READERS = {
    ClearSessions.name: OktaConnector._sessions,
    RevokeGrant.name: OktaConnector._grant,
    SuspendUser.name: OktaConnector._status,
    DeactivateUser.name: OktaConnector._status,
    RemoveFromGroup.name: OktaConnector._membership,
    ResetFactors.name: OktaConnector._factors,
    EmptyGroup.name: OktaConnector._group,
}
