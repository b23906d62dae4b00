"""Action kinds: what each kind of change is, what it needs, and how to tell it is done.

In the manner of Cloud Custodian's registry, every kind a connector can plan is a small class declaring its display
text, its checklist item, the provider permissions it uses and the state that means "done". `revoke permissions`,
plan rendering and verification all read these declarations; nothing repeats them elsewhere.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, ClassVar, Final, Literal

State = dict[str, Any]

ACCESS: Final = "access"  # checklist item 3, Site/Network Access (typed Literal["access"])
LISTS: Final = "lists"    # checklist item 4, Team Collaboration (typed Literal["lists"])


class Outcome(str, Enum):
    """One outcome per action record; never an outcome plus an error."""

    PLANNED = "planned"            # plan mode: would change
    DONE = "done"                  # changed, then read back in the desired state
    ALREADY_DONE = "already_done"  # the target was already in the desired state; nothing written
    SKIPPED = "skipped"            # guardrail (protected, operator identity): settled, by the plan's decision
    SKIPPED_STALE = "skipped_stale"  # a planned change left undone: its target moved since the plan (--skip-stale)
    IMMUTABLE = "immutable"        # the service does not allow this change (dynamic group, ...); nothing to do
    NOT_SUPPORTED = "not_supported"  # this service or emulator lacks the API; stated in evidence
    ATTENTION = "attention"        # needs a person: not found, manual step, decision needed
    ROUTED = "routed"              # carried out through another system of the runbook (a synced user, in AD)
    FAILED = "failed"
    # the run stopped before this change (`revoke runs cancel`, or a wave that never fired): nothing was written,
    # the access is still in place
    NOT_ATTEMPTED = "not_attempted"


class Verification(str, Enum):
    VERIFIED = "verified"          # read back and observed in the desired state
    ABSENT = "absent"              # read back as gone, after confirming the container exists
    UNVERIFIABLE = "unverifiable"  # the service offers no read-back; said so
    FAILED = "failed"
    NONE = "none"                  # nothing was read back (plan mode, skipped)


UNVERIFIABLE = "unverifiable"  # the key of a read-back state that proves nothing: its value says why


def unverifiable(reason: str) -> State:
    """The read-back state of a target whose answer does not prove its state (a field missing, a page cut short,
    another object answered, nothing to read at all). The engine records it as `unverifiable` with the reason,
    never as verified or already done."""
    return {UNVERIFIABLE: reason}


def unverifiable_reason(state: State | None) -> str | None:
    if isinstance(state, dict) and UNVERIFIABLE in state:
        return str(state[UNVERIFIABLE]) or "the answer does not prove the state"
    return None


class ActionKind:
    """Declaration of one kind of action. Subclasses set the class attributes; they hold no logic of a provider."""

    name: ClassVar[str]
    summary: ClassVar[str]            # imperative, shown as "- lock account"
    done_summary: ClassVar[str]       # shown as "= already locked"
    item: ClassVar[Literal["access", "lists"]] = ACCESS
    permissions: ClassVar[tuple[str, ...]] = ()
    desired: ClassVar[State] = {}     # the read-back state that means done
    restorable: ClassVar[bool] = True
    restore_note: ClassVar[str] = ""  # what restore cannot bring back, said in restore plans
    restore_summary: ClassVar[str] = ""  # shown as "+ unlock account" in restore plans; derived from `summary`
    shows_resource: ClassVar[bool] = True  # "remove from <resource>" vs "lock account"
    # what `identify` must report the resource to be, at plan and at apply time ("group" for a list closed): an
    # action whose resource is anything else is refused. Empty: the kind does not constrain it.
    resource_types: ClassVar[tuple[str, ...]] = ()
    # False when the service offers nothing to read back after this change (Google's signOut): read_back answers
    # `unverifiable(reason)` and the record says so without needing a person
    verifiable: ClassVar[bool] = True
    # True: the action's principal (or its resource, when it has none) is the leaving person's own account, and
    # apply checks that it is. False for kinds that reach something through the person (a role they could assume)
    acts_on_person: ClassVar[bool] = True
    # True: the kind ends the account itself (delete-account), so it runs only after every other change of its
    # system in the same run has finished (the others would find nothing left to change or read back)
    runs_last: ClassVar[bool] = False

    @classmethod
    def is_done(cls, state: State) -> bool:
        if UNVERIFIABLE in state:
            return False
        return all(state.get(k) == v for k, v in cls.desired.items())

    @classmethod
    def verification(cls, state: State) -> Verification:
        if UNVERIFIABLE in state:
            return Verification.UNVERIFIABLE
        if not cls.is_done(state):
            return Verification.FAILED
        if cls.desired.get("exists") is False:
            return Verification.ABSENT
        return Verification.VERIFIED

    @classmethod
    def describe(cls, resource: str, done: bool = False, mode: str = "apply") -> str:
        """The action as a line of a plan or a progress log; in a restore, what undoing it does."""
        if mode == "restore":
            text = cls.restore_summary or undo_summary(cls.summary)
        else:
            text = cls.done_summary if done else cls.summary
        return join_words(text, resource) if cls.shows_resource else text


# The first verb of a kind's summary and its undoing, for restore plans ("lock account" -> "unlock account").
_UNDO = {"lock": "unlock", "disable": "re-enable", "deactivate": "reactivate", "archive": "unarchive",
         "close": "reopen", "detach": "re-attach", "delete": "restore deleted", "revoke": "restore", "tag": "untag",
         "deny": "lift the deny of", "cancel": "re-send", "expire": "restore the expiry of", "post": "unpost",
         "replace": "restore", "suspend": "unsuspend", "clear": "restore", "leave": "rejoin", "hide": "unhide",
         "block": "unblock", "sign": "restore"}


def undo_summary(summary: str) -> str:
    """What restoring an action of this summary does: "remove from" -> "re-add to", "lock" -> "unlock"."""
    # a parenthesis explaining the change ("(signs out every session)") does not describe its undoing
    verb, _, rest = re.sub(r" \([^)]* [^)]*\)", "", summary).partition(" ")
    if verb == "expire":
        return "restore the expiry of " + rest.removesuffix(" now")
    if verb == "remove":
        rest = re.sub(r"\bfrom\b", "to", rest, count=1)
        return f"re-add {rest}".strip()
    if verb == "move":
        return "move " + re.sub(r"\bto$", "back from", rest)
    if verb in _UNDO:
        return f"{_UNDO[verb]} {rest}".strip()
    return f"undo: {summary}"


def _stem(word: str) -> str:
    return word.casefold().rstrip(":").removesuffix("s")


def join_words(text: str, resource: str) -> str:
    """`text` followed by `resource`, without saying twice what both say at the seam ("deactivate
    service-specific credential" + "service-specific credentials of alice" -> one "service-specific
    credentials")."""
    left, right = text.split(), resource.split()
    for k in range(min(len(left), len(right)), 0, -1):
        if [_stem(w) for w in left[-k:]] == [_stem(w) for w in right[:k]]:
            return " ".join(left[:-k] + right)
    return f"{text} {resource}"
