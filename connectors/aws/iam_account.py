"""IAM reads and writes in one account, in the shapes the `aws-iam` action kinds record.

Discovery and read-back build every state through the same `IamReader`, so a plan's before-state and an apply's
read-back compare field for field. A reader remembers each answer for its own lifetime (one discovery or one
read-back), so twenty actions on one user cost one ListAccessKeys, not twenty.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any, Callable, Iterable, Sequence

from revoke.actions import State
from revoke.connector import Receipt
from revoke.connectors.aws import trust
from revoke.connectors.aws.base import AWS_ERRORS, MISSING, Memo, complete, loads, page_items, request_id, translate
from revoke.errors import ActionFailed

REVOKE_SESSIONS_POLICY = "AWSRevokeOlderSessions"  # the name the console's "Revoke active sessions" uses
TAG_RUN = "revoke:run-id"
TAG_AT = "revoke:disabled-at"


def iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat()
    return str(value) if value is not None else None


class IamReader:
    """Reads of one account through one IAM client, each made at most once.

    With `users` (each UserDetail of one complete iam:GetAccountAuthorizationDetails listing, taken by discovery or
    by `read_all_users`), a listed user's groups, attached and inline policies, tags and existence are answered
    from it instead of one call each. A user the listing lacks is still asked about with the per-user call, so a
    user is never concluded missing (nor anything of it "gone") from the listing alone."""

    def __init__(self, iam: Any, account: str, users: Iterable[dict[str, Any]] | None = None):
        self.iam = iam
        self.account = account
        self._memo = Memo({"NoSuchEntity"}, f" in {account}")
        self._listed: dict[str, dict[str, Any]] = {u["UserName"]: u for u in users or ()}

    def _once(self, op: str, arg: str, fn: Callable[[], Any]) -> Any:
        return self._memo.once(f"iam:{op} {arg}", fn)

    def _list(self, op: str, user: str, key: str, **kw: Any) -> Any:
        def fetch() -> list[Any]:
            out: list[Any] = []
            for page in self.iam.get_paginator(op).paginate(UserName=user, **kw):
                out.extend(page_items(page, key, f"iam:{op} {user}"))
            return out
        return self._once(op, user, fetch)

    def read_all_users(self) -> list[dict[str, Any]]:
        """One account-wide read of every user (all pages, up to 1,000 users a page), answering the per-user
        reads above for every listed user. Returns the users (UserDetail) listed."""
        users = account_users(self.iam, self.account)
        self._listed = {u["UserName"]: u for u in users}
        return users

    def user_exists(self, user: str) -> bool:
        if user in self._listed:
            return True
        return self._once("get_user", user, lambda: self.iam.get_user(UserName=user)) is not MISSING

    def access_keys(self, user: str) -> Any:
        return self._list("list_access_keys", user, "AccessKeyMetadata")

    def ssh_keys(self, user: str) -> Any:
        return self._list("list_ssh_public_keys", user, "SSHPublicKeys")

    def certificates(self, user: str) -> Any:
        return self._list("list_signing_certificates", user, "Certificates")

    def service_credentials(self, user: str) -> Any:
        return self._once("list_service_specific_credentials", user, lambda: self.iam.
                          list_service_specific_credentials(UserName=user).get("ServiceSpecificCredentials", []))

    def mfa_devices(self, user: str) -> Any:
        return self._list("list_mfa_devices", user, "MFADevices")

    def groups(self, user: str) -> Any:
        if "GroupList" in self._listed.get(user, {}):  # else read alone: a listing without it proves nothing
            return [{"GroupName": g} for g in self._listed[user]["GroupList"]]
        return self._list("list_groups_for_user", user, "Groups")

    def attached(self, user: str) -> Any:
        if "AttachedManagedPolicies" in self._listed.get(user, {}):
            return self._listed[user]["AttachedManagedPolicies"]
        return self._list("list_attached_user_policies", user, "AttachedPolicies")

    def tags(self, user: str) -> Any:
        if user in self._listed:
            return self._listed[user].get("Tags", [])  # AWS leaves the member out when a user has no tag
        return self._list("list_user_tags", user, "Tags")

    def login_profile(self, user: str) -> Any:
        return self._once("get_login_profile", user, lambda: self.iam.get_login_profile(UserName=user)["LoginProfile"])

    def inline_policy(self, user: str, name: str) -> Any:
        if user in self._listed:
            for policy in self._listed[user].get("UserPolicyList", []):
                if policy["PolicyName"] == name:
                    return policy["PolicyDocument"]
            return MISSING
        return self._once("get_user_policy", f"{user}/{name}", lambda: self.iam.get_user_policy(
            UserName=user, PolicyName=name)["PolicyDocument"])

    def role(self, role: str) -> Any:
        return self._once("get_role", role, lambda: self.iam.get_role(RoleName=role)["Role"])

    def role_listing(self, op: str, role: str, key: str) -> Any:
        """Every page of a list about a role (list_role_policies, list_attached_role_policies, ...)."""
        def fetch() -> list[Any]:
            out: list[Any] = []
            for page in self.iam.get_paginator(op).paginate(RoleName=role):
                out.extend(page_items(page, key, f"iam:{op} {role}"))
            return out
        return self._once(op, role, fetch)

    def role_policy(self, role: str, name: str) -> Any:
        return self._once("get_role_policy", f"{role}/{name}", lambda: self.iam.get_role_policy(
            RoleName=role, PolicyName=name)["PolicyDocument"])


def account_details(iam: Any, account: str, kinds: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """iam:GetAccountAuthorizationDetails for these entity kinds, every page: "User" -> its UserDetailList, ...
    1,000 is the largest page IAM serves (MaxItems); IAM may serve fewer and says so with IsTruncated."""
    keys = {"User": "UserDetailList", "Role": "RoleDetailList", "Group": "GroupDetailList"}
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    try:
        pager = iam.get_paginator("get_account_authorization_details")
        for page in pager.paginate(Filter=list(kinds), PaginationConfig={"PageSize": 1000}):
            for kind in kinds:
                out[kind] += page_items(page, keys[kind], f"iam:GetAccountAuthorizationDetails in {account}")
    except AWS_ERRORS as err:
        raise translate(err, f"iam:GetAccountAuthorizationDetails in {account}") from None
    return out


def account_users(iam: Any, account: str) -> list[dict[str, Any]]:
    return account_details(iam, account, ["User"])["User"]


# Which per-user read answers each kind's state, for the kinds one account-wide read can answer instead.
LISTED_READS = {"remove-from-group": "groups", "detach-user-policy": "attached", "tag-user": "tags",
                "delete-user-inline-policy": "inline", "delete-console-password": "exists"}
# What one page of the account-wide read is taken to cost, in per-user calls. A page carries up to 1,000 users with
# their groups, policies and policy documents, so it is a much heavier answer than a per-user list (in moto it costs
# about as much as 6 per-user calls for an account of 80 users, and grows with the account).
ACCOUNT_READ_PAGE_COST = 10


def per_user_reads_saved(params: Iterable[tuple[str, dict[str, Any]]]) -> int:
    """How many per-user calls one account-wide read would save for these (kind, params): one per user and read
    (a console password's read-back asks whether the user exists once the password is gone, the expected answer)."""
    reads = set()
    for kind, p in params:
        read = LISTED_READS.get(kind)
        if read:
            reads.add((p.get("user"), read, p.get("policy_name") if read == "inline" else None))
    return len(reads)


def account_read_pays(saved: int, users_in_account: int | None) -> bool:
    """Whether one account-wide read is cheaper than the `saved` per-user calls it replaces."""
    pages = max(1, math.ceil((users_in_account or 0) / 1000))
    return saved >= ACCOUNT_READ_PAGE_COST * pages


# ---- states: the same function for discovery and read-back


def credential_state(items: Any, id_field: str, wanted: str) -> State:
    if items is MISSING:
        return {"active": None, "status": None, "user_exists": False}
    for item in complete(items, f"the credentials ({id_field})", id_field, "Status"):
        if item[id_field] == wanted:
            return {"active": item["Status"] == "Active", "status": item["Status"], "user_exists": True}
    # gone, and the user is there (the list call succeeded): nothing left to use
    return {"active": False, "status": "deleted", "user_exists": True}


def sessions_state(r: IamReader, role: str, since: dt.datetime, max_age_hours: int) -> State:
    if r.role(role) is MISSING:
        return {"policy": None, "cutoff": None, "revoked_recently": False, "role_exists": False}
    doc = r.role_policy(role, REVOKE_SESSIONS_POLICY)
    if doc is MISSING:
        return {"policy": False, "cutoff": None, "revoked_recently": False, "role_exists": True, "document": None}
    doc = loads(doc)
    cutoff = _cutoff(doc)
    # A revocation counts as done for this run when it is newer than the longest a role session can last (12 h):
    # a re-plan right after apply then shows a no-op, while an old revocation from months ago does not count.
    recent = cutoff is not None and cutoff >= since - dt.timedelta(hours=max_age_hours)
    return {"policy": True, "cutoff": iso(cutoff), "revoked_recently": recent, "role_exists": True, "document": doc}


def _cutoff(doc: dict[str, Any]) -> dt.datetime | None:
    for st in trust.statements(doc):
        value = ((st.get("Condition") or {}).get("DateLessThan") or {}).get("aws:TokenIssueTime")
        if st.get("Effect") == "Deny" and isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return None
    return None


def revoke_sessions_document(cutoff: dt.datetime) -> dict[str, Any]:
    stamp = cutoff.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": stamp}}}]}


# ---- writes


def receipt(response: dict[str, Any], **detail: Any) -> Receipt:
    rid = request_id(response)
    return Receipt(request_ids=(rid,) if rid else (), detail=detail)


def edit_trust(iam: Any, p: dict[str, Any], *, undo: bool, before: State) -> Receipt:
    current = loads(iam.get_role(RoleName=p["role"])["Role"]["AssumeRolePolicyDocument"])
    if undo:
        doc = trust.with_principal(current, p["principal"], list(before.get("statements") or []))
    else:
        doc = trust.without(current, p["match"])
        if not trust.statements(doc):
            raise ActionFailed(f"removing {p['principal']} would leave the trust policy of role {p['role']} in "
                               f"{p['account']} with no statement: decide whether to delete the role or to name "
                               "another principal, and edit it by hand")
        if doc == current:
            return Receipt(detail={"answer": "the trust policy no longer names this principal"})
    return receipt(iam.update_assume_role_policy(RoleName=p["role"], PolicyDocument=json.dumps(doc)),
                    trust_policy=doc)
