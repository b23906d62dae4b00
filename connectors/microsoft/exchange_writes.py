"""The `exchange-online` connector's writes, read-backs and restores: one cmdlet per action, read back by cmdlet.

Every write to a list passes `BypassSecurityGroupManagerCheck` (the app manages lists it does not own) and
`Confirm: false`. A removal the service answers with "not found" or a warning ("not a member", "no such entry")
is not taken as done: the read-back decides, after reading the list or mailbox itself.
"""

from __future__ import annotations

from typing import Any, Sequence

from revoke.actions import State, unverifiable
from revoke.connector import Receipt
from revoke.connectors.microsoft.exchange_client import Answer, CmdletError, ExchangeClient, require
from revoke.connectors.microsoft.exchange_cmdlets import (
    GROUP_FIELDS,
    INBOX_RULE_FIELDS,
    MAILBOX_FIELDS,
    MAILBOX_PERMISSION_FIELDS,
    MEMBER_FIELDS,
    RECIPIENT_PERMISSION_FIELDS,
)
from revoke.connectors.microsoft.exchange_discovery import lock_state
from revoke.connectors.microsoft.exchange_kinds import (
    DeleteList,
    DisableForwarding,
    DisableInboxRule,
    LockList,
    RemoveFullAccess,
    RemoveListMember,
    RemoveSendAs,
    RemoveSendOnBehalf,
)
from revoke.errors import ActionFailed
from revoke.plan import Action

BYPASS = {"BypassSecurityGroupManagerCheck": True}
QUIET = {"Confirm": False}


def write_for(a: Action) -> tuple[str, dict[str, Any]]:
    """The cmdlet and parameters that carry out an action."""
    p = a.params
    if a.kind == LockList.name:
        return "Set-DistributionGroup", {"Identity": a.resource, "AcceptMessagesOnlyFromSendersOrMembers":
                                         list(p["senders"]), "RequireSenderAuthenticationEnabled": True,
                                         "HiddenFromAddressListsEnabled": True, **BYPASS}
    if a.kind == DeleteList.name:
        return "Remove-DistributionGroup", {"Identity": a.resource, **BYPASS, **QUIET}
    if a.kind == RemoveListMember.name:
        return "Remove-DistributionGroupMember", {"Identity": a.resource, "Member": a.principal, **BYPASS, **QUIET}
    if a.kind == RemoveFullAccess.name:
        return "Remove-MailboxPermission", {"Identity": p["mailbox"], "User": p["member"],
                                            "AccessRights": ["FullAccess"], "InheritanceType": "All", **QUIET}
    if a.kind == RemoveSendAs.name:
        return "Remove-RecipientPermission", {"Identity": p["mailbox"], "Trustee": p["member"],
                                              "AccessRights": ["SendAs"], **QUIET}
    if a.kind == RemoveSendOnBehalf.name:
        return "Set-Mailbox", {"Identity": p["mailbox"], "GrantSendOnBehalfTo": {"Remove": [p["member"]]}}
    if a.kind == DisableForwarding.name:
        return "Set-Mailbox", {"Identity": p["mailbox"], "ForwardingSmtpAddress": None,
                               "DeliverToMailboxAndForward": False}
    if a.kind == DisableInboxRule.name:
        return "Disable-InboxRule", {"Identity": p["rule"], "Mailbox": p["mailbox"], **QUIET}
    raise ActionFailed(f"exchange-online cannot apply '{a.kind}'")


def restore_for(a: Action) -> tuple[str, dict[str, Any]] | None:
    """The cmdlet that brings the before-state back; None when there is nothing to undo."""
    p, b = a.params, a.before
    if a.kind == LockList.name:
        return "Set-DistributionGroup", {"Identity": a.resource, "AcceptMessagesOnlyFromSendersOrMembers":
                                         list(b["AcceptMessagesOnlyFromSendersOrMembers"]),
                                         "RequireSenderAuthenticationEnabled": b["RequireSenderAuthenticationEnabled"],
                                         "HiddenFromAddressListsEnabled": b["HiddenFromAddressListsEnabled"], **BYPASS}
    if a.kind == RemoveListMember.name:
        return "Add-DistributionGroupMember", {"Identity": a.resource, "Member": a.principal, **BYPASS}
    if a.kind == RemoveFullAccess.name:
        return "Add-MailboxPermission", {"Identity": p["mailbox"], "User": p["member"], "AccessRights": ["FullAccess"],
                                         "InheritanceType": "All", "AutoMapping": False}
    if a.kind == RemoveSendAs.name:
        return "Add-RecipientPermission", {"Identity": p["mailbox"], "Trustee": p["member"],
                                           "AccessRights": ["SendAs"], **QUIET}
    if a.kind == RemoveSendOnBehalf.name:
        return "Set-Mailbox", {"Identity": p["mailbox"], "GrantSendOnBehalfTo": {"Add": [p["member"]]}}
    if a.kind == DisableForwarding.name:
        if not b.get("forwarding"):
            return None
        return "Set-Mailbox", {"Identity": p["mailbox"],
                               "ForwardingSmtpAddress": str(b["ForwardingSmtpAddress"]).split(":", 1)[-1],
                               "DeliverToMailboxAndForward": bool(b["DeliverToMailboxAndForward"])}
    if a.kind == DisableInboxRule.name:
        return ("Enable-InboxRule", {"Identity": p["rule"], "Mailbox": p["mailbox"], **QUIET}) \
            if b.get("enabled") else None
    raise ActionFailed(f"exchange-online cannot restore '{a.kind}': {DeleteList.restore_note}")


def receipt(answer: Answer, **detail: Any) -> Receipt:
    if answer.warnings:
        detail["warnings"] = answer.warnings  # "not a member", "no such entry": the read-back decides
    return Receipt(request_ids=tuple(answer.request_ids), detail=detail)


def apply(x: ExchangeClient, a: Action) -> Receipt:
    cmdlet, params = write_for(a)
    try:
        return receipt(x.write(cmdlet, **params), cmdlet=cmdlet)
    except CmdletError as err:
        if err.not_found and a.kind != LockList.name:
            # not proof of anything: the read-back reads the list or mailbox and says what is true
            return Receipt(request_ids=tuple(err.request_ids),
                           detail={"cmdlet": cmdlet, "note": f"Exchange answered {err.exception}; the read-back "
                                   "decides"})
        raise


def restore(x: ExchangeClient, a: Action) -> Receipt:
    call = restore_for(a)
    if call is None:
        return Receipt(detail={"note": "nothing to undo: the before-state was already the desired one"})
    return receipt(x.write(call[0], **call[1]), cmdlet=call[0])


class ReadBack:
    """Reads each list or mailbox once per batch of actions, then derives each action's state from it."""

    def __init__(self, x: ExchangeClient):
        self.x = x
        self._cache: dict[tuple[str, str], Any] = {}

    def _get(self, cmdlet: str, key: str, **params: Any) -> Any:
        """The objects a read answered, or None when the object read is absent."""
        if (cmdlet, key) not in self._cache:
            try:
                self._cache[(cmdlet, key)] = self.x.read(cmdlet, **params).values
            except CmdletError as err:
                if not err.not_found:
                    raise
                self._cache[(cmdlet, key)] = None
        return self._cache[(cmdlet, key)]

    def states(self, actions: Sequence[Action]) -> dict[str, State]:
        return {a.id: self.state(a) for a in actions}

    def state(self, a: Action) -> State:
        p = a.params
        if a.kind in (LockList.name, DeleteList.name, RemoveListMember.name):
            return self._list_state(a)
        if a.kind == RemoveFullAccess.name:
            got = self._get("Get-MailboxPermission", p["mailbox"], Identity=p["mailbox"])
            if got is None:
                return {"granted": None, "missing": "mailbox"}
            entries = [require(e, MAILBOX_PERMISSION_FIELDS, f"Get-MailboxPermission -Identity {p['mailbox']!r}")
                       for e in got]
            return {"granted": any(str(e["User"]).casefold() == p["member"].casefold() and not e["IsInherited"]
                                   and "FullAccess" in (e["AccessRights"] or []) for e in entries)}
        if a.kind == RemoveSendAs.name:
            got = self._get("Get-RecipientPermission", f"{p['mailbox']}|{p['member']}", Identity=p["mailbox"],
                            Trustee=p["member"])
            if got is None:
                return {"granted": None, "missing": "mailbox or trustee"}
            entries = [require(e, RECIPIENT_PERMISSION_FIELDS, "Get-RecipientPermission") for e in got]
            return {"granted": any("SendAs" in (e["AccessRights"] or []) and e["AccessControlType"] == "Allow"
                                   for e in entries)}
        if a.kind in (RemoveSendOnBehalf.name, DisableForwarding.name):
            got = self._get("Get-Mailbox", p["mailbox"], Identity=p["mailbox"])
            if not got:
                return {"granted" if a.kind == RemoveSendOnBehalf.name else "forwarding": None, "missing": "mailbox"}
            box = require(got[0], MAILBOX_FIELDS, f"Get-Mailbox -Identity {p['mailbox']!r}")
            if a.kind == DisableForwarding.name:
                return {"forwarding": bool(box["ForwardingSmtpAddress"]),
                        "ForwardingSmtpAddress": box["ForwardingSmtpAddress"],
                        "DeliverToMailboxAndForward": box["DeliverToMailboxAndForward"]}
            delegates = {str(n).casefold() for n in box["GrantSendOnBehalfTo"] or []}
            return {"granted": bool(delegates & {p["memberName"].casefold(), p["member"].casefold()})}
        if a.kind == DisableInboxRule.name:
            got = self._get("Get-InboxRule", p["mailbox"], Mailbox=p["mailbox"])
            if got is None:
                return {"enabled": None, "missing": "mailbox"}
            rules = [require(r, INBOX_RULE_FIELDS, f"Get-InboxRule -Mailbox {p['mailbox']!r}") for r in got]
            rule = next((r for r in rules if str(r["Identity"]).casefold() == p["rule"].casefold()), None)
            if rule is None:
                return unverifiable(f"inbox rule {p['rule']} is not among the mailbox's rules any more (deleted or "
                                    "renamed): its forwarding cannot be confirmed off")
            return {"enabled": bool(rule["Enabled"])}
        raise ActionFailed(f"exchange-online cannot read back '{a.kind}'")

    def _list_state(self, a: Action) -> State:
        """A distribution list's lock, existence or membership, as Exchange answers it."""
        p = a.params
        if a.kind in (LockList.name, DeleteList.name):
            got = self._get("Get-DistributionGroup", a.resource, Identity=a.resource)
            if a.kind == DeleteList.name:
                return {"exists": got is not None}
            if not got:
                return {"locked": None, "missing": "distribution list"}
            return lock_state(require(got[0], GROUP_FIELDS, f"Get-DistributionGroup -Identity {a.resource!r}"),
                              p["senders"])
        if a.kind == RemoveListMember.name:
            got = self._get("Get-DistributionGroupMember", a.resource, Identity=a.resource, ResultSize="Unlimited")
            if got is None:
                return {"member": None, "missing": "distribution list"}
            members = [require(m, MEMBER_FIELDS, f"Get-DistributionGroupMember -Identity {a.resource!r}")["Guid"]
                       for m in got]
            return {"member": a.principal in members}
        raise ActionFailed(f"exchange-online cannot read back '{a.kind}'")
