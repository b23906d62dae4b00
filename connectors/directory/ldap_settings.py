"""The `ldap` connector's settings, and what its `lock_method` means: which attribute locks an account, the value
written, and how a read value is judged locked (the same at discovery, apply and read-back)."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import ConfigDict, Field

from revoke.actions import State
from revoke.connectors.directory.session import LdapConnectionSettings

PPOLICY_LOCKED = "000001010000Z"  # ppolicy's "locked until an administrator unlocks"
PASSWORD_LOCKED = "{CRYPT}!revoke-locked"  # matches no password; crypt() never yields a leading '!'


class LdapSettings(LdapConnectionSettings):
    """OpenLDAP, 389-DS and other LDAP directories: lock accounts, remove group memberships, delete mail groups."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "url": "ldaps://ldap.corp.example", "bind_dn": "uid=revoke-svc,ou=services,dc=example,dc=org",
        "bind_password": {"secret": "corp_ldap"}, "base_dn": "dc=example,dc=org",
        "people_base": "ou=people,dc=example,dc=org"}]})

    base_dn: str = Field(description="the directory's suffix; people and groups are searched under it",
                         examples=["dc=example,dc=org"])
    people_base: str | None = Field(None, description="where people are (default: base_dn)",
                                    examples=["ou=people,dc=example,dc=org"])
    group_base: str | None = Field(None, description="where groups are (default: base_dn)")
    user_filter: str = Field("(uid={id})", description="how a person's id finds their entry; {id} is replaced")
    lock_method: Literal["ppolicy", "nsAccountLock", "attribute", "password"] = Field(
        "ppolicy", description="ppolicy: pwdAccountLockedTime (OpenLDAP, needs pwdLockout in the policy); "
        "nsAccountLock (389-DS, FreeIPA); attribute: lock_attribute set to lock_value; password: replace it")
    lock_attribute: str | None = Field(None, description="for lock_method: attribute",
                                       examples=["ds-pwp-account-disabled"])
    lock_value: str = Field("TRUE", description="the value lock_attribute is set to")
    empty_group_member: str = Field("cn=nobody", description="the placeholder member left in a groupOfNames "
                                    "whose last member leaves (the schema needs one)")
    # what makes a group a mail group that a runbook list may delete: a group object class and this attribute
    # (None: any group); anything else named in `lists:` is refused at plan time
    list_attribute: str | None = Field("mail", description="a group is a list revoke may delete only if it has "
                                       "this attribute (null: any group)")


class Lock:
    """The lock of `settings.lock_method`: its attribute, the value a lock writes, and the state of a read value."""

    def __init__(self, settings: LdapSettings):
        self.method = settings.lock_method
        self.attr = {"ppolicy": "pwdAccountLockedTime", "nsAccountLock": "nsAccountLock",
                     "password": "userPassword"}.get(self.method) or (settings.lock_attribute or "")
        self.value = {"ppolicy": PPOLICY_LOCKED, "nsAccountLock": "TRUE",
                      "password": PASSWORD_LOCKED}.get(self.method, settings.lock_value)

    def is_locked(self, value: str | None) -> bool:
        if value is None:
            return False
        if self.method in ("ppolicy", "password"):
            return value == self.value
        return value.casefold() == self.value.casefold()

    def state(self, dn: str, value: str | None) -> State:
        shown = value
        if self.method == "password" and value is not None:
            # never record a password hash, only whether it is the locked marker and a fingerprint to see change
            shown = ("locked-marker" if value == PASSWORD_LOCKED else
                     "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16])
        return {"dn": dn, "exists": True, "attribute": self.attr, "value": shown, "locked": self.is_locked(value)}
