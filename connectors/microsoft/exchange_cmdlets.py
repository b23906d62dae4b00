"""Every Exchange Online cmdlet the `exchange-online` connector runs, with every parameter it may pass: the one table.

Exchange Online has no documented public REST API for recipient management. Microsoft's own ExchangeOnlineManagement
PowerShell module (v3) runs its cmdlets over `POST {base}/adminapi/beta/{tenant}/InvokeCommand` with a body
`{"CmdletInput": {"CmdletName": ..., "Parameters": {...}}}` and app-only tokens for
`https://outlook.office365.com/.default`; tools that service providers run every day call it the same way. It is
not a public, versioned API: Microsoft may change it without notice. So nothing outside this table names a cmdlet
or a parameter, the client refuses a call the table does not declare, and every answer the connector did not expect
(a missing field, another object, a new error) is a located failure or `unverifiable`, never a guess.

`anchor`: the parameter whose mailbox the request is routed to (`X-AnchorMailbox: UPN:<value>`), as the module
does for mailbox cmdlets; the others go to the organisation's arbitration mailbox.
`role`: the Exchange management role (RBAC) the app's service principal needs for the cmdlet.
"""

from __future__ import annotations

from dataclasses import dataclass

# Exchange RBAC management roles, assigned to the app's service principal (New-ManagementRoleAssignment -App ...)
VIEW_RECIPIENTS = "Exchange role: View-Only Recipients"
VIEW_CONFIGURATION = "Exchange role: View-Only Configuration"
DISTRIBUTION_GROUPS = "Exchange role: Distribution Groups"
MAIL_RECIPIENTS = "Exchange role: Mail Recipients"
MANAGE_AS_APP = "Exchange.ManageAsApp (application permission of Office 365 Exchange Online, admin consent)"


@dataclass(frozen=True)
class Cmdlet:
    name: str
    parameters: frozenset[str]
    writes: bool
    role: str
    anchor: str | None = None


def _c(name: str, parameters: str, role: str, *, writes: bool = False, anchor: str | None = None) -> Cmdlet:
    return Cmdlet(name, frozenset(parameters.split()), writes, role, anchor)


CMDLETS: dict[str, Cmdlet] = {c.name: c for c in (
    _c("Get-AcceptedDomain", "", VIEW_CONFIGURATION),
    _c("Get-Recipient", "Identity ResultSize", VIEW_RECIPIENTS),
    # Filter: only `Members -eq '<DistinguishedName>'` (the lists a recipient is a direct member of)
    _c("Get-DistributionGroup", "Identity Filter ResultSize", VIEW_RECIPIENTS),
    _c("Get-DistributionGroupMember", "Identity ResultSize", VIEW_RECIPIENTS),
    _c("Set-DistributionGroup", "Identity AcceptMessagesOnlyFromSendersOrMembers RequireSenderAuthenticationEnabled "
       "HiddenFromAddressListsEnabled BypassSecurityGroupManagerCheck", DISTRIBUTION_GROUPS, writes=True),
    _c("Remove-DistributionGroup", "Identity BypassSecurityGroupManagerCheck Confirm", DISTRIBUTION_GROUPS,
       writes=True),
    _c("Add-DistributionGroupMember", "Identity Member BypassSecurityGroupManagerCheck Confirm",
       DISTRIBUTION_GROUPS, writes=True),
    _c("Remove-DistributionGroupMember", "Identity Member BypassSecurityGroupManagerCheck Confirm",
       DISTRIBUTION_GROUPS, writes=True),
    _c("Get-Mailbox", "Identity RecipientTypeDetails ResultSize", VIEW_RECIPIENTS, anchor="Identity"),
    # GrantSendOnBehalfTo takes PowerShell's multi-valued change, @{Add=...} / @{Remove=...}, sent as a JSON object
    # {"Add": [...]} / {"Remove": [...]}; the property reads back as a list of recipient names
    _c("Set-Mailbox", "Identity GrantSendOnBehalfTo ForwardingSmtpAddress DeliverToMailboxAndForward",
       MAIL_RECIPIENTS, writes=True, anchor="Identity"),
    _c("Get-MailboxPermission", "Identity", VIEW_RECIPIENTS, anchor="Identity"),
    _c("Add-MailboxPermission", "Identity User AccessRights InheritanceType AutoMapping Confirm", MAIL_RECIPIENTS,
       writes=True, anchor="Identity"),
    _c("Remove-MailboxPermission", "Identity User AccessRights InheritanceType Confirm", MAIL_RECIPIENTS,
       writes=True, anchor="Identity"),
    _c("Get-RecipientPermission", "Identity Trustee AccessRights ResultSize", VIEW_RECIPIENTS),
    _c("Add-RecipientPermission", "Identity Trustee AccessRights Confirm", MAIL_RECIPIENTS, writes=True),
    _c("Remove-RecipientPermission", "Identity Trustee AccessRights Confirm", MAIL_RECIPIENTS, writes=True),
    _c("Get-InboxRule", "Mailbox", VIEW_RECIPIENTS, anchor="Mailbox"),
    _c("Disable-InboxRule", "Identity Mailbox Confirm", MAIL_RECIPIENTS, writes=True, anchor="Mailbox"),
    _c("Enable-InboxRule", "Identity Mailbox Confirm", MAIL_RECIPIENTS, writes=True, anchor="Mailbox"),
)}

# RecipientTypeDetails values the connector acts on
DISTRIBUTION_LIST = "MailUniversalDistributionGroup"
MAIL_SECURITY_GROUP = "MailUniversalSecurityGroup"
LIST_TYPES = (DISTRIBUTION_LIST, MAIL_SECURITY_GROUP)
USER_MAILBOX = "UserMailbox"
SHARED_MAILBOX = "SharedMailbox"
MAILBOX_TYPES = (USER_MAILBOX, SHARED_MAILBOX, "RoomMailbox", "EquipmentMailbox")
M365_GROUP = "GroupMailbox"

# the exception the service names (in `error.details[].message`, "Ex...|<type>|<text>") when an object is absent
NOT_FOUND = "ManagementObjectNotFoundException"
AMBIGUOUS = "ManagementObjectAmbiguousException"

# The fields of each object the connector reads. An answer without one of them is unexpected: located, not guessed.
RECIPIENT_FIELDS = ("Guid", "Name", "PrimarySmtpAddress", "RecipientTypeDetails", "EmailAddresses",
                    "DistinguishedName")
GROUP_FIELDS = ("Guid", "Name", "PrimarySmtpAddress", "RecipientTypeDetails", "IsDirSynced", "ManagedBy",
                "AcceptMessagesOnlyFromSendersOrMembers", "RequireSenderAuthenticationEnabled",
                "HiddenFromAddressListsEnabled", "DistinguishedName")
MEMBER_FIELDS = ("Guid", "Name", "PrimarySmtpAddress", "RecipientTypeDetails")
MAILBOX_FIELDS = ("Guid", "Name", "UserPrincipalName", "PrimarySmtpAddress", "RecipientTypeDetails",
                  "GrantSendOnBehalfTo", "ForwardingSmtpAddress", "DeliverToMailboxAndForward", "DistinguishedName")
MAILBOX_PERMISSION_FIELDS = ("User", "AccessRights", "IsInherited", "Deny")
RECIPIENT_PERMISSION_FIELDS = ("Identity", "Trustee", "AccessRights", "AccessControlType", "IsInherited")
INBOX_RULE_FIELDS = ("Identity", "Name", "Enabled", "ForwardTo", "ForwardAsAttachmentTo", "RedirectTo")


def roles(names: tuple[str, ...]) -> tuple[str, ...]:
    """The Exchange roles these cmdlets need, in table order (for kinds' permission declarations)."""
    return tuple(dict.fromkeys(CMDLETS[n].role for n in names))
