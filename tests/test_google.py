"""The `google-workspace` connector against the Google Workspace fake: what a Workspace administrator would check in
the Admin console afterwards, read from the fake's own state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from revoke.evidence import read_records, verify_run
from revoke.sandbox.google import GoogleFake
from revoke.sandbox.google_seed import Seeded
from revoke.testing import check_connector
from tests.google_env import fake, runbook, seeded  # noqa: F401 - fixtures

__all__ = ["fake", "seeded"]


def apply_json(run_cli: Any, path: Path, *extra: str) -> tuple[Any, Path, list[dict[str, Any]]]:
    result = run_cli("--quiet", "--output", "json", "apply", str(path), "--yes", *extra)
    run_dir = Path(json.loads(result.output)["run_dir"])
    return result, run_dir, [r for r in read_records(run_dir) if r["type"] == "action"]


def test_conformance(fake: GoogleFake, seeded: Seeded, tmp_path: Path) -> None:
    report = check_connector("google-workspace", seeded.settings(fake), people=seeded.leavers, lists=seeded.lists,
                             secrets={"google_key": seeded.key_json}, server_state=fake.snapshot, workdir=tmp_path)
    assert report.restore is not None
    # restore judged on the fake: unsuspended, memberships back with their roles, the list open, the space joined
    ids = seeded.ids
    assert not fake.users[ids["alice"]].suspended and not fake.users[ids["bob"]].suspended
    assert fake.role("engineering@acme.test", "bob@acme.test") == "MANAGER"
    assert fake.role("alice-sandbox@acme.test", "alice@acme.test") == "OWNER"
    assert fake.groups[ids["project"]].settings == {"archiveOnly": "false", "whoCanPostMessage":
                                                    "ALL_MEMBERS_CAN_POST"}
    assert fake.spaces[ids["space"]].members[ids["alice"]] == "ROLE_MANAGER"
    # what cannot come back stays gone, and the restore plan said so
    assert ids["announce"] not in fake.groups
    assert not fake.users[ids["alice"]].asps and not fake.users[ids["alice"]].codes
    final = {r["kind"]: r for r in report.restore.actions() if r["outcome"] == "attention"}
    assert {"delete-group", "delete-app-password", "delete-oauth-token", "invalidate-backup-codes",
            "sign-out"} <= set(final)
    assert "cannot be restored through the API" in final["delete-group"]["error"] + final["delete-group"]["note"]


def test_apply_closes_the_accounts_and_the_lists(fake: GoogleFake, seeded: Seeded, tmp_path: Path,
                                                 run_cli: Any) -> None:
    result, run_dir, records = apply_json(run_cli, runbook(tmp_path / "acme.yaml", fake, seeded))
    assert result.exit_code == 0, result.output + result.stderr
    alice, bob, carol = (fake.users[seeded.ids[n]] for n in ("alice", "bob", "carol"))
    for leaver in (alice, bob):
        assert leaver.suspended and leaver.suspension_reason == "ADMIN"
        assert not leaver.asps and not leaver.tokens and not leaver.codes and leaver.sessions == 0
        assert not [g for g in fake.groups.values() if leaver.id in g.members]
        assert leaver.id not in fake.spaces[seeded.ids["space"]].members
    assert fake.groups[seeded.ids["project"]].settings["archiveOnly"] == "true"
    assert fake.groups[seeded.ids["project"]].settings["whoCanPostMessage"] == "NONE_CAN_POST"
    assert seeded.ids["announce"] not in fake.groups
    # who stays is untouched
    assert not carol.suspended and carol.asps and carol.tokens and len(carol.codes) == 10 and carol.sessions == 1
    assert fake.role("engineering@acme.test", "carol@acme.test") == "OWNER"
    assert carol.id in fake.spaces[seeded.ids["space"]].members
    assert verify_run(run_dir).ok
    signed = [r for r in records if r["kind"] == "sign-out"]
    assert len(signed) == 2 and all(r["outcome"] == "done" and r["verification"] == "unverifiable" for r in signed)
    assert all(r["receipt"]["signed_out_at"] for r in signed), signed[0]
    others = [r for r in records if r["kind"] != "sign-out" and r["outcome"] != "already_done"]  # Bob has no codes
    assert all(r["outcome"] == "done" and r["verification"] in ("verified", "absent") for r in others), [
        (r["kind"], r["outcome"], r["error"]) for r in others if r["outcome"] != "done"]


def test_per_person_order_is_codes_passwords_grants_sign_out_suspend(fake: GoogleFake, seeded: Seeded,
                                                                     tmp_path: Path, run_cli: Any) -> None:
    result, _, _ = apply_json(run_cli, runbook(tmp_path / "acme.yaml", fake, seeded, lists=[], concurrency=4))
    assert result.exit_code == 0, result.output
    alice = seeded.ids["alice"]
    steps = [(r.method, r.path.rsplit("/", 2)[-2:]) for r in fake.writes() if alice in r.path and r.status < 300
             and "/members/" not in r.path]
    kinds = [("verificationCodes" if "verificationCodes" in str(p) else "asps" if "asps" in p else
              "tokens" if "tokens" in p else "signOut" if "signOut" in p else "suspend") for _, p in steps]
    assert kinds == ["verificationCodes", "asps", "asps", "tokens", "signOut", "suspend"], steps


def test_writes_go_out_in_batch_requests(fake: GoogleFake, seeded: Seeded, tmp_path: Path, run_cli: Any) -> None:
    result, _, _ = apply_json(run_cli, runbook(tmp_path / "acme.yaml", fake, seeded, lists=[]))
    assert result.exit_code == 0, result.output
    directory = [r for r in fake.writes() if r.path.startswith("/admin/")]
    assert directory and all(r.batch for r in directory if "/signOut" in r.path or "/asps/" in r.path)
    assert len({r.batch for r in directory}) <= 5   # one batch request per phase, both leavers together


def test_plan_writes_nothing_and_says_what_cannot_come_back(fake: GoogleFake, seeded: Seeded, tmp_path: Path,
                                                           run_cli: Any) -> None:
    result = run_cli("--quiet", "plan", str(runbook(tmp_path / "acme.yaml", fake, seeded)), "--out",
                     str(tmp_path / "plan.json"))
    assert result.exit_code == 2, result.output + result.stderr
    assert fake.writes() == []
    text = result.output
    assert "- delete the app password 'Thunderbird on the laptop' of alice@acme.test" in text
    assert "- revoke the OAuth grant 'Acme Notes' of alice@acme.test" in text
    assert "- delete group acme-announce@acme.test" in text and "NOT RESTORABLE" in text
    assert "- archive group" in text and "- remove from Chat space" in text
    assert "access tokens already issued live until they expire" in text
    plan = json.loads((tmp_path / "plan.json").read_text())["plan"]
    member = next(a for a in plan["actions"] if a["kind"] == "remove-from-group" and a["resource"] ==
                  seeded.ids["engineering"] and a["principal"] == seeded.ids["bob"])
    assert member["before"] == {"member": True, "role": "MANAGER"}


def test_permissions_prints_the_exact_scopes(fake: GoogleFake, seeded: Seeded, tmp_path: Path,
                                             run_cli: Any) -> None:
    result = run_cli("permissions", str(runbook(tmp_path / "acme.yaml", fake, seeded)))
    assert result.exit_code == 0, result.output + result.stderr
    for scope in ("admin.directory.user.security", "admin.directory.user", "admin.directory.group.member",
                  "apps.groups.settings", "chat.admin.memberships"):
        assert f"https://www.googleapis.com/auth/{scope}\n" in result.output
    assert "Domain-wide delegation" in result.output


def test_a_leavers_own_group_listed_for_deletion_is_left_then_deleted(fake: GoogleFake, seeded: Seeded,
                                                                       tmp_path: Path, run_cli: Any) -> None:
    path = runbook(tmp_path / "acme.yaml", fake, seeded, lists=[{"id": "alice-sandbox@acme.test", "close": "delete"}])
    result, _, records = apply_json(run_cli, path)
    assert result.exit_code == 0, result.output + result.stderr
    assert fake.group("alice-sandbox@acme.test") is None
    left = [r for r in records if r["kind"] == "remove-from-group" and "sandbox" in r["summary"]]
    assert left and all(r["outcome"] == "done" for r in left), left


def test_managed_devices_are_wiped_of_the_account_only_when_asked(fake: GoogleFake, seeded: Seeded, tmp_path: Path,
                                                                  run_cli: Any) -> None:
    alice = fake.users[seeded.ids["alice"]]
    result, _, _ = apply_json(run_cli, runbook(tmp_path / "off.yaml", fake, seeded, lists=[]))
    assert result.exit_code == 0 and [d["status"] for d in alice.devices.values()] == ["APPROVED"]   # off: untouched
    fake.add_device("carol@acme.test")
    for u in (alice, fake.users[seeded.ids["bob"]]):    # a second engagement: they came back
        u.suspended = False
    before = len(fake.writes())
    result, _, records = apply_json(run_cli, runbook(tmp_path / "on.yaml", fake, seeded, lists=[],
                                                     settings={"wipe_mobile_devices": True}))
    assert result.exit_code == 0, result.output + result.stderr
    assert [d["status"] for d in alice.devices.values()] == ["ACCOUNT_WIPING"]
    assert [d["status"] for d in fake.users[seeded.ids["carol"]].devices.values()] == ["APPROVED"]
    wipe = next(r for r in records if r["kind"] == "wipe-mobile-account")
    assert wipe["outcome"] == "done" and wipe["verification"] == "verified"
    writes = [r.path for r in fake.writes()[before:] if alice.id in r.path or "/devices/" in r.path]
    wiped = next(i for i, p in enumerate(writes) if p.endswith("/action"))
    suspended = next(i for i, p in enumerate(writes) if p.endswith(f"/users/{alice.id}"))
    assert wiped < suspended, writes                                    # wiped before the suspension


def test_an_already_suspended_leaver_and_an_absent_one_are_said(fake: GoogleFake, seeded: Seeded, tmp_path: Path,
                                                               run_cli: Any) -> None:
    alice = fake.users[seeded.ids["alice"]]
    alice.suspended = True
    people = [{"name": "Alice Example", "ids": {"gw": "alice@acme.test"}},
              {"name": "Nobody", "ids": {"gw": "nobody@acme.test"}}]
    path = runbook(tmp_path / "acme.yaml", fake, seeded, people=people, lists=[])
    result = run_cli("--quiet", "plan", str(path), "--out", str(tmp_path / "plan.json"))
    assert "= already suspended: alice@acme.test" in result.output
    assert "'nobody@acme.test' is no user of this Google Workspace" in result.output + result.stderr
    assert "Google does not change the backup codes of a suspended account" in result.output
    plan = json.loads((tmp_path / "plan.json").read_text())["plan"]
    assert not [a for a in plan["actions"] if a["kind"] == "sign-out" and a["status"] == "change"]
    assert fake.writes() == []


def test_scopes_not_delegated_stop_the_plan_and_chat_false_asks_for_fewer(fake: GoogleFake, seeded: Seeded,
                                                                          tmp_path: Path, run_cli: Any) -> None:
    from revoke.connectors.google.kinds import KINDS, scopes_for
    from revoke.sandbox.google_seed import service_account

    key = service_account(fake, scopes=scopes_for(KINDS, chat=False, mobile=False), name="no-chat")
    lists = ["acme-project@acme.test"]
    path = runbook(tmp_path / "acme.yaml", fake, seeded, lists=lists)
    result = run_cli("--quiet", "plan", str(path), env={"REVOKE_GOOGLE_KEY": key})
    said = result.output + result.stderr
    assert result.exit_code == 1 and "unauthorized_client" in said and "domain-wide delegation" in said
    assert key not in said and json.loads(key)["private_key"][40:80] not in said   # the key never shows
    fewer = runbook(tmp_path / "fewer.yaml", fake, seeded, lists=lists, settings={"chat": False})
    result = run_cli("--quiet", "plan", str(fewer), env={"REVOKE_GOOGLE_KEY": key})
    assert result.exit_code == 2, result.output + result.stderr
    assert fake.writes() == []
