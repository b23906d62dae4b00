"""What the `google-workspace` connector finds for each leaver, read-only, and the steps it plans from it.

Every read goes out in Directory API batch requests across all leavers: the accounts (`users.get`), their backup
verification codes, app passwords (ASPs) and OAuth grants (tokens), the groups they are in (`groups.list(userKey)`,
paged) and their role in each (`members.get`). Accounts are then addressed by their immutable id, so a renamed
leaver is the same account.

The steps come out kind by kind (all backup codes, then all app passwords, ... then all suspensions), so the
engine's batches each hold one kind for many people and go out as one batch request; the order per person that
Google requires (nothing can be changed on the codes of a suspended account) is kept by the apply side, which
does a person's earlier steps first when it meets their suspension (see `connectors/google/writes.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from revoke.connector import Discovery, Notice, Step, Subject
from revoke.connectors.google.client import Google, GoogleRefused, pages_many
from revoke.connectors.google.kinds import (
    PERSON_ORDER,
    DeleteAppPassword,
    DeleteOAuthToken,
    InvalidateBackupCodes,
    RemoveFromGroup,
    SignOut,
    SuspendUser,
    WipeMobileAccount,
)
from revoke.errors import ActionFailed

if TYPE_CHECKING:
    from revoke.connectors.google.settings import GoogleSettings

ORDER = {k.name: i for i, k in enumerate((*PERSON_ORDER, RemoveFromGroup))}
# what the Directory reports for a device once an account wipe is ordered or done (the API documents no list of
# statuses; these are the words the Admin console shows): anything else is not taken as wiped
ACCOUNT_WIPED = {"ACCOUNT_WIPING", "ACCOUNT_WIPED", "WIPING", "WIPED"}


def user_names(user: dict[str, Any]) -> set[str]:
    """Every identifier of a Directory user: primary email, immutable id, aliases, other addresses."""
    names = {str(user.get("id") or ""), str(user.get("primaryEmail") or "")}
    names |= {str(a) for a in (user.get("aliases") or []) + (user.get("nonEditableAliases") or [])}
    names |= {str(e.get("address")) for e in user.get("emails") or [] if isinstance(e, dict) and e.get("address")}
    return {n for n in names if n}


def group_names(group: dict[str, Any]) -> set[str]:
    names = {str(group.get("id") or ""), str(group.get("email") or "")}
    names |= {str(a) for a in (group.get("aliases") or []) + (group.get("nonEditableAliases") or [])}
    return {n for n in names if n}


@dataclass
class Person:
    subject: Subject
    user: dict[str, Any]

    @property
    def uid(self) -> str:
        return str(self.user["id"])

    @property
    def email(self) -> str:
        return str(self.user.get("primaryEmail") or self.uid)

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(sorted(user_names(self.user)))


def _ok(answer: Any) -> Any:
    if isinstance(answer, ActionFailed):
        raise answer
    return answer


def _missing(answer: Any) -> bool:
    return isinstance(answer, GoogleRefused) and answer.status == 404


def resolve(g: Google, subjects: Sequence[Subject], found: Discovery) -> list[Person]:
    d = g.directory
    answers = g.read_batch([(s.person, f"user {s.ident}", d.users().get(userKey=s.ident.strip()))
                            for s in subjects])
    people = []
    for s in subjects:
        answer = answers[s.person]
        if _missing(answer):
            found.notices.append(Notice(f"'{s.ident}' is no user of this Google Workspace (not a primary email, "
                                        "alias or user id the Directory knows)", person=s.person))
            continue
        people.append(Person(s, _ok(answer)))
    return people


def discover_people(g: Google, settings: "GoogleSettings", people: list[Person], found: Discovery) -> None:
    d, size = g.directory, settings.page_size
    reads = []
    for p in people:
        reads += [(f"codes:{p.uid}", f"the backup codes of {p.email}", d.verificationCodes().list(userKey=p.uid)),
                  (f"asps:{p.uid}", f"the app passwords of {p.email}", d.asps().list(userKey=p.uid)),
                  (f"tokens:{p.uid}", f"the OAuth grants of {p.email}", d.tokens().list(userKey=p.uid))]
    answers = g.read_batch(reads)
    groups = pages_many(g, {p.uid: (f"the groups of {p.email}", lambda t, uid=p.uid: d.groups().list(  # type: ignore[misc]
        userKey=uid, maxResults=size, pageToken=t)) for p in people}, "groups")
    roles_wanted = [(f"{gr['id']}|{p.uid}", f"{p.email}'s role in {gr.get('email')}",
                     d.members().get(groupKey=gr["id"], memberKey=p.uid))
                    for p in people for gr in _ok(groups[p.uid])]
    roles = g.read_batch(roles_wanted)
    devices: dict[str, Any] = {}
    if settings.wipe_mobile_devices:
        devices = pages_many(g, {p.uid: (f"the mobile devices of {p.email}", lambda t, e=p.email: d.mobiledevices(  # type: ignore[misc]
        ).list(customerId=settings.customer, query=f"email:{e}", maxResults=min(size, 100), pageToken=t))
            for p in people}, "mobiledevices")
    steps: list[Step] = []
    for p in people:
        lists = {k: _ok(answers[f"{k}:{p.uid}"]) for k in ("codes", "asps", "tokens")}
        lists["devices"] = _ok(devices[p.uid]) if p.uid in devices else []
        steps += plan_person(settings, p, lists, _ok(groups[p.uid]), roles)
    steps.sort(key=lambda s: ORDER.get(s.kind, len(ORDER)))   # kind by kind; stable within a kind
    found.steps.extend(steps)


def plan_person(settings: "GoogleSettings", p: Person, lists: dict[str, Any], groups: list[dict[str, Any]],
                roles: dict[str, Any]) -> list[Step]:
    """A leaver's steps: their credentials revoked and sessions ended first (`first`, the suspend's
    prerequisites), then the suspend, then each group membership removed."""
    uid, email, user = p.uid, p.email, p.user
    suspended = bool(user.get("suspended"))
    base = {"user_id": uid, "email": email}
    who: dict[str, Any] = {"principal": uid, "person": p.subject.person, "aliases": p.aliases}
    steps, first = _credential_steps(settings, p, lists, base, who)
    steps.append(Step(kind=SignOut.name, resource=uid, before={"signed_out": False}, needed=not suspended,
                      params=base, label=email, **who,
                      note=("suspended before this run: not signed out again" if suspended else
                            "ends web and device sessions; Google gives nothing to read back, so its time is "
                            "recorded and access tokens already issued live until they expire (about an hour)")))
    if not suspended:
        first.append({"kind": SignOut.name, "resource": uid})
    admin = bool(user.get("isAdmin"))
    held = admin and not settings.allow_super_admins
    steps.append(Step(kind=SuspendUser.name, resource=uid, before={"suspended": suspended}, needed=not suspended
                      and not held, params={**base, "first": first}, label=email, **who,
                      outcome="attention" if held and not suspended else None,
                      note=(f"{email} is a super administrator: revoke never suspends one unless the settings say "
                            "allow_super_admins: true; take the role away or suspend by hand" if held else
                            "the engagement's reason is in this evidence (Google's suspensionReason is set by Google "
                            "itself: ADMIN)")))
    return steps + _group_steps(p, groups, roles, base)


def _credential_steps(settings: "GoogleSettings", p: Person, lists: dict[str, Any], base: dict[str, Any],
                      who: dict[str, Any]) -> tuple[list[Step], list[dict[str, str]]]:
    """The backup codes, app passwords, OAuth grants and mobile devices of a leaver, and those of them to be
    done before the suspend (Google changes none of them on a suspended account)."""
    uid, email = p.uid, p.email
    suspended = bool(p.user.get("suspended"))
    steps: list[Step] = []
    codes = [c for c in (lists["codes"] or {}).get("items") or [] if c.get("verificationCode")]
    steps.append(Step(kind=InvalidateBackupCodes.name, resource=uid, before={"codes": len(codes)},
                      needed=bool(codes) and not suspended, params=base, label=email, **who,
                      outcome="attention" if codes and suspended else None,
                      note=("Google does not change the backup codes of a suspended account: unsuspend it, plan "
                            "and apply again" if codes and suspended else f"{len(codes)} unused backup codes")))
    first = [{"kind": InvalidateBackupCodes.name, "resource": uid}] if codes and not suspended else []
    for asp in (lists["asps"] or {}).get("items") or []:
        resource = f"{uid}/asps/{asp['codeId']}"
        steps.append(Step(kind=DeleteAppPassword.name, resource=resource, needed=True,
                          before={"exists": True, "name": asp.get("name")},
                          params={**base, "code_id": int(asp["codeId"])},
                          label=f"'{asp.get('name')}' of {email}", **who,
                          note="an app password signs in to IMAP, POP, CalDAV... without 2-step verification"))
        first.append({"kind": DeleteAppPassword.name, "resource": resource})
    for token in (lists["tokens"] or {}).get("items") or []:
        resource = f"{uid}/tokens/{token['clientId']}"
        scopes = list(token.get("scopes") or [])
        steps.append(Step(kind=DeleteOAuthToken.name, resource=resource, needed=True,
                          before={"exists": True, "app": token.get("displayText")},
                          params={**base, "client_id": token["clientId"]},
                          label=f"'{token.get('displayText') or token['clientId']}' of {email}", **who,
                          note=f"{len(scopes)} scope{'s' if len(scopes) != 1 else ''}" +
                          (", an installed app" if token.get("nativeApp") else "")))
        first.append({"kind": DeleteOAuthToken.name, "resource": resource})
    for device in lists["devices"]:
        resource, status = f"{uid}/devices/{device['resourceId']}", str(device.get("status") or "")
        wiped = status in ACCOUNT_WIPED
        steps.append(Step(kind=WipeMobileAccount.name, resource=resource, needed=not wiped,
                          before={"account_wiped": wiped, "status": status},
                          params={**base, "resource_id": device["resourceId"], "customer": settings.customer},
                          label=f"{device.get('model') or device.get('type') or 'device'} of {email}", **who,
                          note=f"{device.get('type', 'mobile')} device, status {status or 'unknown'}; the wipe is "
                          "carried out when the device next syncs"))
        if not wiped:
            first.append({"kind": WipeMobileAccount.name, "resource": resource})
    return steps, first


def _group_steps(p: Person, groups: list[dict[str, Any]], roles: dict[str, Any], base: dict[str, Any]) -> list[Step]:
    uid = p.uid
    steps: list[Step] = []
    for gr in groups:
        role = roles.get(f"{gr['id']}|{uid}")
        if _missing(role):
            continue   # listed a moment ago and gone now, or an indirect membership: nothing to remove
        role = _ok(role)
        steps.append(Step(kind=RemoveFromGroup.name, resource=str(gr["id"]), needed=True,
                          before={"member": True, "role": role.get("role", "MEMBER")},
                          params={**base, "group": gr.get("email"), "role": role.get("role", "MEMBER"),
                                  "delivery": role.get("delivery_settings")},
                          label=str(gr.get("email") or gr["id"]), principal=uid, person=p.subject.person,
                          aliases=p.aliases + tuple(sorted(group_names(gr))),
                          note=f"{role.get('role', 'MEMBER').lower()} of {gr.get('name') or gr.get('email')}"))
    return steps
