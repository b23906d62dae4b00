"""One meta-test over the registry: every installed connector is found under its own name, satisfies the protocol,
and declares for each action kind what it needs (permissions), what it says (summary, done_summary) and which
checklist item it reports to; and `revoke permissions` can be generated from those declarations for each."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest

from revoke.actions import ACCESS, LISTS, ActionKind
from revoke.connector import Connector, installed, load
from revoke.testing import ConformanceError, check_declarations

BUILT_IN = {"ldap", "active-directory", "aws-iam", "aws-identity-center", "entra", "m365-groups", "exchange-online",
            "slack", "github", "google-workspace", "okta"}
NAMES = sorted(installed())


def test_every_built_in_connector_is_installed() -> None:
    assert BUILT_IN <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_connector_declares_what_the_engine_relies_on(name: str) -> None:
    cls = installed()[name].load()
    check_declarations(cls, name)
    assert cls.name == name
    assert issubclass(cls, Connector)
    assert all(k.item in (ACCESS, LISTS) and k.permissions and k.summary and k.done_summary for k in cls.kinds)


@pytest.mark.parametrize("name", NAMES)
def test_permissions_document_names_every_declared_permission(name: str) -> None:
    cls = installed()[name].load()
    document = cls.permissions_document(cls.kinds)
    declared = set(cls.read_permissions).union(*(k.permissions for k in cls.kinds))
    if cls.permission_format == "iam-policy":
        policy = json.loads(document)
        granted = {a for st in policy["Statement"] if st["Effect"] == "Allow"
                   for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
        assert declared <= granted, sorted(declared - granted)
    elif cls.permissions_document.__func__ is Connector.permissions_document.__func__:  # the default list
        assert all(p in document for p in declared), [p for p in declared if p not in document]
    else:  # the connector's own format, e.g. OpenLDAP access rules
        assert cls.permission_format == "text" and document.strip()


@pytest.mark.parametrize("name", NAMES)
def test_permissions_for_one_kind_are_narrower(name: str) -> None:
    """Least privilege: a runbook that needs one kind is not handed the permissions of all of them."""
    cls = installed()[name].load()
    one = cls.kinds[0]
    others = set().union(*(k.permissions for k in cls.kinds[1:])) - set(one.permissions) - set(cls.read_permissions)
    document = cls.permissions_document([one])
    for permission in others:
        assert f'"{permission}"' not in document and f"- {permission}\n" not in document + "\n"


class _Kind(ActionKind):
    name = "lock"
    summary = "lock"
    done_summary = "locked"
    permissions = ("write",)
    desired = {"locked": True}


def _connector(**overrides: object) -> type[Connector]:
    attrs: dict[str, object] = {"name": "x", "Settings": type("S", (__import__("pydantic").BaseModel,), {}),
                                "kinds": (_Kind,), "connect": lambda self: None,
                                "discover": lambda self, s, lst: None, "apply": lambda self, a: None,
                                "read_back": lambda self, a: {}, "restore": lambda self, a: None}
    attrs.update(overrides)
    return type("X", (Connector,), attrs)


def test_the_declaration_check_accepts_a_complete_connector() -> None:
    check_declarations(_connector(), "x")


@pytest.mark.parametrize("broken, complaint", [
    (lambda: _connector(), "entry point 'y' must equal"),
    (lambda: _connector(kinds=(type("K", (_Kind,), {"permissions": ()}),)), "must declare the provider permissions"),
    (lambda: _connector(kinds=(type("K", (_Kind,), {"done_summary": ""}),)), "non-empty `done_summary`"),
    (lambda: _connector(kinds=(type("K", (_Kind,), {"item": "other"}),)), "item must be ACCESS or LISTS"),
    (lambda: _connector(kinds=(type("K", (_Kind,), {"restorable": False}),)), "say why in `restore_note`"),
    (lambda: _connector(kinds=(_Kind, _Kind)), "two action kinds are named"),
    (lambda: _connector(restore=Connector.restore), "implement restore"),
])
def test_the_declaration_check_names_what_is_missing(broken, complaint: str) -> None:
    entry_point = "y" if "entry point" in complaint else "x"
    with pytest.raises(ConformanceError, match=complaint.replace("`", ".").replace("(", ".")):
        check_declarations(broken(), entry_point)


def test_a_class_that_is_not_a_connector_is_refused() -> None:
    class Lookalike:
        name: ClassVar[str] = "x"

    with pytest.raises(ConformanceError, match="must subclass revoke.connector.Connector"):
        check_declarations(Lookalike, "x")  # type: ignore[arg-type]


def _ldap_write_rules(document: str) -> dict[str, set[str]]:
    """The printed OpenLDAP access rules: base placeholder -> the attributes the bind DN may write or manage."""
    import re

    out: dict[str, set[str]] = {}
    for rule in document.split("access to ")[1:]:
        head, _, grants = rule.partition("\n")
        found = re.match(r'dn\.subtree="(<[a-z_]+>)" attrs=(\S+)', head)
        if found and re.search(r'by dn\.exact="<bind_dn>" (write|manage)', grants):
            out.setdefault(found.group(1), set()).update(found.group(2).split(","))
    return out


@pytest.mark.parametrize("kind_names", [None, ("lock-account",), ("remove-membership", "delete-mail-group")])
def test_ldap_access_rules_printed_grant_exactly_what_the_kinds_declare(kind_names: tuple[str, ...] | None) -> None:
    """The ACL `revoke permissions` prints for ldap, parsed: every attribute a kind declares it writes is granted
    (write or manage) by a rule, and no rule grants writing anything no kind declared."""
    import re

    cls = load("ldap")
    kinds = [k for k in cls.kinds if kind_names is None or k.name in kind_names]
    granted = _ldap_write_rules(cls.permissions_document(kinds))
    declared: set[str] = set()
    for k in kinds:
        text = " ".join(k.permissions)
        attrs = set(re.findall(r"\b(pwdAccountLockedTime|nsAccountLock|userPassword|member|uniqueMember|memberUid)\b",
                               text))
        if "delete on mail group entries" in text:
            attrs |= {"entry", "children"}  # deleting an entry is write on it and on its parent's children
        assert attrs, f"{k.name}: its permissions name no attribute the ACL can grant: {k.permissions}"
        declared |= attrs
    written = set().union(*granted.values()) if granted else set()
    assert declared <= written, f"declared but not granted: {declared - written}"
    assert written <= declared, f"granted but declared by no kind: {written - declared}"
