"""A distribution list synced from on-premises AD is AD's to change: Exchange Online refuses the write, so the
`exchange-online` connector routes a leaver's membership to the runbook's `active-directory` system, which
removes it where it lives (real Samba AD DC)."""

# ruff: noqa: F811 - fixtures imported from other test modules are the tests' parameters
from __future__ import annotations

import json
from typing import Any

import pytest

from revoke.sandbox.exchange import ExchangeFake
from tests.conftest import write_runbook, yesterday
from tests.exchange_env import exo, exo_app, exo_system  # noqa: F401
from tests.graph_env import graph  # noqa: F401
from tests.test_active_directory import ad_system, engagement, samba_dc  # noqa: F401

pytestmark = pytest.mark.samba


def test_a_synced_lists_membership_is_removed_in_ad(engagement: dict[str, Any], exo: ExchangeFake,
                                                   exo_app: tuple[str, str], run_cli: Any) -> None:
    e = engagement
    dc, alice, n = e["dc"], e["alice"], e["n"]
    x_alice = exo.add_mailbox(alice.upn, "Alice Leaver")
    synced = exo.add_list(f"social-{n}", f"social-{n}@corp.example.org", members=(x_alice,), synced=True)
    runbook = write_runbook(e["dir"] / "hybrid.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"exo": exo_system(exo, exo_app[0], mailbox_scope="none"), "corp-ad": ad_system(dc)},
        "people": [{"name": "Alice Leaver", "ids": {"exo": alice.upn}}]})
    result = run_cli("--quiet", "--output", "json", "plan", str(runbook))
    assert result.exit_code == 2, result.output + result.stderr
    actions = json.loads(result.output)["plan"]["actions"]
    in_exo = next(a for a in actions if a["system"] == "exo" and a["resource"] == synced)
    assert in_exo["outcome"] == "routed" and "corp-ad" in in_exo["note"], in_exo
    in_ad = next(a for a in actions if a["system"] == "corp-ad" and a["resource"] == e["social"])
    assert in_ad["status"] == "change" and in_ad["person"] == "Alice Leaver"
    run_cli("--quiet", "apply", str(runbook), "--yes")
    assert alice.dn.casefold() not in dc.members(e["social"])
    assert exo.members(synced) == [x_alice] and not exo.writes()  # never written in Exchange
