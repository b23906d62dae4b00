"""Reading the `google-workspace` connector's targets back, failing closed, in batch requests.

What proves a state: the user answers (`users.get` by the immutable id the plan recorded) and says `suspended`;
a listing of the user's app passwords, OAuth grants or backup codes answers (so the user exists) and holds the item
or not; the group answers and `members.get` answers 404 (not a member) or the role. A 404 alone is never "gone":
the user or group must answer first. `users.signOut` leaves nothing to read: its state is `unverifiable` with
that reason (the kind is declared unverifiable, so the record says so without calling a person). A throttled read
is raised for the engine to wait out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from revoke.actions import State, unverifiable
from revoke.connectors.google.client import Google, GoogleRefused
from revoke.connectors.google.discovery import ACCOUNT_WIPED
from revoke.connectors.google.kinds import (
    ArchiveGroup,
    DeleteAppPassword,
    DeleteGroup,
    DeleteOAuthToken,
    InvalidateBackupCodes,
    RemoveFromChatSpace,
    RemoveFromGroup,
    SignOut,
    SuspendUser,
    WipeMobileAccount,
)
from revoke.errors import ActionFailed

if TYPE_CHECKING:
    from googleapiclient.http import HttpRequest

    from revoke.plan import Action

SIGN_OUT = ("Google's users.signOut leaves nothing to read back (no session listing in the Directory API): the "
            "sign-out's time is recorded; access tokens issued before it stay valid until they expire")


def _uid(a: "Action") -> str:
    return str(a.params.get("user_id") or (a.principal or a.resource).split("/", 1)[0])


def reads_for(g: Google, a: "Action") -> list[tuple[str, str, "HttpRequest"]]:
    """The reads one action's state needs, keyed so that actions sharing one (a user's listing) share it."""
    d, uid = g.directory, _uid(a)
    if a.kind == SuspendUser.name:
        return [(f"user:{uid}", f"user {uid}", d.users().get(userKey=uid))]
    if a.kind == InvalidateBackupCodes.name:   # the listing answers only for a user that exists
        return [(f"codes:{uid}", f"the backup codes of {uid}", d.verificationCodes().list(userKey=uid))]
    if a.kind == WipeMobileAccount.name:
        rid = a.resource.rsplit("/", 1)[1]
        return [(f"device:{rid}", f"device {rid}", d.mobiledevices().get(customerId=g.settings.customer,
                                                                         resourceId=rid))]
    if a.kind == DeleteAppPassword.name:
        return [(f"asps:{uid}", f"the app passwords of {uid}", d.asps().list(userKey=uid))]
    if a.kind == DeleteOAuthToken.name:
        return [(f"tokens:{uid}", f"the OAuth grants of {uid}", d.tokens().list(userKey=uid))]
    if a.kind == RemoveFromGroup.name:
        member = (f"member:{a.resource}|{uid}", f"{uid} in {a.resource}",
                  d.members().get(groupKey=a.resource, memberKey=uid))
        if a.resource in g.groups_seen:
            return [member]   # this run saw the group answer under this id: a 404 below is about the membership
        return [(f"group:{a.resource}", f"group {a.resource}", d.groups().get(groupKey=a.resource)), member]
    if a.kind == DeleteGroup.name:
        gid = a.params["group_id"]
        return [(f"group:{gid}", f"group {a.params.get('email')}", d.groups().get(groupKey=gid))]
    return []


def read_states(g: Google, actions: Sequence["Action"]) -> dict[str, State]:
    wanted: dict[str, tuple[str, str, Any]] = {}
    for a in actions:
        for key, what, req in reads_for(g, a):
            wanted.setdefault(key, (key, what, req))
    answers = g.read_batch(list(wanted.values()))
    g.groups_seen.update(k.removeprefix("group:") for k, v in answers.items()
                         if k.startswith("group:") and not isinstance(v, ActionFailed))
    throttled = next((v for v in answers.values() if isinstance(v, ActionFailed) and v.retryable), None)
    if throttled is not None:
        raise throttled   # the engine waits and reads again
    out: dict[str, State] = {}
    for a in actions:
        try:
            out[a.id] = state_of(g, a, answers)
        except GoogleRefused as err:
            out[a.id] = unverifiable(str(err))
    return out


def _answer(answers: dict[str, Any], key: str) -> Any:
    value = answers[key]
    if isinstance(value, ActionFailed):
        raise value
    return value


def _listing(body: Any, kind: str) -> list[dict[str, Any]] | None:
    """A Directory API list's items (Google leaves `items` out of an empty list), or None when the answer is not
    that list at all (an empty 200, another kind): then "no items" would prove nothing."""
    if not isinstance(body, dict) or body.get("kind") != kind:
        return None
    items = body.get("items", [])
    return items if isinstance(items, list) and all(isinstance(x, dict) for x in items) else None


def _absent(answers: dict[str, Any], key: str) -> bool:
    value = answers.get(key)
    return isinstance(value, GoogleRefused) and value.status == 404


def _suspended(g: Google, a: "Action", answers: dict[str, Any], uid: str) -> State:
    user = _answer(answers, f"user:{uid}")
    if str(user.get("id")) != uid:
        return unverifiable(f"Google answered user {uid} with another account ({user.get('id')})")
    if "suspended" not in user:
        return unverifiable(f"user {uid} was answered without its `suspended` field")
    return {"suspended": bool(user["suspended"])}


def _codes(g: Google, a: "Action", answers: dict[str, Any], uid: str) -> State:
    codes = _listing(_answer(answers, f"codes:{uid}"), "admin#directory#verificationCodesList")
    if codes is None:
        return unverifiable(f"the backup codes of {uid} were answered without their list kind")
    return {"codes": len([c for c in codes if c.get("verificationCode")])}


def _wiped(g: Google, a: "Action", answers: dict[str, Any], uid: str) -> State:
    device = _answer(answers, f"device:{a.resource.rsplit('/', 1)[1]}")
    status = str(device.get("status") or "")
    if not status:
        return unverifiable("the device was answered without its status")
    return {"account_wiped": status in ACCOUNT_WIPED, "status": status}


def _credential(g: Google, a: "Action", answers: dict[str, Any], uid: str) -> State:
    asp = a.kind == DeleteAppPassword.name
    listing = _listing(_answer(answers, f"{'asps' if asp else 'tokens'}:{uid}"),
                       "admin#directory#asps" if asp else "admin#directory#tokenList")
    if listing is None:
        return unverifiable(f"the {'app passwords' if asp else 'OAuth tokens'} of {uid} were answered without "
                            "their list kind")
    item, key = a.resource.rsplit("/", 1)[1], "codeId" if asp else "clientId"
    if any(x.get(key) in (None, "") for x in listing):
        # an entry without its id could be this one: its absence from the listing proves nothing
        return unverifiable(f"the {'app passwords' if asp else 'OAuth tokens'} of {uid} were listed without "
                            f"their {key}")
    for x in listing:
        if str(x.get(key)) == item:
            return {"exists": True, **({"name": x.get("name")} if asp else {"app": x.get("displayText")})}
    return {"exists": False, **({"name": a.before.get("name")} if asp else {"app": a.before.get("app")})}


def _membership(g: Google, a: "Action", answers: dict[str, Any], uid: str) -> State:
    group_key, member_key = f"group:{a.resource}", f"member:{a.resource}|{uid}"
    if _absent(answers, group_key):
        # the id came from Google's own listing and group ids are never reused: the group was deleted (a listed
        # group closed with delete, say), and nobody is a member of it any more
        return {"member": False, "role": None, "group": "deleted"}
    if group_key in answers:
        _answer(answers, group_key)   # the group answers: a 404 below is about the membership
    # (not asked: the group answered under this id earlier in this run)
    if _absent(answers, member_key):
        return {"member": False, "role": None}
    member = _answer(answers, f"member:{a.resource}|{uid}")
    if str(member.get("id")) != uid:
        return unverifiable(f"Google answered the membership of {uid} with another member")
    return {"member": True, "role": member.get("role")}


def _group(g: Google, a: "Action", answers: dict[str, Any], uid: str) -> State:
    gid = a.params["group_id"]
    if _absent(answers, f"group:{gid}"):
        return {"exists": False}   # connect() proved these credentials read groups of this customer
    group = _answer(answers, f"group:{gid}")
    if str(group.get("id")) != gid:
        return unverifiable(f"Google answered group {gid} with another group ({group.get('id')})")
    return {"exists": True}


_READERS = {
    SignOut.name: lambda g, a, answers, uid: unverifiable(SIGN_OUT),
    SuspendUser.name: _suspended,
    InvalidateBackupCodes.name: _codes,
    WipeMobileAccount.name: _wiped,
    DeleteAppPassword.name: _credential,
    DeleteOAuthToken.name: _credential,
    RemoveFromGroup.name: _membership,
    DeleteGroup.name: _group,
    ArchiveGroup.name: lambda g, a, answers, uid: _archive_state(g, a),
    RemoveFromChatSpace.name: lambda g, a, answers, uid: _chat_state(g, a),
}


def state_of(g: Google, a: "Action", answers: dict[str, Any]) -> State:
    """An action's target as Google's answers show it; what they do not prove is unverifiable, with why."""
    reader = _READERS.get(a.kind)
    if reader is None:
        return unverifiable(f"google-workspace cannot read back '{a.kind}'")
    return reader(g, a, answers, _uid(a))


def _archive_state(g: Google, a: "Action") -> State:
    email = a.params["email"]
    try:
        settings = g.read(f"the settings of {email}", lambda: g.groups_settings.groups().get(groupUniqueId=email))
    except GoogleRefused as err:
        if err.status == 404:
            return unverifiable(f"{email}: the group answers 404 (deleted, or renamed since the plan)")
        raise
    if "archiveOnly" not in settings:
        return unverifiable(f"{email}: the Groups Settings answer has no archiveOnly")
    return {"exists": True, "archive_only": str(settings["archiveOnly"]).lower() == "true"}


def _chat_state(g: Google, a: "Action") -> State:
    space, uid = a.resource, _uid(a)
    try:
        g.read(f"Chat space {space}", lambda: g.chat.spaces().get(name=space, useAdminAccess=True))
    except GoogleRefused as err:
        return unverifiable(f"{space}: {err}")
    try:
        m = g.read(f"{uid} in {space}", lambda: g.chat.spaces().members().get(
            name=a.params["membership"], useAdminAccess=True))
    except GoogleRefused as err:
        if err.status == 404:
            return {"member": False, "role": None}   # the space answered just before
        raise
    return {"member": True, "role": m.get("role")}
