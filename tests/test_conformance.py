"""Built-in connectors pass the same conformance suite (revoke.testing) that third-party plugins run: here the
reference connector, ldap, against a real slapd. The system's state is read by the directory's administrator,
independently of the connector: every entry with its operational attributes (entryCSN and modifyTimestamp change
on any write)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ldap3

from revoke.sandbox.slapd import Slapd
from revoke.testing import check_connector
from tests.conftest import ldap_system


def directory_snapshot(server: Slapd, attributes: tuple[str, ...] = ("*", "+")) -> dict[str, Any]:
    with server.admin_connection() as c:
        c.search(server.suffix, "(objectClass=*)", search_scope=ldap3.SUBTREE, attributes=list(attributes))
        return {e["dn"]: {k: sorted(map(repr, v)) for k, v in e["raw_attributes"].items()} for e in c.response}


def directory_data(server: Slapd) -> dict[str, Any]:
    """What restore must bring back: every entry and its attributes, the lock included, without the operational
    attributes every write changes (entryCSN, modifyTimestamp, modifiersName)."""
    return directory_snapshot(server, ("*", "pwdAccountLockedTime"))


def test_ldap_connector_conforms(slapd: Slapd, tmp_path: Path) -> None:
    alice = slapd.add_user("alice", mail="alice@example.org")
    carol = slapd.add_user("carol")
    slapd.add_group("eng", [alice.dn, carol.dn])
    slapd.add_group("alice-only", [alice.dn])
    slapd.add_group("auditors", [alice.dn], kind="groupOfUniqueNames")
    team = slapd.add_group("acme-team", [alice.dn, carol.dn], ou="lists", mail="acme-team@example.org")

    report = check_connector("ldap", ldap_system(slapd)["settings"], people={"Alice Example": "alice"},
                             lists=[team], secrets={"corp_ldap": slapd.service.password},
                             server_state=lambda: directory_snapshot(slapd), workdir=tmp_path,
                             restored_state=lambda: directory_data(slapd))

    kinds = sorted(a.kind for a in report.plan.changes())
    assert kinds == ["delete-group", "lock-account", "remove-membership", "remove-membership", "remove-membership"]
    # restored at the end of the suite: alice binds again and is back in her groups and the list
    assert slapd.can_bind(alice.dn, alice.password)
    assert alice.dn in slapd.read(team)["member"]
