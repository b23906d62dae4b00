"""The runbook: who leaves, which systems they are in, which lists close, what is never touched.

A runbook names secrets (`{secret: corp_ldap_password}`) but never holds one; see `revoke.secrets`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from revoke.errors import Problem, RunbookError
from revoke.located import LocatedDocument, load_yaml

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(Strict):
    """A reference to a secret held in the environment, `.env` or the secrets directory, never its value."""

    secret: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]


class SystemSpec(Strict):
    connector: str
    settings: dict[str, Any] = Field(default_factory=dict)
    blast_radius: Annotated[int, Field(ge=1)] = 50
    concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    identify_by: Literal["ids", "email"] = "ids"


class PersonSpec(Strict):
    name: Annotated[str, Field(min_length=1)]
    email: str | None = None
    ids: dict[str, str] = Field(default_factory=dict)


class ListSpec(Strict):
    system: str
    id: Annotated[str, Field(min_length=1)]
    close: str = "default"
    options: dict[str, Any] = Field(default_factory=dict)


class ProtectSpec(Strict):
    id: Annotated[str, Field(min_length=1)]
    system: str | None = None


class ChecklistSpec(Strict):
    page: str
    accounts_item: int = 3
    lists_item: int = 4
    items: dict[str, int] = Field(default_factory=dict)


class ApprovalsSpec(Strict):
    """The two-person rule: who may approve a plan (git's SSH allowed_signers format) and how many must."""

    allowed_signers: Annotated[str, Field(min_length=1)]
    required: Annotated[int, Field(ge=1, le=20)] = 1


class StageSpec(Strict):
    """A later stage of a scheduled run (`revoke schedule`): these action kinds run `after` the first stage's
    fire time, on a durable timer, re-checked then like any run (e.g. `{after: 30d, kinds: [delete-account]}`)."""

    after: Annotated[str, Field(pattern=r"^\s*[1-9][0-9]*\s*[smhdw]\s*$")]
    kinds: Annotated[list[str], Field(min_length=1)]
    name: str | None = None


class Runbook(Strict):
    engagement: Annotated[str, Field(pattern=NAME)]
    final_day: dt.date
    systems: dict[str, SystemSpec]
    people: list[PersonSpec]
    lists: list[ListSpec] = Field(default_factory=list)
    protect: list[ProtectSpec] = Field(default_factory=list)
    checklist: ChecklistSpec | None = None
    evidence_dir: str = "evidence"
    approvals: ApprovalsSpec | None = None
    # a saved plan's target that changed since: stop the whole run (default), or skip it and record that
    on_stale: Literal["stop", "skip"] = "stop"
    stages: list[StageSpec] = Field(default_factory=list)

    @field_validator("protect", mode="before")
    @classmethod
    def _protect_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"id": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("checklist", mode="before")
    @classmethod
    def _checklist_string(cls, value: Any) -> Any:
        return {"page": value} if isinstance(value, str) else value

    @field_validator("systems")
    @classmethod
    def _system_names(cls, value: dict[str, SystemSpec]) -> dict[str, SystemSpec]:
        for name in value:
            if not re.match(NAME, name):
                raise ValueError(f"system name '{name}' may use letters, digits, '_', '.' and '-' only")
        if not value:
            raise ValueError("at least one system is needed")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> "Runbook":
        if not self.people and not self.lists:
            raise ValueError("the runbook names no people and no lists: there is nothing to revoke")
        return self

    def people_in(self, system: str) -> list[tuple[PersonSpec, str]]:
        """Each person present in `system`, with the identifier the system knows them by."""
        spec = self.systems[system]
        out = []
        for person in self.people:
            ident = person.ids.get(system)
            if ident is None and spec.identify_by == "email":
                ident = person.email
            if ident:
                out.append((person, ident))
        return out


HINTS = {
    "engagement": "a short slug such as acme-2026, used in run ids and commit messages",
    "final_day": "the engagement's last day as YYYY-MM-DD",
    "systems": "a mapping of system name to {connector: NAME, settings: {...}}",
    "connector": "`revoke connectors` lists the installed connectors",
    "people": "a list of {name: ..., ids: {SYSTEM: identifier}}",
    "secret": "a secret is referenced as {secret: NAME}; its value comes from REVOKE_NAME, .env or the secrets dir",
    "approvals": "approvals: {allowed_signers: FILE (relative to the runbook), required: N}",
    "stages": "stages: [{after: 30d, kinds: [delete-account]}] (a number and s, m, h, d or w)",
    "on_stale": "on_stale: stop (default) or skip",
}


class LoadedRunbook:
    """A validated runbook with where it came from: its path, its hash and the line of each field."""

    def __init__(self, path: Path, runbook: Runbook, doc: LocatedDocument):
        self.path = path
        self.runbook = runbook
        self.doc = doc
        self.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()

    def relative(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else (self.path.parent / p)


def load_runbook(path: str | Path) -> LoadedRunbook:
    """Parse and validate the runbook's own schema and cross-references. Connector settings are checked by
    `revoke.engine.check_runbook`, which also knows the installed connectors."""
    path = Path(path)
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise RunbookError([doc.problem((), "the runbook must be a mapping of fields",
                                        "start from runbooks/example.yaml")])
    try:
        runbook = Runbook.model_validate(doc.data)
    except ValidationError as err:
        raise RunbookError(doc.problems_from(err, HINTS)) from None
    problems = cross_check(runbook, doc)
    if runbook.approvals is not None:
        signers = Path(runbook.approvals.allowed_signers)
        if not (signers if signers.is_absolute() else path.parent / signers).is_file():
            problems.append(doc.problem(("approvals", "allowed_signers"), f"{signers}: file not found (relative "
                                        "to the runbook)", "list who may approve, one 'principal key' line each, "
                                        "in git's allowed_signers format (ssh-keygen(1), ALLOWED SIGNERS)"))
    if problems:
        raise RunbookError(problems)
    return LoadedRunbook(path, runbook, doc)


def cross_check(rb: Runbook, doc: LocatedDocument) -> list[Problem]:
    problems: list[Problem] = []
    known = ", ".join(rb.systems) or "none"
    names: dict[str, int] = {}
    seen_ids: dict[tuple[str, str], int] = {}
    for i, person in enumerate(rb.people):
        key = person.name.casefold()
        if key in names:
            problems.append(doc.problem(("people", i, "name"), f"'{person.name}' is listed twice "
                                        f"(also people[{names[key]}])", "merge the two entries"))
        names.setdefault(key, i)
        for system, ident in person.ids.items():
            if system not in rb.systems:
                problems.append(doc.problem(("people", i, "ids", system), f"unknown system '{system}'",
                                            f"systems defined in this runbook: {known}"))
                continue
            seen = seen_ids.get((system, ident.casefold()))
            if seen is not None:
                problems.append(doc.problem(("people", i, "ids", system),
                                            f"'{ident}' is also the id of people[{seen}] in {system}",
                                            "each account belongs to one person"))
            seen_ids.setdefault((system, ident.casefold()), i)
        if not person.ids and not any(s.identify_by == "email" for s in rb.systems.values()):
            problems.append(doc.problem(("people", i), f"'{person.name}' has no ids, so no system will act on them",
                                        "add ids: {SYSTEM: identifier} for each system they have access to"))
    for i, lst in enumerate(rb.lists):
        if lst.system not in rb.systems:
            problems.append(doc.problem(("lists", i, "system"), f"unknown system '{lst.system}'",
                                        f"systems defined in this runbook: {known}"))
    claimed: dict[str, int] = {}
    for i, stage in enumerate(rb.stages):
        for kind in stage.kinds:
            if kind in claimed:
                problems.append(doc.problem(("stages", i, "kinds"), f"'{kind}' is already in stages[{claimed[kind]}]",
                                            "each kind runs in one stage"))
            claimed.setdefault(kind, i)
    for i, prot in enumerate(rb.protect):
        if prot.system is not None and prot.system not in rb.systems:
            problems.append(doc.problem(("protect", i, "system"), f"unknown system '{prot.system}'",
                                        f"systems defined in this runbook: {known}"))
    return problems
