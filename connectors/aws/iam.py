"""The `aws-iam` connector: a leaver's IAM users and the roles that trust them, in every account of an organization.

IAM users have no "disable": the connector deletes the console password, sets access keys, SSH keys, signing
certificates and service-specific credentials Inactive (never deleted: a deleted key loses its evidence), deactivates
MFA, removes group memberships and user policies (documents kept in the before-state) and tags the user. Roles whose
trust policy names a leaver lose that principal (a role trusted by leavers only denies them with an explicit Deny
in its trust policy instead, see `roles.py`), and their sessions issued before now are denied with the inline
policy `AWSRevokeOlderSessions`, as the console's "Revoke active sessions" does: temporary credentials cannot be
revoked, only denied.

Accounts come from settings.accounts or from the organization (`organizations:ListAccounts`, ACTIVE ones); each is
reached by assuming `role_name` there. The caller identity in every account goes into the evidence.

This module connects, applies, restores and reads back; `iam_settings.py` holds the settings, `iam_discovery.py` what
discovery finds in one account, `iam_account.py` the reads (one `IamReader` per account and phase) and states,
`iam_kinds.py` the action kinds (each reads and writes its own target), `iam_delete.py` delete-account.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from typing import Any, ClassVar, Sequence

from revoke.actions import State, unverifiable
from revoke.connector import Discovery, Entity, Identity, ListTarget, Notice, Receipt, Step, Subject
from revoke.connectors.aws import names as aws_names
from revoke.connectors.aws.base import AwsConnector, Unproven, pages
from revoke.connectors.aws.iam_account import IamReader, account_details, account_read_pays, per_user_reads_saved
from revoke.connectors.aws.iam_delete import DeleteAccount, delete_state, delete_user
from revoke.connectors.aws.iam_discovery import AccountDiscovery, leaver_principals
from revoke.connectors.aws.iam_kinds import KINDS, state_of, write
from revoke.connectors.aws.iam_settings import AwsIamSettings
from revoke.errors import ActionFailed, ConnectionFailed, NotSupported
from revoke.exposure import ExposureRule

__all__ = ["AwsIamConnector", "AwsIamSettings"]


class AwsIamConnector(AwsConnector):
    name: ClassVar[str] = "aws-iam"
    version: ClassVar[str] = "1.0"
    Settings = AwsIamSettings
    kinds = (*KINDS, DeleteAccount)
    # IAM has no batch write: a batch is applied one call at a time and then read back together, so the users of
    # a batch are read back with one account-wide read (see read_back) and two calls each (access keys, console
    # password) instead of six. That read is heavy (one page carries every user of the account with its groups
    # and policies: in moto about 12 per-user calls' worth at 80 users), so a batch is 100 actions, 10 to 25
    # users. The engine deals batches out across accounts (rate_scope), so a run over an organization keeps its
    # workers busy, and a run of a few hundred actions in one account still makes several batches. (Benchmark 3:
    # 40 actions a batch made 150 account-wide reads, 100 make 60: 4 s less CPU in moto and 1.3 s in revoke.)
    batch_size = 100
    # IAM throttles each account on its own: workers in different accounts do not slow each other down
    rate_scope = "account"
    read_permissions = ("sts:GetCallerIdentity", "sts:AssumeRole", "organizations:ListAccounts",
                        "iam:GetAccountAuthorizationDetails", "iam:GetUser", "iam:ListAccessKeys",
                        "iam:GetLoginProfile", "iam:ListMFADevices", "iam:ListSSHPublicKeys",
                        "iam:ListSigningCertificates", "iam:ListServiceSpecificCredentials",
                        "iam:ListGroupsForUser", "iam:ListAttachedUserPolicies", "iam:GetUserPolicy",
                        "iam:ListUserTags", "iam:GetRole", "iam:GetRolePolicy", "iam:ListUsers",
                        "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole")

    settings: AwsIamSettings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.accounts: list[str] = []
        self.unreachable: dict[str, str] = {}
        self.partition = "aws"
        self._role_locks: dict[str, threading.Lock] = {}
        self._users_in: dict[str, int] = {}  # users per account, as last listed: what an account-wide read costs
        self._locks_lock = threading.Lock()
        self._listed: dict[str, list[dict[str, Any]]] = {}  # account -> its users, as listed in this phase

    def exposure(self) -> list[ExposureRule]:
        # Role sessions are denied by AWSRevokeOlderSessions, so they appear only when that action did not happen
        # (the engine lists actions not carried out). What an IAM user obtained before losing its credentials
        # cannot be denied by a role policy: it keeps what resource-based policies grant the user by ARN.
        return [
            ExposureRule("temporary credentials the user made with sts:GetSessionToken or GetFederationToken before "
                         "the access keys were deactivated (with the user's policies gone they keep only what "
                         "resource-based policies grant the user)", "deactivate-access-key", 36 * 60,
                         "the longest duration AWS STS allows for GetSessionToken and GetFederationToken (36 h)"),
            ExposureRule("an AWS console session signed in before the console password was deleted (with the "
                         "user's policies gone it keeps only what resource-based policies grant)",
                         "delete-console-password", 12 * 60, "AWS console sessions of IAM users last at most 12 h"),
        ]

    # ---- connection

    def connect(self) -> Identity:
        s = self.settings
        me = self.sessions.caller_identity()
        partition = self.partition = me["arn"].split(":")[1]
        if s.accounts is not None:
            self.accounts = list(dict.fromkeys(s.accounts))
        else:
            self.accounts = [a["id"] for a in self.sessions.organization_accounts()]
        if not self.accounts:
            raise ConnectionFailed(self.system, "no accounts to act in: settings.accounts is empty and the "
                                   "organization lists no ACTIVE account")
        external_id = self.secrets.get(s.external_id)
        aliases = [me["arn"]]
        roles: dict[str, str] = {}
        for account in self.accounts:
            if account == me["account"] and not s.assume_role_in_caller_account:
                self.sessions.alias(account)
                continue
            roles[account] = f"arn:{partition}:iam::{account}:role/{s.role_name}"
            aliases.append(roles[account])  # the role revoke acts through is never edited by revoke

        def enter(account: str) -> dict[str, str] | str:
            """The identity revoke acts as in `account`, or why it cannot be entered."""
            if account not in roles:
                return me  # the caller's own account, with the base credentials: the identity read above
            try:
                caller = self.sessions.enter(account, roles[account], s.session_name, external_id)
            except ConnectionFailed as err:
                return err.reason
            if caller["account"] != account:
                return f"the credentials act in {caller['account']} ({caller['arn']}); check settings.role_name"
            return caller

        entered = self.context.runtime.map(enter, self.accounts, limit=s.max_accounts_in_parallel, name="aws-connect")
        answers = dict(zip(self.accounts, entered))
        callers = {a: c for a, c in answers.items() if isinstance(c, dict)}
        # One account revoke cannot enter must not stop the revocation in all the others: it is reported by
        # discovery as a notice that blocks the checklist item, and its caller identity is missing from evidence.
        self.unreachable = {a: c for a, c in answers.items() if isinstance(c, str)}
        if not callers:
            raise ConnectionFailed(self.system, "no account could be entered: " + "; ".join(
                f"{a}: {why}" for a, why in self.unreachable.items()))
        self.accounts = [a for a in self.accounts if a in callers]
        aliases += [c["arn"] for c in callers.values()]
        return Identity(display=me["arn"], aliases=tuple(dict.fromkeys(aliases)),
                        detail={"caller": me, "accounts": callers, "unreachable": self.unreachable,
                                "role_name": s.role_name, "region": s.region, "endpoint_url": s.endpoint_url})

    def identify(self, names: Sequence[str]) -> dict[str, Entity | None]:
        # accounts not listed in this phase yet (by discovery or the check phase's read) are listed side by side
        unlisted = [a for a in self.accounts if a not in self._listed]
        self.context.runtime.map(self._users, unlisted, limit=self.settings.max_accounts_in_parallel,
                                 name="aws-identify")
        return aws_names.iam_identify(names, {a: self._users(a) for a in self.accounts})

    def known_as(self, person: str) -> list[str]:
        return list(self.settings.principals.get(person, []))

    def _users(self, account: str) -> list[dict[str, Any]]:
        if account not in self._listed:
            self._listed[account] = self.context.runtime.read(
                lambda: pages(f"iam:ListUsers in {account}", self.iam(account), "list_users", "Users"))
        return self._listed[account]

    def iam(self, account: str) -> Any:
        return self.sessions.client("iam", account)

    def _reader(self, account: str, users: list[dict[str, Any]] | None = None) -> IamReader:
        return IamReader(self.iam(account), account, users)

    # ---- discovery

    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        found = Discovery()
        for lst in lists:
            found.notices.append(Notice(f"aws-iam closes no lists ({lst.ident})", resource=lst.ident))
        for account, why in self.unreachable.items():
            for subject in subjects:
                found.notices.append(Notice(f"account {account} could not be entered, so {subject.ident} was not "
                                            f"checked there: {why}", person=subject.person, resource=account))
        since = self.context.started_at
        per_account = self.context.runtime.map(lambda a: self._discover_account(a, subjects, since), self.accounts,
                                               limit=self.settings.max_accounts_in_parallel, name="aws-discover")
        seen: set[str] = set()
        for steps, people in per_account:
            found.steps.extend(steps)
            seen |= people
        for subject in subjects:
            if subject.person not in seen:
                found.notices.append(Notice(f"no IAM user '{subject.ident}' and no trust policy naming them in "
                                            f"any of the {len(self.accounts)} accounts", person=subject.person))
        return found

    def _discover_account(self, account: str, subjects: Sequence[Subject],
                          since: dt.datetime) -> tuple[list[Step], set[str]]:
        listed = account_details(self.iam(account), account, ["User", "Role"])
        users, roles = listed["User"], listed["Role"]
        self._users_in[account] = len(users)
        self._listed[account] = users
        principals = leaver_principals(self.settings, self.partition, self.accounts, subjects)
        return AccountDiscovery(self.settings, self._reader(account, users), since).steps(users, roles, subjects,
                                                                                          principals)

    # ---- apply, read back, restore

    def _lock_for(self, action: Any) -> Any:
        """One read-modify-write of a role's trust policy at a time (two leavers in one policy); every other write
        is a single call that needs no lock, so the engine's workers write in parallel."""
        if action.kind not in ("remove-trust", "deny-trust"):
            return contextlib.nullcontext()
        with self._locks_lock:
            return self._role_locks.setdefault(action.resource, threading.Lock())

    def _entered(self, account: str) -> None:
        if account not in self.accounts:
            why = self.unreachable.get(account, "it is not among the accounts of this run")
            raise ActionFailed(f"account {account} could not be entered: {why}")

    def apply(self, action: Any) -> Receipt:
        p = dict(action.params)
        self._entered(p["account"])
        if action.kind == "deactivate-service-credential" and "credential_id" not in p:
            raise NotSupported("service-specific credentials could not be listed here")
        if action.kind == DeleteAccount.name:
            return delete_user(self.iam(p["account"]), self.sessions.client("iam", p["account"]), p,
                               action.before)
        with self._lock_for(action):  # two leavers in one trust policy: one read-modify-write at a time
            return write(action.kind, self.iam(p["account"]), p, run_id=self.context.run_id, now=_now())

    def restore(self, action: Any) -> Receipt:
        kind = self.kind(action.kind)
        if not kind.restorable:
            raise NotSupported(f"{kind.summary}: {kind.restore_note}")
        p = dict(action.params)
        self._entered(p["account"])
        with self._lock_for(action):
            return write(action.kind, self.iam(p["account"]), p, run_id=self.context.run_id, now=_now(), undo=True,
                         before=action.before)

    def read_back(self, actions: Sequence[Any]) -> dict[str, State]:
        by_account: dict[str, list[Any]] = {}
        for a in actions:
            if a.kind == "deactivate-service-credential" and "credential_id" not in a.params:
                continue  # planned as not supported: nothing to read
            by_account.setdefault(a.params["account"], []).append(a)

        def read(account: str) -> dict[str, State]:
            # An account that cannot be entered or read leaves its actions without a state (the engine records
            # them as not read back) instead of failing the read-back of every other account.
            if account not in self.accounts:
                return {}
            reader = self._reader(account)
            saved = per_user_reads_saved((a.kind, a.params) for a in by_account[account])
            if account_read_pays(saved, self._users_in.get(account)):
                try:
                    # every user of the account, complete: it also answers `identify` in this phase (the check
                    # phase reads, then the engine re-derives its guardrails), instead of one ListUsers an account
                    self._listed[account] = reader.read_all_users()
                    self._users_in[account] = len(self._listed[account])
                except ActionFailed as err:
                    if err.retryable:
                        raise  # throttled or a passing outage: the engine waits and reads everything again
                    # refused (a policy without iam:GetAccountAuthorizationDetails): each user is read alone
            out: dict[str, State] = {}
            for a in by_account[account]:
                try:
                    if a.kind == DeleteAccount.name:
                        out[a.id] = delete_state(reader.iam, a.params["user"])
                        continue
                    out[a.id] = state_of(a.kind, reader, dict(a.params), self.context.started_at)
                except Unproven as err:
                    out[a.id] = unverifiable(err.reason)
                except ActionFailed as err:
                    if err.retryable:
                        raise  # throttled or a passing outage: the engine waits and reads everything again
                    continue
            return out

        out: dict[str, State] = {}
        for states in self.context.runtime.map(read, by_account, limit=self.settings.max_accounts_in_parallel,
                                               name="aws-read"):
            out.update(states)
        return out


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
