"""The runbook's `lists:` for the `google-workspace` connector, and what a name denotes (`identify`).

A list id is a Google Group (its email, an alias or its id), closed with `close: archive` (the default: Groups
Settings' archive-only mode, nobody can post, the history stays; restorable) or `close: delete` (not restorable;
the plan says so), or a Chat space (`spaces/...`), from which the leavers are removed with the Chat API's
administrator access. A name that is a user, not a group, is refused (`Notice(severity="refused")`, a located
runbook error), so an account can never be "closed" by mistake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from revoke.connector import Discovery, Entity, ListTarget, Notice, Step
from revoke.connectors.google.client import GoogleRefused
from revoke.connectors.google.discovery import Person, group_names, user_names
from revoke.connectors.google.kinds import ArchiveGroup, DeleteGroup, RemoveFromChatSpace
from revoke.errors import ActionFailed

if TYPE_CHECKING:
    from revoke.connectors.google.connector import GoogleWorkspaceConnector

CREDENTIAL = ("/asps/", "/tokens/", "/devices/")


def _missing(answer: Any) -> bool:
    return isinstance(answer, GoogleRefused) and answer.status == 404


def _raise(answer: Any) -> Any:
    if isinstance(answer, ActionFailed):
        raise answer
    return answer


def identify(conn: "GoogleWorkspaceConnector", names: Sequence[str]) -> dict[str, Entity | None]:
    """Users first, then groups for the names no user answered, then Chat spaces: each in one batch request."""
    g = conn.google
    d = g.directory
    out: dict[str, Entity | None] = {}
    plain = []
    for n in dict.fromkeys(names):
        key = n.strip()
        if any(c in key for c in CREDENTIAL) and key.split("/", 1)[0].isdigit():
            out[n] = Entity(frozenset({n}), "credential", n)   # the connector's own address of an ASP or a grant
        elif key.startswith("spaces/"):
            out[n] = space_entity(conn, key)
        elif not key or "/" in key or " " in key:
            out[n] = None
        else:
            plain.append(n)
    users = g.read_batch([(n, f"user {n}", d.users().get(userKey=n.strip())) for n in plain])
    rest = [n for n in plain if _missing(users[n])]
    groups = g.read_batch([(n, f"group {n}", d.groups().get(groupKey=n.strip())) for n in rest])
    for n in plain:
        if n in rest:
            answer = groups[n]
            out[n] = None if _missing(answer) else Entity(frozenset(group_names(_raise(answer))), "group",
                                                          str(_raise(answer).get("email")))
        else:
            user = _raise(users[n])
            out[n] = Entity(frozenset(user_names(user)), "account", str(user.get("primaryEmail")))
    return out


def space_entity(conn: "GoogleWorkspaceConnector", name: str) -> Entity | None:
    g = conn.google
    try:
        space = g.read(f"Chat space {name}", lambda: g.chat.spaces().get(name=name, useAdminAccess=True))
    except GoogleRefused as err:
        if err.status in (403, 404):
            return None
        raise
    return Entity(frozenset({str(space["name"])}), "group", str(space.get("displayName") or space["name"]))


def plan_lists(conn: "GoogleWorkspaceConnector", lists: Sequence[ListTarget], people: list[Person],
               found: Discovery) -> None:
    for lst in lists:
        if lst.ident.strip().startswith("spaces/"):
            _plan_space(conn, lst, people, found)
        else:
            _plan_group(conn, lst, found)


def _plan_group(conn: "GoogleWorkspaceConnector", lst: ListTarget, found: Discovery) -> None:
    entity = conn.identify([lst.ident]).get(lst.ident)
    if entity is None or entity.type != "group":
        what = f"a user account ({entity.display})" if entity and entity.type == "account" else "no Google Group"
        found.notices.append(Notice(f"'{lst.ident}' is {what}, not a list: name a Google Group (its email or id) or "
                                    "a Chat space (spaces/...)", resource=lst.ident,
                                    severity="refused" if entity is not None else "error"))
        return
    g = conn.google
    group = g.read(f"group {lst.ident}", lambda: g.directory.groups().get(groupKey=lst.ident.strip()))
    gid, email = str(group["id"]), str(group["email"])
    aliases = tuple(sorted(group_names(group) | {lst.ident}))
    # the list as the runbook names it: once deleted, the group answers to nothing, and the action must still trace
    # to that `lists:` entry (the group's id is in the params, and every write and read uses it)
    resource = lst.ident.strip()
    if lst.close in ("default", "archive"):
        settings = g.read(f"the settings of {email}", lambda: g.groups_settings.groups().get(
            groupUniqueId=email))
        archived = str(settings.get("archiveOnly", "")).lower() == "true"
        found.steps.append(Step(kind=ArchiveGroup.name, resource=resource, needed=not archived,
                                before={"exists": True, "archive_only": archived},
                                params={"email": email, "group_id": gid,
                                        "who_can_post": settings.get("whoCanPostMessage")},
                                aliases=aliases, label=email,
                                note=f"{group.get('directMembersCount', '?')} members; archive-only: nobody can "
                                "post, the history stays readable; restorable"))
    elif lst.close == "delete":
        found.steps.append(Step(kind=DeleteGroup.name, resource=resource, needed=True, before={"exists": True},
                                params={"email": email, "group_id": gid, "members": group.get("directMembersCount")},
                                aliases=aliases, label=email,
                                note="NOT RESTORABLE: a deleted group's messages and memberships are gone for good "
                                "(close: archive keeps them)"))
    else:
        found.notices.append(Notice(f"{lst.ident}: close: {lst.close} is not supported for a Google Group "
                                    "(archive or delete)", resource=lst.ident))


def _plan_space(conn: "GoogleWorkspaceConnector", lst: ListTarget, people: list[Person], found: Discovery) -> None:
    name = lst.ident.strip()
    if not conn.settings.chat:
        found.notices.append(Notice(f"{name}: the leavers' membership of this Chat space stays (chat: false in the "
                                    "settings): residual exposure, remove them by hand", resource=name,
                                    severity="warning"))
        return
    if lst.close not in ("default", "remove-leavers"):
        found.notices.append(Notice(f"{name}: close: {lst.close} is not supported for a Chat space (the leavers "
                                    "are removed from it)", resource=name))
        return
    entity = space_entity(conn, name)
    if entity is None:
        found.notices.append(Notice(f"{name}: no such Chat space, or the admin cannot see it with administrator "
                                    "access", resource=name))
        return
    g = conn.google
    members = g.pages(f"the members of {name}", lambda t: g.chat.spaces().members().list(
        parent=name, useAdminAccess=True, pageSize=min(conn.settings.page_size, 1000), pageToken=t,
        filter='member.type = "HUMAN"'), "memberships")
    by_user = {str((m.get("member") or {}).get("name", "")).removeprefix("users/"): m for m in members}
    for p in people:
        m = by_user.get(p.uid)
        if m is None:
            continue
        found.steps.append(Step(kind=RemoveFromChatSpace.name, resource=name, principal=p.uid, needed=True,
                                person=p.subject.person, before={"member": True, "role": m.get("role")},
                                params={"membership": m["name"], "role": m.get("role") or "ROLE_MEMBER",
                                        "user_id": p.uid, "email": p.email},
                                aliases=p.aliases, label=f"{entity.display} ({name})",
                                note=("a space manager" if m.get("role") == "ROLE_MANAGER" else "a member")))
