"""Exchange Online: close distribution lists and mail-enabled security groups, end mailbox access given to leavers.

Graph cannot change distribution lists or mail-enabled security groups; Exchange Online can. This connector runs
Exchange's own cmdlets through `InvokeCommand`, the endpoint Microsoft's ExchangeOnlineManagement v3 module uses,
with an app-only token (`Exchange.ManageAsApp` and an Exchange role). **That endpoint is not a documented public
API**: every cmdlet and parameter is declared in one table (`exchange_cmdlets.py`), and any answer the connector does
not expect is a located failure or `unverifiable`, never a guess.

Each runbook list names a distribution list or mail-enabled security group (address, alias, GUID), with `close:`
- `default` / `lock`: only the owners who stay (`ManagedBy`), or the senders `options: {senders: [...]}` names, may
  send; authenticated senders only; hidden from the address lists. Restorable to the before-state. Exchange reads
  an empty `AcceptMessagesOnlyFromSendersOrMembers` as "anyone may send", so a list nobody is left to send to is a
  decision for a person (the plan says so), never an empty list;
- `delete`: `Remove-DistributionGroup`; not restorable, so the plan and evidence keep its members and settings;
- `remove-leavers`: only the leavers go.
The leavers are also removed from every other list they are a direct member of (read back). A list synced from
on-premises AD is refused here and routed to the runbook's `active-directory` system. For each leaver, FullAccess,
SendAs and SendOnBehalf on others' mailboxes (shared mailboxes by default: `mailbox_scope`) are removed, and
forwarding out of their own mailbox (`ForwardingSmtpAddress`, inbox rules forwarding or redirecting outside the
organisation's accepted domains) is turned off; all restorable.

The `entra` and `m365-groups` connectors hand their "needs Exchange Online" memberships to this connector when the
runbook has an `exchange-online` system (`routed_subject`, `fulfils`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

from pydantic import BaseModel, ConfigDict

from revoke.actions import State
from revoke.connector import Connector, Discovery, Entity, Identity, ListTarget, Receipt, Step, Subject
from revoke.connectors.microsoft import exchange_writes
from revoke.connectors.microsoft.exchange_client import CmdletError, ExchangeClient, ExchangeSettings
from revoke.connectors.microsoft.exchange_cmdlets import (
    LIST_TYPES,
    M365_GROUP,
    MANAGE_AS_APP,
    USER_MAILBOX,
    VIEW_CONFIGURATION,
    VIEW_RECIPIENTS,
)
from revoke.connectors.microsoft.exchange_discovery import ExchangeDiscovery, names
from revoke.connectors.microsoft.exchange_kinds import KINDS, RemoveListMember
from revoke.errors import ActionFailed
from revoke.exposure import ExposureRule
from revoke.plan import Action

ROUTED_KINDS = ("remove-member", "remove-group-member")  # m365-groups' and entra's membership removals
LIST_ALL_AFTER = 50  # names to identify beyond which every distribution list is read at once


class ExchangeListOptions(BaseModel):
    """A runbook list's `options:` in an exchange-online system."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # who may still send to a locked list (AcceptMessagesOnlyFromSendersOrMembers); None: the owners who stay
    senders: list[str] | None = None


class ExchangeOnlineConnector(Connector):
    name: ClassVar[str] = "exchange-online"
    version: ClassVar[str] = "1"
    Settings = ExchangeSettings
    ListOptions = ExchangeListOptions
    kinds = KINDS
    read_permissions = (MANAGE_AS_APP, VIEW_RECIPIENTS, VIEW_CONFIGURATION)
    permission_format = "text"
    # One cmdlet per write, but a read-back reads each list or mailbox once for all the actions of a batch: a
    # list's lock and its leavers' removals (plan order keeps them together) are verified with two reads.
    batch_size = 60

    def __init__(self, system: str, settings: ExchangeSettings, secrets: Any, context: Any):
        super().__init__(system, settings, secrets, context)
        self.exchange = ExchangeClient(system, settings, secrets, context.runtime)
        self._seen: dict[str, Entity] = {}
        self._own = {settings.client_id.casefold()}

    @classmethod
    def permissions_document(cls, kinds: Sequence[Any]) -> str:
        needed = sorted(set(cls.read_permissions).union(*(k.permissions for k in kinds)))
        return "\n".join([f"- {p}" for p in needed] + [
            "The app registration's service principal gets the Exchange roles through a management role "
            "assignment: New-ManagementRoleAssignment -App <service principal object id> -Role '<role>' "
            "(or the Entra role Exchange Administrator, which holds them all). InvokeCommand is not a public API; "
            "these are the roles of the cmdlets in connectors/microsoft/exchange_cmdlets.py."])

    def exposure(self) -> list[ExposureRule]:
        return [
            ExposureRule("mailbox access held in Outlook and mobile sessions opened before the permission was removed",
                         "remove-full-access", None, "Exchange applies a permission change after its own caches "
                         "refresh and Microsoft documents no bound; an open Outlook session keeps an auto-mapped "
                         "mailbox until it reconnects"),
            ExposureRule("mail already forwarded or copied out before forwarding was turned off",
                         "disable-mailbox-forwarding", None, "what left the organisation cannot be recalled"),
        ]

    def connect(self) -> Identity:
        return self.exchange.connect()

    # ---- routing: memberships Graph cannot change -------------------------------------------------------------
    @classmethod
    def routed_subject(cls, step: Step) -> Subject | None:
        upn = step.params.get("userPrincipalName")
        if step.kind not in ROUTED_KINDS or not step.person or not upn:
            return None
        return Subject(person=step.person, ident=str(upn))

    @classmethod
    def fulfils(cls, routed: Step, own: Step) -> bool:
        # Exchange's ExternalDirectoryObjectId of a list is its Entra object id: one of the step's aliases
        return (own.kind == RemoveListMember.name and own.person == routed.person
                and routed.resource.casefold() in {own.resource.casefold(), *(a.casefold() for a in own.aliases)})

    # ---- names ---------------------------------------------------------------------------------------------
    def _remember(self, obj: dict[str, Any]) -> None:
        entity = _entity(obj)
        for ident in entity.identifiers:
            self._seen[ident.casefold()] = entity

    def identify(self, names_: Sequence[str]) -> dict[str, Entity | None]:
        unknown = [n for n in names_ if n.casefold() not in self._own and n.casefold() not in self._seen]
        if len(unknown) > LIST_ALL_AFTER:
            # a runbook of hundreds of lists: every list in a few pages rather than one look-up a name
            for group in self.exchange.read("Get-DistributionGroup", ResultSize="Unlimited").values:
                if "Guid" in group and "RecipientTypeDetails" in group:
                    self._remember(group)
        out: dict[str, Entity | None] = {}
        for name in names_:
            if name.casefold() in self._own:
                out[name] = Entity(frozenset(self._own), "application", display=name)
            elif name.casefold() in self._seen:
                out[name] = self._seen[name.casefold()]
            else:
                out[name] = self._look_up(name)
        return out

    def _look_up(self, name: str) -> Entity | None:
        try:
            found = self.exchange.read("Get-Recipient", Identity=name).values
        except CmdletError as err:
            if err.not_found:
                return None
            if err.ambiguous:
                return Entity(frozenset({name}), "ambiguous", display=name)
            raise
        if len(found) != 1 or "Guid" not in found[0]:
            raise ActionFailed(f"Get-Recipient -Identity {name!r}: unexpected answer ({len(found)} objects)")
        self._remember(found[0])
        return _entity(found[0])

    def addressed(self, action: Any) -> list[str]:
        # mailbox cmdlets address the mailbox and the member by address (X-AnchorMailbox routes by it)
        extra = [action.params.get(k) for k in ("mailbox", "member") if action.params.get(k)]
        return [n for n in (action.resource, action.principal, *extra) if n]

    # ---- the protocol ----------------------------------------------------------------------------------------
    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        return ExchangeDiscovery(self.exchange, self._remember).run(subjects, lists)

    def apply(self, action: Action) -> Receipt:
        return exchange_writes.apply(self.exchange, action)

    def read_back(self, actions: Sequence[Action]) -> dict[str, State]:
        return exchange_writes.ReadBack(self.exchange).states(actions)

    def restore(self, action: Action) -> Receipt:
        return exchange_writes.restore(self.exchange, action)


def _entity(obj: dict[str, Any]) -> Entity:
    kind = str(obj.get("RecipientTypeDetails") or "")
    type_ = "group" if kind in LIST_TYPES else "account" if kind == USER_MAILBOX else \
        "microsoft-365-group" if kind == M365_GROUP else kind.casefold() or "unknown"
    return Entity(frozenset(names(obj)), type_, display=str(obj.get("PrimarySmtpAddress") or obj.get("Name")))
