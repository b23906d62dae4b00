"""The `active-directory` connector's settings and the options of its runbook lists."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from revoke.connectors.directory.session import LdapConnectionSettings


class ActiveDirectorySettings(LdapConnectionSettings):
    """`bind_dn` may be a DN, a userPrincipalName (svc-revoke@corp.example.org) or DOMAIN\\name."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "url": "ldaps://dc1.corp.example", "bind_dn": "svc-revoke@corp.example",
        "bind_password": {"secret": "corp_ad"}, "disabled_ou": "OU=Disabled Users,DC=corp,DC=example"}]})

    base_dn: str | None = Field(None, description="default: the domain's defaultNamingContext")
    disabled_ou: str | None = Field(None, description="move disabled accounts here, e.g. OU=Disabled Users,DC=...")
    expire_account: bool = Field(False, description="also set accountExpires to the time of the disable")
    stamp_description: bool = Field(False, description="write 'disabled by revoke run ...' into description")
    delete_account: bool = Field(False, description="also plan delete-account for each leaver (never the default; "
                                 "put it in a later stage: stages: [{after: 30d, kinds: [delete-account]}])")
    kerberos_ticket_hours: float = Field(10.0, gt=0, description="the domain's maximum ticket lifetime "
                                         "(maxTicketAge, 10 h by default): how long issued tickets outlive a disable")


class AdListOptions(BaseModel):
    """A runbook list's `options:` in an active-directory system."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # hide the closed list from the address lists, where the schema has Exchange's msExchHideFromAddressLists
    hide: bool = True
