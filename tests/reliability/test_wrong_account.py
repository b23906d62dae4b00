"""Never the wrong account (issue 16, cases 1-3), each checked on the server: the protected account still binds and
keeps its groups, the person's entry named as a list still exists, an edited or swapped plan changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from revoke.plan import load_plan
from revoke.sandbox.slapd import Slapd
from tests.conftest import ldap_system, write_runbook, yesterday
from tests.reliability.worlds import directory, run_dirs

HARNESS = Path(__file__).with_name("crashing_apply.py")


def _runbook(engagement: dict, slapd: Slapd, name: str = "acme.yaml", **extra: Any) -> Path:
    doc = {"engagement": "acme-2026", "final_day": yesterday(), "systems": {"corp-ldap": ldap_system(slapd)},
           "people": [{"name": "Alice Example", "ids": {"corp-ldap": "alice"}}]}
    doc.update(extra)
    return write_runbook(engagement["dir"] / name, doc)


def _groups_naming(slapd: Slapd, dn: str) -> set[str]:
    return {g for g, attrs in directory(slapd).items()
            if any(v.casefold() == dn.casefold() for a in ("member", "uniqueMember") for v in attrs.get(a, []))}


def _edit_plan(plan_file: Path, edit: Any) -> None:
    """What a hostile editor of plan.json does: change the plan and recompute its digest, so it still loads."""
    plan = load_plan(plan_file)
    actions = [edit(a) for a in plan.actions]
    plan.model_copy(update={"actions": actions}).save(plan_file)
    load_plan(plan_file)  # the forgery is self-consistent: only the guardrails can stop it


def test_protect_matches_the_account_under_any_of_its_names(engagement: dict, slapd: Slapd, run_cli: Any) -> None:
    people = engagement["people"]
    # the runbook names dave by DN and protects him by uid; carol by uid and protects her by mail address
    runbook = _runbook(engagement, slapd, people=[
        {"name": "Alice Example", "ids": {"corp-ldap": "alice"}},
        {"name": "Dave", "ids": {"corp-ldap": people["dave"].dn}},
        {"name": "Carol", "ids": {"corp-ldap": "carol"}}],
        protect=["dave", "carol@example.org"])
    before = {u: _groups_naming(slapd, people[u].dn) for u in ("dave", "carol")}
    assert before["dave"] and before["carol"]  # there is something a mistake would take

    applied = run_cli("--quiet", "apply", str(runbook), "--yes")
    assert applied.exit_code == 0, applied.output + applied.stderr

    for uid in ("dave", "carol"):
        assert slapd.can_bind(people[uid].dn, people[uid].password), f"{uid} was locked"
        assert _groups_naming(slapd, people[uid].dn) == before[uid], f"{uid} lost a group"
    assert not slapd.can_bind(people["alice"].dn, people["alice"].password)


def test_a_person_named_as_a_list_is_refused_at_plan_time(engagement: dict, slapd: Slapd, run_cli: Any) -> None:
    victim = engagement["people"]["carol"]
    runbook = _runbook(engagement, slapd, lists=[{"system": "corp-ldap", "id": victim.dn}])
    for args in (("plan", str(runbook)), ("apply", str(runbook), "--yes")):
        refused = run_cli(*args)
        assert refused.exit_code == 1, refused.output + refused.stderr
        line = next(n for n, text in enumerate(runbook.read_text().splitlines(), 1) if victim.dn in text)
        assert f"{runbook}:{line}: lists[0].id: " in refused.stderr and "not a mail group" in refused.stderr
    assert slapd.read(victim.dn) and slapd.can_bind(victim.dn, victim.password)
    assert run_dirs(engagement["dir"] / "evidence") == []


def test_an_edited_plan_cannot_turn_on_another_account(engagement: dict, slapd: Slapd, run_cli: Any) -> None:
    people = engagement["people"]
    runbook = _runbook(engagement, slapd, people=[
        {"name": "Alice Example", "ids": {"corp-ldap": "alice"}},
        {"name": "Dave", "ids": {"corp-ldap": "dave"}}], protect=["dave"])
    plan_file = engagement["dir"] / "plan.json"
    assert run_cli("--quiet", "plan", str(runbook), "--out", str(plan_file)).exit_code == 2
    before = directory(slapd)

    def retarget(a: Any) -> Any:  # alice's lock now names carol, who is no leaver
        if a.kind == "lock-account" and a.person == "Alice Example":
            return a.model_copy(update={"resource": people["carol"].dn, "principal": people["carol"].dn})
        return a

    def unskip(a: Any) -> Any:  # the protected account's skip becomes a change
        return a.model_copy(update={"status": "change", "reason": ""}) if a.status == "skip" else a

    for edit, why in ((retarget, "is not Alice Example's account"), (unskip, "protected by the runbook")):
        run_cli("--quiet", "plan", str(runbook), "--out", str(plan_file))
        _edit_plan(plan_file, edit)
        refused = run_cli("apply", str(plan_file))
        assert refused.exit_code == 1 and why in refused.stderr, refused.output + refused.stderr
        assert "nothing was changed" in refused.stderr
        assert directory(slapd) == before, "the directory changed"
    assert slapd.can_bind(people["carol"].dn, people["carol"].password)
    assert slapd.can_bind(people["dave"].dn, people["dave"].password)


def test_an_edited_plan_cannot_raise_its_own_limits(engagement: dict, slapd: Slapd, run_cli: Any) -> None:
    system = ldap_system(slapd)
    system["blast_radius"] = 1
    runbook = _runbook(engagement, slapd, systems={"corp-ldap": system},
                       people=[{"name": "Alice Example", "ids": {"corp-ldap": "alice"}},
                               {"name": "Erin", "ids": {"corp-ldap": "erin"}}])
    plan_file = engagement["dir"] / "plan.json"
    run_cli("--quiet", "plan", str(runbook), "--out", str(plan_file))
    before = directory(slapd)

    # the count the plan states is not what is checked: it says 1 target, its actions touch 2
    plan = load_plan(plan_file)
    plan.model_copy(update={"systems": [s.model_copy(update={"targets": 1, "warnings": []})
                                        for s in plan.systems]}).save(plan_file)
    refused = run_cli("apply", str(plan_file))
    assert refused.exit_code == 1 and "corp-ldap: 2 targets, limit 1" in refused.stderr, refused.stderr

    # nor the limit in the plan's copy of the runbook: the runbook file says 1
    plan = load_plan(plan_file)
    wider = plan.runbook.model_copy(update={"systems": {"corp-ldap": plan.runbook.systems["corp-ldap"].model_copy(
        update={"blast_radius": 50})}})
    plan.model_copy(update={"runbook": wider}).save(plan_file)
    refused = run_cli("apply", str(plan_file))
    assert refused.exit_code == 1 and "the plan file was edited" in refused.stderr, refused.stderr
    assert directory(slapd) == before


def test_a_changed_runbook_stops_apply_unless_accepted(engagement: dict, slapd: Slapd, run_cli: Any) -> None:
    runbook = _runbook(engagement, slapd)
    plan_file = engagement["dir"] / "plan.json"
    run_cli("--quiet", "plan", str(runbook), "--out", str(plan_file))
    runbook.write_text(runbook.read_text() + "# reviewed again on the final day\n")
    before = directory(slapd)
    refused = run_cli("apply", str(plan_file))
    assert refused.exit_code == 1 and "changed since the plan was made" in refused.stderr, refused.stderr
    assert directory(slapd) == before
    accepted = run_cli("--quiet", "apply", str(plan_file), "--runbook-changed-ok")
    assert accepted.exit_code == 0, accepted.output + accepted.stderr
    alice = engagement["people"]["alice"]
    assert not slapd.can_bind(alice.dn, alice.password)


def test_a_resumed_run_refuses_a_swapped_plan(engagement: dict, slapd: Slapd, run_cli: Any) -> None:
    people = engagement["people"]
    plan_file = engagement["dir"] / "plan.json"
    run_cli("--quiet", "plan", str(engagement["runbook"]), "--out", str(plan_file))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    crashed = subprocess.run([sys.executable, str(HARNESS), "1", "before", "--quiet", "apply", str(plan_file)],
                             cwd=engagement["dir"], env=env, capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -9, crashed.stderr
    (run_dir,) = [p for p in (engagement["dir"] / "evidence").iterdir() if "-apply-" in p.name]

    def retarget(a: Any) -> Any:
        if a.kind == "lock-account":
            return a.model_copy(update={"resource": people["carol"].dn, "principal": people["carol"].dn})
        return a

    _edit_plan(run_dir / "plan.json", retarget)
    first = json.loads((run_dir / "evidence.jsonl").read_text().splitlines()[0])
    assert first["plan_digest"] != load_plan(run_dir / "plan.json").digest()
    refused = run_cli("apply", "--resume", run_dir.name, "--evidence-dir", str(engagement["dir"] / "evidence"))
    assert refused.exit_code == 1 and "not the plan this run started with" in refused.stderr, refused.stderr
    assert slapd.can_bind(people["carol"].dn, people["carol"].password)
