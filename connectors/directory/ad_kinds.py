"""The `active-directory` account and membership kinds, each with its declarations and its behaviour: its state
(the same shape at discovery and read-back, so the engine can compare them), its write and its undo. Every write
addresses the object as `<GUID=...>`. The list kinds live in ad_lists, delete-account in ad_delete."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar

import ldap3

from revoke.actions import ActionKind, State, unverifiable
from revoke.connector import Receipt
from revoke.connectors.directory.ad_directory import (
    ACCOUNTDISABLE,
    NEVER,
    AdObject,
    filetime,
    from_filetime,
    guid_dn,
    parent_dn,
)
from revoke.connectors.directory.session import (
    ENTRY_EXISTS,
    NO_SUCH_ATTRIBUTE,
    SUCCESS,
    UNWILLING,
    VALUE_EXISTS,
    norm_dn,
)
from revoke.errors import ActionFailed, NotSupported

if TYPE_CHECKING:
    from revoke.connectors.directory.active_directory import ActiveDirectoryConnector

STAMP = "by revoke run"  # marks a description revoke wrote: never stamped twice, taken back by restore


class AdKind(ActionKind):
    """An active-directory kind: read back, written and undone in one place."""

    # False: the kind reads its own absent targets (a membership has two sides)
    reads_user: ClassVar[bool] = True

    @classmethod
    def state(cls, user: AdObject, params: dict[str, Any]) -> State:
        raise NotImplementedError(cls.name)

    @classmethod
    def read_back(cls, ad: ActiveDirectoryConnector, a: Any, objs: dict[str, AdObject]) -> State:
        user = objs.get(a.params.get("user_guid", ""))
        if user is None:
            why = ad.directory.unproven_absence(a.params.get("user_guid", ""))
            return unverifiable(why) if why else {"exists": False}
        return cls.state(user, a.params)

    @classmethod
    def apply(cls, ad: ActiveDirectoryConnector, a: Any) -> Receipt:
        raise NotSupported(f"active-directory has no action '{cls.name}'")

    @classmethod
    def restore(cls, ad: ActiveDirectoryConnector, a: Any) -> Receipt:
        raise NotSupported(f"{cls.name} cannot be restored: {cls.restore_note}")


class DisableAccount(AdKind):
    name = "disable-account"
    summary = "disable account"
    done_summary = "account already disabled"
    shows_resource = False
    permissions = ("Read/Write Property userAccountControl on user objects",
                   "Write Property description on user objects (only with stamp_description)")
    desired = {"exists": True, "disabled": True}
    restore_note = "re-enables the account and puts the old description back; Kerberos tickets are not re-issued"

    @classmethod
    def state(cls, user: AdObject, params: dict[str, Any]) -> State:
        uac = user.uac
        return {"exists": True, "userAccountControl": uac, "disabled": bool(uac & ACCOUNTDISABLE),
                "description": user.get("description")}

    @classmethod
    def read_back(cls, ad: ActiveDirectoryConnector, a: Any, objs: dict[str, AdObject]) -> State:
        user = objs.get(a.params.get("user_guid", ""))
        if user is not None and user.get("userAccountControl") is None:
            return unverifiable(f"the directory's answer for {user.dn} has no userAccountControl")
        return super().read_back(ad, a, objs)

    @classmethod
    def apply(cls, ad: ActiveDirectoryConnector, a: Any) -> Receipt:
        user = ad.user(a)
        old = user.uac
        new = old | ACCOUNTDISABLE  # read, OR, write: every other bit stays as it was
        when = now()
        changes: dict[str, Any] = {"userAccountControl": [(ldap3.MODIFY_REPLACE, [str(new)])]}
        previous = user.get("description") or ""
        if a.params.get("stamp_description") and STAMP not in previous:
            stamp = f"disabled {iso(when)} {STAMP} {ad.context.run_id}"
            changes["description"] = [(ldap3.MODIFY_REPLACE, [f"{stamp} | {previous}" if previous else stamp])]
        ad.directory.modify(f"disable {user.dn}", guid_dn(user.guid), changes)
        # what stays valid after this time (Kerberos tickets, open logons) is stated by `exposure()`
        return Receipt(detail={"userAccountControl": {"before": hex(old), "written": hex(new)},
                               "disabled_at": iso(when)})

    @classmethod
    def restore(cls, ad: ActiveDirectoryConnector, a: Any) -> Receipt:
        before, user = a.before, ad.user(a)
        # only the bit this action set goes back; any other change made since is kept
        uac = (user.uac & ~ACCOUNTDISABLE) | (int(before["userAccountControl"]) & ACCOUNTDISABLE)
        changes: dict[str, Any] = {"userAccountControl": [(ldap3.MODIFY_REPLACE, [str(uac)])]}
        current = user.get("description") or ""
        if STAMP in current and current != (before.get("description") or ""):
            # only our own stamp is taken back; a description someone wrote since is theirs to keep
            changes["description"] = [(ldap3.MODIFY_REPLACE, [before["description"]] if before.get("description")
                                       else [])]
        ad.directory.modify(f"re-enable {user.dn}", guid_dn(user.guid), changes)
        return Receipt(detail={"userAccountControl": hex(uac)})


class ExpireAccount(AdKind):
    name = "expire-account"
    summary = "expire account now"
    done_summary = "account already expired"
    shows_resource = False
    permissions = ("Write Property accountExpires on user objects",)
    desired = {"exists": True, "expired": True}

    @classmethod
    def state(cls, user: AdObject, params: dict[str, Any]) -> State:
        raw = user.get("accountExpires") or "0"
        when = from_filetime(raw)
        return {"exists": True, "accountExpires": raw, "expired": when is not None and when <= now()}

    @classmethod
    def apply(cls, ad: ActiveDirectoryConnector, a: Any) -> Receipt:
        user = ad.user(a)
        when = now()
        ad.directory.modify(f"expire {user.dn}", guid_dn(user.guid),
                            {"accountExpires": [(ldap3.MODIFY_REPLACE, [str(filetime(when))])]})
        return Receipt(detail={"accountExpires": iso(when)})

    @classmethod
    def restore(cls, ad: ActiveDirectoryConnector, a: Any) -> Receipt:
        user = ad.user(a)
        ad.directory.modify(f"restore accountExpires of {user.dn}", guid_dn(user.guid),
                            {"accountExpires": [(ldap3.MODIFY_REPLACE,
                                                 [str(a.before.get("accountExpires") or NEVER[1])])]})
        return Receipt()


class MoveToDisabledOu(AdKind):
    name = "move-to-disabled-ou"
    summary = "move account to"
    done_summary = "account already in"
    permissions = ("Delete Child user objects on the account's current container",
                   "Create Child user objects on disabled_ou", "Write Property name and cn on user objects")
    desired = {"exists": True, "in_disabled_ou": True}

    @classmethod
    def state(cls, user: AdObject, params: dict[str, Any]) -> State:
        parent = parent_dn(user.dn)
        return {"exists": True, "parent": parent, "in_disabled_ou": norm_dn(parent) == norm_dn(params["disabled_ou"])}

    @classmethod
    def apply(cls, ad: ActiveDirectoryConnector, a: Any) -> Receipt:
        user = ad.user(a)
        target = a.params["disabled_ou"]
        if norm_dn(parent_dn(user.dn)) == norm_dn(target):
            return Receipt(detail={"note": "already there"})
        ad.directory.move(f"move {user.dn} to {target}", user, target)
        return Receipt(detail={"from": parent_dn(user.dn), "to": target})

    @classmethod
    def restore(cls, ad: ActiveDirectoryConnector, a: Any) -> Receipt:
        user, parent = ad.user(a), a.before["parent"]
        if norm_dn(parent_dn(user.dn)) != norm_dn(parent):
            ad.directory.move(f"move {user.dn} back to {parent}", user, parent)
        return Receipt(detail={"to": parent})


class RemoveMembership(AdKind):
    name = "remove-membership"
    summary = "remove from"
    done_summary = "not a member of"
    permissions = ("Write Property member on group objects (Write Members)",)
    desired = {"exists": True, "member": False}

    @classmethod
    def read_back(cls, ad: ActiveDirectoryConnector, a: Any, objs: dict[str, AdObject]) -> State:
        user, group = objs.get(a.params.get("user_guid", "")), objs.get(a.params.get("group_guid", ""))
        if user is None or group is None:
            return {"exists": False, "member": None}  # a missing side is not proof of removal
        if a.before.get("primary"):
            return {"exists": True, "member": True, "primary": True}
        return {"exists": True, "member": any(norm_dn(g) == norm_dn(group.dn) for g in user.all("memberOf"))}

    @classmethod
    def apply(cls, ad: ActiveDirectoryConnector, a: Any) -> Receipt:
        user, group = ad.user(a), ad.group(a)
        result = ad.directory.modify(f"remove {user.dn} from {group.dn}", guid_dn(group.guid),
                                     {"member": [(ldap3.MODIFY_DELETE, [guid_dn(user.guid)])]},
                                     ok=(SUCCESS, UNWILLING, NO_SUCH_ATTRIBUTE))
        if result["result"] != SUCCESS:
            # AD answers unwillingToPerform (Samba: noSuchAttribute) for a value that is not there; both sides were
            # just read by GUID, so this is "already absent" only if memberOf agrees
            if any(norm_dn(g) == norm_dn(group.dn) for g in ad.user(a).all("memberOf")):
                raise ActionFailed(f"remove {user.dn} from {group.dn}: {result.get('description')}: "
                                   f"{result.get('message')}")
            return Receipt(detail={"note": "was no longer a member"})
        return Receipt()

    @classmethod
    def restore(cls, ad: ActiveDirectoryConnector, a: Any) -> Receipt:
        user, group = ad.user(a), ad.group(a)
        ad.directory.modify(f"re-add {user.dn} to {group.dn}", guid_dn(group.guid),
                            {"member": [(ldap3.MODIFY_ADD, [guid_dn(user.guid)])]},
                            ok=(SUCCESS, VALUE_EXISTS, ENTRY_EXISTS))
        return Receipt()


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
