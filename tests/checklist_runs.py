"""Sealed run folders made by the engine's own record functions, for the checklist and report tests.

A scenario is a list of `Step`s: actions of the real `ldap` and `slack` kinds and what happened to each. The plan
is a real `Plan`; a dry run is recorded by `revoke.engine.record_plan`. An apply opens with the run journal's
records (`revoke.journal.run_record`, `notice_records`), its action records are `revoke.run.action_record`'s
(summaries, checklist items and fields come from the kinds, as in a real run), and its closing records (residual
exposure computed from the plan's rules, end, summary, the closure reports, seal) are `revoke.engine.finish_run`'s.
Only a resumed run's `resume` record is written here, with the fields the engine gives it (it has no function
that writes it alone).
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from revoke import evidence, journal
from revoke.actions import ACCESS, ActionKind, Outcome, Verification
from revoke.checklist.reports import write_reports
from revoke.connector import Receipt, load
from revoke.engine import finish_run, record_plan
from revoke.evidence import EvidenceLog, iso
from revoke.plan import Action, NoticeRecord, Plan, SystemPlan, action_id, fingerprint
from revoke.run import RunResult, action_record
from revoke.runbook import ChecklistSpec, ListSpec, PersonSpec, Runbook, SystemSpec

SEED = Path(__file__).parent / "data" / "customer-offboarding-checklist.md"
ENGAGEMENT = "acme-2026"
LDAP_OPERATOR = {"display": "cn=revoke,dc=example,dc=org", "bind_dn": "cn=revoke,dc=example,dc=org"}
SLACK_OPERATOR = {"display": "revoke-bot (U0BOT)", "team": "T0ACME"}
OPERATORS = {"corp-ldap": LDAP_OPERATOR, "chat": SLACK_OPERATOR}
CONNECTORS = {"corp-ldap": "ldap", "chat": "slack"}


def _ldap_exposure() -> list[dict[str, Any]]:
    """The ldap connector's own rules (as a plan records them), so an apply's residual exposure is a real one's."""
    ldap = load("ldap")
    settings = ldap.Settings(url="ldaps://ldap.example.org", bind_dn=LDAP_OPERATOR["bind_dn"],
                             bind_password={"secret": "corp_ldap"}, base_dn="dc=example,dc=org")
    return [rule.as_dict() for rule in ldap("corp-ldap", settings, None, None).exposure()]  # type: ignore[arg-type]


LDAP_EXPOSURE = _ldap_exposure()


@dataclass
class Step:
    """One action of the scenario and what happened to it in apply mode."""

    system: str
    kind: str
    resource: str
    before: dict[str, Any]
    after: dict[str, Any] | None
    outcome: str                 # the evidence outcome in apply mode
    verification: str
    person: str | None = None
    principal: str | None = None
    status: str = "change"       # the plan's status
    error: str = ""              # the apply's error; for a plan's skip, why it skips
    request_ids: list[str] = field(default_factory=list)
    label: str = ""              # display only, as a connector gives it (#acme-project for a channel id)


ALICE, BOB = "uid=alice,ou=people,dc=example,dc=org", "uid=bob,ou=people,dc=example,dc=org"
LIST_DN = "cn=acme-list,ou=lists,dc=example,dc=org"


def default_steps(*, list_fails: bool = False) -> list[Step]:
    return [
        Step("corp-ldap", "lock-account", ALICE, {"locked": False}, {"locked": True}, "done", "verified",
             person="Alice Example", request_ids=["ldap-msg-7"]),
        Step("corp-ldap", "remove-membership", "cn=vpn,ou=groups,dc=example,dc=org",
             {"member": True, "exists": True}, {"member": False, "exists": True}, "done", "verified",
             person="Alice Example", principal=ALICE, request_ids=["ldap-msg-8"]),
        Step("corp-ldap", "lock-account", BOB, {"locked": True}, {"locked": True}, "already_done", "verified",
             person="Bob Example", status="noop"),
        Step("corp-ldap", "lock-account", "uid=admin,ou=people,dc=example,dc=org", {"locked": False}, None,
             "skipped", "none", person="Bob Example", status="skip", error="protected: runbook protect list"),
        Step("chat", "archive-channel", "C0PROJECT", {"exists": True, "archived": False},
             {"exists": True, "archived": True}, "done", "verified", request_ids=["slack-req-1"],
             label="#acme-project"),
        Step("corp-ldap", "delete-group", LIST_DN, {"exists": True, "members": 3},
             {"exists": True, "members": 3} if list_fails else {"exists": False},
             "failed" if list_fails else "done", "failed" if list_fails else "absent",
             error="insufficientAccessRights: no write access to cn=acme-list" if list_fails else ""),
    ]


def _kind(step: Step | Action) -> type[ActionKind]:
    return load(CONNECTORS[step.system]).kind(step.kind)


def _runbook(page: str) -> Runbook:
    return Runbook(
        engagement=ENGAGEMENT, final_day=dt.date(2026, 11, 25),
        systems={"corp-ldap": SystemSpec(connector="ldap"), "chat": SystemSpec(connector="slack")},
        people=[PersonSpec(name="Alice Example", ids={"corp-ldap": "alice"}),
                PersonSpec(name="Bob Example", ids={"corp-ldap": "bob"})],
        lists=[ListSpec(system="chat", id="C0PROJECT"), ListSpec(system="corp-ldap", id="acme-list")],
        checklist=ChecklistSpec(page=page))


def _plan(runbook: Runbook, steps: list[Step], plan_id: str, runbook_path: Path,
          notices: list[NoticeRecord]) -> Plan:
    spec = runbook.checklist or ChecklistSpec()
    actions = [Action(id=action_id(s.system, s.kind, s.resource, s.principal), system=s.system,
                      connector=CONNECTORS[s.system], kind=s.kind,
                      item=spec.accounts_item if _kind(s).item == ACCESS else spec.lists_item,
                      resource=s.resource, principal=s.principal, person=s.person, before=s.before,
                      fingerprint=fingerprint(s.before), status=s.status, label=s.label,
                      reason=s.error if s.status == "skip" else "") for s in steps]
    systems = [SystemPlan(name="corp-ldap", connector="ldap", connector_version="1.0", operator=LDAP_OPERATOR,
                          exposure=LDAP_EXPOSURE),
               SystemPlan(name="chat", connector="slack", connector_version="1.0", operator=SLACK_OPERATOR,
                          warnings=["channel history stays readable by workspace admins"])]
    return Plan(plan_id=plan_id, created_at=dt.datetime(2026, 11, 18, 9, 0, tzinfo=dt.timezone.utc),
                runbook_path=str(runbook_path), runbook_sha256="ab" * 32, runbook=runbook, systems=systems,
                actions=actions, notices=list(notices))


def make_run(evidence_root: Path, *, mode: str = "apply", steps: list[Step] | None = None,
             notices: list[NoticeRecord] = (), run_id: str | None = None, page: str = "wiki/Offboarding.md",
             runbook_path: Path | None = None, resume: list[Step] = ()) -> Path:
    """A sealed run folder. `resume` appends a resume record and later records for these steps, as a resumed
    run does. Its records are timed at the moment its run id names (10:00 UTC on 2026-11-25 by default), so
    what the page and the reports say of its day does not depend on the day the tests run."""
    steps = default_steps() if steps is None else steps
    run_id = run_id or f"{ENGAGEMENT}-20261125T100000Z-{mode}-abc123"
    runbook = _runbook(page)
    plan_id = run_id if mode == "plan" else f"{ENGAGEMENT}-20261118T090000Z-plan-def456"
    plan = _plan(runbook, steps, plan_id, runbook_path or evidence_root / "runbook.yaml", list(notices))
    with _frozen_time(_run_time(run_id)):
        if mode == "plan":
            return record_plan(plan, evidence_root, fsync=False, before_seal=write_reports).run_dir
        return _apply_run(plan, runbook, steps, evidence_root / run_id, mode, resume)


def _apply_run(plan: Plan, runbook: Runbook, steps: list[Step], run_dir: Path, mode: str,
               resume: list[Step]) -> Path:
    log = EvidenceLog(run_dir, run_dir.name, ENGAGEMENT, fsync=False)
    result = RunResult(run_id=run_dir.name, run_dir=run_dir, mode=mode)
    systems = journal.planned_systems(plan)   # as the plan saw them: every system connected, no error
    try:
        plan.save(run_dir / "plan.json")
        result.add(log.append(journal.run_record(plan, mode, evidence.now(), systems)))
        result.extend(log.append_many(journal.notice_records(plan.notices, mode)))
        by_key = {(a.system, a.kind, a.resource): a for a in plan.actions}
        result.extend(log.append_many([_record(s, by_key[(s.system, s.kind, s.resource)], mode) for s in steps]))
        if resume:   # the fields revoke.engine gives a resumed run's opening record
            result.add(log.append({"type": "resume", "mode": mode, "resumed_at": iso(evidence.now()),
                                   "remaining": len(resume), "interrupted_intents": [], "systems": systems}))
            result.extend(log.append_many([_record(s, by_key[(s.system, s.kind, s.resource)], mode)
                                           for s in resume]))
        finish_run(plan, runbook, result, log, write_reports)
    finally:
        log.close()
    return run_dir


def _record(step: Step, a: Action, mode: str) -> dict[str, Any]:
    outcome = Outcome(step.outcome)
    receipt = Receipt(request_ids=tuple(step.request_ids)) if step.request_ids else None
    return action_record(_kind(step), OPERATORS[step.system]["display"], a, mode, outcome,
                         Verification(step.verification), after=step.after, receipt=receipt, error=step.error,
                         attempts=1 if outcome == Outcome.DONE else 0)


def _run_time(run_id: str | None) -> dt.datetime:
    """The moment a run id ENGAGEMENT-YYYYMMDDTHHMMSSZ-MODE-SUFFIX names; 2026-11-25 10:00 UTC for any other."""
    try:
        return dt.datetime.strptime((run_id or "").split("-")[-3], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    except (IndexError, ValueError):
        return dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.timezone.utc)


def _frozen_time(at: dt.datetime) -> ExitStack:
    """`revoke.evidence.now` answering `at`, in every module that imported it by name (the engine and planner,
    wherever their functions live), so every record of the run carries that time."""
    stack = ExitStack()
    original = evidence.now
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("revoke") and getattr(module, "now", None) is original:
            stack.enter_context(mock.patch.object(module, "now", lambda: at))
    return stack


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
