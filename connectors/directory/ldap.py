"""The `ldap` connector: OpenLDAP, 389-DS and other directories that speak plain LDAP.

Locks accounts (ppolicy `pwdAccountLockedTime`, `nsAccountLock`, a configured attribute, or a scrambled password),
removes group memberships (`groupOfNames` member, `groupOfUniqueNames` uniqueMember, `posixGroup` memberUid) and
closes mail groups by deleting their entry, with the full entry kept as the before-state.

`groupOfNames` and `groupOfUniqueNames` require at least one member. When a leaver is the last member, the
connector swaps them for the placeholder `empty_group_member` (default `cn=nobody`) in one modify, so the group
stays schema-valid and grants nothing; restore puts the leaver back and takes the placeholder out.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

from revoke.actions import ActionKind, State
from revoke.connector import Connector, Discovery, Entity, Identity, ListTarget, Receipt, Subject
from revoke.connectors.directory import ldap_names
from revoke.connectors.directory.ldap_discovery import LdapDiscovery
from revoke.connectors.directory.ldap_kinds import KINDS, LdapKind, lock_kind
from revoke.connectors.directory.ldap_readback import LdapReader
from revoke.connectors.directory.ldap_settings import LdapSettings, Lock
from revoke.connectors.directory.session import SUCCESS, LdapSession, connection_warnings
from revoke.errors import NotSupported
from revoke.exposure import ExposureRule

__all__ = ["LdapConnector", "LdapSettings"]


class LdapConnector(Connector):
    name: ClassVar[str] = "ldap"
    version: ClassVar[str] = "1.0"
    Settings = LdapSettings
    kinds = KINDS
    read_permissions = ("bind as a service account", "search under base_dn", "whoami extended operation")
    # apply_many still writes one by one; a batch lets the engine read back (and journal, with one fsync) 50
    # actions at once: a read-back search covers up to 100 accounts, and 2,000 leavers cost 320 fsyncs, not 800
    batch_size: ClassVar[int] = 50

    settings: LdapSettings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._session: LdapSession | None = None

    @classmethod
    def permissions_document(cls, kinds: Sequence[type[ActionKind]]) -> str:
        """OpenLDAP access rules for the bind DN, in slapd.conf form (olcAccess takes the same text)."""
        rules = ["# OpenLDAP access rules for revoke's bind DN; put them before your other rules,",
                 "# with <bind_dn>, <people_base>, <group_base> and <list_base> from the runbook's settings."]
        names = {k.name for k in kinds}
        rules += [k.acl for k in KINDS if k.name in names]
        rules.append('access to *\n  by dn.exact="<bind_dn>" read\n  by * break')
        return "\n".join(rules)

    # ---- connection

    @property
    def lock(self) -> Lock:
        return Lock(self.settings)

    @property
    def session(self) -> LdapSession:
        if self._session is None:
            self._session = LdapSession(self.system, self.settings, self.secrets.get(self.settings.bind_password))
        return self._session

    def warnings(self) -> list[str]:
        return connection_warnings(self.settings)

    def exposure(self) -> list[ExposureRule]:
        return [ExposureRule("sessions of applications that authenticated against the directory before the lock",
                             lock_kind(self.settings.lock_method).name, None,
                             "LDAP has no session revocation; each application's own session lifetime applies")]

    def connect(self) -> Identity:
        self.session.conn()
        me = self.session.whoami()
        return Identity(display=self.settings.bind_dn, aliases=tuple(a for a in (me,) if a),
                        detail={"bind_dn": self.settings.bind_dn, "whoami": me or None, "url": self.settings.url})

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def identify(self, names: Sequence[str]) -> dict[str, Entity | None]:
        return ldap_names.identify(self.session, names, self.settings.base_dn, self.settings.user_filter)

    # ---- discovery

    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        if self.settings.lock_method == "attribute" and not self.settings.lock_attribute:
            raise NotSupported("lock_method: attribute needs lock_attribute (e.g. ds-pwp-account-disabled)")
        return LdapDiscovery(self.session, self.settings).discover(subjects, lists)

    # ---- apply, read back, restore: each kind's own (ldap_kinds)

    def _kind(self, name: str) -> type[LdapKind]:
        for k in KINDS:
            if k.name == name:
                return k
        raise NotSupported(f"ldap has no action '{name}'")

    def apply(self, action: Any) -> Receipt:
        return self._kind(action.kind).apply(self, action)

    def modify(self, what: str, dn: str, changes: dict[str, Any], ok: tuple[int, ...] = (SUCCESS,)) -> dict:
        return self.session.call(what, lambda c: c.modify(dn, changes), ok=ok)

    def read_back(self, actions: Sequence[Any]) -> dict[str, State]:
        return LdapReader(self.session, self.lock).read_back(actions)

    def restore(self, action: Any) -> Receipt:
        return self._kind(action.kind).restore(self, action)
