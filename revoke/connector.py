"""The connector protocol and the values that cross it.

A connector is a translator to one API: it discovers what a person can reach, applies one action, reads a target
back and restores a before-state. It knows nothing of dry-run, evidence, guardrails, retries, progress or the
checklist; the engine does all of that, once. Connectors are found through the `revoke.connectors` entry-point
group, built-ins included, and loaded lazily by name.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from revoke.actions import ActionKind, State
from revoke.errors import ConnectorNotFound, RevokeError
from revoke.runtime import Runtime

if TYPE_CHECKING:
    from revoke.exposure import ExposureRule
    from revoke.plan import Action
    from revoke.secrets import Secrets

GROUP = "revoke.connectors"


@dataclass(frozen=True)
class Subject:
    """A leaving person as one system knows them."""

    person: str          # the runbook's name for them
    ident: str           # their identifier in this system (DN, UPN, ARN, email...)
    email: str | None = None


@dataclass(frozen=True)
class ListTarget:
    """A list, group or channel the runbook closes. `options` are the runbook's `options:` for it, validated by
    the connector's `ListOptions` model (defaults filled in) before discovery sees them."""

    ident: str
    close: str = "default"
    options: Mapping[str, Any] = field(default_factory=dict)


class NoListOptions(BaseModel):
    """The `options:` of a list in a system whose connector takes none: any key is a mistake `validate` reports
    with its line."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Step:
    """One thing discovery found: a change to make, or a target already in the desired state."""

    kind: str
    resource: str                 # the object acted on: account DN, group DN, channel id
    before: State                 # observed state of the target, recorded in the plan and evidence
    needed: bool                  # False: already in the desired state
    principal: str | None = None  # the account concerned, when the resource is a container
    person: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()  # other names of principal/resource, matched against `protect:`
    label: str = ""                # display only: a friendlier name for the resource
    outcome: str | None = None     # an outcome known at plan time (immutable, not_supported, attention)
    note: str = ""                 # display and evidence only; never drives apply


@dataclass(frozen=True)
class Notice:
    """Something discovery must say out loud: a person not found, a list that does not exist, a manual step."""

    message: str
    person: str | None = None
    resource: str | None = None
    severity: str = "error"        # "error" blocks the checklist item; "warning" is shown only


@dataclass
class Discovery:
    steps: list[Step] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


@dataclass(frozen=True)
class Identity:
    """Who the connector acts as: recorded as the operator in evidence, and never acted on."""

    display: str
    aliases: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """What the provider answered to one write. `poll_after`: the provider accepted the write and finishes it
    asynchronously (an Identity Center assignment deletion, a team archive); the engine reads the target back
    after that many seconds, and again, until it is done or the system's wait budget is spent. A connector never
    waits for such an operation itself."""

    request_ids: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)
    poll_after: float | None = None


@dataclass(frozen=True)
class Entity:
    """What a name denotes in a system, read live: every identifier of the object (DN, uid, mail, UPN, object
    id, GUID, sAMAccountName, ARN, Slack id, login...) and what kind of object it is. Protection, traceability
    and the list-type check compare accounts through these, never the strings a runbook happened to use."""

    identifiers: frozenset[str]
    type: str                      # "account", "group" (a group, list, channel or team), or the provider's word
    display: str = ""


@dataclass(frozen=True)
class RunContext:
    run_id: str
    started_at: dt.datetime
    runtime: Runtime = field(default_factory=Runtime)  # the engine's clock, sleeper and retry budget


class Connector(ABC):
    """Base of every connector. Subclasses set the class attributes and implement the six methods."""

    name: ClassVar[str]
    version: ClassVar[str] = "0"
    Settings: ClassVar[type[BaseModel]]
    # the schema of a runbook list's `options:` in this system (a pydantic model, extra keys forbidden)
    ListOptions: ClassVar[type[BaseModel]] = NoListOptions
    kinds: ClassVar[tuple[type[ActionKind], ...]]
    read_permissions: ClassVar[tuple[str, ...]] = ()  # what discovery and read-back need
    permission_format: ClassVar[str] = "text"  # how `revoke permissions` shows them: "iam-policy" or "text"
    batch_size: ClassVar[int] = 1  # how many actions `apply_many` takes at once (Graph's $batch: 20)
    # the action parameter naming what the provider limits rates by, when it is more than one thing (aws-iam:
    # "account"); the engine then keeps each batch within one and spreads its workers across them
    rate_scope: ClassVar[str | None] = None
    # the whole system shares one budget the connector paces to (Graph: per app and tenant): a scheduled run
    # gives its shards one at a time, each carrying on from the last one's `pacing()`, rather than to several
    # workers at once, each learning a share of the budget by being throttled
    one_budget: ClassVar[bool] = False

    def __init__(self, system: str, settings: Any, secrets: "Secrets", context: RunContext):
        self.system = system
        self.settings = settings
        self.secrets = secrets
        self.context = context

    @classmethod
    def permissions_document(cls, kinds: Sequence[type[ActionKind]]) -> str:
        """The least privilege for these kinds, in the connector's own format. Override for IAM policy JSON etc."""
        needed = sorted(set(cls.read_permissions).union(*(k.permissions for k in kinds)))
        return "\n".join(f"- {p}" for p in needed)

    @classmethod
    def kind(cls, name: str) -> type[ActionKind]:
        for k in cls.kinds:
            if k.name == name:
                return k
        raise KeyError(f"{cls.name} has no action kind '{name}'")

    def exposure(self) -> list["ExposureRule"]:
        """What stays valid after this connector's actions, and for how long at most (see revoke.exposure).
        An empty list claims that nothing does: say what does, with its lifetime or None when unbounded."""
        return []

    def warnings(self) -> list[str]:
        """Settings the operator must see in the plan (plain LDAP, TLS verification off...)."""
        return []

    @abstractmethod
    def connect(self) -> Identity: ...

    def close(self) -> None:  # noqa: B027 - optional
        pass

    def pacing(self) -> dict[str, Any] | None:
        """The rate this connector learnt its service accepts, when it paces to a budget the service does not
        announce (Graph): a scheduled run hands it to the next shard of this system, on whichever worker takes
        it, so that one does not learn it again by sending into a closed window. None: nothing to hand on."""
        return None

    def resume_pacing(self, state: dict[str, Any] | None) -> None:  # noqa: B027 - optional
        """Carry on from `pacing()` of this system's last shard."""

    @abstractmethod
    def discover(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery: ...

    def identify(self, names: Sequence[str]) -> dict[str, Entity | None]:
        """What each name denotes, read live: an `Entity` with every identifier of the object, or None when no
        such object exists. The engine calls it at plan, apply, resume and restore time, batched, for the
        runbook's people, lists and protect entries and for every action's principal and resource; a protect
        entry naming any identifier of an account, in any case, protects that account. Identifiers must include
        every form the connector itself uses to address the object in an action. The default knows nothing
        (every name is only itself, of unknown type), which makes the engine refuse to close a list it cannot
        confirm is one: a connector should override it."""
        return {n: Entity(frozenset({n}), "unknown") for n in names}

    def subject(self, action: Any) -> str:
        """How this action's write names the account it acts on for its person, in the connector's own addressing
        (AD writes by objectGUID, so an account moved to another OU is still the same one). The engine checks it is
        one of that person's identifiers. `action` is a planned Step or a plan's Action. Default: the principal,
        else the resource."""
        return str(action.principal or action.resource)

    def addressed(self, action: Any) -> list[str]:
        """Every name this action's write addresses (the account, the group it edits...), in the connector's own
        form; none of them may be a protected account. Default: the principal and the resource."""
        return [n for n in (action.resource, action.principal) if n]

    def known_as(self, person: str) -> list[str]:
        """Identifiers this system's settings give a person besides their runbook id (aws-iam's `principals`: a
        contractor's own account's users); the engine counts them as that person's. Default: none."""
        return []

    # ---- work routed here from another connector (revoke.planner._route) -------------------------------------
    # A step another connector cannot carry out names this connector in `params["route"]` with outcome
    # `attention` (an Entra user synced from AD is disabled in AD; a distribution list's membership is changed
    # in Exchange Online). When the runbook has a system of this connector, the planner discovers there the
    # people `routed_subject` names and marks the step `routed` when one of the steps found `fulfils` it.
    @classmethod
    def routed_subject(cls, step: Step) -> Subject | None:
        """Whom to discover in this connector's system for a step routed here; None: it takes no routed work."""
        return None

    @classmethod
    def fulfils(cls, routed: Step, own: Step) -> bool:
        """Whether `own`, a step this connector found, carries out the work of the `routed` step."""
        return False

    def selected_lists(self) -> list[str]:
        """Names of lists that this system's settings select for closing besides the runbook's `lists:` (Slack's
        `channels` and `channel_prefix` pattern). The engine identifies them with the runbook's lists, so an action
        on one of them traces to the runbook; the default is none."""
        return []

    @abstractmethod
    def apply(self, action: "Action") -> Receipt: ...

    def apply_many(self, actions: Sequence["Action"]) -> dict[str, "Receipt | RevokeError"]:
        """Apply up to `batch_size` actions in one round trip where the API allows it. Each action's answer is
        its Receipt or the RevokeError it failed with (ActionFailed(retryable=True) for a throttled one, which
        the engine reads back before retrying). The default applies them one by one."""
        out: dict[str, Receipt | RevokeError] = {}
        for action in actions:
            try:
                out[action.id] = self.apply(action)
            except RevokeError as err:
                out[action.id] = err
        return out

    @abstractmethod
    def read_back(self, actions: Sequence["Action"]) -> dict[str, State]:
        """Current state of each action's target, keyed by action id, in the shape of the action's `before`."""

    @abstractmethod
    def restore(self, action: "Action") -> Receipt:
        """Bring the target back to `action.before`."""


def installed() -> dict[str, Any]:
    """Entry points of every installed connector, by name; nothing is imported."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


# Connector classes already loaded, by name. Scanning the installed distributions' entry points costs tens of
# milliseconds, and plan rendering and evidence look a connector up once per action (2,000 leavers: minutes).
# Only successful loads are kept, so a plugin installed while the process runs is still found.
_loaded: dict[str, type[Connector]] = {}


def load(name: str) -> type[Connector]:
    if name in _loaded:
        return _loaded[name]
    eps = installed()
    if name not in eps:
        raise ConnectorNotFound(name, list(eps))
    cls = eps[name].load()
    if getattr(cls, "name", None) != name:
        raise ConnectorNotFound(name, list(eps))
    _loaded[name] = cls
    return cls
