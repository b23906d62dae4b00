"""The closure reports say who did what, when, before -> after, with request ids and verification, per item; they
are sealed with the run, so an edited report fails `revoke evidence verify`."""

from __future__ import annotations

import json
import secrets
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from revoke.checklist.reports import REPORTS, write_reports
from revoke.evidence import file_sha256, read_records, verify_run
from revoke.plan import NoticeRecord
from revoke.sandbox.slack import SlackFake
from tests.checklist_runs import LDAP_EXPOSURE, LDAP_OPERATOR, Step, default_steps, make_run
from tests.conftest import write_runbook, yesterday


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.external: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            if value and not value.startswith("#"):
                self.external.append(value)
        if tag in ("link", "script", "img", "iframe"):
            self.external.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def parse_html(text: str) -> _Html:
    p = _Html()
    p.feed(text)
    return p


def item(report: dict, number: int) -> dict:
    return next(i for i in report["items"] if i["number"] == number)


def test_reports_are_written_and_sealed_in_the_manifest(tmp_path):
    run = make_run(tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    seal = [r for r in read_records(run) if r["type"] == "seal"][-1]
    for name in REPORTS:
        assert manifest["files"][name] == file_sha256(run / name)
        assert seal["files"][name] == file_sha256(run / name)
    assert verify_run(run).ok


def test_json_report_gives_each_item_its_actions_with_who_what_when_and_verification(tmp_path):
    run = make_run(tmp_path)
    report = json.loads((run / "closure-report.json").read_text())
    assert report["run"]["mode"] == "apply" and report["run"]["engagement"] == "acme-2026"
    assert report["people"] == ["Alice Example", "Bob Example"]
    access, lists = item(report, 3), item(report, 4)
    assert (access["title"], access["status"]) == ("Site/Network Access", "Done")
    assert access["result"] == "1 already done, 1 skipped, 2 verified"
    assert (lists["title"], lists["status"], lists["result"]) == ("Team Collaboration", "Done",
                                                                  "1 verified, 1 verified gone")
    lock = next(a for a in access["actions"] if a["resource"].startswith("uid=alice"))
    assert lock["person"] == "Alice Example" and lock["operator"] == LDAP_OPERATOR["display"]
    assert (lock["before"], lock["after"]) == ({"locked": False}, {"locked": True})
    assert lock["request_ids"] == ["ldap-msg-7"] and lock["verification"] == "verified"
    records = {r.get("action_id"): r for r in read_records(run) if r["type"] == "action"}
    assert lock["time"] == records[lock["action_id"]]["time"]
    assert report["evidence"]["chain_head"] == read_records(run)[-2]["hash"]  # the end record, before the seal
    assert report["systems"]["corp-ldap"]["operator"] == LDAP_OPERATOR


def test_a_failed_action_blocks_its_item_and_is_shown_as_needing_a_person(tmp_path):
    run = make_run(tmp_path, steps=default_steps(list_fails=True))
    report = json.loads((run / "closure-report.json").read_text())
    lists = item(report, 4)
    assert lists["status"] == "Blocked" and lists["problems"] == {"failed": 1}
    assert lists["result"] == "1 failed, 1 verified"
    assert item(report, 3)["status"] == "Done" and item(report, 3)["needs_person"] == []
    assert lists["needs_person"] == [{
        "system": "corp-ldap", "person": None, "what": "delete mail group cn=acme-list,ou=lists,dc=example,dc=org",
        "resource": "cn=acme-list,ou=lists,dc=example,dc=org", "problem": "failed",
        "detail": "insufficientAccessRights: no write access to cn=acme-list"}]
    md = (run / "closure-report.md").read_text()
    assert ("Needs a person:\n\n- **failed**: corp-ldap: delete mail group cn=acme-list,ou=lists,dc=example,dc=org"
            ": insufficientAccessRights") in md
    assert "| 4 | [Team Collaboration](#item-4) | **Blocked** | 1 failed, 1 verified |" in md
    assert "insufficientAccessRights: no write access to cn=acme-list" in md
    page = parse_html((run / "closure-report.html").read_text())
    assert "Blocked" in page.text and "failed" in page.text


def test_unverifiable_not_supported_stale_and_notices_keep_an_item_from_done(tmp_path):
    steps = default_steps()
    steps[0].verification = "unverifiable"
    steps[4].outcome, steps[4].verification = "not_supported", "unverifiable"
    steps[1].outcome, steps[1].verification, steps[1].error = "skipped", "none", "stale: the target changed"
    notice = NoticeRecord(system="corp-ldap", message="no account uid=carol", item=3, person="Carol", severity="error")
    warning = NoticeRecord(system="chat", message="channel is shared with another org", item=4, severity="warning")
    run = make_run(tmp_path, steps=steps, notices=[notice, warning])
    report = json.loads((run / "closure-report.json").read_text())
    access, lists = item(report, 3), item(report, 4)
    assert access["status"] == "Blocked"
    assert access["problems"] == {"unverifiable": 1, "skipped (stale)": 1, "needs attention": 1}
    assert lists["status"] == "Blocked" and lists["problems"] == {"not supported": 1}
    assert [n["message"] for n in lists["notices"]] == ["channel is shared with another org"]
    assert [p["what"] for p in access["needs_person"] if p["problem"] == "needs attention"] == [
        "no account uid=carol"]  # an error notice needs a person; a warning does not


def test_resumed_run_reports_the_latest_record_of_each_action(tmp_path):
    steps = default_steps(list_fails=True)
    retry = Step(**{**steps[5].__dict__, "outcome": "done", "verification": "absent", "after": {"exists": False},
                    "error": ""})
    run = make_run(tmp_path, steps=steps, resume=[retry])
    report = json.loads((run / "closure-report.json").read_text())
    assert report["run"]["resumed"] == 1
    lists = item(report, 4)
    assert lists["status"] == "Done"
    closed = next(a for a in lists["actions"] if a["kind"] == "delete-group")
    assert closed["outcome"] == "done" and closed["records"] == 2


def test_plan_run_report_is_a_dry_run_with_items_in_progress(tmp_path):
    run = make_run(tmp_path, mode="plan")
    report = json.loads((run / "closure-report.json").read_text())
    assert [(i["number"], i["status"], i["result"]) for i in report["items"]] == [
        (3, "In Progress", "2 actions planned"), (4, "In Progress", "2 actions planned")]
    md = (run / "closure-report.md").read_text()
    assert md.startswith("# Dry run (plan) for acme-2026: nothing was changed\n")


def test_html_report_is_self_contained_with_an_anchor_per_item_and_escapes_values(tmp_path):
    steps = default_steps()
    steps[4].resource = "<script>alert(1)</script>"
    run = make_run(tmp_path, steps=steps)
    html = (run / "closure-report.html").read_text()
    page = parse_html(html)
    assert page.external == []  # no stylesheet, script, image or link outside the file
    assert {"item-3", "item-4"} <= set(page.ids)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    text = " ".join(page.text)
    for expected in ("Alice Example", "uid=alice,ou=people,dc=example,dc=org", "ldap-msg-7", "verified",
                     LDAP_OPERATOR["display"], "locked: false", "→ true", "2026-", "@page"):
        assert expected in text or expected in html, expected


def test_markdown_report_lists_before_and_after_per_action(tmp_path):
    run = make_run(tmp_path)
    md = (run / "closure-report.md").read_text()
    row = next(line for line in md.splitlines() if "ldap-msg-8" in line)
    assert ("| Alice Example | corp-ldap | remove from cn=vpn,ou=groups,dc=example,dc=org"
            " for `uid=alice,ou=people,dc=example,dc=org` |") in row
    assert "member: true -> **false**" in row and "| done | verified |" in row
    assert '<a id="item-3"></a>' in md
    lock = next(line for line in md.splitlines() if "ldap-msg-7" in line)
    assert "| lock account: `uid=alice,ou=people,dc=example,dc=org` | locked: false -> **true** |" in lock
    skipped = next(line for line in md.splitlines() if "uid=admin" in line)
    assert "| locked: false | skipped: protected: runbook protect list | none |" in skipped


def test_a_tampered_report_fails_verification(tmp_path):
    run = make_run(tmp_path, steps=default_steps(list_fails=True))
    assert verify_run(run).ok
    html = run / "closure-report.html"
    html.write_text(html.read_text().replace("Blocked", "Done"))
    problems = verify_run(run).problems
    assert any(p.startswith("closure-report.html: changed after the run was sealed") for p in problems)
    assert any(p.startswith("closure-report.html: SHA-256 differs from the manifest") for p in problems)


def test_reports_render_deterministically_so_only_a_real_edit_fails_verification(tmp_path):
    """Rendering is a pure function of the sealed evidence: re-rendering restores the sealed bytes."""
    run = make_run(tmp_path)
    js = run / "closure-report.json"
    js.write_text(js.read_text().replace('"Done"', '"Blocked"'))
    write_reports(run)  # a faithful re-render matches byte for byte, so verification passes again
    assert verify_run(run).ok
    js.write_text(js.read_text().replace("ldap-msg-7", "ldap-msg-9"))
    assert not verify_run(run).ok


def slack_engagement(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: SlackFake) -> tuple[Path, str]:
    """Alice leaves, Carol stays; Alice is in #client-team, which stays open, and her account is deactivated
    through SCIM, so nothing of hers outlives a run that did everything (Slack states no standing exposure then)."""
    bot, token, admin = fake.add_bot("revoke"), "xoxb-" + secrets.token_hex(16), "xoxp-" + secrets.token_hex(16)
    fake.add_token(token, bot)
    fake.add_token(admin, fake.add_user("owner", "owner@client.example"), scopes=["admin"])
    monkeypatch.setenv("REVOKE_SLACK_TOKEN", token)
    monkeypatch.setenv("REVOKE_SLACK_SCIM", admin)
    alice = fake.add_user("alice", "alice@consult.example")
    fake.add_channel("client-team", members=[alice, fake.add_user("carol", "carol@client.example")])
    runbook = write_runbook(tmp_path / "acme.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"slack": {"connector": "slack", "identify_by": "email", "settings": {
            "token": {"secret": "slack_token"}, "base_url": fake.base_url, "channel_prefix": "#acme-*",
            "scim_deactivate": True, "scim_token": {"secret": "slack_scim"}, "scim_url": fake.scim_url}}},
        "people": [{"name": "Alice", "email": "alice@consult.example"}],
        "lists": [{"system": "slack", "id": "#client-team", "close": "keep"}]})
    return runbook, alice


def residual_rows(run_dir: Path, person: str) -> list[str]:
    """The rows of the closure report's residual-exposure table about `person`, as a reader sees them."""
    md = (run_dir / "closure-report.md").read_text()
    section = md.split("## Residual exposure", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith(f"| {person} |")]


def apply_run(run_cli: Any, runbook: Path) -> Path:
    result = run_cli("--quiet", "--output", "json", "apply", str(runbook), "--yes",
                     "--evidence-dir", str(runbook.parent / "evidence"))
    return Path(json.loads(result.output)["run_dir"])


def test_residual_exposure_names_what_the_server_still_shows(tmp_path, monkeypatch, run_cli, fake_clock):
    with SlackFake() as fake:
        runbook, alice = slack_engagement(tmp_path, monkeypatch, fake)
        fake.fail("conversations.kick", "restricted_action")   # a workspace preference forbids removing her
        run_dir = apply_run(run_cli, runbook)
        still_member = alice in fake.members("client-team")
        deactivated = fake.users[alice].deleted
    assert still_member and deactivated   # what Slack shows: one thing left, read from the workspace itself
    rows = residual_rows(run_dir, "Alice")
    assert len(rows) == 1 and "still in place: remove from #client-team" in rows[0], rows
    assert "restricted_action" in rows[0] and "until a person acts" in rows[0]
    assert verify_run(run_dir).ok


@pytest.mark.parametrize("answer", ["answered", "applied-then-throttled"])
def test_residual_exposure_is_none_when_the_server_shows_nothing_left(tmp_path, monkeypatch, run_cli, fake_clock,
                                                                      answer):
    with SlackFake() as fake:
        runbook, alice = slack_engagement(tmp_path, monkeypatch, fake)
        if answer == "applied-then-throttled":   # the removal happened, but the answer said 429: the report must
            fake.throttle("conversations.kick", applied=True)   # follow what Slack shows, not what it answered
        run_dir = apply_run(run_cli, runbook)
        still_member = alice in fake.members("client-team")
        deactivated = fake.users[alice].deleted
        kicks = [c.status for c in fake.calls_to("conversations.kick")]
    assert not still_member and deactivated
    assert kicks == ([429] if answer == "applied-then-throttled" else [200])   # never sent twice
    assert residual_rows(run_dir, "Alice") == ["| Alice | slack | none | nothing remains valid | every action was "
                                               "verified and no credential outlives it |"]
    assert verify_run(run_dir).ok


def test_dry_run_report_states_the_exposure_expected_after_apply(tmp_path):
    run = make_run(tmp_path, mode="plan")
    report = json.loads((run / "closure-report.json").read_text())
    assert report["exposure"] == []
    (rule,) = LDAP_EXPOSURE   # the ldap connector's own: its sessions have no known bound
    assert report["expected_exposure"] == {"corp-ldap": [f"{rule['what']}: no upper bound known ({rule['basis']})"]}
    assert "## Residual exposure expected after apply" in (run / "closure-report.md").read_text()


def test_an_action_names_its_target_once_even_when_label_resource_and_principal_agree(tmp_path):
    steps = default_steps()
    steps[0].principal = steps[0].resource  # how the ldap connector records a lock: the DN three times
    run = make_run(tmp_path, steps=steps)
    md = (run / "closure-report.md").read_text()
    row = next(line for line in md.splitlines() if "ldap-msg-7" in line)
    assert row.count("uid=alice,ou=people,dc=example,dc=org") == 1
    html = (run / "closure-report.html").read_text()
    assert html.count("<code>uid=alice,ou=people,dc=example,dc=org</code>") == 2  # the lock and the membership's "for"


def test_a_large_run_shows_residual_exposure_per_system_with_a_count() -> None:
    from revoke.render import RESIDUAL_LINES, residual_lines

    def exposure(person: str, until: str | None) -> dict:
        bound = "no upper bound known" if until is None else f"until about {until[11:16]} UTC"
        return {"type": "exposure", "person": person, "system": "m365", "items": [
            {"what": f"access tokens already issued (issued before {'10:00' if until else '09:00'} UTC)",
             "until": until, "bound": bound, "basis": "Entra access tokens live 60-90 minutes"}]}

    few = [exposure(f"P{i}", "2026-11-25T11:30:00+00:00") for i in range(RESIDUAL_LINES)]
    assert len(residual_lines(few)) == RESIDUAL_LINES and residual_lines(few)[0].startswith("P0 in m365: ")
    many = [exposure(f"P{i}", f"2026-11-25T11:{i % 60:02d}:00+00:00") for i in range(300)]
    many.append(exposure("Q", None))
    lines = residual_lines(many)
    assert lines == [
        "300 people in m365: access tokens already issued: until about 11:59 UTC at the latest "
        "(each person's line is in the closure report)",
        "1 person in m365: access tokens already issued: no upper bound known "
        "(each person's line is in the closure report)"]
