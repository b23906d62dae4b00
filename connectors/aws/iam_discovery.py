"""What `aws-iam` discovery finds in one account, from one account-wide listing of its users and roles: each
leaver's IAM user (credentials, MFA devices, groups, policies, the tag) and the roles whose trust policy names a
leaver. Every step's before-state is read through the account's `IamReader`, as its read-back will be.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from revoke.actions import ActionKind
from revoke.connector import Step, Subject
from revoke.connectors.aws import trust
from revoke.connectors.aws.base import MISSING, loads
from revoke.connectors.aws.iam_account import IamReader, iso
from revoke.connectors.aws.iam_delete import DeleteAccount, delete_state
from revoke.connectors.aws.iam_kinds import (
    DeactivateAccessKey,
    DeactivateMfaDevice,
    DeactivateServiceCredential,
    DeactivateSigningCertificate,
    DeactivateSshKey,
    DeleteConsolePassword,
    DeleteRole,
    DeleteUserInlinePolicy,
    DenyTrust,
    DetachUserPolicy,
    IamKind,
    RemoveFromGroup,
    RemoveTrust,
    RevokeRoleSessions,
    TagUser,
    state_of,
)
from revoke.connectors.aws.iam_settings import AwsIamSettings
from revoke.errors import NotSupported


def matches(subject: Subject, user: dict[str, Any]) -> bool:
    ident = subject.ident
    if ident.startswith("arn:"):
        return user["Arn"].casefold() == ident.casefold()
    return user["UserName"].casefold() == ident.casefold()


def leaver_principals(settings: AwsIamSettings, partition: str, accounts: Sequence[str],
                      subjects: Sequence[Subject]) -> dict[str, list[str]]:
    """Person -> principals naming them in any trust policy of any of our accounts."""
    out: dict[str, list[str]] = {}
    for subject in subjects:
        names = list(settings.principals.get(subject.person, []))
        if subject.ident.startswith("arn:"):
            names.append(subject.ident)
        else:
            # users anywhere in our accounts, trusted across accounts too (users with a path are added by
            # discovery from their real ARN)
            names += [f"arn:{partition}:iam::{a}:user/{subject.ident}" for a in accounts]
        out[subject.person] = names
    return out


class AccountDiscovery:
    """The steps for a run's leavers in one account."""

    def __init__(self, settings: AwsIamSettings, reader: IamReader, since: dt.datetime):
        self.settings = settings
        self.reader = reader  # groups, policies and tags of every listed user come from the listing it holds
        self.account = reader.account
        self.since = since

    def steps(self, users: list[dict[str, Any]], roles: list[dict[str, Any]], subjects: Sequence[Subject],
              principals: dict[str, list[str]]) -> tuple[list[Step], set[str]]:
        """The steps, and the people they are for. `principals` (see `leaver_principals`) gains each leaver's
        users' real ARNs."""
        steps: list[Step] = []
        seen: set[str] = set()
        for subject in subjects:
            for user in users:
                if matches(subject, user):
                    seen.add(subject.person)
                    principals[subject.person].append(user["Arn"])  # the real ARN: a user may have a path
                    steps += self.user_steps(subject, user)
        for role in roles:
            role_steps = self.role_steps(role, principals, subjects)
            if role_steps:
                seen |= {s.person for s in role_steps if s.person}
                steps += role_steps
        return steps, seen

    def step(self, kind: type[ActionKind], params: dict[str, Any], *, resource: str, principal: str | None,
             subject: Subject | None, label: str, outcome: str | None = None, note: str = "") -> Step:
        # a call the endpoint lacks has no state to record; anything else records what is there
        before = {} if outcome == "not_supported" else state_of(kind.name, self.reader, params, self.since)
        return Step(kind=kind.name, resource=resource, before=before,
                    needed=outcome is not None or not kind.is_done(before), principal=principal,
                    person=subject.person if subject else None, params=params, label=label, outcome=outcome,
                    note=note)

    def user_steps(self, subject: Subject, user: dict[str, Any]) -> list[Step]:
        """One leaver's IAM user: each credential, membership and policy, and the tag."""
        r, account = self.reader, self.account
        name, arn = user["UserName"], user["Arn"]
        base = {"account": account, "user": name}
        where = f"{name} in {account}"
        out: list[Step] = []

        def add(kind: type[ActionKind], resource: str, label: str, **extra: Any) -> None:
            out.append(self.step(kind, {**base, **extra}, resource=resource, principal=arn, subject=subject,
                                 label=label))

        for key in _items(r.access_keys(name)):
            add(DeactivateAccessKey, key["AccessKeyId"], f"{key['AccessKeyId']} of {where}",
                key_id=key["AccessKeyId"], created=iso(key.get("CreateDate")))
        if r.login_profile(name) is not MISSING:
            add(DeleteConsolePassword, arn, where)
        for key in _items(r.ssh_keys(name)):
            add(DeactivateSshKey, key["SSHPublicKeyId"], f"{key['SSHPublicKeyId']} of {where}",
                ssh_key_id=key["SSHPublicKeyId"])
        for cert in _items(r.certificates(name)):
            add(DeactivateSigningCertificate, cert["CertificateId"], f"{cert['CertificateId'][:12]}… of {where}",
                certificate_id=cert["CertificateId"])
        try:
            for cred in _items(r.service_credentials(name)):
                add(DeactivateServiceCredential, cred["ServiceSpecificCredentialId"],
                    f"{cred.get('ServiceName', '')} {cred['ServiceSpecificCredentialId']} of {where}",
                    credential_id=cred["ServiceSpecificCredentialId"])
        except NotSupported as err:
            out.append(self.step(DeactivateServiceCredential, base, resource=f"{arn}/service-specific-credentials",
                                 principal=arn, subject=subject, label=f"service-specific credentials of {where}",
                                 outcome="not_supported",
                                 note=f"{err}; service-specific credentials (CodeCommit, Keyspaces, Bedrock) of "
                                 "this user were not checked"))
        for device in _items(r.mfa_devices(name)):
            add(DeactivateMfaDevice, device["SerialNumber"], f"{device['SerialNumber']} of {where}",
                serial=device["SerialNumber"])
        for group in user.get("GroupList", []):
            group_arn = f"arn:{arn.split(':')[1]}:iam::{account}:group/{group}"
            add(RemoveFromGroup, group_arn, f"{group} ({where})", group=group)
        for policy in user.get("AttachedManagedPolicies", []):
            add(DetachUserPolicy, policy["PolicyArn"], f"{policy['PolicyName']} from {where}",
                policy_arn=policy["PolicyArn"])
        for policy in user.get("UserPolicyList", []):
            add(DeleteUserInlinePolicy, f"{arn}/inline-policy/{policy['PolicyName']}",
                f"{policy['PolicyName']} of {where}", policy_name=policy["PolicyName"])
        add(TagUser, arn, where)
        if self.settings.delete_account:
            out.append(Step(kind=DeleteAccount.name, resource=arn, before=delete_state(r.iam, name), needed=True,
                            principal=arn, person=subject.person, params=base, label=where))
        return out

    def role_steps(self, role: dict[str, Any], principals: dict[str, list[str]], subjects: Sequence[Subject]
                   ) -> list[Step]:
        """A role whose trust policy names a leaver: the leaver out of it (or denied, or the role deleted, as
        settings.empty_trust_policy says when only leavers are trusted), and its older sessions denied."""
        account = self.account
        if role.get("Path", "/").startswith("/aws-service-role/"):
            return []  # service-linked roles trust AWS services only and cannot be edited
        doc = loads(role.get("AssumeRolePolicyDocument"))
        named: list[tuple[Subject, str, list[str]]] = []
        for subject in subjects:
            match = principals.get(subject.person, [])
            for key_principal in _named_principals(doc, match):
                named.append((subject, key_principal, match))
        if not named:
            return []
        all_match = [m for _, _, match in named for m in match]
        # nobody but leavers is trusted: no Allow would be left (a Deny revoke added before does not count)
        left_empty = not any(st.get("Effect") == "Allow" for st in trust.statements(trust.without(doc, all_match)))
        name, arn = role["RoleName"], role["Arn"]
        first = named[0][0]
        choice = self.settings.empty_trust_policy if left_empty else None
        if choice == "delete-role":  # its sessions end with it: no AWSRevokeOlderSessions for a deleted role
            return [self.step(DeleteRole, {"account": account, "role": name}, resource=arn, principal=None,
                              subject=first, label=f"{name} in {account}",
                              note="its trust policy names leavers only (empty_trust_policy: delete-role)")]
        out = []
        for subject, principal, match in named:
            params = {"account": account, "role": name, "principal": principal,
                      "match": [m for m in match if trust.norm_principal(m) == trust.norm_principal(principal)]
                      or [principal]}
            kind: type[IamKind] = RemoveTrust
            note, outcome = "", None
            if choice == "deny":
                kind, note = DenyTrust, "taking the leavers out would leave the trust policy empty"
                params["deny"] = trust.deny_actions(doc, params["match"])
            elif choice == "ask":
                outcome = "attention"
                note = (f"removing the leavers from the trust policy of {name} in {account} would leave it with no "
                        "statement: decide whether to delete the role or name another principal, then edit it")
            out.append(self.step(kind, params, resource=arn, principal=principal, subject=subject,
                                 label=f"{name} in {account} ({principal})", outcome=outcome, note=note))
        out.append(self.step(RevokeRoleSessions, {"account": account, "role": name,
                                                      "max_age_hours": self.settings.revoked_sessions_max_age_hours},
                             resource=arn, principal=None, subject=first, label=f"{name} in {account}"))
        return out


def _items(found: Any) -> list[dict[str, Any]]:
    return [] if found is MISSING else list(found)


def _named_principals(doc: dict[str, Any], match: list[str]) -> list[str]:
    """The principals as written in `doc` that denote one of `match`, once each."""
    wanted = {trust.norm_principal(m) for m in match}
    out: list[str] = []
    for st in trust.statements(doc):
        if st.get("Effect") != "Allow":
            continue
        for p in trust.aws_principals(st):
            if trust.norm_principal(p) in wanted and p not in out:
                out.append(p)
    return out
