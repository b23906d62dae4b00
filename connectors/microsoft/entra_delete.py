"""`delete-account` for Entra ID users: never planned unless `settings.delete_account` is true, and meant for a
later stage of a scheduled run (`stages: [{after: 30d, kinds: [delete-account]}]`).

`DELETE /users/{id}` moves the user to deleted items, from which it can be restored for 30 days
(`POST /directory/deletedItems/{id}/restore`); group memberships and role assignments go with it, so nothing has to
be removed first. A 404 for the user is not proof of deletion (a wrong id 404s too): the read-back accepts "deleted"
only when `GET /directory/deletedItems/{id}` finds the user there. Users synced from on-premises AD cannot be
deleted in the cloud (the next sync would bring them back): that is said at plan time, for AD to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from revoke.actions import State
from revoke.connector import Step, Subject
from revoke.connectors.microsoft.entra_kinds import EntraKind, EntraReads
from revoke.connectors.microsoft.graph import GraphSettings, Reply, Sub

if TYPE_CHECKING:
    from revoke.plan import Action


class EntraSettings(GraphSettings):
    delete_account: bool = Field(False, description="also plan delete-account for each leaver (never the default; "
                                 "put it in a later stage: stages: [{after: 30d, kinds: [delete-account]}])")


class DeleteAccount(EntraKind):
    name = "delete-account"
    summary = "delete user (to deleted items, restorable for 30 days)"
    done_summary = "user already deleted"
    shows_resource = False
    desired = {"exists": False, "in_deleted_items": True}
    restorable = False
    runs_last = True
    restore_note = ("restore the user from deleted items within 30 days (Entra admin center, or POST "
                    "/directory/deletedItems/{id}/restore); its group memberships come back with it")
    permissions = ("User.ReadWrite.All",)
    unproven_404 = True  # the read-back looks in deleted items

    @classmethod
    def write(cls, a: Action) -> Sub:
        return Sub(a.id, "DELETE", f"/users/{a.resource}")

    @classmethod
    def reads(cls, a: Action, containers_seen: set[str]) -> dict[str, str]:
        return {f"deleted:{a.resource}": f"/directory/deletedItems/{a.resource}"}

    @classmethod
    def state(cls, a: Action, user: Reply, got: EntraReads) -> State:
        uid = a.principal or a.resource
        if user.ok:
            return {"exists": True, "in_deleted_items": False, "id": uid}
        deleted = got.replies.get(f"deleted:{uid}")
        if deleted is not None and deleted.ok:
            return {"exists": False, "in_deleted_items": True, "id": uid}
        return {"exists": None, "in_deleted_items": None, "missing": "user, in the directory and in deleted items"}


def delete_step(s: Subject, user: dict[str, Any]) -> Step:
    uid, upn = user["id"], user["userPrincipalName"]
    before = {"exists": True, "in_deleted_items": False, "id": uid}
    if user.get("onPremisesSyncEnabled"):
        return Step(kind=DeleteAccount.name, resource=uid, person=s.person, before=before, needed=True,
                    aliases=(upn,), label=upn, outcome="attention",
                    note=f"delete in Active Directory: {upn} is synced from on-premises AD, and a user deleted in "
                    "Entra ID comes back with the next sync")
    return Step(kind=DeleteAccount.name, resource=uid, person=s.person, before=before, needed=True, aliases=(upn,),
                label=upn)
