"""Guardrails, derived from the runbook and the live systems at every phase (plan, apply, resume, restore).

Nothing here trusts a decision or a count stored in a plan file. For each system the engine asks the connector,
live, what the runbook's protect entries, people and lists denote (`Connector.identify`) and who it connects as
(`connect()`), and builds a `Guard`. Then every action is checked against it:

- **protection**: a protected account (a runbook `protect:` entry, or the connector's own identity) is never the
  principal or the resource of any action. Accounts are compared, not strings: an entry naming any identifier of an
  account (DN, uid, mail, UPN, object id, ARN, login...), in any case, protects every identifier of it;
- **traceability**: an action for a person acts on that person's account as the system knows it (its principal,
  or its resource when it has none, is one of the identifiers of the runbook's id for them, here or, for work
  routed from another system, there); an action for no person closes a list the runbook names (or one the
  system's settings select, `Connector.selected_lists`);
- **type**: a kind that declares `resource_types` acts only on a resource that `identify` reports as such (a list
  closed must be a list);
- **blast radius**: the accounts and lists the changes touch, counted from the actions themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from revoke.connector import Connector, Entity, Identity

if TYPE_CHECKING:
    from pathlib import Path

    from revoke.actions import ActionKind
    from revoke.plan import Plan
    from revoke.runbook import Runbook


def norm(value: str) -> str:
    """Identifiers compare case-insensitively, and DNs regardless of spaces around ',' and '='."""
    return re.sub(r"\s*([,=])\s*", r"\1", value.strip()).casefold()


@dataclass
class Guard:
    """One system's guardrail facts, read live."""

    system: str
    protected: dict[str, str] = field(default_factory=dict)       # normalised identifier -> why it is protected
    people: dict[str, set[str]] = field(default_factory=dict)     # person -> identifiers of their account here
    lists: set[str] = field(default_factory=set)                  # identifiers of the runbook's lists here
    entities: dict[str, Entity | None] = field(default_factory=dict)  # normalised name -> what identify answered
    absent: set[str] = field(default_factory=set)                 # people whose account here no longer exists

    def protection(self, names: Iterable[str | None], person: str | None = None) -> str:
        """Why an action touching these names (for this person) must not run; "" when nothing protects it."""
        for name in names:
            if name and norm(name) in self.protected:
                return self.protected[norm(name)]
        for ident in self.people.get(person or "", ()):
            if ident in self.protected:
                return self.protected[ident]
        return ""

    def entity(self, name: str) -> Entity | None:
        return self.entities.get(norm(name))


def known_as(rb: "Runbook", connector: Connector) -> dict[str, list[str]]:
    """What the connector's settings call each person of the runbook, where they say anything."""
    return {p.name: more for p in rb.people if (more := connector.known_as(p.name))}


def names_to_identify(rb: "Runbook", system: str, identity: Identity | None, extra: Iterable[str] = (),
                      selected: Iterable[str] = (), known_as: Mapping[str, list[str]] | None = None) -> list[str]:
    """What a system's guard needs resolved: its protect entries, the connector's own identity, its people (and
    what its settings call them, `known_as`) and lists, and `extra` names."""
    names = [p.id for p in rb.protect if p.system in (None, system)]
    names += [n for more in (known_as or {}).values() for n in more]
    if identity is not None:
        names += [n for n in (identity.display, *identity.aliases) if n]
    names += [ident for _, ident in rb.people_in(system)]
    names += [entry.id for entry in rb.lists if entry.system == system]
    names += list(selected)
    names += list(extra)
    return list(dict.fromkeys(names))


def identify(connector: Connector, names: Sequence[str]) -> dict[str, Entity | None]:
    """The connector's answer for each name, keyed by its normalised form; a name it does not answer for is only
    itself (a connector that cannot say more must not make the engine guess)."""
    answered = connector.identify(list(names)) if names else {}
    return {norm(n): answered.get(n) for n in names}


def build_guard(rb: "Runbook", system: str, identity: Identity | None, entities: Mapping[str, Entity | None],
                selected: Iterable[str] = (), known_as: Mapping[str, list[str]] | None = None) -> Guard:
    guard = Guard(system, entities=dict(entities))
    for i, p in enumerate(rb.protect):
        if p.system not in (None, system):
            continue
        why = f"protected by the runbook (protect[{i}]: {p.id})"
        for ident in _identifiers(p.id, guard.entity(p.id)):
            guard.protected.setdefault(ident, why)
    if identity is not None:
        why = f"the connector's own identity ({identity.display}) is never acted on"
        own = [identity.display, *identity.aliases]
        for name in own:
            if name:
                for ident in _identifiers(name, guard.entity(name)):
                    guard.protected.setdefault(ident, why)
    for person, ident in rb.people_in(system):
        guard.people.setdefault(person.name, set()).update(_identifiers(ident, guard.entity(ident)))
        if person.email:  # the runbook says this address is theirs (an invitation sent to it is theirs too)
            guard.people[person.name].add(norm(person.email))
        if guard.entity(ident) is None:
            guard.absent.add(person.name)
    for name, more in (known_as or {}).items():
        for ident in more:
            guard.people.setdefault(name, set()).update(_identifiers(ident, guard.entity(ident)))
            if guard.entity(ident) is not None:
                guard.absent.discard(name)
    for name in [entry.id for entry in rb.lists if entry.system == system] + list(selected):
        guard.lists.update(_identifiers(name, guard.entity(name)))
    return guard


def _identifiers(name: str, entity: Entity | None) -> set[str]:
    found = {norm(name)}
    if entity is not None:
        found.update(norm(i) for i in entity.identifiers if i)
    return found


@dataclass(frozen=True)
class Target:
    """What the guardrails look at in an action (a planned Step or a plan's Action), as its connector addresses it."""

    system: str
    kind: "type[ActionKind]"
    resource: str
    subject: str                    # the person's account as the write names it (`Connector.subject`)
    addressed: tuple[str, ...]      # every name the write addresses (`Connector.addressed`)
    person: str | None


def target_of(system: str, kind: "type[ActionKind]", action: Any, connector: Connector) -> Target:
    return Target(system, kind, str(action.resource), connector.subject(action),
                  tuple(connector.addressed(action)), getattr(action, "person", None))


def trace_problem(target: Target, guards: Mapping[str, Guard]) -> str:
    """Why this action does not trace to the runbook; "" when it does."""
    guard = guards[target.system]
    if target.person is None:
        if norm(target.resource) in guard.lists:
            return ""
        return (f"{target.resource} is not a list this runbook closes in {target.system} (no `lists:` entry names "
                "it and the system's settings do not select it)")
    if target.person not in _people_of(guards):
        return f"{target.person} is not a person of this runbook"
    if not target.kind.acts_on_person:
        return ""
    subject = target.subject
    mine = guard.people.get(target.person)
    if mine:
        return "" if norm(subject) in mine else (f"{subject} is not {target.person}'s account in {target.system} "
                                                 f"(the runbook names {', '.join(sorted(mine))})")
    # routed here from another system (an Entra user synced from AD): it must be the same account there
    elsewhere = set().union(*(g.people.get(target.person, set()) for g in guards.values()))
    found = _identifiers(subject, guard.entity(subject))
    if found & elsewhere:
        return ""
    return f"{subject} in {target.system} is not an account of {target.person} in any system of the runbook"


def _people_of(guards: Mapping[str, Guard]) -> set[str]:
    return set().union(*(set(g.people) for g in guards.values())) if guards else set()


def type_problem(target: Target, guard: Guard) -> str:
    """Why the resource is not of a type this kind may act on; "" when it is (or the resource is gone)."""
    wanted = target.kind.resource_types
    if not wanted:
        return ""
    entity = guard.entity(target.resource)
    if entity is None:
        return ""  # absent: nothing will be closed; the read-back says it is gone
    if entity.type not in wanted:
        return (f"{target.resource} is a {entity.type}, not a {' or '.join(wanted)}: "
                f"{target.kind.name} would act on the wrong kind of object")
    return ""


def blast_radius(changes: Iterable[tuple[str, str]], limits: Mapping[str, int]) -> list[str]:
    """Systems whose changes touch more accounts and lists than the runbook allows: (system, principal or
    resource) pairs, counted distinct."""
    seen: dict[str, set[str]] = {}
    for system, target in changes:
        seen.setdefault(system, set()).add(norm(target))
    return [f"{name}: {len(targets)} targets, limit {limits[name]}" for name, targets in seen.items()
            if name in limits and len(targets) > limits[name]]


def trusted_runbook(plan: "Plan", allow_changed: bool = False) -> tuple["Runbook", str]:
    """The runbook the guardrails are derived from, and a warning to record. When the runbook file the plan names
    is present, it is the source (a plan file's own copy could have been edited): a file changed since the plan
    stops the run unless `allow_changed`, and a plan whose copy differs from the unchanged file is refused. When
    the file is not found, the plan's copy is used and the run says so."""
    from revoke.errors import GuardrailRefused
    from revoke.runbook import load_runbook

    path = _runbook_file(plan)
    if path is None:
        return plan.runbook, (f"the runbook {plan.runbook_path} was not found: the guardrails use the plan's copy "
                              "of it; run apply where the runbook is to have them checked against the file")
    loaded = load_runbook(path)
    missing = [sp.name for sp in plan.systems if sp.name not in loaded.runbook.systems]
    if loaded.sha256 != plan.runbook_sha256:
        if not allow_changed or missing:
            gone = f" (it no longer has system {', '.join(missing)})" if missing else ""
            raise GuardrailRefused(f"the runbook {path} changed since the plan was made{gone}: nothing was "
                                   "changed; re-run `revoke plan` and review it, or apply the saved plan under the "
                                   "runbook as it is now with --runbook-changed-ok")
        return loaded.runbook, (f"the runbook {path} changed since the plan; applied with --runbook-changed-ok: "
                                "its current protect list, people, lists and limits were enforced")
    if loaded.runbook != plan.runbook:
        raise GuardrailRefused(f"the plan's copy of the runbook differs from {path}, which is unchanged since the "
                               "plan was made: the plan file was edited; nothing was changed; re-run `revoke plan`")
    return loaded.runbook, ""


def _runbook_file(plan: "Plan") -> "Path | None":
    from pathlib import Path

    named = Path(plan.runbook_path)
    candidates = [named]
    source = getattr(plan, "_source", None)
    if not named.is_absolute() and source is not None:
        candidates.append(source[0].parent / named)
    return next((p for p in candidates if p.is_file()), None)
