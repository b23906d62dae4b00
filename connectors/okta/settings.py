"""The runbook's `settings:` for the `okta` connector."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from revoke.runbook import SecretRef


class OktaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    org_url: str = Field(description="the Okta org, e.g. https://acme.okta.com (no /api/v1)")
    api_token: SecretRef | None = Field(None, description="an API token (sent as `SSWS <token>`); it acts with the "
                                        "admin role of the administrator who made it")
    client_id: str | None = Field(None, description="an OAuth 2.0 service app's client id (with private_key): "
                                  "revoke signs a private key JWT client assertion for the org's /oauth2/v1/token")
    private_key: SecretRef | None = Field(None, description="the service app's private key (PEM, RS256)")
    key_id: str | None = Field(None, description="the `kid` of the service app's public key in Okta, when it has "
                               "more than one")
    ca_bundle: str | None = Field(None, description="PEM file of the CAs to trust for org_url (a corporate "
                                  "proxy's); default: the system's")
    lifecycle: Literal["suspend", "deactivate"] = Field(
        "suspend", description="suspend (default: keeps app assignments, restorable by unsuspend) or deactivate "
        "(destructive: Okta unassigns the user's apps, which restore cannot bring back)")
    clear_sessions: bool = Field(True, description="end the leavers' Okta sessions and revoke their OAuth tokens "
                                 "(DELETE /api/v1/users/{id}/sessions?oauthTokens=true)")
    revoke_grants: bool = Field(True, description="revoke the OAuth consent grants the leavers gave to apps")
    reset_factors: bool = Field(False, description="also reset the leavers' enrolled MFA factors (not restorable: "
                                "they enrol again)")
    page_size: int = Field(200, ge=1, le=200, description="`limit` of each page of a listing")
    timeout: float = Field(30, gt=0)

    @field_validator("org_url")
    @classmethod
    def _origin(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value.endswith("/api/v1"):
            raise ValueError("give the org's address without /api/v1, e.g. https://acme.okta.com")
        return value

    @model_validator(mode="after")
    def _auth(self) -> "OktaSettings":
        oauth = self.client_id is not None or self.private_key is not None
        if oauth and (self.client_id is None or self.private_key is None):
            raise ValueError("an OAuth service app needs both client_id and private_key: {secret: NAME}")
        if oauth == (self.api_token is not None):
            raise ValueError("give either api_token: {secret: NAME} or client_id and private_key (an OAuth service "
                             "app with private key JWT), not both")
        return self
