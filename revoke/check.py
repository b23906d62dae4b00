"""The check phase: before any change, connect to every system, re-derive every guardrail from the live
identities and re-read every target, so an untraceable, protected or stale action stops the whole run.

Nothing here trusts a count or a decision stored in the plan file: the final day and the blast radius come from
the runbook and the actions themselves, protection and traceability from what each system says its accounts are.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from revoke import guardrails
from revoke.actions import State, unverifiable_reason
from revoke.errors import GuardrailRefused, StalePlan
from revoke.execute import SystemRun, read_targets, satisfied
from revoke.plan import Action, Plan, fingerprint
from revoke.progress import Progress
from revoke.redaction import failure_message
from revoke.runbook import Runbook
from revoke.secrets import Secrets

if TYPE_CHECKING:
    from revoke.run import ApplyOptions


def check_guardrails(plan: Plan, options: ApplyOptions, mode: str = "apply", rb: Runbook | None = None) -> None:
    """The final day and the blast radius, from the runbook (`rb`, the trusted one) and the plan's actions
    themselves: never from a count the plan file states."""
    rb = rb or plan.runbook
    today = options.today or dt.date.today()
    if mode == "apply" and today < rb.final_day and not options.before_final_day:
        raise GuardrailRefused(f"today ({today}) is before the engagement's final_day ({rb.final_day}); "
                               "apply now only on purpose, with --before-final-day")
    limits = {name: spec.blast_radius for name, spec in rb.systems.items()}
    over = guardrails.blast_radius(((a.system, a.principal or a.resource) for a in plan.actions
                                    if a.status == "change"), limits)
    if over:
        raise GuardrailRefused("the plan exceeds the blast-radius limit, nothing was changed:\n  " +
                               "\n  ".join(over) + "\nraise systems.<name>.blast_radius in the runbook if intended")


def check_systems(systems: dict[str, SystemRun], todo: list[Action], exempt: set[str], rb: Runbook,
                  secrets: Secrets, progress: Progress, skip_stale: bool, mode: str = "apply"
                  ) -> tuple[dict[str, dict[str, State]], dict[str, str], list[Action]]:
    """The check phase: connect, re-derive the guardrails live, re-read every target. Answers the states read,
    the changes whose person is gone, and the stale actions (raises StalePlan for them unless `skip_stale`).
    `exempt` actions are not judged stale now: written before an interruption, or restored later."""
    by_system: dict[str, list[Action]] = {name: [] for name in systems}
    for a in todo:
        by_system[a.system].append(a)
    current, guards = _check_phase(systems, by_system, progress, secrets, rb)
    gone = _refuse_untrusted(todo, systems, guards)
    stale = [a for a in todo if a.id not in exempt and is_stale(systems[a.system], a, current[a.system])]
    if stale and not skip_stale:
        for s in systems.values():
            s.connector.close()
        lines = [f"{a.system}: {systems[a.system].kind(a).describe(a.label or a.resource, mode=mode)}"
                 + (f" ({a.person})" if a.person else "") for a in stale]
        fix = ("check them by hand, or restore the rest with --skip-stale" if mode == "restore" else
               "re-run `revoke plan` and review it, or apply the rest with --skip-stale")
        raise StalePlan(f"{len(stale)} action(s) no longer match what the plan saw, nothing was changed:\n  " +
                        "\n  ".join(lines) + f"\n{fix}")
    return current, gone, stale


def systems_header(systems: dict[str, SystemRun]) -> dict[str, Any]:
    return {n: {"connector": s.spec.connector,
                "operator": {"display": s.identity.display, **dict(s.identity.detail)} if s.identity else {},
                "warnings": s.plan.warnings, "error": s.error} for n, s in systems.items()}


def _check_phase(systems: dict[str, SystemRun], by_system: dict[str, list[Action]], progress: Progress,
                 secrets: Secrets, rb: Runbook) -> tuple[dict[str, dict[str, State]], dict[str, guardrails.Guard]]:
    progress.phase("check", {name: 1 for name in systems})
    guards: dict[str, guardrails.Guard] = {}

    def connect_and_read(name: str) -> dict[str, State]:
        sys_ = systems[name]
        try:
            sys_.identity = sys_.connector.connect()
            todo = [a for a in by_system[name] if a.status in ("change", "noop")]
            states = read_targets(sys_, todo) if todo else {}
            # after the read-back: a connector may answer the look-ups from what it has just read
            guards[name] = _guard(sys_, rb, todo)
            progress.step(name, f"read {len(states)} targets", "done")
            return states
        except Exception as err:  # noqa: BLE001 - a connector bug fails its system, not the run
            sys_.error = secrets.redact(failure_message(err, name, sys_.cls.name, "check"))
        progress.step(name, f"failed: {sys_.error}", "failed")
        return {}

    with ThreadPoolExecutor(max_workers=max(1, len(systems)), thread_name_prefix="check") as pool:
        current = dict(zip(systems, pool.map(connect_and_read, systems)))
    progress.done()
    return current, guards


def _guard(sys_: SystemRun, rb: Runbook, actions: list[Action]) -> guardrails.Guard:
    """What the runbook's protect entries, people and lists are in this system now, and who the connector is."""
    have_ids = {p.name for p, _ in rb.people_in(sys_.plan.name)}
    extra = [a.resource for a in actions if sys_.kind(a).resource_types]
    extra += [sys_.connector.subject(a) for a in actions if a.person and a.person not in have_ids]
    selected, aka = sys_.connector.selected_lists(), guardrails.known_as(rb, sys_.connector)
    names = guardrails.names_to_identify(rb, sys_.plan.name, sys_.identity, extra, selected, aka)
    entities = sys_.runtime.read(lambda: guardrails.identify(sys_.connector, names))
    return guardrails.build_guard(rb, sys_.plan.name, sys_.identity, entities, selected, aka)


def _refuse_untrusted(todo: list[Action], systems: dict[str, SystemRun],
                      guards: dict[str, guardrails.Guard]) -> dict[str, str]:
    """Every change must be one the runbook asks for, on an account nothing protects, of the type its kind acts
    on; otherwise the run stops before any change (a plan file edited by hand, a runbook or identity changed).
    Answers the changes for people whose account no longer exists, with why: they are recorded, never written
    (whatever such an action names now cannot be that person's account)."""
    problems: list[str] = []
    gone: dict[str, str] = {}
    for a in todo:
        sys_ = systems[a.system]
        if a.status != "change" or sys_.error or a.system not in guards:
            continue
        guard = guards[a.system]
        target = guardrails.target_of(a.system, sys_.kind(a), a, sys_.connector)
        protected = guard.protection(target.addressed, a.person)
        if not protected and a.person in guard.absent:
            gone[a.id] = (f"{a.person}'s account in {a.system} no longer exists (the runbook's id for them finds "
                          "nothing): nothing was written")
            continue
        why = (protected
               or guardrails.trace_problem(target, guards)
               or guardrails.type_problem(target, guard))
        if why:
            problems.append(f"{a.system}: {sys_.kind(a).describe(a.label or a.resource)}"
                            + (f" ({a.person})" if a.person else "") + f": {why}")
    if problems:
        for s in systems.values():
            s.connector.close()
        raise GuardrailRefused(f"{len(problems)} action(s) of the plan are refused, nothing was changed:\n  "
                               + "\n  ".join(problems[:50])
                               + (f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else "")
                               + "\nre-run `revoke plan` from the runbook and review the new plan")
    return gone


def after_containers(todo: list[Action], systems: dict[str, SystemRun]) -> set[str]:
    """Restore order across systems: the actions on something (a membership of a group) whose container another
    system of this restore brings back (the group, deleted by m365-groups while entra removed the memberships).
    They are read, checked and carried out after every system has restored its lists and groups."""
    containers: dict[str, set[str]] = {}
    for a in todo:
        if a.status == "change" and systems[a.system].kind(a).resource_types:
            containers.setdefault(a.resource.casefold(), set()).add(a.system)
    # within one system the connector's own order stands (okta's emptied group gives its members back itself)
    return {a.id for a in todo if a.status == "change" and not systems[a.system].kind(a).resource_types
            and containers.get(a.resource.casefold(), set()) - {a.system}}


def is_stale(sys_: SystemRun, a: Action, current: dict[str, State]) -> bool:
    state = current.get(a.id)
    if state is None or a.status not in ("change", "noop") or unverifiable_reason(state) is not None:
        return False  # an answer that proves nothing cannot show the plan stale either; the record will say so
    done = satisfied(sys_.kind(a), a, state, sys_.mode)
    if a.status == "noop":
        return not done
    return not done and fingerprint(state) != a.fingerprint
