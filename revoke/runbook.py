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

    secret: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", examples=["corp_ldap"],
                                 description="the secret's name: its value is REVOKE_<NAME> in the environment or "
                                 "a .env file, or the file NAME in $REVOKE_SECRETS_DIR")]


class SystemSpec(Strict):
    connector: str = Field(description="which connector talks to this system; `revoke connectors` lists the "
                           "installed ones", examples=["ldap"])
    settings: dict[str, Any] = Field(default_factory=dict, description="the connector's settings: see its "
                                     "section under Connectors")
    blast_radius: Annotated[int, Field(ge=1)] = Field(50, description="apply refuses to change more distinct "
                                                      "accounts and resources than this in the system in one run")
    concurrency: Annotated[int, Field(ge=1, le=64)] = Field(4, description="changes carried out at once in this "
                                                            "system")
    identify_by: Literal["ids", "email"] = Field("ids", description="how a person is found here: `ids` (their "
                                                 "`ids.SYSTEM`) or `email` (their `email:` when no id is given)")


class PersonSpec(Strict):
    name: Annotated[str, Field(min_length=1)] = Field(description="the person's name, as the plan and the "
                                                      "closure report show it", examples=["Alice Example"])
    email: str | None = Field(None, description="their email: found by it in systems with identify_by: email",
                              examples=["alice@consult.example"])
    ids: dict[str, str] = Field(default_factory=dict, description="their identifier in each system, by system "
                                "name (uid, DN, UPN, IAM user name, login, ...)",
                                examples=[{"corp-ldap": "alice", "entra": "alice@contoso.example"}])
    leaves_at: dt.datetime | None = Field(None, description="when they leave (HR's termination time), with its "
                                          "zone; default: final_day at the runbook's cutoff",
                                          examples=["2026-12-04T17:00:00+01:00"])

    @field_validator("leaves_at")
    @classmethod
    def _zoned(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give leaves_at with its zone, e.g. 2026-12-02T17:00:00+01:00 or ...Z for UTC")
        return value


class ListSpec(Strict):
    system: str = Field(description="the system (a name under systems:) the list lives in", examples=["m365"])
    id: Annotated[str, Field(min_length=1)] = Field(description="the list's id in that system: a DN, a group's "
                                                    "object id, mail address or display name, a channel's name or "
                                                    "id", examples=["cn=acme-team,ou=lists,dc=example,dc=org"])
    close: str = Field("default", description="how it closes: `default` (the connector's way), `delete`, "
                       "`archive`, `keep` (only the leavers are removed), as the connector supports")
    options: dict[str, Any] = Field(default_factory=dict, description="the connector's list options: see "
                                    "`lists[].options` in its section")


class ProtectSpec(Strict):
    id: Annotated[str, Field(min_length=1)] = Field(description="any identifier of the account (DN, uid, mail, "
                                                    "UPN, object id, ARN, login), in any case",
                                                    examples=["uid=admin,ou=people,dc=example,dc=org"])
    system: str | None = Field(None, description="only in this system (default: in every system)")


class ChecklistSpec(Strict):
    page: str = Field(description="the checklist page (Markdown, in a wiki clone), relative to the runbook",
                      examples=["wiki/Customer-Offboarding-Checklist.md"])
    accounts_item: int = Field(3, description="the item number of Site/Network Access")
    lists_item: int = Field(4, description="the item number of Team Collaboration")
    items: dict[str, int] = Field(default_factory=dict, description="other items' numbers by name, for pages "
                                  "numbered differently")


class ApprovalsSpec(Strict):
    """The two-person rule: who may approve a plan (git's SSH allowed_signers format) and how many must."""

    allowed_signers: Annotated[str, Field(min_length=1)] = Field(
        description="who may approve: git's SSH allowed_signers file, relative to the runbook",
        examples=["approvers.allowed_signers"])
    required: Annotated[int, Field(ge=1, le=20)] = Field(1, description="how many distinct approvers must sign")


class StageSpec(Strict):
    """A later stage of a scheduled run (`revoke schedule`): these action kinds run `after` the first stage's
    fire time, on a durable timer, re-checked then like any run (e.g. `{after: 30d, kinds: [delete-account]}`)."""

    after: Annotated[str, Field(pattern=r"^\s*[1-9][0-9]*\s*[smhdw]\s*$")]
    kinds: Annotated[list[str], Field(min_length=1)]
    name: str | None = None


class Runbook(Strict):
    engagement: Annotated[str, Field(pattern=NAME)] = Field(description="a short slug, used in run ids and "
                                                            "commit messages", examples=["acme-2026"])
    final_day: dt.date = Field(description="the engagement's last day: apply before it needs --before-final-day",
                               examples=["2026-11-30"])
    systems: dict[str, SystemSpec] = Field(description="the systems, by a name of your choosing")
    people: list[PersonSpec] = Field(description="who leaves")
    lists: list[ListSpec] = Field(default_factory=list, description="lists, groups and channels to close")
    protect: list[ProtectSpec] = Field(default_factory=list, description="accounts never acted on, even if listed "
                                       "as leaving; the connectors' own identities are protected too")
    checklist: ChecklistSpec | None = Field(None, description="the checklist page whose items 3 and 4 revoke "
                                            "reports to")
    evidence_dir: str = Field("evidence", description="where run folders go, relative to the runbook")
    approvals: ApprovalsSpec | None = Field(None, description="the two-person rule: apply only a saved plan "
                                            "this many approvers signed")
    # a saved plan's target that changed since: stop the whole run (default), or skip it and record that
    on_stale: Literal["stop", "skip"] = Field("stop", description="a saved plan's target that changed since the "
                                              "plan: `stop` the whole run, or `skip` it and record that")
    stages: list[StageSpec] = Field(default_factory=list, description="later stages a scheduled run carries out "
                                    "on a durable timer, e.g. delete-account 30 days after")
    # revoke/attest.py: every sealed run gets a token over its signed listing
    timestamp_authority: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = Field(
        None, description="an RFC 3161 timestamp authority's URL: each sealed run gets a trusted timestamp",
        examples=["https://tsa.example.org/tsr"])
    # revoke/timeliness.py: when people leave by default, and how soon their access must be gone
    cutoff: dt.time = Field(dt.time(17, 0), description="the time of day on final_day people leave at, unless "
                            "their leaves_at says otherwise", examples=["17:00"])
    timezone: str = Field("UTC", description="the IANA time zone of final_day and cutoff", examples=["Europe/Berlin"])
    sla: str | None = Field(None, description="how soon after someone leaves their access must be gone; the "
                            "closure report says, per person and system, whether it was", examples=["24h", "4h"])

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}': use an IANA name such as Europe/Berlin or UTC") from None
        return value

    @field_validator("sla")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            from revoke.timeliness import parse_duration

            parse_duration(value)
        return value

    @field_validator("final_day", mode="before")
    @classmethod
    def _final_day_is_a_date(cls, value: Any) -> Any:
        # YAML reads 42 as a number, and pydantic would take it for seconds since 1970 ("Datetimes provided to
        # dates should have zero time"); a date is written as one
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise ValueError(f"{value!r} is a number, not a date: write the day as YYYY-MM-DD, e.g. 2026-11-30")
        return value

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
        raise RunbookError(_with_settings(doc.problems_from(err, HINTS), doc)) from None
    problems = cross_check(runbook, doc)
    if runbook.approvals is not None:
        signers = Path(runbook.approvals.allowed_signers)
        if not (signers if signers.is_absolute() else path.parent / signers).is_file():
            problems.append(doc.problem(("approvals", "allowed_signers"), f"{signers}: file not found (relative "
                                        "to the runbook)", "list who may approve, one 'principal key' line each, "
                                        "in git's allowed_signers format (ssh-keygen(1), ALLOWED SIGNERS)"))
    if problems:
        raise RunbookError(_with_settings(problems, doc))
    return LoadedRunbook(path, runbook, doc)


def _with_settings(problems: list[Problem], doc: LocatedDocument) -> list[Problem]:
    """`problems` and the connector settings' own, in the order of the file: one round of fixes, not two."""
    from revoke.planner import settings_problems  # the connectors' side; it imports this module

    seen = {(p.line, p.field) for p in problems}
    more = [p for p in settings_problems(doc.data, doc) if (p.line, p.field) not in seen]
    return sorted(problems + more, key=lambda p: p.line or 0)


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
