"""What the `entra` connector plans for each leaver: the account's disable and session revocation (or, for a user
synced from on-premises AD, the disable routed to AD), the removal of each direct group and directory role
membership and app role assignment (or why Graph cannot remove it), and notices for the groups they own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from revoke.connector import Discovery, ListTarget, Notice, Step, Subject
from revoke.connectors.microsoft.directory_objects import found_users, user_key
from revoke.connectors.microsoft.entra_delete import delete_step
from revoke.connectors.microsoft.entra_kinds import (
    ACCESS_TOKEN_MINUTES,
    DisableAccount,
    RemoveAppRoleAssignment,
    RemoveDirectoryRole,
    RemoveGroupMembership,
    RevokeSessions,
    sessions_state,
)
from revoke.connectors.microsoft.graph import exchange_route, membership_blocker, seg

if TYPE_CHECKING:
    from revoke.connectors.microsoft.entra import EntraConnector

USER_FIELDS = ("id,userPrincipalName,mail,proxyAddresses,displayName,accountEnabled,userType,onPremisesSyncEnabled,"
               "onPremisesSamAccountName,onPremisesDistinguishedName,onPremisesDomainName,"
               "signInSessionsValidFromDateTime")
RELATED = ("memberOf", "appRoleAssignments", "ownedObjects")  # each leaver's, read in one batch


def discover(c: EntraConnector, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
    out = Discovery()
    for lst in lists:
        out.notices.append(Notice(f"entra closes no lists ('{lst.ident}'): name an m365-groups system for "
                                  "groups, teams and mail lists", resource=lst.ident))
    users = c.graph.batch_get({user_key(s): f"/users/{seg(s.ident)}?$select={USER_FIELDS}" for s in subjects})
    found = found_users(c, subjects, users, out)
    related = c.graph.batch_get({f"{uid}/{rel}": f"/users/{uid}/{rel}?$top=999" for uid in found for rel in RELATED})
    for key, reply in related.items():
        if not reply.ok:
            raise c.graph.read_failure(reply, key)
    apps = _app_roles(c, {a["resourceId"] for uid in found for a in related[f"{uid}/appRoleAssignments"].body["value"]})
    for uid, (s, user) in found.items():
        out.steps.extend(_account_steps(c, s, user))
        for obj in related[f"{uid}/memberOf"].body["value"]:
            out.steps.extend(_membership_steps(s, user, obj))
        for a in related[f"{uid}/appRoleAssignments"].body["value"]:
            out.steps.append(_app_role_step(s, user, a, apps))
        for obj in related[f"{uid}/ownedObjects"].body["value"]:
            if obj.get("@odata.type") == "#microsoft.graph.group":
                out.notices.append(Notice(
                    f"{user['userPrincipalName']} owns group '{obj.get('displayName')}' ({obj['id']}): ownership is "
                    "not removed; give the group another owner", person=s.person, resource=obj["id"],
                    severity="warning"))
    return out


def _app_roles(c: EntraConnector, resources: set[str]) -> dict[tuple[str, str], str]:
    """(service principal id, app role id) -> the role's name, for plan lines a reviewer can read."""
    replies = c.graph.batch_get({r: f"/servicePrincipals/{r}?$select=id,displayName,appRoles" for r in resources})
    names = {}
    for sp, reply in replies.items():
        for role in (reply.body or {}).get("appRoles", []) if reply.ok else []:
            names[(sp, role["id"])] = role.get("value") or role.get("displayName") or role["id"]
        names[(sp, "00000000-0000-0000-0000-000000000000")] = "default access"
    return names


def _app_role_step(s: Subject, user: dict[str, Any], a: dict[str, Any], apps: dict[tuple[str, str], str]) -> Step:
    uid, upn = user["id"], user["userPrincipalName"]
    return Step(kind=RemoveAppRoleAssignment.name, resource=f"{a['resourceId']}:{a['appRoleId']}",
                principal=uid, person=s.person, before={"assigned": True}, needed=True, aliases=(upn,),
                label=f"{a.get('resourceDisplayName') or a['resourceId']}: "
                      f"{apps.get((a['resourceId'], a['appRoleId']), a['appRoleId'])}",
                params={"assignmentId": a["id"], "resourceId": a["resourceId"], "appRoleId": a["appRoleId"],
                        "userPrincipalName": upn})


def _account_steps(c: EntraConnector, s: Subject, user: dict[str, Any]) -> list[Step]:
    uid, upn = user["id"], user["userPrincipalName"]
    enabled = bool(user.get("accountEnabled"))
    disable = Step(kind=DisableAccount.name, resource=uid, person=s.person, before={"accountEnabled": enabled},
                   needed=enabled, aliases=(upn,), label=upn)
    if enabled and user.get("onPremisesSyncEnabled"):
        disable = _routed_disable(s, user)
    deleting = [delete_step(s, user)] if c.settings.delete_account else []
    if not enabled:
        # A disabled account can redeem no refresh token and get no new one: nothing left to revoke.
        return [disable, *deleting]
    note = (f"access tokens issued before the revocation stay valid until they expire (up to about "
            f"{ACCESS_TOKEN_MINUTES} minutes); revocation may take a few minutes to apply")
    if user.get("userType") == "Guest":
        note += "; a guest signs in at their home tenant, whose sessions this does not end"
    # "Revoked" means: sessions valid only from a time after this plan was made. Keyed to the plan's time (in
    # params), so the same plan re-applied later recognises its own revocation.
    revoke_after = c.context.started_at.isoformat()
    params = {"accessTokenMinutes": ACCESS_TOKEN_MINUTES, "revokeAfter": revoke_after}
    revoke = Step(kind=RevokeSessions.name, resource=uid, person=s.person,
                  before=sessions_state(user, revoke_after), needed=True, aliases=(upn,), label=upn,
                  note=note, params=params)
    return [disable, revoke, *deleting]


def _routed_disable(s: Subject, user: dict[str, Any]) -> Step:
    """Graph refuses accountEnabled on synced users: the account is disabled in AD and syncs up."""
    uid, upn = user["id"], user["userPrincipalName"]
    return Step(
        kind=DisableAccount.name, resource=uid, person=s.person, before={"accountEnabled": True},
        needed=True, aliases=(upn,), label=upn, outcome="attention",
        note=(f"disable in Active Directory: {upn} is synced from on-premises AD "
              f"(sAMAccountName {user.get('onPremisesSamAccountName')}, "
              f"DN {user.get('onPremisesDistinguishedName') or 'unknown'}); Graph cannot disable it"),
        params={"route": "active-directory", "onPremisesSamAccountName": user.get("onPremisesSamAccountName"),
                "onPremisesDistinguishedName": user.get("onPremisesDistinguishedName"),
                "onPremisesDomainName": user.get("onPremisesDomainName"), "userPrincipalName": upn})


def _membership_steps(s: Subject, user: dict[str, Any], obj: dict[str, Any]) -> list[Step]:
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
