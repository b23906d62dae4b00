"""The `active-directory` connector: Active Directory (or Samba AD) over LDAP with ldap3.

Disables accounts by setting ACCOUNTDISABLE in `userAccountControl` (read, OR, write, read back: every other bit is
kept), optionally expires them, moves them to a `disabled_ou` and stamps their description with the run id. Removes
group memberships by writing the group's `member` (AD maintains `memberOf`; it is read, never written). The
primary group (`primaryGroupID`, usually Domain Users) is not in `member` and AD requires one, so it is reported
and kept. Distribution lists named in the runbook are emptied and hidden from the address lists
(`msExchHideFromAddressLists`, when the schema has it) with their full entry recorded; deletion is explicit.

Every target is read by objectGUID and written as `<GUID=...>`, so a user moved to the disabled OU by one action is
still found by the others, whatever order the engine runs them in. Distribution lists live in `ad_lists`,
the kinds' behaviour in `ad_kinds`, discovery in `ad_discovery`.
AD refuses simple binds without TLS; the shared connection layer (`session`) does LDAPS or StartTLS and says so
plainly when the server refuses.

A disable does not end Kerberos tickets already issued (10 h at AD's default maxTicketAge) nor sessions of apps that
authenticated earlier: each disable records when it happened and until when such tickets may still be valid.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence, cast

from revoke.actions import State
from revoke.connector import Connector, Discovery, Entity, Identity, ListTarget, Receipt, Step, Subject
from revoke.connectors.directory.ad_delete import DeleteAccount
from revoke.connectors.directory.ad_directory import GROUP_ATTRS, USER_ATTRS, AdDirectory, AdObject, guid_dn
from revoke.connectors.directory.ad_discovery import AdDiscovery
from revoke.connectors.directory.ad_kinds import (
    AdKind,
    DisableAccount,
    ExpireAccount,
    MoveToDisabledOu,
    RemoveMembership,
)
from revoke.connectors.directory.ad_lists import (
    LIST_KINDS,
    CloseDistributionList,
    DeleteDistributionList,
    DistributionLists,
)
from revoke.connectors.directory.ad_settings import ActiveDirectorySettings, AdListOptions
from revoke.connectors.directory.session import LdapSession, connection_warnings
from revoke.errors import ActionFailed, NotSupported
from revoke.exposure import ExposureRule

__all__ = ["ActiveDirectoryConnector", "ActiveDirectorySettings", "AdListOptions"]


class ActiveDirectoryConnector(Connector):
    name: ClassVar[str] = "active-directory"
    version: ClassVar[str] = "1.0"
    Settings = ActiveDirectorySettings
    ListOptions = AdListOptions
    kinds = (DisableAccount, ExpireAccount, MoveToDisabledOu, RemoveMembership, CloseDistributionList,
             DeleteDistributionList, DeleteAccount)
    read_permissions = ("simple bind over LDAPS or StartTLS as a service account",
                        "Read Property on user and group objects under base_dn (Authenticated Users have it)",
                        "read the rootDSE and attributeSchema objects in the schema naming context")

    settings: ActiveDirectorySettings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._directory: AdDirectory | None = None

    # ---- connection

    @property
    def directory(self) -> AdDirectory:
        if self._directory is None:
            session = LdapSession(self.system, self.settings, self.secrets.get(self.settings.bind_password))
            self._directory = AdDirectory(session, self.settings.base_dn)
        return self._directory

    @property
    def lists(self) -> DistributionLists:
        return DistributionLists(self.directory)

    def warnings(self) -> list[str]:
        return connection_warnings(self.settings)

    def exposure(self) -> list[ExposureRule]:
        hours = self.settings.kerberos_ticket_hours
        basis = ("AD's default maximum user ticket lifetime (maxTicketAge, 10 h)" if hours == 10 else
                 f"this domain's maximum user ticket lifetime (kerberos_ticket_hours: {hours:g} h)")
        return [
            ExposureRule("Kerberos tickets issued before the disable", DisableAccount.name, round(hours * 60),
                         f"{basis}; a disable refuses new tickets and renewals, not tickets already issued"),
            ExposureRule("logons already open (desktop, RDP, file shares) and sessions applications keep after an AD "
                         "sign-in", DisableAccount.name, None,
                         "Windows does not log off an open session when its account is disabled; each "
                         "application's own session lifetime applies"),
        ]

    @classmethod
    def routed_subject(cls, step: Step) -> Subject | None:
        """An Entra user synced from this AD is disabled here: found by its sAMAccountName (or DN). A leaver's
        membership of a list synced from here (Exchange Online refuses it) is removed here: found by UPN."""
        if not step.person:
            return None
        if step.kind == DisableAccount.name:
            ident = step.params.get("onPremisesSamAccountName") or step.params.get("onPremisesDistinguishedName")
            return Subject(person=step.person, ident=str(ident or ""))
        if step.params.get("groupName") and step.params.get("userPrincipalName"):
            return Subject(person=step.person, ident=str(step.params["userPrincipalName"]))
        return None

    @classmethod
    def fulfils(cls, routed: Step, own: Step) -> bool:
        if own.person != routed.person:
            return False
        if routed.kind == DisableAccount.name:
            return own.kind == DisableAccount.name
        group = str(routed.params.get("groupName") or "").casefold()
        return own.kind == RemoveMembership.name and bool(group) and group in {
            own.label.casefold(), *(a.casefold() for a in own.aliases if a)}

    def identify(self, names: Sequence[str]) -> dict[str, Entity | None]:
        if not self.directory.base_dn:
            self.directory.load_root()
        return self.directory.identify(names)

    def subject(self, action: Any) -> str:
        # writes address the account by objectGUID: a user moved to the disabled OU is still the same one
        guid = action.params.get("user_guid")
        return guid_dn(guid) if guid else super().subject(action)

    def addressed(self, action: Any) -> list[str]:
        guids = [guid_dn(g) for g in (action.params.get("user_guid"), action.params.get("group_guid")) if g]
        return [*super().addressed(action), *guids]

    def connect(self) -> Identity:
        d = self.directory
        d.session.conn()
        root = d.load_root()
        bind = self.settings.bind_dn
        # any account can bind (a user, a computer, a managed service account): not only people
        me = d.find([bind], "(objectClass=user)", USER_ATTRS, "find the bind account").get(bind, [])
        aliases: tuple[str, ...] = ()
        if len(me) == 1:
            aliases = tuple(a for a in (me[0].dn, me[0].sam, me[0].upn) if a)
        return Identity(display=bind, aliases=aliases,
                        detail={"bind_dn": bind, "dn": me[0].dn if len(me) == 1 else None, "url": self.settings.url,
                                "domain": d.base_dn, "dc": next(iter(root.get("dnsHostName") or []), None)})

    def close(self) -> None:
        if self._directory is not None:
            self._directory.session.close()

    # ---- discovery

    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        return AdDiscovery(self).discover(subjects, lists)

    # ---- read back, apply, restore: each kind's own (ad_kinds, ad_lists, ad_delete)

    def read_back(self, actions: Sequence[Any]) -> dict[str, State]:
        d = self.directory
        if not d.base_dn:
            d.load_root()
        out = self.lists.read_back([a for a in actions if a.kind in LIST_KINDS])
        others = [a for a in actions if a.kind not in LIST_KINDS]
        guids = {a.params.get(k) for a in others for k in ("user_guid", "group_guid")} - {None}
        objs = d.by_guid(guids, USER_ATTRS + GROUP_ATTRS, "read the targets back")
        for a in others:
            kind = self._kind(a.kind)
            if kind is not None:
                out[a.id] = kind.read_back(self, a, objs)
        return out

    def _kind(self, name: str) -> type[AdKind] | None:
        return next((cast(type[AdKind], k) for k in self.kinds if k.name == name), None)

    def apply(self, action: Any) -> Receipt:
        kind = self._kind(action.kind)
        if kind is None:
            raise NotSupported(f"active-directory has no action '{action.kind}'")
        return kind.apply(self, action)

    def restore(self, action: Any) -> Receipt:
        kind = self._kind(action.kind)
        if kind is None:
            raise NotSupported(f"{action.kind} cannot be restored: {DeleteDistributionList.restore_note}")
        return kind.restore(self, action)

    def user(self, action: Any) -> AdObject:
        got = self.directory.by_guid([action.params["user_guid"]], USER_ATTRS, f"read {action.resource}")
        user = got.get(action.params["user_guid"])
        if user is None:
            raise ActionFailed(f"{action.resource} (objectGUID {action.params['user_guid']}) no longer exists")
        return user

    def group(self, action: Any, attributes: list[str] = GROUP_ATTRS) -> AdObject:
        got = self.directory.by_guid([action.params["group_guid"]], attributes, f"read {action.resource}")
        group = got.get(action.params["group_guid"])
        if group is None:
            raise ActionFailed(f"group {action.resource} (objectGUID {action.params['group_guid']}) no longer exists")
        return group
