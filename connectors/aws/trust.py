"""Editing a role's trust policy: take leaving principals out of it without touching anything else.

Only `Allow` statements are edited: taking a principal out of a `Deny` statement would widen access. A statement
whose `Principal` is left with nothing is dropped; a policy left with no statement is never written (AWS refuses it).
Where taking the leavers out would leave it empty, the leavers are denied instead: revoke adds them to one explicit
`Deny` statement of its own (`DENY_SID`), which overrides every Allow, keeps the policy valid and is taken out again
on restore. (The connector's setting `empty_trust_policy` can ask for the role's deletion, or a person, instead.)
"""

from __future__ import annotations

import copy
import re
from typing import Any, Iterable

ACCOUNT_ID = re.compile(r"^\d{12}$")


def norm_principal(value: str) -> str:
    """AWS stores a bare account id in a trust policy as the account's root ARN; compare both the same way."""
    value = value.strip()
    if ACCOUNT_ID.match(value):
        return f"arn:aws:iam::{value}:root"
    return value.casefold()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _as_list(doc.get("Statement")) if isinstance(s, dict)]


def aws_principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if not isinstance(principal, dict):
        return []  # "*" or absent: names nobody in particular
    return [p for p in _as_list(principal.get("AWS")) if isinstance(p, str)]


def names_any(statement: dict[str, Any], match: set[str]) -> bool:
    return statement.get("Effect") == "Allow" and any(norm_principal(p) in match for p in aws_principals(statement))


def statement_key(statement: dict[str, Any]) -> dict[str, Any]:
    """What identifies a statement apart from its principals, so restore can find it again."""
    return {"sid": statement.get("Sid"), "effect": statement.get("Effect"), "action": statement.get("Action"),
            "not_action": statement.get("NotAction"), "condition": statement.get("Condition")}


def naming(doc: dict[str, Any], match: Iterable[str]) -> list[dict[str, Any]]:
    wanted = {norm_principal(m) for m in match}
    return [statement_key(s) for s in statements(doc) if names_any(s, wanted)]


def without(doc: dict[str, Any], match: Iterable[str]) -> dict[str, Any]:
    """`doc` with every principal in `match` taken out of its Allow statements; emptied statements dropped."""
    wanted = {norm_principal(m) for m in match}
    out = copy.deepcopy(doc)
    kept: list[dict[str, Any]] = []
    for st in statements(out):
        if not names_any(st, wanted):
            kept.append(st)
            continue
        principal = st["Principal"]
        was_list = isinstance(principal.get("AWS"), list)
        left = [p for p in aws_principals(st) if norm_principal(p) not in wanted]
        if left:
            principal["AWS"] = left if (was_list or len(left) > 1) else left[0]
        else:
            del principal["AWS"]
        if principal:
            kept.append(st)
    out["Statement"] = kept
    return out


def with_principal(doc: dict[str, Any], principal: str, keys: list[dict[str, Any]]) -> dict[str, Any]:
    """Put `principal` back into the statements identified by `keys`; a statement that was dropped comes back
    holding only this principal."""
    out = copy.deepcopy(doc)
    current = statements(out)
    for key in keys:
        st = next((s for s in current if statement_key(s) == key), None)
        if st is None:
            st = {k: v for k, v in (("Sid", key["sid"]), ("Effect", key["effect"]), ("Principal", {}),
                                    ("Action", key["action"]), ("NotAction", key["not_action"]),
                                    ("Condition", key["condition"])) if v is not None}
            current.append(st)
        if not isinstance(st.get("Principal"), dict):
            continue  # "*" already admits everyone
        names = aws_principals(st)
        if norm_principal(principal) not in {norm_principal(p) for p in names}:
            names.append(principal)
        st["Principal"]["AWS"] = names if len(names) > 1 else names[0]
    out["Statement"] = current
    return out


# ---- denying a principal, for a role whose trust would be left empty without it

DENY_SID = "RevokeDeniesLeavers"  # the one statement revoke adds and edits; nothing else is ever written to
# What an AWS principal does with a role's trust: assume it, and pass session tags and a source identity on the way.
# (AssumeRoleWithWebIdentity and AssumeRoleWithSAML are for Federated principals, which this connector does not
# plan; an Allow statement that grants a leaver another sts action gets it denied too.)
DENY_ACTIONS = ("sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession")
_COVERS_ASSUME = {"sts:assumerole", "sts:*", "*"}


def _actions(statement: dict[str, Any]) -> list[str]:
    return [a for a in _as_list(statement.get("Action")) if isinstance(a, str)]


def denies(doc: dict[str, Any], match: Iterable[str]) -> bool:
    """Whether an unconditional Deny statement keeps a principal in `match` from assuming the role. Fail closed:
    a Deny with a condition, NotAction or NotPrincipal proves nothing here."""
    wanted = {norm_principal(m) for m in match}
    for st in statements(doc):
        if st.get("Effect") != "Deny" or any(k in st for k in ("Condition", "NotAction", "NotPrincipal")):
            continue
        if not any(a.casefold() in _COVERS_ASSUME for a in _actions(st)):
            continue
        if wanted & {norm_principal(p) for p in aws_principals(st)}:
            return True
    return False


def deny_actions(doc: dict[str, Any], match: Iterable[str]) -> list[str]:
    """The actions to deny a principal: DENY_ACTIONS and any other sts action an Allow statement grants it."""
    wanted = {norm_principal(m) for m in match}
    out = set(DENY_ACTIONS)
    for st in statements(doc):
        if names_any(st, wanted):
            out |= {a for a in _actions(st) if a.casefold().startswith("sts:")}
    return sorted(out)


def with_deny(doc: dict[str, Any], principal: str, actions: Iterable[str]) -> dict[str, Any]:
    """`doc` with `principal` in revoke's Deny statement (added at the end if it is not there yet)."""
    out = copy.deepcopy(doc)
    current = statements(out)
    st = next((s for s in current if s.get("Sid") == DENY_SID and s.get("Effect") == "Deny"), None)
    if st is None:
        st = {"Sid": DENY_SID, "Effect": "Deny", "Principal": {"AWS": []}, "Action": []}
        current.append(st)
    names = aws_principals(st)
    if norm_principal(principal) not in {norm_principal(p) for p in names}:
        names.append(principal)
    st["Principal"] = {"AWS": names}
    st["Action"] = sorted(set(_actions(st)) | set(actions))
    out["Statement"] = current
    return out


def without_deny(doc: dict[str, Any], principal: str) -> dict[str, Any]:
    """`doc` with `principal` out of revoke's Deny statement; the statement goes when it names nobody."""
    out = copy.deepcopy(doc)
    kept = []
    for st in statements(out):
        if st.get("Sid") == DENY_SID and st.get("Effect") == "Deny":
            names = [p for p in aws_principals(st) if norm_principal(p) != norm_principal(principal)]
            if not names:
                continue
            st["Principal"] = {"AWS": names}
        kept.append(st)
    out["Statement"] = kept
    return out
