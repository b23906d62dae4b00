"""The `slack` connector's settings: the bot token, which channels are the engagement's, what closing does, and
SCIM deactivation (an admin token) for ending the leavers' sessions."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from revoke.runbook import SecretRef


class SlackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "token": {"secret": "slack_token"}, "channel_prefix": "acme-",
        "closing_message": "This engagement has ended; the channel is archived. Thank you!"}]})

    token: SecretRef = Field(description="the app's bot token (xoxb-...)", examples=[{"secret": "slack_token"}])
    base_url: str = Field("https://slack.com/api/", description="the Web API root (another only for a rehearsal "
                          "against a fake)")
    channels: list[str] = Field(default_factory=list, description="channel names (#acme-dev) or ids (C0123...)")
    channel_prefix: str | None = Field(None, description="every channel whose name starts so: acme- or #acme-*")
    closing_message: str | None = Field(None, description="posted in each channel before it is archived")
    archive: bool = Field(True, description="archive the engagement's channels (false: only remove the leavers)")
    include_shared: bool = Field(False, description="archive Slack Connect channels too (it closes them for the "
                                 "other organisation as well)")
    scan_all_channels: bool = Field(False, description="remove the leavers from every channel the app can see, "
                                    "not only the engagement's")
    scim_deactivate: bool = Field(False, description="deactivate the leavers' Slack accounts through SCIM (needs "
                                  "scim_token; ends every session)")
    scim_token: SecretRef | None = Field(None, description="SCIM token of an Org Owner/Admin (admin scope)")
    scim_url: str = Field("https://api.slack.com/scim/v2/", description="the SCIM API root")
    timeout: int = Field(30, ge=1, description="seconds to wait for an answer")

    @field_validator("base_url", "scim_url")
    @classmethod
    def _slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("channel_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is None:
            return None
        cleaned = value.strip().lstrip("#").rstrip("*")
        if not cleaned:
            raise ValueError("the prefix is empty: it would match every channel; list the channels instead")
        return cleaned

    @model_validator(mode="after")
    def _scim(self) -> "SlackSettings":
        if self.scim_deactivate and self.scim_token is None:
            raise ValueError("scim_deactivate needs scim_token: {secret: NAME} (an admin token for Slack's SCIM API)")
        return self
