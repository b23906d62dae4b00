"""The `ldap` action kinds, each with what it declares (summaries, permissions, the OpenLDAP access rule it needs)
and what it does: its write at apply time and its undo at restore time. The connector only looks the kind up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import ldap3

from revoke.actions import LISTS, ActionKind
from revoke.connector import Receipt
from revoke.connectors.directory.ldap_settings import PASSWORD_LOCKED
from revoke.connectors.directory.session import (
    NO_SUCH_ATTRIBUTE,
    NO_SUCH_OBJECT,
    OBJECT_CLASS_VIOLATION,
    SUCCESS,
    VALUE_EXISTS,
)
from revoke.errors import NotSupported

if TYPE_CHECKING:
    from revoke.connectors.directory.ldap import LdapConnector

# operational attributes a server keeps itself: a re-created entry cannot be given them
OPERATIONAL = {"entryuuid", "entrycsn", "createtimestamp", "modifytimestamp", "creatorsname", "modifiersname",
               "structuralobjectclass", "entrydn", "subschemasubentry", "hassubordinates", "memberof"}


class LdapKind(ActionKind):
    """An ldap action kind: declared, written and undone in one place."""

    acl: ClassVar[str] = ""  # the OpenLDAP access rule (slapd.conf form) this kind's writes need

    @classmethod
    def apply(cls, ldap: LdapConnector, action: Any) -> Receipt:
        raise NotSupported(f"ldap has no action '{cls.name}'")

    @classmethod
    def restore(cls, ldap: LdapConnector, action: Any) -> Receipt:
        raise NotSupported(f"{cls.name} cannot be restored: {cls.restore_note}")


class LockAccount(LdapKind):
    name = "lock-account"
    summary = "lock account"
    done_summary = "already locked"
    shows_resource = False
    permissions = ("write on the lock attribute (pwdAccountLockedTime / nsAccountLock) of people entries",
                   "read on people entries and the lock attribute")
    desired = {"locked": True}
    acl = ('access to dn.subtree="<people_base>" attrs=pwdAccountLockedTime,nsAccountLock\n'
           '  by dn.exact="<bind_dn>" manage\n  by * break')

    @classmethod
    def apply(cls, ldap: LdapConnector, action: Any) -> Receipt:
        return _lock(ldap, action, ldap.lock.value)

    @classmethod
    def restore(cls, ldap: LdapConnector, action: Any) -> Receipt:
        attr, value = action.before["attribute"], action.before.get("value")
        change = [(ldap3.MODIFY_REPLACE, [value])] if value is not None else [(ldap3.MODIFY_DELETE, [])]
        ldap.modify(f"unlock {action.resource}", action.resource, {attr: change}, ok=(SUCCESS, NO_SUCH_ATTRIBUTE))
        return Receipt()


class ScramblePassword(LdapKind):
    name = "scramble-password"
    summary = "replace password with a locked marker"
    done_summary = "password already locked"
    shows_resource = False
    permissions = ("write on userPassword of people entries",)
    desired = {"locked": True}
    restorable = False
    restore_note = "the old password hash is not kept (it is a secret); restore needs a password reset"
    acl = ('access to dn.subtree="<people_base>" attrs=userPassword\n'
           '  by dn.exact="<bind_dn>" write\n  by * break')

    @classmethod
    def apply(cls, ldap: LdapConnector, action: Any) -> Receipt:
        return _lock(ldap, action, PASSWORD_LOCKED)


class RemoveMembership(LdapKind):
    name = "remove-membership"
    summary = "remove from"
    done_summary = "not a member of"
    permissions = ("write on member, uniqueMember and memberUid of group entries", "search on group entries")
    desired = {"exists": True, "member": False}
    acl = ('access to dn.subtree="<group_base>" attrs=member,uniqueMember,memberUid\n'
           '  by dn.exact="<bind_dn>" write\n  by * break')

    @classmethod
    def apply(cls, ldap: LdapConnector, action: Any) -> Receipt:
        held: dict[str, str] = action.before.get("values", {})
        changes = {attr: [(ldap3.MODIFY_DELETE, [value])] for attr, value in held.items()}
        result = ldap.modify(f"remove from {action.resource}", action.resource, changes,
                             ok=(SUCCESS, NO_SUCH_ATTRIBUTE, OBJECT_CLASS_VIOLATION))
        if result["result"] == OBJECT_CLASS_VIOLATION:
            # the leaver was the last member of a group that must have one: swap in the placeholder
            placeholder = ldap.settings.empty_group_member
            for attr in ("member", "uniqueMember"):
                if attr in changes:
                    changes[attr] = [(ldap3.MODIFY_ADD, [placeholder]), (ldap3.MODIFY_DELETE, [held[attr]])]
            ldap.modify(f"remove last member of {action.resource}", action.resource, changes)
            return Receipt(detail={"placeholder": placeholder})
        if result["result"] == NO_SUCH_ATTRIBUTE:
            # gone already; the read-back confirms the group exists before this counts as done
            return Receipt(detail={"note": "value was already absent"})
        return Receipt()

    @classmethod
    def restore(cls, ldap: LdapConnector, action: Any) -> Receipt:
        held: dict[str, str] = action.before.get("values", {})
        for attr, value in held.items():
            ldap.modify(f"re-add to {action.resource}", action.resource, {attr: [(ldap3.MODIFY_ADD, [value])]},
                        ok=(SUCCESS, VALUE_EXISTS))
            if attr in ("member", "uniqueMember"):
                ldap.modify(f"drop placeholder from {action.resource}", action.resource,
                            {attr: [(ldap3.MODIFY_DELETE, [ldap.settings.empty_group_member])]},
                            ok=(SUCCESS, NO_SUCH_ATTRIBUTE))
        return Receipt()


class DeleteMailGroup(LdapKind):
    name = "delete-group"
    item = LISTS
    summary = "delete mail group"
    done_summary = "mail group already gone:"
    permissions = ("delete on mail group entries", "read on all attributes of mail group entries")
    desired = {"exists": False}
    restore_note = "restore re-adds the entry from its recorded attributes"
    resource_types = ("group",)
    acl = ('access to dn.subtree="<list_base>" attrs=entry,children\n'
           '  by dn.exact="<bind_dn>" write\n  by * break')

    @classmethod
    def apply(cls, ldap: LdapConnector, action: Any) -> Receipt:
        ldap.session.call(f"delete {action.resource}", lambda c: c.delete(action.resource),
                          ok=(SUCCESS, NO_SUCH_OBJECT))
        return Receipt()

    @classmethod
    def restore(cls, ldap: LdapConnector, action: Any) -> Receipt:
        entry = {k: v for k, v in action.before["entry"].items() if k.lower() not in OPERATIONAL}
        classes = entry.pop("objectClass", None) or entry.pop("objectclass", [])
        ldap.session.call(f"re-create {action.resource}", lambda c: c.add(action.resource, classes, entry))
        return Receipt()


def _lock(ldap: LdapConnector, action: Any, value: str) -> Receipt:
    attr = ldap.lock.attr
    ldap.modify(f"lock {action.resource}", action.resource, {attr: [(ldap3.MODIFY_REPLACE, [value])]})
    return Receipt(detail={"attribute": attr})


def lock_kind(lock_method: str) -> type[LdapKind]:
    """The kind that locks an account under this lock_method: the password one cannot be undone."""
    return ScramblePassword if lock_method == "password" else LockAccount


KINDS: tuple[type[LdapKind], ...] = (LockAccount, ScramblePassword, RemoveMembership, DeleteMailGroup)
