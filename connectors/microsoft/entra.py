"""Microsoft Entra ID accounts through Microsoft Graph: disable, end sessions, strip groups, app roles and roles.

Discovery reads each leaver (by UPN or object id) with their direct memberships (`memberOf`: groups and directory
roles), app role assignments and owned groups, in JSON `$batch`es. What Graph cannot change is said in the plan,
not found at apply time: a user synced from on-premises AD is disabled in AD (the step carries the account's
sAMAccountName and DN so the engine can route it to the runbook's AD system), mail-enabled security groups and
distribution lists need Exchange Online, dynamic groups are immutable.

Writes go as `$batch`es of up to 20; for one user the disable runs before the session revocation (`dependsOn`), so
no new session can be issued between the two.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Sequence

from revoke.actions import ACCESS, ActionKind, State, unverifiable
from revoke.connector import Connector, Discovery, Entity, Identity, ListTarget, Notice, Receipt, Step, Subject
from revoke.connectors.microsoft.entra_delete import (
    DeleteAccount,
    EntraSettings,
    delete_state,
    delete_step,
    delete_write,
    deleted_path,
)
from revoke.connectors.microsoft.graph import (
    GraphClient,
    Reply,
    Sub,
    directory_object_url,
    exchange_route,
    list_page,
    membership_blocker,
    seg,
)
from revoke.connectors.microsoft.names import DirectoryNames
from revoke.errors import ActionFailed, RevokeError
from revoke.exposure import ExposureRule
from revoke.plan import Action

USER_FIELDS = ("id,userPrincipalName,mail,proxyAddresses,displayName,accountEnabled,userType,onPremisesSyncEnabled,"
               "onPremisesSamAccountName,onPremisesDistinguishedName,onPremisesDomainName,"
               "signInSessionsValidFromDateTime")
# the identifiers too: the guardrails' look-up of the runbook's people is then answered by this read
READ_BACK_FIELDS = ("id,accountEnabled,signInSessionsValidFromDateTime,userPrincipalName,mail,proxyAddresses,"
                    "onPremisesSamAccountName,onPremisesDistinguishedName")
# Graph answers `$expand` on a directory object's relationships with at most 20 objects and no next page (known
# issues, "Some limitations apply to query parameters"): a list this long may be cut short.
EXPAND_CAP = 20
MEMBERSHIP_KINDS = ("remove-group-member", "remove-directory-role")
# Entra access tokens outlive revokeSignInSessions: they stay valid until they expire (60-90 minutes by default).
ACCESS_TOKEN_MINUTES = 90
CLOCK_SKEW = dt.timedelta(minutes=5)


class DisableAccount(ActionKind):
    name = "disable-account"
    summary = "disable account"
    done_summary = "account already disabled:"
    item = ACCESS
    permissions = ("User.EnableDisableAccount.All", "User.Read.All")
    desired = {"accountEnabled": False}


class RevokeSessions(ActionKind):
    name = "revoke-sessions"
    summary = "revoke sign-in sessions of"
    done_summary = "sign-in sessions already revoked for"
    item = ACCESS
    permissions = ("User.RevokeSessions.All",)
    desired = {"sessionsRevoked": True}
    restorable = False
    restore_note = "revoked sessions are not restored: the person signs in again"


class RemoveGroupMembership(ActionKind):
    name = "remove-group-member"
    summary = "remove from group"
    done_summary = "not a member of group"
    item = ACCESS
    permissions = ("GroupMember.ReadWrite.All",)
    desired = {"member": False}


class RemoveAppRoleAssignment(ActionKind):
    name = "remove-app-role"
    summary = "remove app role assignment"
    done_summary = "no app role assignment"
    item = ACCESS
    permissions = ("AppRoleAssignment.ReadWrite.All",)
    desired = {"assigned": False}


class RemoveDirectoryRole(ActionKind):
    name = "remove-directory-role"
    summary = "remove from directory role"
    done_summary = "not in directory role"
    item = ACCESS
    permissions = ("RoleManagement.ReadWrite.Directory",)
    desired = {"member": False}


def _answers_for(reply: Reply, key: str) -> bool:
    """The answer is the object asked for (by id, or a user's UPN), not another one or an empty 200."""
    body = reply.body if isinstance(reply.body, dict) else {}
    names = {str(body.get(f) or "").casefold() for f in ("id", "userPrincipalName")}
    return key.casefold() in names


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _sessions_state(user: dict[str, Any], revoke_after: str) -> State:
    since = user.get("signInSessionsValidFromDateTime")
    t = _parse_time(since)
    return {"signInSessionsValidFromDateTime": since,
            "sessionsRevoked": t is not None and t >= _parse_time(revoke_after) - CLOCK_SKEW}  # type: ignore[operator]


class EntraConnector(Connector):
    name: ClassVar[str] = "entra"
    version: ClassVar[str] = "1"
    Settings = EntraSettings
    kinds = (DisableAccount, RevokeSessions, RemoveGroupMembership, RemoveAppRoleAssignment, RemoveDirectoryRole,
             DeleteAccount)
    read_permissions = ("User.Read.All", "GroupMember.Read.All", "RoleManagement.Read.Directory",
                        "Application.Read.All")
    permission_format = "text"
    # The engine's unit of writing and reading back. Three $batches of writes (20 users' disable, session
    # revocation and one membership) are read back with one $batch of 20 user reads; with 20 the read-back of
    # about 7 users went in a $batch of its own each time.
    batch_size = 60

    def __init__(self, system: str, settings: EntraSettings, secrets: Any, context: Any):
        super().__init__(system, settings, secrets, context)
        self.graph = GraphClient(system, settings, secrets, self.context.runtime)
        # Groups and directory roles read back as existing in this run. Only existence is kept (never a 404):
        # it is what lets "not in the user's memberOf" mean removed rather than a wrong id.
        self._containers_seen: set[str] = set()
        self.names = DirectoryNames(self.graph, own=(settings.client_id,))

    def exposure(self) -> list[ExposureRule]:
        return [
            ExposureRule("Entra ID access tokens issued before the sign-in sessions were revoked", RevokeSessions.name,
                         ACCESS_TOKEN_MINUTES, "access tokens live 60-90 minutes by default and revokeSignInSessions "
                         "does not end them; clients using continuous access evaluation (Exchange, SharePoint, "
                         "Teams) drop theirs within minutes"),
            ExposureRule("Entra ID access tokens issued before the account was disabled", DisableAccount.name,
                         ACCESS_TOKEN_MINUTES, "a disable blocks new tokens; issued ones live 60-90 minutes"),
            ExposureRule("sessions that applications keep themselves after an Entra ID sign-in (their own cookies)",
                         DisableAccount.name, None, "each application's own session lifetime; Entra ID cannot end "
                         "them"),
        ]

    def connect(self) -> Identity:
        identity = self.graph.connect()
        self.names.own.add(identity.display.casefold())
        return identity

    def identify(self, names: Sequence[str]) -> dict[str, Entity | None]:
        return self.names.identify(names)

    # ---- discovery -----------------------------------------------------------------------------------------
    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        out = Discovery()
        for lst in lists:
            out.notices.append(Notice(f"entra closes no lists ('{lst.ident}'): name an m365-groups system for "
                                      "groups, teams and mail lists", resource=lst.ident))
        users = self.graph.batch_get({s.ident: f"/users/{seg(s.ident)}?$select={USER_FIELDS}" for s in subjects})
        found: dict[str, tuple[Subject, dict[str, Any]]] = {}
        for s in subjects:
            reply = users[s.ident]
            if reply.status == 404:
                out.notices.append(Notice(f"no Entra ID user '{s.ident}' in tenant {self.settings.tenant_id}",
                                          person=s.person))
            elif not reply.ok:
                raise self.graph.read_failure(reply, f"user {s.ident}")
            else:
                found[reply.body["id"]] = (s, reply.body)
                self.names.remember_user(reply.body)
        paths = {}
        for uid in found:
            paths[f"{uid}/memberOf"] = f"/users/{uid}/memberOf?$top=999"
            paths[f"{uid}/appRoleAssignments"] = f"/users/{uid}/appRoleAssignments?$top=999"
            paths[f"{uid}/ownedObjects"] = f"/users/{uid}/ownedObjects?$top=999"
        related = self.graph.batch_get(paths)
        for key, reply in related.items():
            if not reply.ok:
                raise self.graph.read_failure(reply, key)
        apps = self._app_roles({a["resourceId"] for uid in found
                                for a in related[f"{uid}/appRoleAssignments"].body["value"]})
        for uid, (s, user) in found.items():
            out.steps.extend(self._account_steps(s, user))
            upn = user["userPrincipalName"]
            for obj in related[f"{uid}/memberOf"].body["value"]:
                out.steps.extend(self._membership_steps(s, user, obj))
            for a in related[f"{uid}/appRoleAssignments"].body["value"]:
                out.steps.append(Step(
                    kind=RemoveAppRoleAssignment.name, resource=f"{a['resourceId']}:{a['appRoleId']}",
                    principal=uid, person=s.person, before={"assigned": True}, needed=True, aliases=(upn,),
                    label=f"{a.get('resourceDisplayName') or a['resourceId']}: "
                          f"{apps.get((a['resourceId'], a['appRoleId']), a['appRoleId'])}",
                    params={"assignmentId": a["id"], "resourceId": a["resourceId"], "appRoleId": a["appRoleId"],
                            "userPrincipalName": upn}))
            for obj in related[f"{uid}/ownedObjects"].body["value"]:
                if obj.get("@odata.type") == "#microsoft.graph.group":
                    out.notices.append(Notice(
                        f"{upn} owns group '{obj.get('displayName')}' ({obj['id']}): ownership is not removed; "
                        "give the group another owner", person=s.person, resource=obj["id"], severity="warning"))
        return out

    def _app_roles(self, resources: set[str]) -> dict[tuple[str, str], str]:
        """(service principal id, app role id) -> the role's name, for plan lines a reviewer can read."""
        replies = self.graph.batch_get({r: f"/servicePrincipals/{r}?$select=id,displayName,appRoles"
                                        for r in resources})
        names = {}
        for sp, reply in replies.items():
            for role in (reply.body or {}).get("appRoles", []) if reply.ok else []:
                names[(sp, role["id"])] = role.get("value") or role.get("displayName") or role["id"]
            names[(sp, "00000000-0000-0000-0000-000000000000")] = "default access"
        return names

    def _account_steps(self, s: Subject, user: dict[str, Any]) -> list[Step]:
        uid, upn = user["id"], user["userPrincipalName"]
        enabled = bool(user.get("accountEnabled"))
        disable = Step(kind=DisableAccount.name, resource=uid, person=s.person, before={"accountEnabled": enabled},
                       needed=enabled, aliases=(upn,), label=upn)
        if enabled and user.get("onPremisesSyncEnabled"):
            # Graph refuses accountEnabled on synced users: the account is disabled in AD and syncs up.
            disable = Step(
                kind=DisableAccount.name, resource=uid, person=s.person, before={"accountEnabled": enabled},
                needed=True, aliases=(upn,), label=upn, outcome="attention",
                note=(f"disable in Active Directory: {upn} is synced from on-premises AD "
                      f"(sAMAccountName {user.get('onPremisesSamAccountName')}, "
                      f"DN {user.get('onPremisesDistinguishedName') or 'unknown'}); Graph cannot disable it"),
                params={"route": "active-directory", "onPremisesSamAccountName": user.get("onPremisesSamAccountName"),
                        "onPremisesDistinguishedName": user.get("onPremisesDistinguishedName"),
                        "onPremisesDomainName": user.get("onPremisesDomainName"), "userPrincipalName": upn})
        deleting = [delete_step(s, user)] if self.settings.delete_account else []
        if not enabled:
            # A disabled account can redeem no refresh token and get no new one: nothing left to revoke.
            return [disable, *deleting]
        note = (f"access tokens issued before the revocation stay valid until they expire (up to about "
                f"{ACCESS_TOKEN_MINUTES} minutes); revocation may take a few minutes to apply")
        if user.get("userType") == "Guest":
            note += "; a guest signs in at their home tenant, whose sessions this does not end"
        # "Revoked" means: sessions valid only from a time after this plan was made. Keyed to the plan's time (in
        # params), so the same plan re-applied later recognises its own revocation.
        revoke_after = self.context.started_at.isoformat()
        params = {"accessTokenMinutes": ACCESS_TOKEN_MINUTES, "revokeAfter": revoke_after}
        revoke = Step(kind=RevokeSessions.name, resource=uid, person=s.person,
                      before=_sessions_state(user, revoke_after), needed=True, aliases=(upn,), label=upn,
                      note=note, params=params)
        return [disable, revoke, *deleting]

    def _membership_steps(self, s: Subject, user: dict[str, Any], obj: dict[str, Any]) -> list[Step]:
        uid, upn = user["id"], user["userPrincipalName"]
        kind = obj.get("@odata.type")
        if kind == "#microsoft.graph.directoryRole":
            return [Step(kind=RemoveDirectoryRole.name, resource=obj["id"], principal=uid, person=s.person,
                         before={"member": True}, needed=True, aliases=(upn, obj.get("displayName") or ""),
                         label=obj.get("displayName") or obj["id"], params={"userPrincipalName": upn})]
        if kind != "#microsoft.graph.group":
            return []  # administrative units and the like grant nothing by membership
        blocked = membership_blocker(obj, upn)
        params = {"userPrincipalName": upn, "groupName": obj.get("displayName"), "mail": obj.get("mail"),
                  **exchange_route(obj)}
        return [Step(kind=RemoveGroupMembership.name, resource=obj["id"], principal=uid, person=s.person,
                     before={"member": True}, needed=True, aliases=(upn, obj.get("displayName") or ""),
                     label=obj.get("displayName") or obj["id"], params=params,
                     outcome=blocked[0] if blocked else None, note=blocked[1] if blocked else "")]

    # ---- apply ---------------------------------------------------------------------------------------------
    def _write(self, a: Action) -> Sub:
        if a.kind == DisableAccount.name:
            return Sub(a.id, "PATCH", f"/users/{a.resource}", {"accountEnabled": False})
        if a.kind == RevokeSessions.name:
            return Sub(a.id, "POST", f"/users/{a.resource}/revokeSignInSessions")
        if a.kind == RemoveGroupMembership.name:
            # `/$ref` removes the membership; without it Graph deletes the user object itself.
            return Sub(a.id, "DELETE", f"/groups/{a.resource}/members/{a.principal}/$ref")
        if a.kind == RemoveAppRoleAssignment.name:
            return Sub(a.id, "DELETE", f"/users/{a.principal}/appRoleAssignments/{a.params['assignmentId']}")
        if a.kind == RemoveDirectoryRole.name:
            return Sub(a.id, "DELETE", f"/directoryRoles/{a.resource}/members/{a.principal}/$ref")
        if a.kind == DeleteAccount.name:
            return delete_write(a.resource, a.id)
        raise ActionFailed(f"entra cannot apply '{a.kind}'")

    def apply(self, action: Action) -> Receipt:
        answer = self.apply_many([action])[action.id]
        if isinstance(answer, RevokeError):
            raise answer
        return answer

    def apply_many(self, actions: Sequence[Action]) -> dict[str, Receipt | RevokeError]:
        out: dict[str, Receipt | RevokeError] = {}
        subs: list[Sub] = []
        disables = {a.resource: a.id for a in actions if a.kind == DisableAccount.name}
        for a in actions:
            try:
                sub = self._write(a)
            except RevokeError as err:
                out[a.id] = err
                continue
            if a.kind == RevokeSessions.name and a.resource in disables:
                sub.depends_on = disables[a.resource]  # disable first: no new session between the two
            subs.append(sub)
        by_id = {a.id: a for a in actions}
        for key, reply in self.graph.batch(subs, reads=False).items():
            out[key] = self._answer(by_id[key], reply)
        return out

    def _answer(self, a: Action, reply: Reply) -> Receipt | RevokeError:
        what = self.kind(a.kind).describe(a.label or a.resource)
        if reply.ok:
            detail: dict[str, Any] = {"status": reply.status}
            if a.kind == RevokeSessions.name:
                detail["revokedAt"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
                detail["accessTokensValidUntilAbout"] = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(
                    minutes=ACCESS_TOKEN_MINUTES)).isoformat(timespec="seconds")
            return Receipt(request_ids=(reply.request_id,), detail=detail)
        if reply.status == 404 and a.kind != DisableAccount.name and a.kind != RevokeSessions.name:
            # Not proof of removal: the read-back accepts "gone" only after finding the user and the group.
            return Receipt(request_ids=(reply.request_id,),
                           detail={"status": 404, "note": "Graph answered 404; the read-back checks that the "
                                   "user and the group exist and the membership does not"})
        return reply.failure(what, self.kind(a.kind).permissions)

    # ---- read back -----------------------------------------------------------------------------------------
    def read_back(self, actions: Sequence[Action]) -> dict[str, State]:
        """One read per user answers its account, its sessions and its direct memberships (`$expand=memberOf`);
        a group or role is read once per run to prove it exists; app role assignments are listed per user."""
        paths: dict[str, str] = {}
        memberships = {a.principal for a in actions if a.kind in MEMBERSHIP_KINDS}
        for uid in {a.principal or a.resource for a in actions}:
            # With $select, $expand costs what a plain GET does in Graph's identity limits (+1 and -1).
            paths[f"user:{uid}"] = (f"/users/{uid}?$select={READ_BACK_FIELDS}"
                                    + ("&$expand=memberOf" if uid in memberships else ""))
        for a in actions:
            if a.kind == RemoveGroupMembership.name and a.resource not in self._containers_seen:
                paths[f"container:{a.resource}"] = f"/groups/{a.resource}?$select=id"
            elif a.kind == RemoveDirectoryRole.name and a.resource not in self._containers_seen:
                paths[f"container:{a.resource}"] = f"/directoryRoles/{a.resource}"
            elif a.kind == RemoveAppRoleAssignment.name:
                paths[f"assignments:{a.principal}"] = f"/users/{a.principal}/appRoleAssignments?$top=999"
            elif a.kind == DeleteAccount.name:
                paths[f"deleted:{a.resource}"] = deleted_path(a.resource)
        replies = self._read(paths)
        for key, reply in replies.items():
            if key.startswith("container:") and reply.ok and _answers_for(reply, key.split(":", 1)[1]):
                self._containers_seen.add(key.split(":", 1)[1])
            elif key.startswith("user:") and reply.ok and isinstance(reply.body, dict) and reply.body.get("id"):
                self.names.remember_user(reply.body)
        member_of = self._memberships(actions, replies)
        return {a.id: self._state(a, replies, member_of) for a in actions}

    def _memberships(self, actions: Sequence[Action], replies: dict[str, Reply]) -> dict[str, set[str] | str]:
        """Each member user's direct memberships, or why the answers do not prove them (a string)."""
        member_of: dict[str, set[str] | str] = {}
        whole: dict[str, str] = {}
        for uid in {a.principal or "" for a in actions if a.kind in MEMBERSHIP_KINDS}:
            user = replies[f"user:{uid}"]
            if not user.ok:
                continue
            listed = user.body.get("memberOf") if isinstance(user.body, dict) else None
            if not isinstance(listed, list) or not all(isinstance(x, dict) and x.get("id") for x in listed):
                # Graph ignoring $expand (or a proxy dropping it) is not "member of nothing"
                member_of[uid] = "Graph's answer for the user has no memberOf list"
                continue
            member_of[uid] = {x["id"] for x in listed}
            if len(listed) >= EXPAND_CAP:  # $expand may have cut the list short: read it whole
                whole[f"memberOf:{uid}"] = f"/users/{uid}/memberOf?$select=id&$top=999"
        for key, reply in self._read(whole).items():
            uid = key.split(":", 1)[1]
            if reply.ok:
                page = list_page(reply)
                member_of[uid] = {x["id"] for x in page} if page is not None else \
                    "Graph's answer to the user's memberOf has no value list"
            else:  # the user went away between the two reads
                member_of.pop(uid, None)
        return member_of

    def _read(self, paths: dict[str, str]) -> dict[str, Reply]:
        replies = self.graph.batch_get(paths) if paths else {}
        for key, reply in replies.items():
            if not reply.ok and reply.status != 404:
                raise self.graph.read_failure(reply, key)
        return replies

    def _state(self, a: Action, replies: dict[str, Reply], member_of: dict[str, set[str] | str]) -> State:
        uid = a.principal or a.resource
        user = replies[f"user:{uid}"]
        if user.ok and not _answers_for(user, uid):
            return unverifiable(f"Graph answered the read of user {uid} with another object or none")
        if a.kind == DeleteAccount.name:
            return delete_state(uid, user, replies.get(f"deleted:{uid}"))
        if a.kind == DisableAccount.name:
            if not user.ok:
                return {"accountEnabled": None, "missing": "user"}
            if not isinstance(user.body.get("accountEnabled"), bool):
                return unverifiable("Graph's answer for the user has no accountEnabled")
            return {"accountEnabled": user.body["accountEnabled"]}
        if a.kind == RevokeSessions.name:
            if not user.ok:
                return {"sessionsRevoked": None, "missing": "user"}
            if not user.body.get("signInSessionsValidFromDateTime"):
                return unverifiable("Graph's answer for the user has no signInSessionsValidFromDateTime")
            return _sessions_state(user.body, a.params["revokeAfter"])
        if a.kind == RemoveAppRoleAssignment.name:
            if not user.ok:
                return {"assigned": None, "missing": "user"}
            page = list_page(replies[f"assignments:{uid}"])
            if page is None or not all("resourceId" in x and "appRoleId" in x for x in page):
                return unverifiable("Graph's answer to the user's appRoleAssignments has no complete value list")
            return {"assigned": any(f"{x['resourceId']}:{x['appRoleId']}" == a.resource for x in page)}
        known = member_of.get(uid)
        if isinstance(known, str):
            return unverifiable(known)
        if not user.ok or known is None or a.resource not in self._containers_seen:
            # A 404 is not "removed": a wrong or deleted id must never read as done.
            return {"member": None, "missing": "group or role" if known is not None else "user"}
        return {"member": a.resource in known}

    # ---- restore -------------------------------------------------------------------------------------------
    def restore(self, action: Action) -> Receipt:
        a = action
        if a.kind == DisableAccount.name:
            if not a.before.get("accountEnabled"):
                return Receipt(detail={"note": "the account was disabled before the run; left disabled"})
            reply = self.graph.send("PATCH", f"/users/{a.resource}", {"accountEnabled": True})
        elif a.kind == RevokeSessions.name:
            return Receipt(detail={"note": RevokeSessions.restore_note})
        elif a.kind == RemoveGroupMembership.name:
            reply = self.graph.send("POST", f"/groups/{a.resource}/members/$ref",
                                    {"@odata.id": directory_object_url(self.settings, a.principal or "")})
        elif a.kind == RemoveDirectoryRole.name:
            reply = self.graph.send("POST", f"/directoryRoles/{a.resource}/members/$ref",
                                    {"@odata.id": directory_object_url(self.settings, a.principal or "")})
        elif a.kind == RemoveAppRoleAssignment.name:
            reply = self.graph.send("POST", f"/users/{a.principal}/appRoleAssignments",
                                    {"principalId": a.principal, "resourceId": a.params["resourceId"],
                                     "appRoleId": a.params["appRoleId"]})
        else:
            raise ActionFailed(f"entra cannot restore '{a.kind}'")
        if reply.ok or (reply.status == 400 and "already exist" in reply.error[1]):
            return Receipt(request_ids=(reply.request_id,), detail={"status": reply.status})
        raise reply.failure(f"restore {self.kind(a.kind).describe(a.label or a.resource)}",
                            self.kind(a.kind).permissions)

