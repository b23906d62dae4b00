"""Sealed run folders shaped like the engine's, for the checklist and report tests.

Records are written through the real `EvidenceLog`, in the engine's order (run, notices, actions, end, summary,
closure reports, seal), with the fields of `revoke.engine.action_record`.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from revoke.checklist.reports import write_reports

from revoke.evidence import EvidenceLog
from revoke.plan import Action, NoticeRecord, Plan, SystemPlan, action_id, fingerprint
from revoke.runbook import ChecklistSpec, ListSpec, PersonSpec, Runbook, SystemSpec

SEED = Path(__file__).parent / "data" / "customer-offboarding-checklist.md"
ENGAGEMENT = "acme-2026"
LDAP_OPERATOR = {"display": "cn=revoke,dc=example,dc=org", "bind_dn": "cn=revoke,dc=example,dc=org"}
SLACK_OPERATOR = {"display": "revoke-bot (U0BOT)", "team": "T0ACME"}
LDAP_EXPOSURE = {"what": "sessions of applications that authenticated before the lock", "after_kind": "lock-account",
                 "minutes": None, "basis": "LDAP has no session revocation"}


@dataclass
class Step:
    """One action of the scenario and what happened to it."""

    system: str
    kind: str
    resource: str
    item: int
    before: dict[str, Any]
    after: dict[str, Any] | None
    outcome: str                 # the evidence outcome in apply mode
    verification: str
    person: str | None = None
    principal: str | None = None
    status: str = "change"       # the plan's status
    error: str = ""
    request_ids: list[str] = field(default_factory=list)
    summary: str = ""


def default_steps(*, list_fails: bool = False) -> list[Step]:
    alice, bob = "uid=alice,ou=people,dc=example,dc=org", "uid=bob,ou=people,dc=example,dc=org"
    return [
        Step("corp-ldap", "lock-account", alice, 3, {"locked": False}, {"locked": True}, "done", "verified",
             person="Alice Example", request_ids=["ldap-msg-7"], summary="lock account"),
        Step("corp-ldap", "remove-membership", "cn=vpn,ou=groups,dc=example,dc=org", 3,
             {"member": True, "exists": True}, {"member": False, "exists": True}, "done", "verified",
             person="Alice Example", principal=alice, request_ids=["ldap-msg-8"],
             summary="remove from cn=vpn,ou=groups,dc=example,dc=org"),
        Step("corp-ldap", "lock-account", bob, 3, {"locked": True}, {"locked": True}, "already_done", "verified",
             person="Bob Example", status="noop", summary="already locked"),
        Step("corp-ldap", "lock-account", "uid=admin,ou=people,dc=example,dc=org", 3, {"locked": False}, None,
             "skipped", "none", person="Bob Example", status="skip", error="protected: runbook protect list",
             summary="lock account"),
        Step("chat", "archive-channel", "C0PROJECT", 4, {"archived": False}, {"archived": True}, "done", "verified",
             request_ids=["slack-req-1"], summary="archive channel #acme-project"),
        Step("corp-ldap", "close-mail-group", "cn=acme-list,ou=lists,dc=example,dc=org", 4,
             {"members": 3, "exists": True}, {"members": 3, "exists": True} if list_fails else {"exists": False},
             "failed" if list_fails else "done", "failed" if list_fails else "absent",
             error="insufficientAccessRights: no write access to cn=acme-list" if list_fails else "",
             summary="close mail group cn=acme-list"),
    ]


def _plan(page: str, steps: list[Step], plan_id: str, runbook_path: Path) -> tuple[Plan, list[Action]]:
    runbook = Runbook(
        engagement=ENGAGEMENT, final_day=dt.date(2026, 11, 25),
        systems={"corp-ldap": SystemSpec(connector="ldap"), "chat": SystemSpec(connector="slack")},
        people=[PersonSpec(name="Alice Example", ids={"corp-ldap": "alice"}),
                PersonSpec(name="Bob Example", ids={"corp-ldap": "bob"})],
        lists=[ListSpec(system="chat", id="C0PROJECT"), ListSpec(system="corp-ldap", id="acme-list")],
        checklist=ChecklistSpec(page=page))
    actions = [Action(id=action_id(s.system, s.kind, s.resource, s.principal), system=s.system,
                      connector=runbook.systems[s.system].connector, kind=s.kind, item=s.item, resource=s.resource,
                      principal=s.principal, person=s.person, before=s.before, fingerprint=fingerprint(s.before),
                      status=s.status, reason=s.error if s.status == "skip" else "") for s in steps]
    systems = [SystemPlan(name="corp-ldap", connector="ldap", connector_version="0.1.0", operator=LDAP_OPERATOR,
                          exposure=[LDAP_EXPOSURE]),
               SystemPlan(name="chat", connector="slack", connector_version="0.1.0", operator=SLACK_OPERATOR)]
    plan = Plan(plan_id=plan_id, created_at=dt.datetime(2026, 11, 18, 9, 0, tzinfo=dt.timezone.utc),
                runbook_path=str(runbook_path), runbook_sha256="ab" * 32, runbook=runbook, systems=systems,
                actions=actions)
    return plan, actions


def make_run(evidence_root: Path, *, mode: str = "apply", steps: list[Step] | None = None,
             notices: list[NoticeRecord] = (), run_id: str | None = None, page: str = "wiki/Offboarding.md",
             runbook_path: Path | None = None, resume: list[Step] = (),
             exposure: list[dict[str, Any]] = ()) -> Path:
    """A sealed run folder. `resume` appends a second run record and later records for these steps, as a
    resumed run does. Its records are timed at the moment its run id names (10:00 UTC on 2026-11-25 by
    default), so what the page and the reports say of its day does not depend on the day the tests run."""
    with mock.patch("revoke.evidence.now", lambda: _run_time(run_id)):
        return _make_run(evidence_root, mode=mode, steps=steps, notices=notices, run_id=run_id, page=page,
                         runbook_path=runbook_path, resume=resume, exposure=exposure)


def _run_time(run_id: str | None) -> dt.datetime:
    """The moment a run id ENGAGEMENT-YYYYMMDDTHHMMSSZ-MODE-SUFFIX names; 2026-11-25 10:00 UTC for any other."""
    try:
        return dt.datetime.strptime((run_id or "").split("-")[-3], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    except (IndexError, ValueError):
        return dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.timezone.utc)


def _make_run(evidence_root: Path, *, mode: str, steps: list[Step] | None, notices: list[NoticeRecord],
              run_id: str | None, page: str, runbook_path: Path | None, resume: list[Step],
              exposure: list[dict[str, Any]]) -> Path:
    steps = default_steps() if steps is None else steps
    run_id = run_id or f"{ENGAGEMENT}-20261125T100000Z-{mode}-abc123"
    plan, actions = _plan(page, steps, f"{ENGAGEMENT}-20261118T090000Z-plan-def456",
                          runbook_path or evidence_root / "runbook.yaml")
    run_dir = evidence_root / run_id
    log = EvidenceLog(run_dir, run_id, ENGAGEMENT, fsync=False)
    plan.save(run_dir / "plan.json")
    header = {"type": "run", "mode": mode, "plan_id": plan.plan_id, "plan_digest": plan.digest(),
              "runbook_sha256": plan.runbook_sha256, "tool": "revoke 0.1.0",
              "systems": {"corp-ldap": {"connector": "ldap", "operator": LDAP_OPERATOR, "warnings": [],
                                        "error": None},
                          "chat": {"connector": "slack", "operator": SLACK_OPERATOR,
                                   "warnings": ["channel history stays readable by workspace admins"],
                                   "error": None}}}
    log.append(header)
    for n in notices:
        log.append({"type": "notice", "mode": mode, **n.model_dump()})

    def action_record(step: Step, a: Action) -> dict[str, Any]:
        operator = (LDAP_OPERATOR if step.system == "corp-ldap" else SLACK_OPERATOR)["display"]
        if mode == "plan":
            outcome = {"change": "planned", "noop": "already_done", "skip": "skipped"}[step.status]
            verification, after, request_ids = "none", None, []
        else:
            outcome, verification, after, request_ids = step.outcome, step.verification, step.after, step.request_ids
        return {"type": "action", "mode": mode, "action_id": a.id, "item": a.item, "system": a.system,
                "connector": a.connector, "kind": a.kind, "summary": step.summary, "person": a.person,
                "resource": a.resource, "principal": a.principal, "label": a.label, "before": a.before,
                "observed": None, "after": after, "request_ids": request_ids, "receipt": {}, "operator": operator,
                "outcome": outcome, "verification": verification,
                "error": step.error if (mode != "plan" or step.status == "skip") else "", "note": a.note,
                "attempts": 1 if outcome == "done" else 0}

    for step, a in zip(steps, actions):
        log.append(action_record(step, a))
    if resume:
        log.append({**header, "resumed": True})
        by_resource = {(a.system, a.kind, a.resource): a for a in actions}
        for step in resume:
            log.append(action_record(step, by_resource[(step.system, step.kind, step.resource)]))
    if mode == "apply":
        for entry in exposure:
            log.append({"type": "exposure", "mode": mode, **entry})
    log.append({"type": "end", "mode": mode, "counts": {}})
    (run_dir / "summary.md").write_text(f"# revoke {mode}: {ENGAGEMENT}\n", encoding="utf-8")
    write_reports(run_dir)
    log.seal()
    return run_dir


def make_wiki(root: Path, text: bytes | None = None) -> Path:
    """A wiki clone layout: the page under wiki/, the seed's image under .attachments/."""
    page = root / "wiki" / "Offboarding.md"
    page.parent.mkdir(parents=True)
    if text is None:
        shutil.copyfile(SEED, page)
    else:
        page.write_bytes(text)
    image = root / "wiki" / ".attachments" / "DK-MobilizeAccelerator" / "image2020-10-12_15-54-52.png"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    return page
