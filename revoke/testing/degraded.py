"""Degraded-server mode of the conformance suite: a connector must never claim more than the server proved.

Real services answer badly in a few recurring ways: a field the verdict needs is missing (Graph ignoring
`$expand`, a `$select` dropped by a proxy), a 200 with an empty body, a page cut short with the rest behind a next
link, a cached answer from before the write (GitHub's `Cache-Control: max-age=60`). `check_degraded` runs a
connector through revoke's own engine against its fake, with the fake's answers to reads degraded one way at a time,
and asserts that no record says `done`/`already_done` with `verified`/`absent` unless the state is really so.

To make every over-claim visible, the fake also swallows writes while degraded (it answers them as the service does
but changes nothing): whatever the connector then reads as done was never done. Only `stale-once` lets writes
through, and answers each read with its earlier answer once after the state changed.

What is true is read after the degraded run with the connector itself against the undegraded fake: the
conformance suite (`check_connector`) has already held that read-back to discovery and to the server's state.

A fake takes part by holding a `degrader` attribute (None when answering normally) and calling it:

- `degrader.answer(key, body)` on every successful read's body, `key` naming the read (path and query);
- `degrader.swallow` tells it to answer writes without applying them (`swallowed(obj, attrs)` helps);
- `degrader.page_cap` (1 in `short-page`) caps the page size it honours, next links kept: a connector that reads
  only the first page sees a list cut short.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import threading
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Mapping, Sequence

from revoke.actions import Outcome, Verification
from revoke.errors import RevokeError

MODES = ("field-dropped", "empty-200", "short-page", "stale-once")
CLAIMS = (Verification.VERIFIED.value, Verification.ABSENT.value)


class Degrader:
    """One way of answering badly, shared by a fake's request threads."""

    def __init__(self, mode: str, fields: Sequence[str] = ()):
        if mode not in MODES:
            raise ValueError(f"unknown degradation {mode!r}; one of {', '.join(MODES)}")
        if mode == "field-dropped" and not fields:
            raise ValueError("field-dropped needs the fields to drop (those the read-back's verdicts rest on)")
        self.mode = mode
        self.fields = frozenset(fields)
        self.swallow = mode != "stale-once"
        self.page_cap = 1 if mode == "short-page" else None
        self.degraded = 0  # answers actually changed, so a test can tell the mode reached the connector
        self._lock = threading.Lock()
        self._first: dict[str, Any] = {}
        self._stale_served: set[str] = set()

    def answer(self, key: str, body: Any) -> Any:
        with self._lock:
            out = self._degrade(key, body)
            if out != body:
                self.degraded += 1
            return out

    def cut(self) -> None:
        """A fake served a page shorter than asked for (next link kept) because of `page_cap`."""
        with self._lock:
            self.degraded += 1

    def _degrade(self, key: str, body: Any) -> Any:
        if self.mode == "field-dropped":
            return drop_fields(body, self.fields)
        if self.mode == "short-page":
            return body  # the fake honours `page_cap` and counts the pages it cut (`cut()`)
        if self.mode == "empty-200":
            return {}
        if self.mode == "stale-once":
            if key not in self._first:
                self._first[key] = copy.deepcopy(body)
            elif body != self._first[key] and key not in self._stale_served:
                self._stale_served.add(key)
                return copy.deepcopy(self._first[key])
        return body


def drop_fields(body: Any, fields: frozenset[str]) -> Any:
    """`body` with every key in `fields` removed, at any depth."""
    if isinstance(body, dict):
        return {k: drop_fields(v, fields) for k, v in body.items() if k not in fields}
    if isinstance(body, list):
        return [drop_fields(v, fields) for v in body]
    return body


@contextlib.contextmanager
def swallowed(obj: Any, attrs: Sequence[str]) -> Iterator[None]:
    """Run a write against `obj` and put its `attrs` back afterwards: answered as applied, nothing changed."""
    saved = copy.deepcopy(tuple(getattr(obj, a) for a in attrs))  # one copy: references between them hold
    try:
        yield
    finally:
        for a, v in zip(attrs, saved):
            setattr(obj, a, v)


def over_claims(records: Sequence[Mapping[str, Any]], truth: Mapping[str, bool]) -> list[str]:
    """Records of planned changes that say the target is in the desired state when `truth` (action id -> really
    done, read from the undegraded server) says it is not."""
    wrong = []
    for r in records:
        claimed = r.get("verification") in CLAIMS and r.get("outcome") in (Outcome.DONE.value,
                                                                           Outcome.ALREADY_DONE.value)
        if claimed and r.get("action_id") in truth and not truth[r["action_id"]]:
            wrong.append(f"{r.get('kind')} {r.get('resource')} ({r.get('person') or '-'}): recorded "
                         f"{r.get('outcome')}/{r.get('verification')} with after={r.get('after')!r}")
    return wrong


def check_degraded(connector: str, settings: Mapping[str, Any], *, degrade: Callable[[Degrader], ContextManager],
                   workdir: Path, fields: Sequence[str], people: Mapping[str, str] | None = None,
                   lists: Sequence[str | Mapping[str, Any]] = (), secrets: Mapping[str, str] | None = None,
                   protect: Sequence[str] = (), modes: Sequence[str] = MODES) -> dict[str, int]:
    """Plan against the healthy fake, then apply that plan once per mode with the fake's answers degraded
    (`degrade(degrader)` is a context manager that makes the fake answer through it). Raises ConformanceError
    naming every record that claims more than the server proved.

    Every mode but the last `stale-once` leaves the fake as it was (writes are swallowed), so one seeded fake
    serves them all; `fields` are the answer fields the read-back's verdicts rest on, dropped one at a time.
    Returns, per way (`field-dropped memberOf`, `empty-200`, ...), how many answers were degraded."""
    from revoke.engine import ApplyOptions, apply_plan, build_plan
    from revoke.runbook import load_runbook
    from revoke.runtime import FakeClock
    from revoke.testing import SYSTEM, ConformanceError, _read_back, write_runbook

    runbook = write_runbook(workdir / "degraded.yaml", connector, settings, people, lists, protect)
    the_secrets = _secrets(secrets)
    plan = build_plan(load_runbook(runbook), secrets=the_secrets)
    changes = plan.changes()
    if not changes:
        raise ConformanceError("the plan has nothing to change: seed the fake with something to revoke")
    cls = plan_connector(plan, SYSTEM)
    seen: dict[str, int] = {}
    # one way at a time: each field dropped on its own, then the other modes; the one that lets writes through last
    ways: list[tuple[str, tuple[str, ...]]] = [("field-dropped", (f,)) for f in fields if "field-dropped" in modes]
    ways += [(m, ()) for m in sorted(modes, key=lambda m: m == "stale-once") if m != "field-dropped"]
    for mode, dropped in ways:
        degrader = Degrader(mode, dropped)
        label = f"{mode} {dropped[0]}" if dropped else mode
        options = ApplyOptions(evidence_root=workdir / f"evidence-{label.replace(' ', '-')}", fsync=False,
                               skip_stale=True, clock=FakeClock(dt.datetime.now(dt.timezone.utc)),  # type: ignore[arg-type]
                               max_wait_seconds=5)
        try:
            with degrade(degrader):
                result = apply_plan(plan, options, secrets=the_secrets)
        except RevokeError:  # refused as a whole (a guardrail could not identify an account): claims nothing
            seen[label] = degrader.degraded
            continue
        states = _read_back(cls, plan, the_secrets)
        truth = {a.id: cls.kind(a.kind).is_done(states.get(a.id, {})) for a in changes}
        wrong = over_claims(result.actions(), truth)
        if wrong:
            raise ConformanceError(f"{connector}, answers degraded ({label}): records claim more than the server "
                                   "proved", "\n  ".join(wrong))
        seen[label] = degrader.degraded
    return seen


def plan_connector(plan: Any, system: str) -> Any:
    from revoke.connector import installed

    return installed()[plan.runbook.systems[system].connector].load()


def _secrets(values: Mapping[str, str] | None) -> Any:
    from pydantic import SecretStr

    from revoke.secrets import Secrets

    return Secrets({k: SecretStr(v) for k, v in (values or {}).items()})


def _read_back_degraded(connector: str, settings: Mapping[str, Any], degrade: Callable[[Degrader], ContextManager],
                        degrader: Degrader, workdir: Path, *, people: Mapping[str, str] | None = None,
                        lists: Sequence[str | Mapping[str, Any]] = (),
                        secrets: Mapping[str, str] | None = None) -> dict[tuple[str, str], Any]:
    """Plan against the healthy fake, then read every planned target back through `degrader`: the states the
    connector answers, by (kind, resource), for a test of one read-back."""
    from revoke.engine import build_plan
    from revoke.runbook import load_runbook
    from revoke.testing import SYSTEM, _read_back, write_runbook

    runbook = write_runbook(workdir / "read-back.yaml", connector, settings, people, lists, ())
    the_secrets = _secrets(secrets)
    plan = build_plan(load_runbook(runbook), secrets=the_secrets)
    with degrade(degrader):
        states = _read_back(plan_connector(plan, SYSTEM), plan, the_secrets)
    return {(a.kind, a.resource): states[a.id] for a in plan.changes() if a.id in states}


@contextlib.contextmanager
def serving(fake: Any, degrader: Degrader, page_attr: str = "page_cap") -> Iterator[None]:
    """A fake answering through `degrader` inside the block: its pages limited to `degrader.page_cap` (through the
    fake's own `page_attr`), reads degraded, writes swallowed; the fake's own `degrader` attribute is what its
    request handler consults. One implementation for every fake."""
    fake.degrader, size = degrader, getattr(fake, page_attr)
    setattr(fake, page_attr, degrader.page_cap or size)
    try:
        yield
    finally:
        fake.degrader = None
        setattr(fake, page_attr, size)
