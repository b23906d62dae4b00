"""The plan: a value that `revoke plan` renders and saves and `revoke apply` executes.

What you saw is what runs. Each action carries the observed before-state of its target and a fingerprint of it,
so apply can tell whether the world moved since the plan was made. The file carries a digest of its own content,
so an edited plan is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    format: Literal["revoke-plan/1"] = PLAN_FORMAT
    plan_id: str
    created_at: dt.datetime
    runbook_path: str
    runbook_sha256: str
    runbook: Runbook
    systems: list[SystemPlan]
    actions: list[Action]
    notices: list[NoticeRecord] = Field(default_factory=list)

    @property
    def engagement(self) -> str:
        return self.runbook.engagement

    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.status == "change"]

    def counts(self) -> dict[str, int]:
        out = {"change": 0, "noop": 0, "skip": 0, "final": 0}
        for a in self.actions:
            out[a.status] += 1
        return out

    def digest(self) -> str:
        return hashlib.sha256(canonical(self.model_dump(mode="json"))).hexdigest()

    def save(self, path: Path) -> None:
        body = {"digest": self.digest(), "plan": self.model_dump(mode="json")}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def load_plan(path: Path) -> Plan:
    file = str(path)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunbookError([Problem(file, None, "", "plan file not found", "check the path")]) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise RunbookError([Problem(file, line, "", f"not a plan file: {exc}",
                                    "make a new one with `revoke plan RUNBOOK --out FILE`")]) from None
    if not isinstance(body, dict) or "plan" not in body or "digest" not in body:
        raise RunbookError([Problem(file, 1, "", "not a revoke plan file (no 'plan' and 'digest')",
                                    "make one with `revoke plan RUNBOOK --out FILE`")])
    try:
        plan = Plan.model_validate(body["plan"])
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RunbookError([Problem(file, None, f"plan.{where}", first["msg"],
                                    "the plan file is damaged or from another version; re-run `revoke plan`")]) from None
    if plan.digest() != body["digest"]:
        raise RunbookError([Problem(file, None, "digest", "the plan was changed after it was made: its digest "
                                    "does not match its content", "re-run `revoke plan` and review the new plan")])
    return plan
