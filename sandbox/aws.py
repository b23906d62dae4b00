"""AWS emulated by moto's server on loopback, and an engagement seeded into it.

`revoke demo` and the tests use this to rehearse a runbook against an organization of several accounts without
touching AWS. Unmodified boto3 talks to the server through `endpoint_url`. moto keys its state by account: a client
whose access key moto does not know acts in the management account 123456789012, and the credentials that
`sts:AssumeRole` returns for `arn:aws:iam::ACCOUNT:role/...` act in ACCOUNT, which is how one server holds a whole
organization. moto's state lives in the process, so two servers in one process share it: `start()` and `reset()`
clear it, and only one of them should be in use at a time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

import boto3
import requests
from botocore.config import Config

REGION = "us-east-1"
MANAGEMENT_ACCOUNT = "123456789012"  # moto's default account, which owns the organization it creates
ACCESS_ROLE = "OrganizationAccountAccessRole"
EXTERNAL_PRINCIPAL = "arn:aws:iam::444455556666:root"  # a partner account trusted by a role; not leaving


class MotoServer:
    """moto's ThreadedMotoServer on 127.0.0.1 and a free port. Use as a context manager or start()/stop()."""

    def __init__(self, *, load_aws_managed_policies: bool = False):
        # AWS managed policies exist in moto only with this variable; loading them costs seconds per account.
        self.load_aws_managed_policies = load_aws_managed_policies
        self._server: Any = None
        self.url = ""

    def start(self) -> "MotoServer":
        from moto.server import ThreadedMotoServer

        if self.load_aws_managed_policies:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        _list_moto_modules_once()
        # werkzeug logs an access line per request and a traceback for every call moto lacks
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        # Port 0: the operating system picks a free port at bind time, so two runs never race for one.
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        # moto's state belongs to the process, not the server: a server started after another one (a test run,
        # then the demo) would find the earlier organization and users. Each server starts from an empty AWS.
        self.reset()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def reset(self) -> None:
        """Forget every account, user and organization (moto's own reset endpoint)."""
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def __enter__(self) -> "MotoServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _list_moto_modules_once() -> None:
    """moto's server lists and stats its own package directory (about 180 entries) on every request to route it;
    the list cannot change while the process runs, so it is read once. A third of a call's cost in moto 5.2 (3.8 ms
    to 3.0 ms for a cheap IAM read), which is the emulator's cost and not AWS's."""
    import moto.backends

    if getattr(moto.backends.list_of_moto_modules, "revoke_listed_once", False):
        return
    names = tuple(moto.backends.list_of_moto_modules())

    def listed() -> tuple[str, ...]:
        return names

    listed.revoke_listed_once = True  # type: ignore[attr-defined]
    moto.backends.list_of_moto_modules = listed


def fake_credentials() -> dict[str, str]:
    """Throwaway credentials for talking to moto: made up per run, never real ones."""
    return {"aws_access_key_id": "AKIA" + secrets.token_hex(8).upper(),
            "aws_secret_access_key": secrets.token_urlsafe(30)}


def client(url: str, service: str, credentials: dict[str, str], **extra: Any) -> Any:
    # One attempt only: moto answers an unimplemented call with a 500 that botocore would otherwise retry for seconds.
    return boto3.client(service, endpoint_url=url, region_name=REGION,
                        config=Config(retries={"total_max_attempts": 1}), **credentials, **extra)


def account_credentials(url: str, credentials: dict[str, str], account: str) -> dict[str, str]:
    """Credentials acting in `account`: the base ones for the management account, else assumed into it."""
    if account == MANAGEMENT_ACCOUNT:
        return credentials
    sts = client(url, "sts", credentials)
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ACCESS_ROLE}",
                        RoleSessionName="sandbox-seed")["Credentials"]
    return {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"]}


@dataclass
class SeededAws:
    """What `seed_engagement` built, so a demo or a test can name it."""

    url: str
    credentials: dict[str, str]
    accounts: list[str]
    leavers: list[str]
    stayers: list[str]
    external_principal: str
    contractor_principal: str        # an external principal of a leaver, named in the runbook
    instance_arn: str = ""
    identity_store_id: str = ""
    sso_users: dict[str, str] = field(default_factory=dict)        # user name -> identity store user id
    sso_groups: dict[str, str] = field(default_factory=dict)       # display name -> group id
    permission_sets: dict[str, str] = field(default_factory=dict)  # name -> permission set ARN

    def client(self, service: str, account: str = MANAGEMENT_ACCOUNT) -> Any:
        return client(self.url, service, account_credentials(self.url, self.credentials, account))


def _trust(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow_assume(principal: Any, sid: str | None = None) -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    if sid:
        st["Sid"] = sid
    return st


def _self_signed_certificate(name: str) -> str:
    # cryptography comes with moto, which validates the certificate body of UploadSigningCertificate.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _ssh_public_key(name: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + f" {name}"


def _seed_user(iam: Any, account: str, name: str, groups: list[str], policy_arn: str) -> None:
    iam.create_user(UserName=name, Tags=[{"Key": "team", "Value": "engagement"}])
    iam.create_login_profile(UserName=name, Password=secrets.token_urlsafe(16) + "aA1!")
    for _ in range(2):
        iam.create_access_key(UserName=name)
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{name}-phone")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName=name, SerialNumber=serial, AuthenticationCode1="123456",
                          AuthenticationCode2="654321")
    iam.upload_ssh_public_key(UserName=name, SSHPublicKeyBody=_ssh_public_key(f"{name}@laptop"))
    iam.upload_signing_certificate(UserName=name, CertificateBody=_self_signed_certificate(name))
    for group in groups:
        iam.add_user_to_group(GroupName=group, UserName=name)
    iam.attach_user_policy(UserName=name, PolicyArn=policy_arn)
    iam.put_user_policy(UserName=name, PolicyName=f"{name}-scratch-bucket", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": f"arn:aws:s3:::scratch-{account}-{name}/*"}]}))


def _seed_account(seeded: SeededAws, account: str) -> None:
    iam = seeded.client("iam", account)
    arn = f"arn:aws:iam::{account}:"
    for group in ("developers", "deployers"):
        iam.create_group(GroupName=group)
    policy_arn = iam.create_policy(PolicyName="engagement-read", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["ec2:Describe*", "s3:List*"], "Resource": "*"}]}))["Policy"]["Arn"]
    _seed_user(iam, account, "alice", ["developers", "deployers"], policy_arn)
    _seed_user(iam, account, "bob", ["developers"], policy_arn)
    _seed_user(iam, account, "carol", ["developers", "deployers"], policy_arn)
    alice, bob, carol = (f"{arn}user/{n}" for n in ("alice", "bob", "carol"))
    roles = {
        # one statement naming a leaver and a stayer: the leaver goes, the statement stays
        "deploy": _trust(_allow_assume({"AWS": [alice, carol]}, "Engineers")),
        # a statement naming only the leaver goes; the partner account's statement stays
        "audit": _trust(_allow_assume({"AWS": alice}, "Alice"), _allow_assume({"AWS": EXTERNAL_PRINCIPAL}, "Partner")),
        # trusts only the leaver: removing her would leave no statement, which needs a person's decision
        "alice-sandbox": _trust(_allow_assume({"AWS": alice})),
        # the contractor's own account is trusted; the runbook names that principal for bob
        "vendor-access": _trust(_allow_assume({"AWS": [seeded.contractor_principal, carol]}),
                                _allow_assume({"Service": "ec2.amazonaws.com"})),
        "bob-readonly": _trust(_allow_assume({"AWS": [bob, EXTERNAL_PRINCIPAL]})),
        # trusts no leaver: never touched
        "break-glass": _trust(_allow_assume({"AWS": carol})),
    }
    for name, trust in roles.items():
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName="deploy", PolicyArn=policy_arn)


def seed_identity_center(seeded: SeededAws) -> None:
    sso = seeded.client("sso-admin")
    ids = seeded.client("identitystore")
    instance = sso.list_instances()["Instances"][0]  # moto makes one instance per account on first use
    seeded.instance_arn = instance["InstanceArn"]
    seeded.identity_store_id = store = instance["IdentityStoreId"]
    for name in ("alice", "bob", "carol"):
        user = ids.create_user(IdentityStoreId=store, UserName=name, DisplayName=name.title(),
                               Name={"GivenName": name.title(), "FamilyName": "Example"},
                               Emails=[{"Value": f"{name}@example.com", "Primary": True, "Type": "work"}])
        seeded.sso_users[name] = user["UserId"]
    for group, members in {"Engineers": ["alice", "carol"], "Auditors": ["alice", "bob"], "Ops": ["carol"]}.items():
        gid = ids.create_group(IdentityStoreId=store, DisplayName=group)["GroupId"]
        seeded.sso_groups[group] = gid
        for m in members:
            ids.create_group_membership(IdentityStoreId=store, GroupId=gid,
                                        MemberId={"UserId": seeded.sso_users[m]})
    for ps_name in ("AdministratorAccess", "ReadOnly", "Billing"):
        ps = sso.create_permission_set(InstanceArn=seeded.instance_arn, Name=ps_name, SessionDuration="PT4H")
        seeded.permission_sets[ps_name] = ps["PermissionSet"]["PermissionSetArn"]
    # an inline policy that the session deny must keep
    sso.put_inline_policy_to_permission_set(
        InstanceArn=seeded.instance_arn, PermissionSetArn=seeded.permission_sets["AdministratorAccess"],
        InlinePolicy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "NoLeavingTheOrg", "Effect": "Deny", "Action": "organizations:LeaveOrganization",
             "Resource": "*"}]}))
    a1, a2, a3 = seeded.accounts[:3]
    assignments = [("USER", "alice", "AdministratorAccess", a1), ("USER", "alice", "AdministratorAccess", a2),
                   ("USER", "alice", "ReadOnly", a3), ("USER", "bob", "Billing", a2),
                   ("USER", "carol", "AdministratorAccess", a1), ("GROUP", "Engineers", "ReadOnly", a1),
                   ("GROUP", "Auditors", "Billing", a3)]
    for kind, who, ps_name, account in assignments:
        principal = seeded.sso_users[who] if kind == "USER" else seeded.sso_groups[who]
        sso.create_account_assignment(InstanceArn=seeded.instance_arn, TargetId=account, TargetType="AWS_ACCOUNT",
                                      PermissionSetArn=seeded.permission_sets[ps_name], PrincipalType=kind,
                                      PrincipalId=principal)


def seed_engagement(url: str, *, member_accounts: int = 2, credentials: dict[str, str] | None = None,
                    iam: bool = True, identity_center: bool = True) -> SeededAws:
    """An organization (management account plus `member_accounts`), each account with leavers alice and bob and
    stayer carol holding every kind of IAM credential, roles trusting them, and an Identity Center instance."""
    credentials = credentials or fake_credentials()
    org = client(url, "organizations", credentials)
    org.create_organization(FeatureSet="ALL")
    accounts = [MANAGEMENT_ACCOUNT]
    for i in range(member_accounts):
        status = org.create_account(AccountName=f"engagement-{i + 1}", Email=f"aws-{i + 1}@example.com")
        accounts.append(status["CreateAccountStatus"]["AccountId"])
    seeded = SeededAws(url=url, credentials=credentials, accounts=accounts, leavers=["alice", "bob"],
                       stayers=["carol"], external_principal=EXTERNAL_PRINCIPAL,
                       contractor_principal="arn:aws:iam::999988887777:user/bob-contractor")
    # moto's CreateAccount makes OrganizationAccountAccessRole in the new account, trusting the management
    # account, as AWS Organizations does.
    for account in accounts if iam else []:
        _seed_account(seeded, account)
    if identity_center:
        seed_identity_center(seeded)
    return seeded
