"""The runbook's `settings:` for the `google-workspace` connector."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from revoke.runbook import SecretRef

DIRECTORY = "https://admin.googleapis.com/"
GROUPS_SETTINGS = "https://www.googleapis.com/"
CHAT = "https://chat.googleapis.com/"
TOKEN_URI = "https://oauth2.googleapis.com/token"


class GoogleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    admin: str = Field(description="the super administrator the service account acts as (domain-wide delegation "
                       "makes every call as this user); never acted on")
    service_account_key: SecretRef = Field(description="the service account's JSON key (its whole text, from the "
                                           "environment, .env or the secrets directory)")
    customer: str = Field("my_customer", description="the Workspace customer id; my_customer: the admin's own")
    scopes: list[str] | None = Field(None, description="the OAuth scopes to ask for; default: exactly those the "
                                     "planned kinds need (`revoke permissions` prints them for the Admin console)")
    allow_super_admins: bool = Field(False, description="suspend a leaver who is a super administrator (off: the "
                                     "plan says they need a person instead)")
    wipe_mobile_devices: bool = Field(False, description="also wipe the work account from the leavers' managed "
                                      "mobile devices (Directory API admin_account_wipe: the account and its data "
                                      "leave the device, the rest of the device stays); off by default")
    chat: bool = Field(True, description="close the runbook's Chat spaces (spaces/...) by removing the leavers with "
                       "the Chat API's administrator access")
    api_endpoint: str = Field(DIRECTORY, description="the Directory API root (a private proxy or a test fake)")
    groups_settings_endpoint: str = Field(GROUPS_SETTINGS, description="the Groups Settings API root")
    chat_endpoint: str = Field(CHAT, description="the Chat API root")
    token_uri: str = Field(TOKEN_URI, description="the OAuth token endpoint the service account's signed JWT is "
                           "exchanged at")
    ca_bundle: str | None = Field(None, description="PEM file of the CAs to trust for every endpoint (a corporate "
                                  "proxy's); default: the system's")
    queries_per_minute: int = Field(2400, ge=1, description="the project's Admin SDK quota (Cloud console, Admin "
                                    "SDK API, Quotas): revoke paces every call, each call of a batch counted, so "
                                    "the run stays under it instead of being refused")
    quota_window_seconds: float = Field(60, gt=0, description="the window of that quota: 60 for Google's "
                                        "per-minute quotas (a proxy with its own limit may differ)")
    batch_calls: int = Field(1000, ge=1, le=1000, description="calls per batch request (Google's limit: 1000)")
    page_size: int = Field(200, ge=1, le=200, description="items per listing page (groups.list allows 200)")
    timeout: float = Field(60, gt=0)

    @field_validator("api_endpoint", "groups_settings_endpoint", "chat_endpoint")
    @classmethod
    def _slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("admin")
    @classmethod
    def _email(cls, value: str) -> str:
        if "@" not in value:
            raise ValueError("the delegated administrator's email address (admin@example.com)")
        return value.strip()

    @model_validator(mode="after")
    def _https(self) -> "GoogleSettings":
        for url in (self.api_endpoint, self.groups_settings_endpoint, self.chat_endpoint, self.token_uri):
            if not url.startswith("https://"):
                raise ValueError(f"{url}: Google's APIs and any proxy in front of them are https:// only")
        return self
