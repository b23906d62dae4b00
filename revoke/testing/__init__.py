"""The conformance suite every connector passes, built-in or third-party.

A plugin author calls it from their own tests, against their own fake or test server::

    from revoke.testing import check_connector

    def test_my_connector_conforms(tmp_path, my_fake):
        check_connector("my-system", {"url": my_fake.url, "token": {"secret": "my_token"}},
                        people={"Alice Example": "alice"}, lists=["#acme-dev"],
                        secrets={"my_token": my_fake.token}, server_state=my_fake.snapshot, workdir=tmp_path)

It drives the connector through revoke's own engine, exactly as `revoke plan` and `revoke apply` do, and checks
the contract the engine relies on (the habits of Terraform's "inconsistent result after apply" check and baton's
integration tests):

1. the connector is installed under its `name` in the `revoke.connectors` entry-point group and declares its kinds;
2. plan causes no writes: `server_state()` reads the same before and after discovery and a read-back;
3. the plan has something to change (seed your fake so it does), and read-back agrees with discovery;
4. apply carries every change out and reads each back as done (`done`, verified or absent; a kind declared
   `verifiable = False`, which the service gives nothing to read back for, is `done` and `unverifiable`);
5. re-planning finds only no-ops: discovery after apply sees everything in the desired state (an unverifiable kind
   may be planned again: nothing can show it done);
6. applying the same plan again writes nothing and records every action as `already_done` (an unverifiable kind
   is sent again and must leave the state as it was);
7. (optional) restoring the run brings the before-states back, and a new plan shows the same changes again;
   with `restored_state`, the system itself (read independently) is exactly as it was before apply.

`server_state` is anything that changes when the system is written to, read independently of the connector: a
recording fake's write counter, or a snapshot of the data (for LDAP, every entry with its operational attributes).
Every failed check raises `ConformanceError` (an AssertionError) saying which rule broke and what was seen.
"""

from __future__ import annotations

import datetime as dt
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml
from pydantic import BaseModel, SecretStr

from revoke.actions import ActionKind, Outcome
from revoke.connector import Connector, installed
from revoke.plan import Plan
from revoke.run import RunResult
from revoke.secrets import Secrets

__all__ = ["ConformanceError", "ConformanceReport", "check_connector", "check_declarations", "check_degraded"]

SYSTEM = "sut"  # the system's name in the generated runbook
PROTOCOL = ("connect", "discover", "apply", "read_back", "restore")


class ConformanceError(AssertionError):
    """A connector broke one rule of the contract; the message says which and what was seen."""


def _check(condition: bool, rule: str, detail: str = "") -> None:
    if not condition:
        raise ConformanceError(f"{rule}" + (f"\n  {detail}" if detail else ""))


def check_declarations(cls: type[Connector], entry_point_name: str | None = None) -> None:
    """What a connector class must declare: checked without a server (the registry meta-test runs it on all)."""
    name = getattr(cls, "name", None)
    _check(inspect.isclass(cls) and issubclass(cls, Connector),
           f"{cls!r} must subclass revoke.connector.Connector")
    _check(isinstance(name, str) and bool(name), f"{cls.__name__} must set the class attribute `name`")
    if entry_point_name is not None:
        _check(entry_point_name == name, f"entry point '{entry_point_name}' must equal the connector's name "
               f"'{name}'", "revoke loads connectors by the runbook's `connector:` through the entry point name")
    missing = [m for m in PROTOCOL if getattr(getattr(cls, m), "__isabstractmethod__", False)]
    _check(not missing, f"{name}: implement {', '.join(missing)}")
    _check(inspect.isclass(getattr(cls, "Settings", None)) and issubclass(cls.Settings, BaseModel),
           f"{name}: `Settings` must be a pydantic model of the runbook's `settings:`")
    _check(bool(cls.kinds), f"{name}: `kinds` must list the action kinds it can plan")
    seen: set[str] = set()
    for kind in cls.kinds:
        _check(issubclass(kind, ActionKind), f"{name}: {kind!r} in `kinds` must subclass ActionKind")
        for attr in ("name", "summary", "done_summary"):
            _check(isinstance(getattr(kind, attr, None), str) and bool(getattr(kind, attr)),
                   f"{name}: action kind {kind.__name__} must declare a non-empty `{attr}`")
        _check(kind.name not in seen, f"{name}: two action kinds are named '{kind.name}'")
        seen.add(kind.name)
        _check(kind.item in ("access", "lists"), f"{name}: {kind.name}.item must be ACCESS or LISTS "
               "(checklist item 3 or 4)", f"found {kind.item!r}")
        _check(bool(kind.permissions) and all(isinstance(p, str) and p for p in kind.permissions),
               f"{name}: {kind.name} must declare the provider permissions it uses (`permissions`)",
               "`revoke permissions` is generated from these declarations")
        _check(bool(kind.desired), f"{name}: {kind.name} must declare `desired`, the read-back state that "
               "means done")
        _check(kind.restorable or bool(kind.restore_note),
               f"{name}: {kind.name} is not restorable: say why in `restore_note`")
    _check(cls.rate_scope is None or (isinstance(cls.rate_scope, str) and bool(cls.rate_scope)),
           f"{name}: `rate_scope` must be None or the name of an action parameter", f"found {cls.rate_scope!r}")
    document = cls.permissions_document(cls.kinds)
    _check(isinstance(document, str) and bool(document.strip()), f"{name}: permissions_document() is empty")


@dataclass
class ConformanceReport:
    """What the suite ran, for further assertions in the caller's test."""

    plan: Plan
    apply: RunResult
    replan: Plan
    reapply: RunResult
    restore: RunResult | None = None
    runbook: Path = field(default=Path())


def __getattr__(name: str) -> Any:  # the degraded-server mode, imported when first used
    if name in ("check_degraded", "Degrader"):
        from revoke.testing import degraded

        return getattr(degraded, name)
    raise AttributeError(name)


@dataclass
class _Suite:
    """One conformance run: the generated runbook, its secrets, and how the system's state is read."""

    cls: type[Connector]
    runbook: Path
    secrets: Secrets
    options: Any
    server_state: Callable[[], Any]

    def plan(self) -> Plan:
        from revoke.engine import build_plan
        from revoke.runbook import load_runbook

        return build_plan(load_runbook(self.runbook), secrets=self.secrets)

    def apply(self, plan: Plan, mode: str = "apply") -> RunResult:
        from revoke.engine import apply_plan

        return apply_plan(plan, self.options, secrets=self.secrets, mode=mode)


def check_connector(connector: str, settings: Mapping[str, Any], *, server_state: Callable[[], Any],
                    workdir: Path, people: Mapping[str, str] | None = None,
                    lists: Sequence[str | Mapping[str, Any]] = (), secrets: Mapping[str, str] | None = None,
                    protect: Sequence[str] = (), restore: bool = True,
                    restored_state: Callable[[], Any] | None = None) -> ConformanceReport:
    """Run the conformance suite against a live fake or test server (see the module docstring).

    `connector` is the installed name, `settings` the runbook's `settings:` for it, `people` maps each leaver's
    name to their identifier in the system, `lists` are ids (or {id, close, options}) of lists to close, and
    `secrets` the values of the secrets the settings reference. The fake must hold something to revoke.
    `restored_state`, read independently like `server_state`, is what restore must bring back exactly as it was
    before apply (leave out what every write changes, such as modification times, and what the restorable kinds
    do not touch); without it, restore is judged by a new plan showing the restored targets as changes again.
    """
    suite = _suite(connector, settings, server_state, workdir, people, lists, secrets, protect)
    restorable_before = restored_state() if restored_state is not None else None
    plan = _check_plan(suite)
    applied = _check_apply(suite, plan)
    replan, reapplied = _check_idempotent(suite, plan)
    report = ConformanceReport(plan=plan, apply=applied, replan=replan, reapply=reapplied, runbook=suite.runbook)
    restorable = [a for a in plan.changes() if suite.cls.kind(a.kind).restorable]
    if restore and restorable:
        report.restore = _check_restore(suite, applied, restorable)
        if restored_state is not None:
            after = restored_state()
            _check(after == restorable_before, "restore did not bring the system back to its state before apply",
                   _difference(restorable_before, after))
    return report


def _suite(connector: str, settings: Mapping[str, Any], server_state: Callable[[], Any], workdir: Path,
           people: Mapping[str, str] | None, lists: Sequence[str | Mapping[str, Any]],
           secrets: Mapping[str, str] | None, protect: Sequence[str]) -> _Suite:
    from revoke.engine import ApplyOptions

    eps = installed()
    _check(connector in eps, f"no connector '{connector}' is installed in the revoke.connectors entry-point "
           "group", f"installed: {', '.join(sorted(eps))}; install your package (pip install -e .) first")
    cls = eps[connector].load()
    check_declarations(cls, connector)

    runbook = write_runbook(workdir / "conformance.yaml", connector, settings, people, lists, protect)
    the_secrets = Secrets({k: SecretStr(v) for k, v in (secrets or {}).items()})
    return _Suite(cls, runbook, the_secrets, ApplyOptions(evidence_root=workdir / "evidence", fsync=False),
                  server_state)


def _check_plan(suite: _Suite) -> Plan:
    """Plan (and a read-back of what it found) writes nothing, finds something to change, and agrees with
    read-back."""
    before = suite.server_state()
    plan = suite.plan()
    _check(not any(s.error for s in plan.systems), "discovery failed",
           "; ".join(s.error or "" for s in plan.systems))
    _check(suite.server_state() == before, "plan wrote to the system: its state changed during discovery")
    _check(bool(plan.changes()), "the plan has nothing to change: seed the fake with something to revoke",
           f"actions: {[(a.kind, a.resource, a.status) for a in plan.actions]}; notices: "
           f"{[n.message for n in plan.notices]}")
    states = _read_back(suite.cls, plan, suite.secrets)
    for a in plan.actions:
        if a.status not in ("change", "noop"):
            continue
        kind = suite.cls.kind(a.kind)
        _check(a.id in states, f"read_back gave no state for {a.kind} {a.resource}",
               "read_back must answer every action it is given, keyed by action id")
        _check(kind.is_done(states[a.id]) == (a.status == "noop"),
               f"read_back disagrees with discovery on {a.kind} {a.resource}",
               f"planned {a.status} with before={a.before}, read back {states[a.id]}")
    _check(suite.server_state() == before, "read-back wrote to the system: its state changed")
    return plan


def _check_apply(suite: _Suite, plan: Plan) -> RunResult:
    """Every change carried out, read back as done, and seen by the system itself."""
    before = suite.server_state()
    applied = suite.apply(plan)
    by_id = {r["action_id"]: r for r in applied.actions()}
    for a in plan.changes():
        r = by_id.get(a.id)
        # a kind the service gives nothing to read back for (Google's signOut) is done and says it is unverifiable
        proved = ("verified", "absent") if suite.cls.kind(a.kind).verifiable else ("unverifiable",)
        _check(r is not None and r["outcome"] == Outcome.DONE.value and r["verification"] in proved,
               f"apply did not carry out {a.kind} {a.resource}" + (f" ({a.principal})" if a.principal else ""),
               f"record: {_short(r)}")
    _check(suite.server_state() != before, "apply reported changes but the system's state did not change",
           "server_state() must reflect the writes the connector makes")
    return applied


def _check_idempotent(suite: _Suite, plan: Plan) -> tuple[Plan, RunResult]:
    """Re-planning finds only no-ops; applying the same plan again writes nothing and says already_done."""
    replan = suite.plan()
    # a kind the service gives nothing to read back for (Okta's clear-sessions) cannot be seen done, so discovery
    # may plan it again; only observable kinds must be settled
    again = [(a.kind, a.resource, a.principal) for a in replan.changes() if suite.cls.kind(a.kind).verifiable]
    _check(not again, "re-planning after apply still finds changes: discovery and apply disagree", f"{again}")
    settled = suite.server_state()
    reapplied = suite.apply(plan)
    by_id = {r["action_id"]: r for r in reapplied.actions()}
    for a in plan.changes():
        r = by_id.get(a.id)
        # nothing can show an unverifiable kind done, so it is sent again: it must change nothing the second time
        again_ok = (Outcome.ALREADY_DONE.value,) if suite.cls.kind(a.kind).verifiable else (Outcome.DONE.value,)
        _check(r is not None and r["outcome"] in again_ok,
               f"applying the plan again must record {a.kind} {a.resource} as already_done", f"record: {_short(r)}")
    _check(suite.server_state() == settled, "applying the plan again wrote to the system")
    return replan, reapplied


def _check_restore(suite: _Suite, applied: RunResult, restorable: list[Any]) -> RunResult:
    """Restoring the run brings each restorable target back, and a new plan shows it as a change again."""
    from revoke.engine import build_restore_plan

    restored = suite.apply(build_restore_plan(applied.run_dir), mode="restore")
    by_id = {r["action_id"]: r for r in restored.actions()}
    for a in restorable:
        r = by_id.get(a.id)
        _check(r is not None and r["outcome"] == Outcome.DONE.value,
               f"restore did not bring back {a.kind} {a.resource}", f"record: {_short(r)}")
    back = suite.plan()
    expected = {a.id for a in restorable}
    _check(expected <= {a.id for a in back.changes()},
           "after restore, a new plan must show the restored targets as changes again",
           f"missing: {sorted(expected - {a.id for a in back.changes()})}")
    return restored


def _difference(before: Any, after: Any) -> str:
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        keys = sorted({*before, *after}, key=str)
        changed = [k for k in keys if before.get(k) != after.get(k)]
        return "; ".join(f"{k}: before apply {before.get(k)!r}, after restore {after.get(k)!r}"
                         for k in changed[:5])
    return f"before apply {before!r}, after restore {after!r}"


def write_runbook(path: Path, connector: str, settings: Mapping[str, Any], people: Mapping[str, str] | None,
                  lists: Sequence[str | Mapping[str, Any]], protect: Sequence[str]) -> Path:
    """The one-system runbook the suites run: `people` by name -> id, `lists` by id or {id, close, options}."""
    path.write_text(yaml.safe_dump({
        "engagement": "conformance",
        "final_day": dt.date.today().isoformat(),
        "systems": {SYSTEM: {"connector": connector, "settings": dict(settings), "blast_radius": 10_000}},
        "people": [{"name": n, "ids": {SYSTEM: ident}} for n, ident in (people or {}).items()],
        "lists": [{"system": SYSTEM, **({"id": x} if isinstance(x, str) else dict(x))} for x in lists],
        "protect": list(protect),
    }, sort_keys=False), encoding="utf-8")
    return path


def _read_back(cls: type[Connector], plan: Plan, secrets: Secrets) -> dict[str, Any]:
    from revoke.connector import RunContext
    from revoke.engine import setups_for

    setup = setups_for(plan.runbook)[SYSTEM]
    conn = cls(SYSTEM, setup.settings, secrets, RunContext(run_id="conformance", started_at=plan.created_at))
    try:
        conn.connect()
        return conn.read_back([a for a in plan.actions if a.status in ("change", "noop")])
    finally:
        conn.close()


def _short(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "no record"
    return ", ".join(f"{k}={record.get(k)!r}" for k in ("outcome", "verification", "error", "after"))
