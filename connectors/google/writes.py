"""The `google-workspace` connector's writes: one attempt per call, Directory calls in batch requests, and each
leaver's steps in the order Google requires.

Google refuses to change the backup codes of a suspended account, and a suspension should come after the leaver's
app passwords and OAuth grants are gone and their sessions ended: per person the order is backup codes, app
passwords, OAuth grants, sign-out, suspension. The engine may run the batches of several kinds side by side, so
this order is kept here, not by the plan's order: a suspension carries the person's earlier steps
(`params["first"]`), and the writer does any of them this run has not done yet before it suspends, in the same
call; a person's steps never run in two threads at once (a lock per person). Calls of one phase for many people go
out in one batch request; the phases go out one after the other.

Within a batch Google may carry the calls out in any order, so nothing that depends on another call is ever in the
same batch as it.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from googleapiclient.http import HttpRequest

from revoke.connector import Receipt
from revoke.connectors.google.client import Google, GoogleRefused
from revoke.connectors.google.kinds import (
    KINDS,
    ArchiveGroup,
    DeleteAppPassword,
    DeleteGroup,
    DeleteOAuthToken,
    InvalidateBackupCodes,
    RemoveFromChatSpace,
    RemoveFromGroup,
    SignOut,
    SuspendUser,
    WipeMobileAccount,
)
from revoke.errors import ActionFailed, NotSupported, RevokeError

if TYPE_CHECKING:
    from revoke.plan import Action
    from revoke.runtime import Runtime

# Directory calls, phase by phase; a membership removal depends on nothing, so it rides with the first phase
PHASE = {InvalidateBackupCodes.name: 0, RemoveFromGroup.name: 0, DeleteAppPassword.name: 1,
         DeleteOAuthToken.name: 2, WipeMobileAccount.name: 2, SignOut.name: 3, SuspendUser.name: 4}
SINGLE = {ArchiveGroup.name, DeleteGroup.name, RemoveFromChatSpace.name}   # other APIs: one call each


@dataclass(frozen=True)
class Call:
    kind: str
    resource: str
    principal: str | None = None

    @property
    def user(self) -> str:
        return (self.principal or self.resource).split("/", 1)[0]


def call_of(a: Any) -> Call:
    return Call(a.kind, a.resource, a.principal if a.kind in (RemoveFromGroup.name, RemoveFromChatSpace.name)
                else None)


def request_for(g: Google, c: Call, params: dict[str, Any] | None = None) -> tuple[str, HttpRequest]:
    """The one API call that carries out a step, and how to name it in an error: the kind's own."""
    kind = next((k for k in KINDS if k.name == c.kind), None)
    if kind is None:
        raise NotSupported(f"google-workspace has no action '{c.kind}'")
    return kind.request(g, c, params or {})


class Writer:
    """One per connector: what this run has already carried out, and the per-person locks."""

    def __init__(self, google: Google, runtime: "Runtime"):
        self.google = google
        self.runtime = runtime
        self.done: dict[Call, Receipt] = {}
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)

    def _lock(self, uid: str) -> threading.Lock:
        with self._guard:
            return self._locks[uid]

    def seen_done(self, actions: Sequence["Action"]) -> None:
        with self._guard:
            for a in actions:
                self.done.setdefault(call_of(a), Receipt(detail={"note": "read back as done"}))

    def apply_many(self, actions: Sequence["Action"]) -> dict[str, Receipt | RevokeError]:
        users = sorted({call_of(a).user for a in actions if a.kind in PHASE})
        with ExitStack() as stack:
            for uid in users:   # always in the same order: two batches never wait on each other
                stack.enter_context(self._lock(uid))
            return self._apply(actions)

    def _apply(self, actions: Sequence["Action"]) -> dict[str, Receipt | RevokeError]:
        out: dict[str, Receipt | RevokeError] = {}
        wanted: dict[Call, dict[str, Any]] = {}
        for a in actions:
            if a.kind == SuspendUser.name:
                for f in a.params.get("first") or []:
                    wanted.setdefault(Call(f["kind"], f["resource"]), {})
            wanted[call_of(a)] = dict(a.params)
        failed: dict[str, ActionFailed] = {}   # user -> why an earlier step of theirs did not happen
        results: dict[Call, Receipt | RevokeError] = {}
        for phase in range(5):
            calls = [c for c in wanted if PHASE.get(c.kind) == phase and c not in self.done]
            if phase == 4:
                for c in [c for c in calls if c.user in failed]:
                    why = failed[c.user]
                    results[c] = ActionFailed(f"not suspended: an earlier step failed first ({why.reason})",
                                              retryable=why.retryable, retry_after=why.retry_after)
                calls = [c for c in calls if c.user not in failed]
            self._send(calls, wanted, results, failed)
        for c in wanted:
            if c.kind in SINGLE and c not in self.done:
                self._send_one(c, wanted[c], results)
        for a in actions:
            c = call_of(a)
            out[a.id] = self.done.get(c) or results.get(c) or ActionFailed(f"{a.kind} {a.resource}: not sent")
        return out

    def _send(self, calls: list[Call], wanted: dict[Call, dict[str, Any]], results: dict[Call, Any],
              failed: dict[str, ActionFailed]) -> None:
        if not calls:
            return
        built = {str(i): (c, *request_for(self.google, c, wanted[c])) for i, c in enumerate(calls)}
        answers = self.google.batch([(k, what, req) for k, (_, what, req) in built.items()])
        for k, (c, _, _) in built.items():
            answer = answers[k]
            if isinstance(answer, ActionFailed) and not _absent(answer):
                results[c] = answer
                if c.kind != RemoveFromGroup.name:
                    failed.setdefault(c.user, answer)
                continue
            self._record(c, answer, results)

    def _send_one(self, c: Call, params: dict[str, Any], results: dict[Call, Any]) -> None:
        try:
            what, request = request_for(self.google, c, params)
            answer: Any = self.google.call(what, request)
        except ActionFailed as err:
            if not _absent(err):
                results[c] = err
                return
            answer = err
        self._record(c, answer, results)

    def _record(self, c: Call, answer: Any, results: dict[Call, Any]) -> None:
        detail: dict[str, Any] = {}
        if isinstance(answer, GoogleRefused):   # a 404: gone already; the read-back (checking the container) decides
            detail["answer"] = f"404 {answer.why}".strip()
        if c.kind == SignOut.name:
            detail["signed_out_at"] = self.runtime.now().isoformat()
        receipt = Receipt(detail=detail)
        self.done[c] = receipt
        results[c] = receipt


def _absent(err: ActionFailed) -> bool:
    return isinstance(err, GoogleRefused) and err.status == 404
