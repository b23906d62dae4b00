"""The plan: a value that `revoke plan` renders and saves and `revoke apply` executes.

What you saw is what runs. Each action carries the observed before-state of its target and a fingerprint of it,
so apply can tell whether the world moved since the plan was made. The file carries a digest of its own content,
so an edited plan is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from revoke import timeliness
from revoke.actions import State
from revoke.errors import Problem, RunbookError
from revoke.runbook import Runbook

PLAN_FORMAT = "revoke-plan/1"


def canonical(obj: Any) -> bytes:
    """The one JSON encoding that every hash in revoke is computed over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def fingerprint(state: State) -> str:
    return hashlib.sha256(canonical(state)).hexdigest()


def action_id(system: str, kind: str, resource: str, principal: str | None) -> str:
    """Deterministic: plan, journal, evidence and checklist key on it, so a re-run recognises its own work."""
    key = "\x1f".join([system, kind, resource.casefold(), (principal or "").casefold()])
    return hashlib.sha256(key.encode()).hexdigest()[:20]


_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Action(Frozen):
    id: str
    system: str
    connector: str
    kind: str
    item: int
    resource: str
    principal: str | None = None
    person: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    before: State
    fingerprint: str
    status: Literal["change", "noop", "skip", "final"]
    # "final": an outcome decided at plan time (immutable, not supported, needs attention), recorded as such
    outcome: str | None = None
    reason: str = ""       # why skipped or final; display and evidence only
    label: str = ""        # display only
    note: str = ""         # display and evidence only

    @model_validator(mode="after")
    def _share_fields_set(self) -> "Action":
        # pydantic gives every instance its own set of the fields it was given (~700 bytes); a plan of 40,000
        # actions holds a handful of distinct ones. Copies get their own set, so sharing is safe.
        given = self.__pydantic_fields_set__
        object.__setattr__(self, "__pydantic_fields_set__", _FIELDS_SETS.setdefault(frozenset(given), given))
        return self


class NoticeRecord(Frozen):
    system: str
    message: str
    item: int
    person: str | None = None
    resource: str | None = None
    severity: str = "error"


class SystemPlan(Frozen):
    name: str
    connector: str
    connector_version: str
    operator: dict[str, Any]
    warnings: list[str] = Field(default_factory=list)
    targets: int = 0       # distinct principals/resources this plan changes, for the blast-radius guardrail
    error: str | None = None  # discovery failed: the system is in the plan with no actions, and says why
    exposure: list[dict[str, Any]] = Field(default_factory=list)  # the connector's residual-exposure rules


class Plan(Frozen):
    format: Literal["revoke-plan/1"] = "revoke-plan/1"
    plan_id: str
    created_at: dt.datetime
    runbook_path: str
    runbook_sha256: str
    runbook: Runbook
    systems: list[SystemPlan]
    actions: list[Action]
    notices: list[NoticeRecord] = Field(default_factory=list)
    _digest: str | None = PrivateAttr(default=None)
    _source: tuple[Path, str] | None = PrivateAttr(default=None)  # the file it was loaded from, and its SHA-256

    @property
    def engagement(self) -> str:
        return self.runbook.engagement

    @property
    def source_file(self) -> Path | None:
        """The file this plan was loaded from (its approvals live beside it), or None for a plan made here."""
        return self._source[0] if self._source is not None else None

    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.status == "change"]

    def counts(self) -> dict[str, int]:
        out = {"change": 0, "noop": 0, "skip": 0, "final": 0}
        for a in self.actions:
            out[a.status] += 1
        return out

    def facts(self) -> dict[str, Any]:
        """What a run's reports need to know of its plan, small enough to travel in the run's first evidence
        record (so the reports never parse a plan of 40,000 actions again)."""
        return plan_facts(self.runbook_path, self.created_at, self.runbook, self.systems)

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the whole plan. Computed an action at a time (the canonical encoding
        of a list is its items' encodings joined), so a plan of 40,000 actions is never dumped whole; and once,
        since the plan is frozen."""
        if self._digest is None:
            h = hashlib.sha256()
            for chunk in self._canonical_chunks():
                h.update(chunk)
            self._digest = h.hexdigest()
        return self._digest

    def _canonical_chunks(self) -> Iterator[bytes]:
        head = self.model_dump(mode="json", exclude={"actions"})
        keys = sorted([*head, "actions"])
        yield b"{"
        for i, key in enumerate(keys):
            yield (b"," if i else b"") + canonical(key) + b":"
            if key != "actions":
                yield canonical(head[key])
                continue
            yield b"["
            for j, a in enumerate(self.actions):
                yield (b"," if j else b"") + canonical(a.model_dump(mode="json"))
            yield b"]"
        yield b"}"

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> "Plan":
        copy = super().model_copy(update=update, deep=deep)
        copy._digest, copy._source = None, None  # a copy with changes is another plan
        return copy

    def save(self, path: Path) -> None:
        """Write the plan file: JSON with one action per line, written as it goes (never one big string), so the
        file of a large plan is diffable and costs no more memory than the plan itself. A plan loaded from a file
        that still holds the bytes it was loaded from is copied as it is."""
        if self._source is not None:
            source, sha = self._source
            try:
                data = source.read_bytes()
            except OSError:
                data = b""
            if hashlib.sha256(data).hexdigest() == sha:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_bytes(data)
                os.replace(tmp, path)
                return
        head = self.model_dump(mode="json", exclude={"actions"})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.write('{"digest": ' + json.dumps(self.digest()) + ',\n "plan": {\n  "actions": [')
            for j, a in enumerate(self.actions):
                f.write(("," if j else "") + "\n   " + json.dumps(a.model_dump(mode="json"), sort_keys=True,
                                                                 ensure_ascii=False))
            f.write("\n  ]")
            for key in sorted(head):
                body = json.dumps(head[key], indent=1, sort_keys=True, ensure_ascii=False).replace("\n", "\n  ")
                f.write(f",\n  {json.dumps(key)}: {body}")
            f.write("\n }\n}\n")
        os.replace(tmp, path)


def plan_facts(runbook_path: str, created_at: dt.datetime, rb: Runbook, systems: list[SystemPlan]) -> dict[str, Any]:
    return {"runbook_path": runbook_path, "created_at": created_at.isoformat(),
            "final_day": rb.final_day.isoformat(), "people": [p.name for p in rb.people],
            "lists": [f"{entry.system}:{entry.id}" for entry in rb.lists],
            "checklist_page": rb.checklist.page if rb.checklist is not None else None,
            "exposure": {sp.name: sp.exposure for sp in systems if sp.exposure},
            "timing": timeliness.facts(rb)}


class PlanFile(BaseModel):
    """A saved plan: the plan and the digest it was saved with. Parsed straight from the file's bytes by pydantic,
    without an intermediate tree of Python dicts (for a large plan, that tree was bigger than the plan)."""

    model_config = ConfigDict(extra="forbid")

    digest: str
    plan: Plan


def load_plan(path: Path) -> Plan:
    file = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RunbookError([Problem(file, None, "", "plan file not found", "check the path")]) from None
    try:
        saved = PlanFile.model_validate_json(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        if first["type"] == "json_invalid" or not first["loc"]:
            raise RunbookError([Problem(file, None, "", f"not a plan file: {first['msg']}",
                                        "make a new one with `revoke plan RUNBOOK --out FILE`")]) from None
        if first["type"] == "missing" and len(first["loc"]) == 1:
            raise RunbookError([Problem(file, 1, "", "not a revoke plan file (no 'plan' and 'digest')",
                                        "make one with `revoke plan RUNBOOK --out FILE`")]) from None
        where = ".".join(str(p) for p in first["loc"])
        hint = "the plan file is damaged or from another version; re-run `revoke plan`"
        raise RunbookError([Problem(file, None, where, first["msg"], hint)]) from None
    plan = saved.plan
    plan._source = (path, hashlib.sha256(data).hexdigest())
    if plan.digest() != saved.digest:
        raise RunbookError([Problem(file, None, "digest", "the plan was changed after it was made: its digest "
                                    "does not match its content", "re-run `revoke plan` and review the new plan")])
    return plan
