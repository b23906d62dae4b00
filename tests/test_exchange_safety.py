"""Attack and failure tests for the `exchange-online` connector, judged on the fake's own state: protected
mailboxes by any of their names, a listed id that is not a list refused (located), answers that prove nothing,
throttling waited out on the engine's clock, writes applied but answered with an error."""

# ruff: noqa: F811 - fixtures imported from tests/*_env.py are the tests' parameters
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from revoke.errors import ActionFailed
from revoke.runtime import FakeClock, Runtime
from revoke.sandbox.exchange import ExchangeFake
from tests.conftest import write_runbook, yesterday
from tests.exchange_env import exo, exo_app, exo_connector, exo_system  # noqa: F401
from tests.graph_env import graph  # noqa: F401


@pytest.fixture
def seeded(exo: ExchangeFake) -> dict[str, str]:
    ann = exo.add_mailbox("ann@contoso.test", "Ann")
    carl = exo.add_mailbox("carl@contoso.test", "Carl")
    board = exo.add_mailbox("board@contoso.test", "Board", shared=True, aliases=("directors@contoso.test",))
    support = exo.add_mailbox("support@contoso.test", "Support", shared=True)
    dl = exo.add_list("Acme DL", "acme-dl@contoso.test", members=(ann, carl), owners=(carl,))
    for box in (board, support):
        exo.grant_full_access(box, ann)
    return {"ann": ann, "carl": carl, "board": board, "support": support, "dl": dl}


def runbook(tmp_path: Path, exo: ExchangeFake, app: str, **extra: Any) -> Path:
    doc = {"engagement": "acme-2026", "final_day": yesterday(), "systems": {"exo": exo_system(exo, app)},
           "people": [{"name": "Ann", "ids": {"exo": "ann@contoso.test"}}],
           "lists": [{"system": "exo", "id": "acme-dl@contoso.test"}]}
    doc.update(extra)
    return write_runbook(tmp_path / "acme.yaml", doc)


@pytest.mark.parametrize("name", ["directors@contoso.test", "BOARD@CONTOSO.TEST", "board"])
def test_a_protected_mailbox_is_protected_by_any_of_its_names(name: str, exo: ExchangeFake,
                                                              exo_app: tuple[str, str], seeded: dict[str, str],
                                                              tmp_path: Path, run_cli: Any) -> None:
    path = runbook(tmp_path, exo, exo_app[0], protect=[{"system": "exo", "id": name}])
    result = run_cli("--quiet", "apply", str(path), "--yes")
    assert result.exit_code == 0, result.output
    assert seeded["ann"] in exo.full_access(seeded["board"])          # the protected mailbox keeps her access
    assert seeded["ann"] not in exo.full_access(seeded["support"])    # the other one does not
    assert exo.members(seeded["dl"]) == [seeded["carl"]]


def test_a_protected_leaver_by_alias_is_never_touched(exo: ExchangeFake, exo_app: tuple[str, str],
                                                      seeded: dict[str, str], tmp_path: Path, run_cli: Any) -> None:
    path = runbook(tmp_path, exo, exo_app[0], protect=[{"id": "ANN"}])
    assert run_cli("--quiet", "apply", str(path), "--yes").exit_code == 0
    assert exo.members(seeded["dl"]) == [seeded["ann"], seeded["carl"]]
    assert seeded["ann"] in exo.full_access(seeded["support"])
    assert all(w.cmdlet == "Set-DistributionGroup" for w in exo.writes())  # the list itself is still locked


@pytest.mark.parametrize("listed", ["carl@contoso.test", "support@contoso.test"])
def test_a_mailbox_listed_as_a_list_is_refused_with_its_line(listed: str, exo: ExchangeFake,
                                                             exo_app: tuple[str, str], seeded: dict[str, str],
                                                             tmp_path: Path, run_cli: Any) -> None:
    path = runbook(tmp_path, exo, exo_app[0], lists=[{"system": "exo", "id": listed, "close": "delete"}])
    result = run_cli("--quiet", "plan", str(path))
    assert result.exit_code == 1
    assert "acme.yaml:" in result.output and "lists[0].id" in result.output and "not a distribution list" in \
        result.output, result.output
    assert exo.writes() == [] and exo.recipient(seeded["carl"]) is not None


def test_the_apps_own_identity_is_never_a_target(exo: ExchangeFake, exo_app: tuple[str, str],
                                                 seeded: dict[str, str], tmp_path: Path, run_cli: Any) -> None:
    path = runbook(tmp_path, exo, exo_app[0], people=[{"name": "Ann", "ids": {"exo": "ann@contoso.test"}},
                                                       {"name": "The app", "ids": {"exo": exo_app[0]}}])
    out = tmp_path / "plan.json"
    run_cli("--quiet", "plan", str(path), "--out", str(out))
    plan = json.loads(out.read_text())["plan"]
    assert any(exo_app[0] in n["message"] for n in plan["notices"])  # not a recipient: said, nothing planned
    assert not [a for a in plan["actions"] if a["person"] == "The app"]


def test_an_unexpected_answer_is_a_located_failure(exo: ExchangeFake, exo_app: tuple[str, str],
                                                   seeded: dict[str, str], tmp_path: Path, run_cli: Any) -> None:
    real = exo.org._get_distributiongroup
    exo.org._get_distributiongroup = lambda p: ([{k: v for k, v in g.items() if k != "ManagedBy"}  # type: ignore
                                                 for g in real(p)[0]], [])
    result = run_cli("--quiet", "plan", str(runbook(tmp_path, exo, exo_app[0])))
    assert result.exit_code == 1
    assert "Get-DistributionGroup -Identity" in result.output and "lacks ManagedBy" in result.output, result.output


def test_a_read_back_that_cannot_find_the_rule_is_unverifiable(exo: ExchangeFake,
                                                               exo_app: tuple[str, str], seeded: dict[str, str],
                                                               tmp_path: Path, run_cli: Any) -> None:
    rule = exo.add_inbox_rule(seeded["ann"], "home", forward_to="ann@home.example")
    out = tmp_path / "plan.json"
    run_cli("--quiet", "plan", str(runbook(tmp_path, exo, exo_app[0])), "--out", str(out))
    exo.org.inbox_rules[seeded["ann"]][0]["Identity"] = "ann\\renamed"  # the rule the plan names is not there
    result = run_cli("--quiet", "--output", "json", "apply", str(out), "--yes", "--skip-stale")
    from revoke.evidence import read_records

    records = [r for r in read_records(Path(json.loads(result.output)["run_dir"])) if r["type"] == "action"]
    mine = next(r for r in records if r["kind"] == "disable-inbox-rule")
    assert mine["verification"] == "unverifiable" and mine["resource"] == rule, mine
    assert "cannot be confirmed" in json.dumps(mine)


def test_a_removal_applied_but_answered_503_is_read_back_as_done(exo: ExchangeFake,
                                                                  exo_app: tuple[str, str], seeded: dict[str, str],
                                                                  tmp_path: Path, run_cli: Any) -> None:
    exo.fail("Remove-DistributionGroupMember", status=503, applied=True, retry_after=0)
    result = run_cli("--quiet", "--output", "json", "apply", str(runbook(tmp_path, exo, exo_app[0])), "--yes")
    from revoke.evidence import read_records

    records = [r for r in read_records(Path(json.loads(result.output)["run_dir"])) if r["type"] == "action"]
    removal = next(r for r in records if r["kind"] == "remove-list-member")
    assert removal["outcome"] == "done" and removal["verification"] == "verified"
    assert exo.members(seeded["dl"]) == [seeded["carl"]]
    removals = [w for w in exo.writes() if w.cmdlet == "Remove-DistributionGroupMember"]
    assert len(removals) == 1  # read back as done: never sent again


def test_a_throttled_read_waits_on_the_engines_clock(exo: ExchangeFake, exo_app: tuple[str, str],
                                                     seeded: dict[str, str]) -> None:
    clock = FakeClock()
    conn = exo_connector(exo, *exo_app, runtime=Runtime(clock.clock()))
    exo.fail("Get-DistributionGroupMember", times=2, status=429, retry_after=7)
    members = conn.exchange.read("Get-DistributionGroupMember", Identity=seeded["dl"]).values
    assert {m["Guid"] for m in members} == {seeded["ann"], seeded["carl"]}
    assert sum(clock.slept) >= 14 and conn.context.runtime.waited >= 14  # waited the Retry-After, twice, on the clock


def test_a_throttled_write_goes_back_to_the_engine_unrepeated(exo: ExchangeFake,
                                                              exo_app: tuple[str, str],
                                                              seeded: dict[str, str]) -> None:
    conn = exo_connector(exo, *exo_app, runtime=Runtime(FakeClock().clock()))
    exo.fail("Remove-DistributionGroupMember", status=429, retry_after=5)
    with pytest.raises(ActionFailed) as err:
        conn.exchange.write("Remove-DistributionGroupMember", Identity=seeded["dl"], Member=seeded["ann"],
                            BypassSecurityGroupManagerCheck=True, Confirm=False)
    assert err.value.retryable and err.value.retry_after == 5
    assert len([w for w in exo.writes() if w.cmdlet == "Remove-DistributionGroupMember"]) == 1


def test_a_call_outside_the_declared_table_is_never_sent(exo: ExchangeFake, exo_app: tuple[str, str]) -> None:
    conn = exo_connector(exo, *exo_app)
    sent = len(exo.calls)
    for call in (lambda: conn.exchange.write("Remove-Mailbox", Identity="ann@contoso.test"),
                 lambda: conn.exchange.read("Get-Recipient", Identity="x", Filter="*"),
                 lambda: conn.exchange.read("Remove-DistributionGroup", Identity="x")):
        with pytest.raises(ActionFailed, match="declared cmdlet table"):
            call()
    assert len(exo.calls) == sent
