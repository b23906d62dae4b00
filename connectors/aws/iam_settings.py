"""The `aws-iam` connector's settings (`systems.NAME.settings` of a runbook)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from revoke.connectors.aws.base import AwsSettings
from revoke.runbook import SecretRef


class AwsIamSettings(AwsSettings):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "region": "us-east-1", "accounts": ["111122223333", "444455556666"],
        "role_name": "OrganizationAccountAccessRole"}]})

    accounts: list[str] | None = Field(None, description="account ids; default: every ACTIVE account of the org",
                                       examples=[["111122223333"]])
    role_name: str = Field("OrganizationAccountAccessRole", description="the role assumed in each account")
    external_id: SecretRef | None = Field(None, description="the external id that role's trust policy asks for")
    session_name: str = Field("revoke", description="the role session's name (in CloudTrail)")
    assume_role_in_caller_account: bool = Field(False, description="assume role_name in the credentials' own "
                                                "account too (default: act there directly)")
    max_accounts_in_parallel: int = Field(4, ge=1, le=32, description="accounts discovered at once")
    # other principals of a person (a contractor's own account or user) to take out of trust policies, by name
    principals: dict[str, list[str]] = Field(default_factory=dict, description="other principals of a person "
                                             "(by runbook name) to take out of trust policies",
                                             examples=[{"Alice Example": ["arn:aws:iam::999988887777:root"]}])
    revoked_sessions_max_age_hours: int = Field(12, ge=1, le=168, description="how far back "
                                                "AWSRevokeOlderSessions denies role sessions")
    empty_trust_policy: Literal["deny", "delete-role", "ask"] = Field(
        "deny", description="a role trusted by leavers only (taking them out would leave its trust policy empty): "
        "deny them in it with an explicit Deny (restorable), delete the role, or ask a person")
    delete_account: bool = Field(False, description="also plan delete-account for each leaver's IAM users (never "
                                 "the default; put it in a later stage: stages: [{after: 30d, kinds: "
                                 "[delete-account]}])")
