"""How the `entra` connector reads its actions back: one read per user answers its account, its sessions and its
direct memberships (`$expand=memberOf`); a group or role is read once per run to prove it exists; app role
assignments are listed per user. Each kind judges its own state from these answers (entra_kinds)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence, cast

from revoke.actions import State, unverifiable
from revoke.connectors.microsoft.directory_objects import answers_for, read_all
from revoke.connectors.microsoft.entra_kinds import EntraKind, EntraReads
from revoke.connectors.microsoft.graph import Reply, list_page

if TYPE_CHECKING:
    from revoke.connectors.microsoft.entra import EntraConnector
    from revoke.plan import Action

# the identifiers too: the guardrails' look-up of the runbook's people is then answered by this read
READ_BACK_FIELDS = ("id,accountEnabled,signInSessionsValidFromDateTime,userPrincipalName,mail,proxyAddresses,"
                    "onPremisesSamAccountName,onPremisesDistinguishedName")
# Graph answers `$expand` on a directory object's relationships with at most 20 objects and no next page (known
# issues, "Some limitations apply to query parameters"): a list this long may be cut short.
EXPAND_CAP = 20


def _kind(c: EntraConnector, a: Action) -> type[EntraKind]:
    return cast(type[EntraKind], c.kind(a.kind))  # every kind of EntraConnector.kinds is one


def read_back(c: EntraConnector, actions: Sequence[Action]) -> dict[str, State]:
    paths: dict[str, str] = {}
    memberships = {a.principal for a in actions if _kind(c, a).expands_member_of}
    for uid in {a.principal or a.resource for a in actions}:
        # With $select, $expand costs what a plain GET does in Graph's identity limits (+1 and -1).
        paths[f"user:{uid}"] = (f"/users/{uid}?$select={READ_BACK_FIELDS}"
                                + ("&$expand=memberOf" if uid in memberships else ""))
    for a in actions:
        paths.update(_kind(c, a).reads(a, c.containers_seen))
    replies = read_all(c.graph, paths)
    for key, reply in replies.items():
        if key.startswith("container:") and reply.ok and answers_for(reply, key.split(":", 1)[1]):
            c.containers_seen.add(key.split(":", 1)[1])
        elif key.startswith("user:") and reply.ok and isinstance(reply.body, dict) and reply.body.get("id"):
            c.names.remember_user(reply.body)
    got = EntraReads(replies, c._memberships(actions, replies), c.containers_seen)
    return {a.id: _state(c, a, got) for a in actions}


def memberships(c: EntraConnector, actions: Sequence[Action], replies: dict[str, Reply]) -> dict[str, set[str] | str]:
    """Each member user's direct memberships, or why the answers do not prove them (a string)."""
    member_of: dict[str, set[str] | str] = {}
    whole: dict[str, str] = {}
    for uid in {a.principal or "" for a in actions if _kind(c, a).expands_member_of}:
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
    for key, reply in read_all(c.graph, whole).items():
        uid = key.split(":", 1)[1]
        if reply.ok:
            page = list_page(reply)
            member_of[uid] = {x["id"] for x in page} if page is not None else \
                "Graph's answer to the user's memberOf has no value list"
        else:  # the user went away between the two reads
            member_of.pop(uid, None)
    return member_of


def _state(c: EntraConnector, a: Action, got: EntraReads) -> State:
    uid = a.principal or a.resource
    user = got.replies[f"user:{uid}"]
    if user.ok and not answers_for(user, uid, ("id", "userPrincipalName")):
        return unverifiable(f"Graph answered the read of user {uid} with another object or none")
    return _kind(c, a).state(a, user, got)
