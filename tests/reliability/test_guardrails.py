"""Guardrails, checked on the servers: protected accounts and the operator's own account are never touched even when
the runbook lists them as leavers; a runbook over the blast-radius limit is refused before any change anywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from revoke.evidence import read_records, verify_run
from revoke.sandbox.slack import SlackFake
from revoke.sandbox.slapd import Slapd
from tests.conftest import ldap_system, write_runbook, yesterday
from tests.reliability.worlds import cli_json, directory, refused_runs, run_dirs, slack_system, slack_world

IGNORED = {"memberOf"}  # maintained by the memberof overlay when a *group* changes; not a write to the person


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    with SlackFake() as fake:
        yield fake


def _entry(snapshot: dict[str, dict[str, list[str]]], dn: str) -> dict[str, list[str]]:
    key = next(d for d in snapshot if d.casefold() == dn.casefold())
    return {k: v for k, v in snapshot[key].items() if k not in IGNORED}


def _memberships(snapshot: dict[str, dict[str, list[str]]], dn: str, uid: str) -> set[tuple[str, str]]:
    """(group, attribute) for every group that names this person, read from the groups themselves."""
    out = set()
    for gdn, attrs in snapshot.items():
        for attr in ("member", "uniqueMember"):
            if any(v.casefold() == dn.casefold() for v in attrs.get(attr, [])):
                out.add((gdn, attr))
        if uid in attrs.get("memberUid", []):
            out.add((gdn, "memberUid"))
    return out


def test_protected_and_operator_accounts_are_never_touched(engagement: dict, slapd: Slapd, run_cli: Any) -> None:
    people = engagement["people"]
    svc = slapd.service
    with slapd.admin_connection() as c:  # the tool's own account is in a group the leavers are in, too
        c.modify(engagement["eng"], {"member": [("MODIFY_ADD", [svc.dn])]})
        c.modify(engagement["shell"], {"memberUid": [("MODIFY_ADD", ["revoke-svc"])]})
    suffix = slapd.suffix
    runbook = write_runbook(engagement["dir"] / "guard.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"corp-ldap": ldap_system(slapd)},
        "people": [
            {"name": "Alice Example", "ids": {"corp-ldap": "alice"}},
            {"name": "Carol Protected", "ids": {"corp-ldap": "carol"}},
            {"name": "Dave Protected", "ids": {"corp-ldap": "dave"}},
            {"name": "Erin Posix", "ids": {"corp-ldap": "erin"}},
            {"name": "Operator By DN", "ids": {"corp-ldap": svc.dn.replace("uid=", "UID=").replace("ou=", "OU=")}},
        ],
        # protect by the DN written differently (case, spaces), by uid, and by mail alias
        "protect": [f"UID=carol , ou=People , {suffix.upper()}", "dave", {"id": "erin", "system": "corp-ldap"}],
    })
    watched = {"carol": people["carol"], "dave": people["dave"], "erin": engagement["erin"], "revoke-svc": svc}
    before = directory(slapd)
    entries = {uid: _entry(before, acct.dn) for uid, acct in watched.items()}
    groups = {uid: _memberships(before, acct.dn, uid) for uid, acct in watched.items()}
    assert groups["revoke-svc"] and groups["carol"] and groups["erin"]  # there is something that could be removed

    plan = run_cli("--quiet", "plan", str(runbook))
    assert plan.exit_code == 2, plan.output + plan.stderr
    applied = cli_json(run_cli("--quiet", "--output", "json", "apply", str(runbook), "--yes"))
    notices = [r for r in read_records(Path(applied["run_dir"])) if r["type"] == "notice"]
    assert applied["exit_code"] == 0, notices

    # the server: untouched entries (entryCSN and modifyTimestamp included) and every membership still there
    after = directory(slapd)
    for uid, acct in watched.items():
        assert _entry(after, acct.dn) == entries[uid], f"{uid}'s entry was written to"
        assert _memberships(after, acct.dn, uid) == groups[uid], f"{uid} lost a membership"
        assert slapd.can_bind(acct.dn, acct.password), uid
    # while the leaver next to them was handled
    assert not slapd.can_bind(people["alice"].dn, people["alice"].password)
    assert people["alice"].dn not in slapd.read(engagement["eng"])["member"]

    records = [r for r in read_records(Path(applied["run_dir"])) if r["type"] == "action"]
    guarded = [r for r in records if r["person"] != "Alice Example"]
    assert guarded and all(r["outcome"] in ("skipped", "already_done") for r in guarded), guarded
    reasons = {r["person"]: r["error"] for r in guarded if r["outcome"] == "skipped"}
    assert "protected by the runbook" in reasons["Carol Protected"]
    assert "protected by the runbook" in reasons["Dave Protected"] and "protected" in reasons["Erin Posix"]
    assert "own identity" in reasons["Operator By DN"]


def test_operator_bot_in_slack_is_never_removed(slack: SlackFake, tmp_path: Path, run_cli: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ws = slack_world(slack, monkeypatch)
    slack.channel("client-team").members.append(ws["bot"])
    runbook = write_runbook(tmp_path / "acme.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"slack": slack_system(slack)},
        "lists": [{"system": "slack", "id": "#client-team", "close": "keep"}],
        "people": [{"name": "Alice", "email": "alice@example.org"}, {"name": "The bot", "ids": {"slack": ws["bot"]}}],
    })
    result = run_cli("--quiet", "--output", "json", "apply", str(runbook), "--yes")
    applied = cli_json(result)
    # the bot is refused as a leaver at plan time: a person must look at the runbook (exit 3), nothing is sent
    notices = [r for r in read_records(Path(applied["run_dir"])) if r["type"] == "notice"]
    assert any(n["person"] == "The bot" and "bot user" in n["message"] for n in notices), notices
    assert applied["exit_code"] == 3 and applied["counts"] == {"done": 5}, applied
    assert ws["alice"] not in slack.members("client-team")
    assert ws["bot"] in slack.members("client-team")
    assert ws["bot"] not in {c.params.get("user") for c in slack.calls_to("conversations.kick")}
    assert not [a for a in applied["actions"] if a["person"] == "The bot"]


def test_over_the_blast_radius_nothing_changes_anywhere(engagement: dict, slapd: Slapd, slack: SlackFake,
                                                         run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    slack_world(slack, monkeypatch)
    sys_ = ldap_system(slapd)
    sys_["blast_radius"] = 2  # the plan touches alice and erin, plus the mail list: three targets
    runbook = write_runbook(engagement["dir"] / "wide.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"corp-ldap": sys_, "slack": slack_system(slack)},
        "people": [{"name": "Alice Example", "email": "alice@example.org", "ids": {"corp-ldap": "alice"}},
                   {"name": "Erin Posix", "ids": {"corp-ldap": "erin"}}],
        "lists": [{"system": "corp-ldap", "id": engagement["list"]}],
    })
    before = directory(slapd)
    evidence = engagement["dir"] / "evidence"

    planned = run_cli("--quiet", "plan", str(runbook), "--out", str(engagement["dir"] / "wide-plan.json"))
    assert planned.exit_code == 2 and "exceed this system's blast-radius limit of 2" in planned.output

    # a saved plan edited to raise the limit is refused as edited
    edited = engagement["dir"] / "edited-plan.json"
    doc = json.loads((engagement["dir"] / "wide-plan.json").read_text())
    doc["plan"]["runbook"]["systems"]["corp-ldap"]["blast_radius"] = 50
    edited.write_text(json.dumps(doc))
    refused = run_cli("apply", str(edited))
    assert refused.exit_code == 1 and "changed after it was made" in refused.stderr, refused.stderr

    for source in (str(runbook), str(engagement["dir"] / "wide-plan.json")):
        refused = run_cli("apply", source, "--yes")
        assert refused.exit_code == 1, refused.output + refused.stderr
        assert "blast-radius" in refused.stderr and "corp-ldap: 3 targets, limit 2" in refused.stderr
        assert "nothing was changed" in refused.stderr
        assert directory(slapd) == before, "the directory changed"
        assert slack.writes() == [], "the other system in the runbook was written to"
        assert run_dirs(evidence) == [], "an apply run folder was made"
        # the refusal itself is evidence, sealed, with its reason; the error names its folder (two refusals in one
        # second sort by their random suffix, so the folder is found by name, not by order)
        named = [r for r in refused_runs(evidence) if r.name in refused.stderr]
        assert len(named) == 1, refused.stderr
        refusal = named[0]
        assert verify_run(refusal).ok
        assert [r for r in read_records(refusal) if r["type"] == "action"] == []
        assert "blast-radius" in next(r for r in read_records(refusal) if r["type"] == "refused")["reason"]

    # raising the limit in the runbook is how an operator says "yes, all of them"
    sys_["blast_radius"] = 3
    runbook.write_text(runbook.read_text().replace("blast_radius: 2", "blast_radius: 3"))
    done = cli_json(run_cli("--quiet", "--output", "json", "apply", str(runbook), "--yes"))
    assert done["exit_code"] == 0, done
    assert directory(slapd) != before and slack.channel("acme-dev").is_archived
    assert verify_run(Path(done["run_dir"])).ok
