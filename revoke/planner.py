"""Planning: check a runbook against the installed connectors, discover read-only, apply the guardrails.

`build_plan` connects to every system, asks each connector what a person can reach, and turns the findings into a
`Plan`: protected targets and the connector's own identity become skips, targets over the blast-radius limit
become a warning that apply will enforce. Nothing here writes to a target system.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets as pysecrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping

from pydantic import ValidationError

from revoke import attest, guardrails, journal
from revoke.actions import ACCESS, LISTS, Outcome, Verification
from revoke.connector import Connector, Entity, Identity, ListTarget, RunContext, Step, Subject, load
from revoke.errors import ConnectorNotFound, Problem, RunbookError
from revoke.evidence import EvidenceLog, now
from revoke.plan import Action, NoticeRecord, Plan, SystemPlan, action_id, fingerprint
from revoke.progress import Progress
from revoke.redaction import failure_message
from revoke.run import RunResult, action_record
from revoke.runbook import LoadedRunbook, Runbook
from revoke.runtime import Clock, Runtime
from revoke.secrets import RevokeSettings, Secrets, secret_refs

log = logging.getLogger("revoke.planner")

@dataclass
class SystemSetup:
    name: str
    cls: type[Connector]
    settings: Any


def check_runbook(loaded: LoadedRunbook) -> dict[str, SystemSetup]:
    """Load each system's connector and validate its settings; every problem is located in the runbook."""
    rb, doc = loaded.runbook, loaded.doc
    problems: list[Problem] = []
    setups: dict[str, SystemSetup] = {}
    for name, spec in rb.systems.items():
        setup, found = _check_system(name, spec.connector, spec.settings, doc)
        problems += found
        if setup is None:
            continue
        setups[name] = setup
        problems += _list_problems(loaded, name, setup.cls)
    if problems:
        raise RunbookError(problems)
    return setups


def _check_system(name: str, connector: str, settings: Any, doc: Any) -> tuple[SystemSetup | None, list[Problem]]:
    """One system's connector and settings, each problem located in the runbook."""
    try:
        cls = load(connector)
    except ConnectorNotFound as err:
        return None, [doc.problem(("systems", name, "connector"), f"unknown connector '{connector}'",
                                  f"installed connectors: {', '.join(sorted(err.available)) or 'none'}")]
    try:
        return SystemSetup(name, cls, cls.Settings.model_validate(settings)), []
    except ValidationError as err:
        problems = []
        for p in doc.problems_from(err):
            p.field = f"systems.{name}.settings" + (f".{p.field}" if p.field else "")
            p.line = doc.line_of(("systems", name, "settings", *_loc_prefix(p.field, name)))
            if p.message == "is not a known field" and p.field.count(".") == 3:
                p.hint = (f"check the spelling; the settings of {connector}: {', '.join(cls.Settings.model_fields)}"
                          f" (docs/runbook.md, section {connector}; `revoke schema` prints them)")
            problems.append(p)
        return None, problems


def settings_problems(data: Any, doc: Any) -> list[Problem]:
    """The connector and settings problems of a runbook's raw `systems:` mapping, for a runbook that has other
    problems too: all are reported at once, not the settings only once the rest is fixed."""
    systems = data.get("systems") if isinstance(data, dict) else None
    if not isinstance(systems, dict):
        return []
    problems: list[Problem] = []
    for name, spec in systems.items():
        if isinstance(spec, dict) and isinstance(spec.get("connector"), str):
            problems += _check_system(str(name), spec["connector"], spec.get("settings") or {}, doc)[1]
    return problems


def count(n: int, one: str, many: str | None = None) -> str:
    """"1 person", "2 people", "0 lists"."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _list_problems(loaded: LoadedRunbook, name: str, cls: type[Connector]) -> list[Problem]:
    """The runbook's lists in system `name`: its connector must close lists, and each list's `options:` must be
    what the connector's `ListOptions` declares (a typo is located, not ignored)."""
    rb, doc = loaded.runbook, loaded.doc
    problems: list[Problem] = []
    closes = any(k.item == LISTS for k in cls.kinds)
    for i, lst in enumerate(rb.lists):
        if lst.system != name:
            continue
        if not closes:
            problems.append(doc.problem(("lists", i, "system"), f"connector '{cls.name}' closes no lists",
                                        "name a system whose connector closes lists, groups or channels"))
            continue
        try:
            cls.ListOptions.model_validate(lst.options)
        except ValidationError as err:
            for e in err.errors(include_input=False, include_url=False):
                where: tuple[str | int, ...] = ("lists", i, "options", *[str(x) for x in e["loc"]])
                known = ", ".join(cls.ListOptions.model_fields) or "none"
                problems.append(doc.problem(where, f"{e['msg']} for a {cls.name} list",
                                            f"options this connector takes: {known}"))
    return problems


def list_options(cls: type[Connector], options: Mapping[str, Any]) -> dict[str, Any]:
    """A list's options as its connector declares them, defaults filled in (checked already by check_runbook)."""
    return cls.ListOptions.model_validate(options).model_dump()


def _loc_prefix(dotted_field: str, system: str) -> tuple[str, ...]:
    rest = dotted_field.split(f"systems.{system}.settings", 1)[-1].strip(".")
    return tuple(part for part in re.split(r"[.\[\]]", rest) if part and not part.isdigit())


def setups_for(rb: Runbook) -> dict[str, SystemSetup]:
    """The same as `check_runbook`, for a runbook already checked (one embedded in a saved plan)."""
    out = {}
    for name, spec in rb.systems.items():
        cls = load(spec.connector)
        try:
            out[name] = SystemSetup(name, cls, cls.Settings.model_validate(spec.settings))
        except ValidationError as err:
            raise RunbookError([Problem("plan", None, f"runbook.systems.{name}.settings", str(err),
                                        "the installed connector no longer accepts these settings; re-plan")]) from None
    return out


def load_secrets(setups: dict[str, SystemSetup], settings: RevokeSettings | None = None, *,
                 runbook_dir: Path | None = None) -> Secrets:
    """The secrets the systems' settings refer to, and only those; `runbook_dir`'s `.env` is read first."""
    names = [ref.secret for s in setups.values() for ref in secret_refs(s.settings)]
    return Secrets.load(names, settings, runbook_dir=runbook_dir)


def new_run_id(engagement: str, mode: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{engagement}-{stamp}-{mode}-{pysecrets.token_hex(3)}"


# ---------------------------------------------------------------------------------------------------------------
# plan


_norm = guardrails.norm


@dataclass
class _Discovered:
    system: SystemPlan
    steps: list[Step]
    notices: list[NoticeRecord]
    identity: Identity | None
    connector: Connector | None = None
    entities: dict[str, Entity | None] = field(default_factory=dict)  # what identify answered, by normalised name


def build_plan(loaded: LoadedRunbook, *, secrets: Secrets | None = None, progress: Progress | None = None,
               plan_id: str | None = None, clock: Clock | None = None) -> Plan:
    rb = loaded.runbook
    progress = progress or Progress()
    setups = check_runbook(loaded)
    secrets = secrets or load_secrets(setups, runbook_dir=loaded.path.parent)
    plan_id = plan_id or new_run_id(rb.engagement, "plan")
    context = RunContext(run_id=plan_id, started_at=now(), runtime=Runtime(clock or Clock()))
    progress.phase("discover", {name: 1 for name in setups})

    def discover(setup: SystemSetup) -> _Discovered:
        return _discover_system(rb, setup, secrets, context, progress)

    with ThreadPoolExecutor(max_workers=max(1, len(setups)), thread_name_prefix="discover") as pool:
        found = list(pool.map(discover, setups.values()))
    _route(rb, setups, found, secrets, context, progress)
    progress.done()
    _refuse_non_lists(loaded, found)

    actions: list[Action] = []
    notices: list[NoticeRecord] = []
    systems: list[SystemPlan] = []
    guards = {d.system.name: guardrails.build_guard(
        rb, d.system.name, d.identity, d.entities, d.connector.selected_lists() if d.connector else [],
        guardrails.known_as(rb, d.connector) if d.connector else {}) for d in found}
    for d in found:
        setup = setups[d.system.name]
        subject_ids = {p.name: ident for p, ident in rb.people_in(d.system.name)}
        system_actions = [_to_action(rb, setup, step, guards, d.connector, subject_ids) for step in d.steps]
        targets = {a.principal or a.resource for a in system_actions if a.status == "change"}
        warnings = list(d.system.warnings)
        limit = rb.systems[d.system.name].blast_radius
        if len(targets) > limit:
            warnings.append(f"{len(targets)} accounts and resources to change exceed this system's blast-radius "
                            f"limit of {limit}: apply will "
                            f"refuse; raise systems.{d.system.name}.blast_radius in the runbook if this is intended")
        systems.append(d.system.model_copy(update={"targets": len(targets), "warnings": warnings}))
        actions.extend(system_actions)
        notices.extend(_located(loaded, d.notices))
    return Plan(plan_id=plan_id, created_at=context.started_at, runbook_path=str(loaded.path),
                runbook_sha256=loaded.sha256, runbook=rb, systems=systems, actions=actions, notices=notices)


def _discover_system(rb: Runbook, setup: SystemSetup, secrets: Secrets, context: RunContext,
                     progress: Progress, subjects: list[Subject] | None = None,
                     lists: list[ListTarget] | None = None) -> _Discovered:
    spec = rb.systems[setup.name]
    if subjects is None:
        subjects = [Subject(person=p.name, ident=ident, email=p.email) for p, ident in rb.people_in(setup.name)]
    if lists is None:
        lists = [ListTarget(ident=lst.id, close=lst.close, options=list_options(setup.cls, lst.options))
                 for lst in rb.lists
                 if lst.system == setup.name]
    connector = setup.cls(setup.name, setup.settings, secrets, replace(context, runtime=context.runtime.for_system()))
    version = getattr(setup.cls, "version", "0")
    base = SystemPlan(name=setup.name, connector=spec.connector, connector_version=version, operator={},
                      warnings=connector.warnings())
    try:
        progress.step(setup.name, "connecting")
        identity = connector.connect()
        progress.step(setup.name, f"discovering {count(len(subjects), 'person', 'people')}, "
                                  f"{count(len(lists), 'list')}")
        # discovery only reads: a throttled or passing failure is repeated by the runtime, within the budget
        discovery = connector.context.runtime.read(lambda: connector.discover(subjects, lists))
        entities = _identify(rb, setup.name, connector, identity, discovery.steps, subjects)
    except Exception as err:  # noqa: BLE001 - one system's failure is reported in the plan, not fatal to it
        message = failure_message(err, setup.name, setup.cls.name, "discovery")
        progress.step(setup.name, f"failed: {message}", "failed")
        item = rb.checklist.accounts_item if rb.checklist else 3
        return _Discovered(base.model_copy(update={"error": message}), [],
                           [NoticeRecord(system=setup.name, message=message, item=item)], None)
    finally:
        connector.close()
    operator = {"display": identity.display, **dict(identity.detail)}
    rules = [r.as_dict() for r in connector.exposure()]
    notices = []
    for n in discovery.notices:
        item = _item_for(rb, setup.name, "lists" if n.resource and not n.person else ACCESS)
        notices.append(NoticeRecord(system=setup.name, message=n.message, person=n.person, resource=n.resource,
                                    severity=n.severity, item=item))
    # the blast radius counts accounts and resources, not actions: say both, in the same words as the guardrail
    touched = len({st.principal or st.resource for st in discovery.steps})
    progress.step(setup.name, f"found {count(len(discovery.steps), 'action')} on "
                              f"{count(touched, 'account or resource', 'accounts and resources')}", "done")
    return _Discovered(base.model_copy(update={"operator": operator, "exposure": rules}), discovery.steps, notices,
                       identity, connector, entities)


def _located(loaded: LoadedRunbook, notices: list[NoticeRecord]) -> list[NoticeRecord]:
    """A notice that needs a person about a list of the runbook says where the runbook names it (file, line,
    field), as every runbook mistake does: a list not found, a name several lists share."""
    where = {(lst.system, lst.id): i for i, lst in enumerate(loaded.runbook.lists)}
    out = []
    for n in notices:
        i = where.get((n.system, n.resource or "")) if n.severity == "error" and not n.person else None
        if i is not None:
            line = loaded.doc.line_of(("lists", i, "id"))
            n = n.model_copy(update={"message": f"{loaded.path}:{line}: lists[{i}].id: {n.message}"})
        out.append(n)
    return out


def _identify(rb: Runbook, system: str, connector: Connector, identity: Identity, steps: list[Step],
              subjects: list[Subject]) -> dict[str, Entity | None]:
    """What the guardrails need resolved in this system: the runbook's names, the resources of kinds that must be
    of a type, and the accounts of people routed here from another system (they have no id of their own here)."""
    have_ids = {p.name for p, _ in rb.people_in(system)}
    kinds = {k.name: k for k in connector.kinds}
    extra = [s.resource for s in steps if s.kind in kinds and kinds[s.kind].resource_types]
    extra += [connector.subject(s) for s in steps if s.person and s.person not in have_ids]
    extra += [x.ident for x in subjects if x.person not in have_ids]
    names = guardrails.names_to_identify(rb, system, identity, extra, connector.selected_lists(),
                                         guardrails.known_as(rb, connector))
    return connector.context.runtime.read(lambda: guardrails.identify(connector, names))


def _route(rb: Runbook, setups: dict[str, SystemSetup], found: list[_Discovered], secrets: Secrets,
           context: RunContext, progress: Progress) -> None:
    """Steps a connector cannot do itself but another system of the runbook can (an Entra user synced from
    on-premises AD is disabled in AD; a distribution list's member is removed in Exchange Online). The receiving
    connector declares what it takes (`Connector.routed_subject`, `Connector.fulfils`). Decided at plan time:
    the plan shows where each one is carried out."""
    by_name = {d.system.name: d for d in found}
    wanted: dict[str, list[tuple[_Discovered, int, Step]]] = {}
    for d in found:
        for i, step in enumerate(d.steps):
            route = step.params.get("route")
            if not route or step.outcome != Outcome.ATTENTION.value:
                continue
            target = next((n for n, s in setups.items() if s.cls.name == route and not by_name[n].system.error
                           and s.cls.routed_subject(step) is not None), None)
            if target is None:
                d.steps[i] = replace(step, note=f"{step.note}; this runbook has no {route} system: do it there "
                                     "by hand, or add that system to the runbook")
                continue
            wanted.setdefault(target, []).append((d, i, step))
    for target, entries in wanted.items():
        there, cls = by_name[target], setups[target].cls
        have = {s.person for s in there.steps if s.person}
        subjects: dict[tuple[str, str], Subject] = {}
        for _, _, step in entries:
            subject = cls.routed_subject(step)
            if subject is not None and subject.ident and subject.person not in have:
                subjects.setdefault((subject.person, subject.ident.casefold()), subject)
        if subjects:
            extra = _discover_system(rb, setups[target], secrets, context, progress,
                                     subjects=list(subjects.values()), lists=[])
            there.steps.extend(extra.steps)
            there.notices.extend(extra.notices)
            there.entities.update(extra.entities)
        for d, i, step in entries:
            own = next((s for s in there.steps if cls.fulfils(step, s)), None)
            if own is not None:
                what = cls.kind(own.kind).describe(own.label or own.resource)
                d.steps[i] = replace(step, outcome=Outcome.ROUTED.value,
                                     note=f"carried out through system {target}: {what}")


def _refuse_non_lists(loaded: LoadedRunbook, found: list[_Discovered]) -> None:
    """A runbook list that its connector found is not a list (a person's entry, a user) is refused with the
    runbook line that names it: closing it would delete or empty something that is not the engagement's list."""
    problems: list[Problem] = []
    for d in found:
        for n in d.notices:
            if n.severity != "refused":
                continue
            index = next((i for i, entry in enumerate(loaded.runbook.lists)
                          if entry.system == d.system.name and _norm(entry.id) == _norm(n.resource or "")), None)
            path: tuple[str | int, ...] = ("lists", index, "id") if index is not None else ("lists",)
            problems.append(loaded.doc.problem(path, n.message, "a list target must be a group, mailing list or "
                                               "channel; remove this entry or name the list itself"))
    if problems:
        raise RunbookError(problems)


def _item_for(rb: Runbook, system: str, item_class: str) -> int:
    spec = rb.checklist
    if item_class == ACCESS:
        if spec and system in spec.items:
            return spec.items[system]
        return spec.accounts_item if spec else 3
    return spec.lists_item if spec else 4


def _to_action(rb: Runbook, setup: SystemSetup, step: Step, guards: dict[str, guardrails.Guard],
               connector: Connector | None, subject_ids: dict[str, str]) -> Action:
    kind = setup.cls.kind(step.kind)
    guard = guards[setup.name]
    names = [step.resource, step.principal, *step.aliases]
    if step.person and step.person in subject_ids:
        names.append(subject_ids[step.person])
    untraced = ""
    if connector is not None:
        target = guardrails.target_of(setup.name, kind, step, connector)
        names += target.addressed
        untraced = guardrails.trace_problem(target, guards) or guardrails.type_problem(target, guard)
    reason = guard.protection(names, step.person)
    status: Literal["change", "noop", "skip", "final"]
    if reason:
        status, outcome = "skip", Outcome.SKIPPED.value
    elif untraced:
        # a connector proposed something the runbook does not ask for: shown, never carried out
        status, outcome, reason = "final", Outcome.ATTENTION.value, f"refused: {untraced}"
    elif step.outcome:
        status, outcome, reason = "final", step.outcome, step.note
    elif not step.needed:
        status, outcome = "noop", None
    else:
        status, outcome = "change", None
    return Action(id=action_id(setup.name, kind.name, step.resource, step.principal), system=setup.name,
                  connector=setup.cls.name, kind=kind.name, item=_item_for(rb, setup.name, kind.item),
                  resource=step.resource, principal=step.principal, person=step.person, params=dict(step.params),
                  before=step.before, fingerprint=fingerprint(step.before), status=status, outcome=outcome,
                  reason=reason, label=step.label, note=step.note)


def record_plan(plan: Plan, evidence_root: Path, *, fsync: bool = True,
                before_seal: Callable[[Path], Iterable[Path]] | None = None,
                signing_key: Path | None = None) -> RunResult:
    """The dry run's own evidence: one record per planned action, sealed (and signed, timestamped) like any run."""
    attestor = attest.attestor(plan.runbook.timestamp_authority, signing_key)
    run_dir = evidence_root / plan.plan_id
    evidence = EvidenceLog(run_dir, plan.plan_id, plan.engagement, fsync=fsync)
    result = RunResult(run_id=plan.plan_id, run_dir=run_dir, mode="plan")
    try:
        plan.save(run_dir / "plan.json")
        opening = [journal.run_record(plan, "plan", plan.created_at, journal.planned_systems(plan))]
        result.extend(evidence.append_many(opening + journal.notice_records(plan.notices, "plan")))
        operators = {s.name: s.operator.get("display") for s in plan.systems}
        # a dry run journals nothing to resume from: one fsync per thousand records, not one each (2,000 leavers:
        # 8,000 fsyncs, most of the plan's time), and never all the records in memory at once
        for start in range(0, len(plan.actions), 1000):
            planned = []
            for a in plan.actions[start:start + 1000]:
                kind = load(a.connector).kind(a.kind)
                outcome = {"change": Outcome.PLANNED, "noop": Outcome.ALREADY_DONE, "skip": Outcome.SKIPPED}.get(
                    a.status) or Outcome(a.outcome or Outcome.ATTENTION.value)
                planned.append(action_record(kind, operators.get(a.system), a, "plan", outcome, Verification.NONE,
                                             error=a.reason if a.status == "skip" else ""))
            result.extend(evidence.append_many(planned))
        journal.close_run(plan, result, evidence, before_seal, attestor)
    finally:
        evidence.close()
    return result


