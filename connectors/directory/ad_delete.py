"""`delete-account` for Active Directory users: never planned unless `settings.delete_account` is true, and meant
for a later stage of a scheduled run (`stages: [{after: 30d, kinds: [delete-account]}]`).

AD removes a deleted user's group memberships itself (member is a linked attribute whose back-link goes with the
object), so nothing has to be taken away first; a user object with child objects (an Exchange mailbox's, a
BitLocker or TPM key's) refuses a plain delete with notAllowedOnNonLeaf and is deleted with the tree-delete
control. The target is the objectGUID discovery found: a user renamed or moved since is still the same user, one
made again under the same name is not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from revoke.actions import State
from revoke.connector import Receipt
from revoke.connectors.directory.ad_directory import AdDirectory, AdObject, guid_dn
from revoke.connectors.directory.ad_kinds import AdKind
from revoke.connectors.directory.session import SUCCESS
from revoke.errors import ActionFailed

if TYPE_CHECKING:
    from revoke.connectors.directory.active_directory import ActiveDirectoryConnector

NOT_ALLOWED_ON_NON_LEAF = 66
TREE_DELETE = "1.2.840.113556.1.4.805"  # LDAP_SERVER_TREE_DELETE_OID


class DeleteAccount(AdKind):
    name = "delete-account"
    summary = "delete account"
    done_summary = "account already deleted"
    shows_resource = False
    desired = {"exists": False}
    restorable = False
    runs_last = True
    restore_note = ("a deleted AD user is a tombstone (or, with the AD Recycle Bin, a deleted object for its "
                    "lifetime): reanimate it in AD; its groups come back only with the Recycle Bin")
    permissions = ("Delete on user objects (or Delete Child on their container)",
                   "Delete Subtree on user objects that have child objects")

    @classmethod
    def state(cls, user: AdObject, params: dict[str, Any]) -> State:
        return delete_state(user)

    @classmethod
    def apply(cls, ad: ActiveDirectoryConnector, a: Any) -> Receipt:
        return delete_user(ad.directory, ad.user(a))


def delete_state(user: Any) -> State:
    return {"exists": False} if user is None else {"exists": True, "guid": user.guid}


def delete_user(directory: AdDirectory, user: Any) -> Receipt:
    dn = guid_dn(user.guid)
    result = directory.session.call(f"delete {user.dn}", lambda conn: conn.delete(dn),
                                    ok=(SUCCESS, NOT_ALLOWED_ON_NON_LEAF))
    if result.get("result") == NOT_ALLOWED_ON_NON_LEAF:
        directory.session.call(f"delete {user.dn} with its child objects",
                               lambda conn: conn.delete(dn, controls=[(TREE_DELETE, True, None)]))
        return Receipt(detail={"deleted": user.dn, "tree_delete": True})
    if result.get("result") != SUCCESS:
        raise ActionFailed(f"delete {user.dn}: {result.get('description')}")
    return Receipt(detail={"deleted": user.dn})
