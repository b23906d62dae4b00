"""The runbook's `settings:` for the `github` connector."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from revoke.runbook import SecretRef


class GitHubSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "organizations": ["acme"], "token": {"secret": "github_token"}}]})

    organizations: list[str] = Field(min_length=1, description="the organisations the leavers are removed from",
                                     examples=[["acme"]])
    token: SecretRef | None = Field(None, description="a personal access token of an organisation owner")
    app_id: int | None = Field(None, description="a GitHub App's id (with private_key): acts as its installation")
    private_key: SecretRef | None = Field(None, description="the GitHub App's private key (PEM)")
    installation_id: int | None = Field(None, description="the app's installation, when there is one organisation; "
                                        "omitted: looked up per organisation (GET /orgs/{org}/installation)")
    owner_token: SecretRef | None = Field(None, description="an organisation owner's token, for SAML SSO credential "
                                          "authorizations when the connector runs as a GitHub App (apps cannot "
                                          "list or revoke them)")
    saml_sso: list[str] | Literal["auto"] = Field(
        "auto", description="the organisations that use SAML single sign-on, whose credential authorizations are "
        "revoked first; auto: ask each one (a 404 from the listing then means no SAML SSO, said in the plan)")
    base_url: str = Field("https://api.github.com/", description="the REST API root; GitHub Enterprise Server: "
                          "https://HOST/api/v3/")
    ca_bundle: str | None = Field(None, description="PEM file of the CAs to trust for base_url (a corporate proxy's "
                                  "or GitHub Enterprise Server's own CA); default: the system's")
    scan_repository_invitations: bool = Field(True, description="look for pending repository invitations to the "
                                              "leavers in every repository of the organisations (one listing per "
                                              "repository)")
    page_size: int = Field(100, ge=1, le=100, description="items per page of GitHub's listings")
    timeout: float = Field(30, gt=0, description="seconds to wait for an answer")

    @field_validator("base_url")
    @classmethod
    def _slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("organizations")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        seen = [v.strip() for v in value]
        if len({v.casefold() for v in seen}) != len(seen) or not all(seen):
            raise ValueError("each organisation once, by its login (acme, not https://github.com/acme)")
        return seen

    @model_validator(mode="after")
    def _auth(self) -> "GitHubSettings":
        app = self.app_id is not None or self.private_key is not None
        if app and (self.app_id is None or self.private_key is None):
            raise ValueError("a GitHub App needs both app_id and private_key: {secret: NAME}")
        if app == (self.token is not None):
            raise ValueError("give either token: {secret: NAME} (an organisation owner's token) or app_id and "
                             "private_key (a GitHub App installed in the organisations), not both")
        if self.installation_id is not None and len(self.organizations) > 1:
            raise ValueError("installation_id names one organisation's installation: leave it out to look each "
                             "organisation's up")
        if isinstance(self.saml_sso, list):
            unknown = {s.casefold() for s in self.saml_sso} - {o.casefold() for o in self.organizations}
            if unknown:
                raise ValueError(f"saml_sso names organisations not in organizations: {', '.join(sorted(unknown))}")
        return self
