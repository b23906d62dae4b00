"""What the `okta` connector finds for each leaver and each listed group, read-only, and the steps it plans.

A leaver is looked up by `GET /api/v1/users/{id or login}`, which finds a deactivated user too (Okta's default
user list leaves DEPROVISIONED users out, so a search of it would call a deactivated leaver "not found"), or, for
an email address that is not a login, by `search=profile.email eq "..."` (searches see every status). Per leaver,
in the order they run: sessions and OAuth tokens ended, consent grants revoked, factors reset (opt-in), group
memberships removed, then the account suspended (or deactivated, when the runbook says `lifecycle: deactivate`).

Group memberships Okta will not let revoke simply remove are planned as `immutable`, with the reason: a group a
group rule fills (removing the user would add them to the rule's exclusions, a change to the rule, and the
suspension ends the membership's use anyway), an APP_GROUP (mastered by a directory or app: remove them there) and
the BUILT_IN Everyone group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence
from urllib.parse import quote

from revoke.connector import Discovery, ListTarget, Notice, Step, Subject
from revoke.connectors.okta.client import OktaClient, OktaRefused
from revoke.connectors.okta.kinds import (
    ClearSessions,
    DeactivateUser,
    EmptyGroup,
    RemoveFromGroup,
    ResetFactors,
    RevokeGrant,
    SuspendUser,
)

if TYPE_CHECKING:
    from revoke.connectors.okta.connector import OktaConnector

BLOCKED = ("SUSPENDED", "DEPROVISIONED")   # statuses in which a user cannot sign in


@dataclass
class Person:
    subject: Subject
    user: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.user["id"])

    @property
    def status(self) -> str:
        return str(self.user.get("status") or "")

    @property
    def aliases(self) -> tuple[str, ...]:
        return user_identifiers(self.user)


def user_identifiers(user: dict[str, Any]) -> tuple[str, ...]:
    profile = user.get("profile") or {}
    names = [user.get("id"), profile.get("login"), profile.get("email"), profile.get("secondEmail")]
    login = str(profile.get("login") or "")
    if "@" in login:
        names.append(login.split("@")[0])   # Okta accepts an unambiguous login shortname as the user's id
    return tuple(dict.fromkeys(str(n) for n in names if n))


def find_user(client: OktaClient, name: str) -> dict[str, Any] | None:
    """The user a name denotes (id, login, or email), read live; None when none does."""
    key = name.strip()
    if not key or '"' in key or "/" in key or any(c.isspace() for c in key):   # no login, id or email has these
        return None
    try:
        return dict(client.read(f"user {key}", f"/api/v1/users/{quote(key, safe='@')}"))
    except OktaRefused as err:
        if err.status != 404:
            raise
    if "@" not in key:
        return None
    found = client.pages(f"users with email {key}", "/api/v1/users", search=f'profile.email eq "{key}"')
    return found[0] if len(found) == 1 else None


def find_group(client: OktaClient, name: str) -> dict[str, Any] | None:
    """The group a list id denotes: a group id (00g...) or a group's exact name."""
    key = name.strip()
    if not key or "/" in key:
        return None
    if key.startswith("00g"):
        try:
            return dict(client.read(f"group {key}", f"/api/v1/groups/{key}"))
        except OktaRefused as err:
            if err.status != 404:
                raise
    hits = [g for g in client.pages(f"groups named {key}", "/api/v1/groups", q=key)
            if (g.get("profile") or {}).get("name") == key]
    return hits[0] if len(hits) == 1 else None


def rule_targets(client: OktaClient) -> dict[str, list[dict[str, Any]]]:
    """Group id -> the ACTIVE group rules that assign users to it."""
    out: dict[str, list[dict[str, Any]]] = {}
    for rule in client.pages("the group rules", "/api/v1/groups/rules"):
        if rule.get("status") != "ACTIVE":
            continue
        for gid in ((rule.get("actions") or {}).get("assignUserToGroups") or {}).get("groupIds") or []:
            out.setdefault(str(gid), []).append(rule)
    return out


def resolve(client: OktaClient, subjects: Sequence[Subject], found: Discovery) -> list[Person]:
    people = []
    for s in subjects:
        user = find_user(client, s.ident)
        if user is None:
            found.notices.append(Notice(f"'{s.ident}' is no Okta user (looked up as id, login and email): give the "
                                        "person's Okta login or user id", person=s.person))
            continue
        people.append(Person(s, user))
    return people


def plan_person(conn: "OktaConnector", p: Person, rules: dict[str, list[dict[str, Any]]],
                found: Discovery) -> None:
    client, settings = conn.client, conn.settings
    uid, who = p.id, p.subject.person
    base = {"user_id": uid, "login": (p.user.get("profile") or {}).get("login")}

    def step(kind: str, resource: str, before: dict[str, Any], needed: bool, **kw: Any) -> None:
        found.steps.append(Step(kind=kind, resource=resource, principal=uid, person=who, before=before,
                                needed=needed, aliases=p.aliases, params={**base, **kw.pop("params", {})}, **kw))

    if settings.clear_sessions:
        step(ClearSessions.name, uid, {"sessions_cleared": False}, True, label=base["login"],
             note="Okta lists no user's sessions: they are ended unconditionally (with the OAuth tokens, "
                  "oauthTokens=true), and the read-back can only show the refresh tokens left")
    if settings.revoke_grants:
        for g in client.pages(f"the grants of {base['login']}", f"/api/v1/users/{uid}/grants"):
            step(RevokeGrant.name, f"{uid}/grants/{g['id']}", {"granted": True, "client": g.get("clientId"),
                                                              "scope": g.get("scopeId")}, True,
                 params={"grant_id": g["id"]}, label=f"{g.get('scopeId')} to {g.get('clientId')}",
                 note=f"consent given to {g.get('clientId')}")
    if settings.reset_factors:
        factors = client.read(f"the factors of {base['login']}", f"/api/v1/users/{uid}/factors")
        types = sorted(str(f.get("factorType")) for f in factors if isinstance(f, dict))
        step(ResetFactors.name, uid, {"factors": len(types), "types": types}, bool(types), label=base["login"],
             note=f"enrolled: {', '.join(types) or 'none'}")
    for g in client.pages(f"the groups of {base['login']}", f"/api/v1/users/{uid}/groups"):
        _plan_membership(step, p, g, rules.get(str(g["id"]), []))
    _plan_lifecycle(step, conn, p, _super_admin_refusal(conn, p, found))


def _super_admin_refusal(conn: "OktaConnector", p: Person, found: Discovery) -> str:
    """Why Okta will refuse to suspend or deactivate this leaver, said at plan time: only a Super Administrator
    acts on a Super Administrator."""
    login = (p.user.get("profile") or {}).get("login")
    try:
        roles = {str(r.get("type")) for r in conn.client.read(f"the admin roles of {login}",
                                                             f"/api/v1/users/{p.id}/roles")}
    except OktaRefused as err:
        if err.status not in (401, 403):
            raise
        found.notices.append(Notice(f"{login}: their admin roles cannot be read ({err.code}; grant okta.roles.read): "
                                    "if they are a Super Administrator, only a Super Administrator can suspend "
                                    "them", person=p.subject.person, severity="warning"))
        return ""
    mine = conn.me.get("roles")
    if "SUPER_ADMIN" not in roles or (mine is not None and "SUPER_ADMIN" in mine):
        return ""
    if mine is None:   # a service app's own roles are not readable with its scopes: said, not decided
        found.notices.append(Notice(f"{login} is a Super Administrator: Okta lets only a Super Administrator "
                                    "suspend or deactivate one; check the service app holds that role",
                                    person=p.subject.person, severity="warning"))
        return ""
    return (f"{login} is a Super Administrator, and Okta lets only a Super Administrator suspend or deactivate one: "
            "revoke's credentials are not; take the role away first, or run with a Super Administrator's "
            "credentials")


def _plan_membership(step: Any, p: Person, g: dict[str, Any], rules: list[dict[str, Any]]) -> None:
    name = (g.get("profile") or {}).get("name") or g["id"]
    outcome, note = None, ""
    if g.get("type") == "BUILT_IN":
        outcome, note = "immutable", f"{name} is Okta's built-in group of every user: suspension ends its use"
    elif g.get("type") == "APP_GROUP":
        outcome, note = "immutable", (f"{name} is an APP_GROUP, mastered by the directory or app it is imported "
                                      "from: remove the membership there (for Active Directory, in the "
                                      "active-directory system)")
    else:
        given = [r for r in rules if p.id not in (((r.get("conditions") or {}).get("people") or {}).get("users")
                                                  or {}).get("exclude", [])]
        if given:
            names = ", ".join(str(r.get("name")) for r in given)
            outcome, note = "immutable", (f"given by the group rule {names}: removing it would add the user to the "
                                          "rule's exclusions (a change to the rule); the suspension ends its use")
    step(RemoveFromGroup.name, str(g["id"]), {"member": True}, outcome is None, outcome=outcome,
         note=note or f"{g.get('type', 'OKTA_GROUP')}", label=name, params={"group_id": g["id"], "group": name})


def _plan_lifecycle(step: Any, conn: "OktaConnector", p: Person, refusal: str) -> None:
    login = (p.user.get("profile") or {}).get("login")
    if conn.settings.lifecycle == "deactivate":
        needed = p.status != "DEPROVISIONED"
        step(DeactivateUser.name, p.id, {"status": p.status}, needed and not refusal, label=login,
             outcome="attention" if refusal and needed else None,
             note=refusal or "DESTRUCTIVE: Okta unassigns every app of the user and deprovisions their app "
                  "accounts; restore reactivates the user but cannot bring the app assignments back")
        return
    blocked = p.status in BLOCKED
    outcome, note = None, "suspended users keep their app and group assignments; restore unsuspends"
    if not blocked and p.status != "ACTIVE":
        outcome = "attention"
        note = (f"Okta suspends only ACTIVE users and {login} is {p.status}: unlock or activate them first, or set "
                "lifecycle: deactivate for this system (destructive)")
    elif p.status == "DEPROVISIONED":
        note = "already deactivated: cannot sign in"
    elif refusal and not blocked:
        outcome, note = "attention", refusal
    step(SuspendUser.name, p.id, {"status": p.status, "blocked": blocked}, not blocked and outcome is None,
         outcome=outcome, note=note, label=login)


def plan_list(conn: "OktaConnector", lst: ListTarget, rules: dict[str, list[dict[str, Any]]],
              found: Discovery) -> None:
    client = conn.client
    group = find_group(client, lst.ident)
    if group is None:
        user = find_user(client, lst.ident)
        what = f"an Okta user ({(user.get('profile') or {}).get('login')})" if user else "no Okta group"
        found.notices.append(Notice(f"'{lst.ident}' is {what}, not a group: name a group by its id (00g...) or its "
                                    "exact name", resource=lst.ident, severity="refused" if user else "error"))
        return
    gid, name = str(group["id"]), (group.get("profile") or {}).get("name") or group["id"]
    if lst.close not in ("default", "empty"):
        found.notices.append(Notice(f"{lst.ident}: close: {lst.close} is not supported for an Okta group (empty: "
                                    "every member removed; revoke never deletes a group)", resource=lst.ident))
        return
    if group.get("type") != "OKTA_GROUP" or gid in rules:
        why = (f"a group rule fills it ({', '.join(str(r.get('name')) for r in rules[gid])}): deactivate the rule"
               if gid in rules else f"it is an {group.get('type')} group, managed by its source")
        found.notices.append(Notice(f"{lst.ident}: cannot be emptied: {why}", resource=lst.ident))
        return
    members = client.pages(f"the members of {name}", f"/api/v1/groups/{gid}/users")
    ids = [str(m["id"]) for m in members]
    found.steps.append(Step(kind=EmptyGroup.name, resource=gid, before={"exists": True, "members": len(ids)},
                            needed=bool(ids), params={"group_id": gid, "group": name, "members": ids},
                            aliases=(lst.ident, name), label=name,
                            note=f"{len(ids)} members; their apps assigned through this group are unassigned"))
