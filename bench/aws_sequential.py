"""The baseline for benchmark 3: a straightforward, sequential boto3 script that makes the calls `revoke apply` makes.

For every account of the organization (assuming OrganizationAccountAccessRole in member accounts), for every
leaver: read what is there (access keys, console password, groups, attached policies, tags), deactivate the keys,
delete the console password, leave the groups, detach the policies, tag the user, then read it all back (a missing
console password is checked against the user existing, as revoke does). One call at a time.

    python bench/aws_sequential.py ENDPOINT_URL USER_PREFIX COUNT    # credentials from AWS_ACCESS_KEY_ID/...
"""

from __future__ import annotations

import sys

import boto3
from botocore.exceptions import ClientError

MANAGEMENT_ACCOUNT = "123456789012"


def missing(fn, **kw):  # type: ignore[no-untyped-def]
    try:
        fn(**kw)
        return False
    except ClientError as err:
        if err.response["Error"]["Code"] == "NoSuchEntity":
            return True
        raise


def main(url: str, prefix: str, count: int) -> None:
    base = boto3.session.Session(region_name="us-east-1")
    org = base.client("organizations", endpoint_url=url)
    accounts = [a["Id"] for page in org.get_paginator("list_accounts").paginate() for a in page["Accounts"]
                if a.get("Status", a.get("State")) == "ACTIVE"]
    sts = base.client("sts", endpoint_url=url)
    names = [f"{prefix}{i:02d}" for i in range(count)]
    for account in accounts:
        if account == MANAGEMENT_ACCOUNT:
            iam = base.client("iam", endpoint_url=url)
        else:
            c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
                                RoleSessionName="offboarding")["Credentials"]
            iam = base.client("iam", endpoint_url=url, aws_access_key_id=c["AccessKeyId"],
                              aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
        for user in names:
            keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
            has_password = not missing(iam.get_login_profile, UserName=user)
            groups = iam.list_groups_for_user(UserName=user)["Groups"]
            policies = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
            iam.list_user_tags(UserName=user)
            for key in keys:
                iam.update_access_key(UserName=user, AccessKeyId=key["AccessKeyId"], Status="Inactive")
            if has_password:
                iam.delete_login_profile(UserName=user)
            for group in groups:
                iam.remove_user_from_group(GroupName=group["GroupName"], UserName=user)
            for policy in policies:
                iam.detach_user_policy(UserName=user, PolicyArn=policy["PolicyArn"])
            iam.tag_user(UserName=user, Tags=[{"Key": "offboarded", "Value": "yes"}])
            # verify
            assert all(k["Status"] == "Inactive" for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"])
            if missing(iam.get_login_profile, UserName=user):
                iam.get_user(UserName=user)
            assert not iam.list_groups_for_user(UserName=user)["Groups"]
            assert not iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
            assert iam.list_user_tags(UserName=user)["Tags"]


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
