"""The `exchange-online` connector's action kinds: what each change is, the Exchange role it needs, and "done"."""

from __future__ import annotations

from revoke.actions import ACCESS, LISTS, ActionKind
from revoke.connectors.microsoft.exchange_cmdlets import roles


class LockList(ActionKind):
    name = "lock-distribution-list"
    summary = "lock distribution list"
    done_summary = "distribution list already locked:"
    item = LISTS
    resource_types = ("group",)
    permissions = roles(("Set-DistributionGroup",))
    desired = {"locked": True}


class DeleteList(ActionKind):
    name = "delete-distribution-list"
    summary = "delete distribution list"
    done_summary = "distribution list already deleted:"
    item = LISTS
    resource_types = ("group",)
    permissions = roles(("Remove-DistributionGroup",))
    desired = {"exists": False}
    restorable = False
    restore_note = ("a deleted distribution list cannot be restored (Exchange keeps no deleted items for it): the "
                    "plan and evidence record its members and settings so a person can recreate it")


class RemoveListMember(ActionKind):
    name = "remove-list-member"
    summary = "remove from distribution list"
    done_summary = "not a member of distribution list"
    item = LISTS
    permissions = roles(("Remove-DistributionGroupMember",))
    desired = {"member": False}


class RemoveFullAccess(ActionKind):
    name = "remove-full-access"
    summary = "remove FullAccess to mailbox"
    done_summary = "no FullAccess to mailbox"
    item = ACCESS
    permissions = roles(("Remove-MailboxPermission",))
    desired = {"granted": False}


class RemoveSendAs(ActionKind):
    name = "remove-send-as"
    summary = "remove SendAs on mailbox"
    done_summary = "no SendAs on mailbox"
    item = ACCESS
    permissions = roles(("Remove-RecipientPermission",))
    desired = {"granted": False}


class RemoveSendOnBehalf(ActionKind):
    name = "remove-send-on-behalf"
    summary = "remove SendOnBehalf on mailbox"
    done_summary = "no SendOnBehalf on mailbox"
    item = ACCESS
    permissions = roles(("Set-Mailbox",))
    desired = {"granted": False}


class DisableForwarding(ActionKind):
    name = "disable-mailbox-forwarding"
    summary = "turn off forwarding of mailbox"
    done_summary = "no forwarding on mailbox"
    item = ACCESS
    permissions = roles(("Set-Mailbox",))
    desired = {"forwarding": False}


class DisableInboxRule(ActionKind):
    name = "disable-inbox-rule"
    summary = "disable forwarding inbox rule"
    done_summary = "inbox rule already disabled:"
    item = ACCESS
    permissions = roles(("Disable-InboxRule",))
    desired = {"enabled": False}


KINDS = (LockList, DeleteList, RemoveListMember, RemoveFullAccess, RemoveSendAs, RemoveSendOnBehalf,
         DisableForwarding, DisableInboxRule)
