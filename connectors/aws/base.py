"""What the AWS connectors share: settings, credentials, one client per account and service, accounts, errors.

Credentials come from the runbook's secret references (through `Secrets`) or, when it names none, from boto3's
default chain (environment, profile, SSO cache, instance role); never from the runbook itself. Every client makes
one attempt per call (botocore's retries off): a throttled or failed call goes to the engine as a retryable
ActionFailed, and the engine decides: a read is repeated within the system's budget, a write is read back first
(it may have been carried out anyway). Clients are made once per (account, service) under a lock and then shared
by the engine's threads: botocore clients are thread-safe, sessions are not.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import threading
from typing import Any, Callable, ClassVar, Iterable, Sequence

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError, SSLError
from botocore.parsers import ResponseParserError, ResponseParserFactory
from botocore.utils import parse_timestamp
from pydantic import BaseModel, ConfigDict, Field

from revoke import __version__
from revoke.actions import ActionKind
from revoke.connector import Connector
from revoke.errors import ActionFailed, ConnectionFailed, NotSupported, RevokeError
from revoke.runbook import SecretRef
from revoke.secrets import Secrets

THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
             "RequestThrottled", "SlowDown", "ConcurrentModification", "ConcurrentModificationException"}
UNSUPPORTED = {"NotImplemented", "NotImplementedException", "InvalidAction", "UnknownOperation",
               "UnknownOperationException"}
# what botocore raises: a parser error is no BotoCoreError, and an emulator lacking a call causes one
AWS_ERRORS = (ClientError, BotoCoreError, ResponseParserError)


class AwsSettings(BaseModel):
    """Settings both AWS connectors take under `systems.NAME.settings`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = Field("us-east-1", description="the region STS and IAM Identity Center are called in")
    endpoint_url: str | None = Field(None, description="another endpoint, e.g. moto's server for a rehearsal",
                                     examples=["http://127.0.0.1:5000"])
    ca_bundle: str | None = Field(None, description="CA bundle for TLS to AWS (a corporate proxy's CA)")
    profile: str | None = Field(None, description="a named profile of the AWS config files")
    access_key_id: SecretRef | None = Field(None, description="with secret_access_key; without them, boto3's "
                                            "own chain (environment, profile, instance role)")
    secret_access_key: SecretRef | None = Field(None, description="with access_key_id")
    session_token: SecretRef | None = Field(None, description="for temporary credentials")


def request_id(response: dict[str, Any]) -> str | None:
    return (response.get("ResponseMetadata") or {}).get("RequestId")


def translate(err: Exception, what: str) -> RevokeError:
    """A botocore exception as revoke's error, once, at the connector's edge. No secret is in these messages:
    AWS error messages name resources, never credentials."""
    if isinstance(err, RevokeError):
        return err
    if isinstance(err, ClientError):
        error = err.response.get("Error") or {}
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")).strip()
        rid = request_id(err.response)
        ids = [rid] if rid else []
        status = (err.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if code in UNSUPPORTED or _html_page(message):
            return NotSupported(f"{what}: not supported here: the endpoint does not implement this call "
                                f"({code or status})")
        if code in THROTTLED:
            return ActionFailed(f"{what}: AWS throttled the call ({code}); lower the system's concurrency if "
                                "it persists", retryable=True, request_ids=ids)
        if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
            return ActionFailed(f"{what}: access denied ({message}); `revoke permissions RUNBOOK` prints the "
                                "policy the role needs", request_ids=ids)
        retryable = isinstance(status, int) and status >= 500
        return ActionFailed(f"{what}: {code}: {message}", retryable=retryable, request_ids=ids)
    if isinstance(err, ResponseParserError):
        if _html_page(str(err)):
            return NotSupported(f"{what}: not supported here: the endpoint answered an error page instead of an "
                                "AWS answer, so it does not implement this call")
        return ActionFailed(f"{what}: unreadable answer from AWS", retryable=True)
    if isinstance(err, BotoCoreError):
        return ActionFailed(f"{what}: {err}", retryable=True)
    raise err


def _html_page(text: str) -> bool:
    # AWS answers API errors as XML or JSON documents; an HTML page comes from an emulator lacking the call.
    return "<!doctype html" in text.lower() or "<html" in text.lower()


def error_code(err: ClientError) -> str:
    return str((err.response.get("Error") or {}).get("Code", ""))


class Unproven(ActionFailed):
    """An answer that does not prove the state it was read for (its list missing, an entry without its id):
    read-back records it as `unverifiable` with this reason."""


def page_items(page: dict[str, Any], key: str, what: str) -> list[Any]:
    """The items of one page; a page without its list (an empty 200, a member dropped) proves nothing."""
    items = page.get(key)
    if not isinstance(items, list):
        raise Unproven(f"AWS answered {what} without {key}")
    return items


def pages(what: str, client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """Every item of a paged list call."""
    out: list[Any] = []
    try:
        for page in client.get_paginator(operation).paginate(**kwargs):
            out.extend(page_items(page, key, what))
    except AWS_ERRORS as err:
        raise translate(err, what) from None
    return out


def complete(items: list[Any], what: str, *fields: str) -> list[Any]:
    """`items` when every one carries `fields`; an entry without them proves nothing about the others either."""
    if not all(isinstance(i, dict) and all(i.get(f) is not None for f in fields) for i in items):
        raise Unproven(f"AWS answered {what} with entries lacking {', '.join(fields)}")
    return items


MISSING = object()  # what a read answered "not found" is remembered as


class Memo:
    """Each AWS read made once per run: a not-found answer is remembered as MISSING, any other error is
    translated once, here, naming `what` was read."""

    def __init__(self, not_found: Iterable[str], where: str = ""):
        self.not_found = set(not_found)
        self.where = where
        self._values: dict[str, Any] = {}

    def once(self, what: str, fn: Callable[[], Any]) -> Any:
        if what not in self._values:
            try:
                self._values[what] = fn()
            except ClientError as err:
                if error_code(err) not in self.not_found:
                    raise translate(err, what + self.where) from None
                self._values[what] = MISSING
            except AWS_ERRORS as err:
                raise translate(err, what + self.where) from None
        return self._values[what]


def policy_document(read: Iterable[str], write: Iterable[str]) -> str:
    """An IAM policy JSON granting exactly these actions, read and write in separate statements."""
    statements = []
    for sid, actions in (("RevokeDiscoverAndVerify", sorted(set(read))), ("RevokeChange", sorted(set(write)))):
        if actions:
            statements.append({"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": "*"})
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2)


def loads(doc: Any) -> dict[str, Any]:
    """A policy document as a dict: boto3 decodes IAM's URL-encoded JSON already, sso-admin gives a string."""
    if isinstance(doc, dict):
        return doc
    if not doc:
        return {}
    return json.loads(doc)


def timestamp(value: Any) -> Any:
    """A response timestamp as botocore's own parser gives it, for the ISO 8601 form IAM, STS and Organizations
    answer in without dateutil. botocore's parser makes a tzlocal() and runs dateutil on every value: a tenth of
    revoke's CPU on an IAM apply (a GetAccountAuthorizationDetails page carries a date per user, group and
    policy). Anything else (epoch seconds, RFC 822) goes to botocore's parser."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    return parse_timestamp(value)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class _RoleCredentials(RefreshableCredentials):
    """A role's temporary credentials, refreshed by botocore before they expire. Every request asks whether they
    are about to; botocore's default clock for that is `datetime.now(tzlocal())`, whose dateutil time zone costs
    more than the rest of the question (about 3% of revoke's CPU on an IAM apply). The expiry is an aware datetime,
    so UTC's now answers the same."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("time_fetcher", _utc_now)
        super().__init__(*args, **kwargs)


def _response_parsers() -> ResponseParserFactory:
    factory = ResponseParserFactory()
    factory.set_parser_defaults(timestamp_parser=timestamp)
    return factory


class AwsSessions:
    """Clients for the base credentials and, per account, for a role assumed there (refreshed before expiry)."""

    def __init__(self, settings: AwsSettings, secrets: Secrets, system: str):
        self.settings = settings
        self.system = system
        self._lock = threading.Lock()
        self._clients: dict[tuple[str | None, str], Any] = {}
        self._sessions: dict[str | None, boto3.session.Session] = {}
        key = secrets.get(settings.access_key_id)
        secret = secrets.get(settings.secret_access_key)
        if bool(key) != bool(secret):
            raise ConnectionFailed(system, "access_key_id and secret_access_key must be set together")
        base = botocore.session.Session(profile=settings.profile)
        if key and secret:
            base.set_credentials(key, secret, secrets.get(settings.session_token))
        base.register_component("response_parser_factory", _response_parsers())
        self._sessions[None] = boto3.session.Session(botocore_session=base, region_name=settings.region)
        # One attempt per call: retries and waits are the engine's (see the module's docstring). The engine's
        # workers of one system (at most 64) share each account's client: with botocore's default pool of 10
        # connections, the others would open and close a connection per call. The User-Agent is given whole:
        # botocore's own is assembled twice per request from a dozen sanitised parts (about a tenth of a call's
        # CPU in revoke), and CloudTrail shows this one as revoke's.
        self.config = Config(region_name=settings.region, retries={"mode": "standard", "total_max_attempts": 1},
                             user_agent=f"revoke/{__version__} Python/{platform.python_version()}",
                             max_pool_connections=64)

    def client(self, service: str, account: str | None = None) -> Any:
        """A client in `account` (None: the base credentials), made once and shared."""
        with self._lock:
            found = self._clients.get((account, service))
            if found is None:
                found = self._sessions[account].client(service, endpoint_url=self.settings.endpoint_url,
                                                       config=self.config, verify=self.settings.ca_bundle)
                self._clients[(account, service)] = found
            return found

    def caller_identity(self) -> dict[str, str]:
        """Who the base credentials are (sts:GetCallerIdentity); the identity in an account entered through a role
        comes from AssumeRole's answer (see `enter`)."""
        try:
            got = self.client("sts").get_caller_identity()
        except AWS_ERRORS as err:
            reason = translate(err, "sts:GetCallerIdentity")
            if isinstance(err, (EndpointConnectionError, ConnectTimeoutError, SSLError)):
                # nothing answered: the credentials were never tried
                where = self.settings.endpoint_url or "the AWS endpoint"
                raise ConnectionFailed(self.system, f"cannot reach {where} ({reason}); check endpoint_url, the "
                                       "network or proxy, and ca_bundle for a TLS proxy") from None
            raise ConnectionFailed(self.system, f"the credentials do not work ({reason})") from None
        return {"account": got["Account"], "arn": got["Arn"], "user_id": got["UserId"]}

    def enter(self, account: str, role_arn: str, session_name: str, external_id: str | None) -> dict[str, str]:
        """Make `account`'s clients act as `role_arn`, assumed now from the base credentials and again by botocore
        before the temporary credentials expire. Returns the identity revoke acts as there, as GetCallerIdentity
        would give it: AssumeRole's answer already names it (`AssumedRoleUser.Arn`, the session's ARN
        arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION, and `AssumedRoleId`, ROLEID:SESSION, which is what
        GetCallerIdentity answers as `UserId` for a role session), so no call to sts:GetCallerIdentity is needed.
        Raises ConnectionFailed when the role cannot be assumed."""
        extra: dict[str, Any] = {"RoleSessionName": session_name}
        if external_id:
            extra["ExternalId"] = external_id
        identity: dict[str, str] = {}

        def assume() -> dict[str, Any]:
            got = self.client("sts").assume_role(RoleArn=role_arn, **extra)
            user, creds = got["AssumedRoleUser"], got["Credentials"]
            identity.update(account=user["Arn"].split(":")[4], arn=user["Arn"], user_id=user["AssumedRoleId"])
            expiry = creds["Expiration"]
            return {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
                    "token": creds["SessionToken"],
                    "expiry_time": expiry.isoformat() if hasattr(expiry, "isoformat") else str(expiry)}

        try:
            first = assume()
        except AWS_ERRORS as err:
            reason = translate(err, "sts:AssumeRole")
            raise ConnectionFailed(self.system, f"cannot act in account {account} through {role_arn} ({reason}); "
                                   "check that the role exists there and trusts the credentials revoke starts "
                                   "from") from None
        creds = _RoleCredentials.create_from_metadata(first, refresh_using=assume, method="assume-role")
        core = botocore.session.Session()
        core._credentials = creds  # botocore's way to give a session ready credentials (no public setter)
        # shared by all accounts: the service models, read and parsed once (a loader of its own costs each
        # account's first client about 50 ms of CPU: 52 ms measured, 10 ms shared), and the timestamp parser
        for shared in ("data_loader", "response_parser_factory"):
            core.register_component(shared, self._sessions[None]._session.get_component(shared))
        with self._lock:
            self._sessions.setdefault(account, boto3.session.Session(botocore_session=core,
                                                                     region_name=self.settings.region))
        return dict(identity)

    def alias(self, account: str) -> None:
        """Let `account` use the base credentials (the caller's own account)."""
        with self._lock:
            self._sessions.setdefault(account, self._sessions[None])

    def organization_accounts(self) -> list[dict[str, str]]:
        """Every ACTIVE account of the organization the base credentials belong to."""
        try:
            found = pages("organizations:ListAccounts", self.client("organizations"), "list_accounts", "Accounts")
        except RevokeError as err:
            raise ConnectionFailed(self.system, f"cannot list the organization's accounts ({err}); list them "
                                   "under settings.accounts instead") from None
        out = []
        for acct in found:
            # AWS added `State` in 2025 and deprecated `Status`; read whichever the endpoint sends.
            state = acct.get("State") or acct.get("Status")
            if state == "ACTIVE":
                out.append({"id": acct["Id"], "name": acct.get("Name", "")})
        return out


class AwsConnector(Connector):
    """What both AWS connectors share: their account sessions, and an IAM policy as their permission document."""

    permission_format: ClassVar[str] = "iam-policy"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.sessions = AwsSessions(self.settings, self.secrets, self.system)

    @classmethod
    def permissions_document(cls, kinds: Sequence[type[ActionKind]]) -> str:
        return policy_document(cls.read_permissions, [p for k in kinds for p in k.permissions])
