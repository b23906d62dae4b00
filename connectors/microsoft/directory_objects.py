"""What the two Graph connectors of directory objects (`entra`, `m365-groups`) share: an action kind that is its
own `$batch` write, its own answer and its own undo (`GraphKind`), the apply of a batch of them with the rule for a
404 (`GraphWrites`), and the reads both make (the leavers, by UPN or id; a batch of reads where only a 404 may
pass). Each connector keeps what is its own: which kinds, how their targets are found and read back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from revoke.actions import ActionKind
from revoke.connector import Connector, Discovery, Entity, Identity, Notice, Receipt, Subject
from revoke.connectors.microsoft.graph import GraphClient, GraphSettings, Reply, Sub
from revoke.connectors.microsoft.names import DirectoryNames
from revoke.errors import ActionFailed, RevokeError

if TYPE_CHECKING:
    from revoke.plan import Action

UNPROVEN_404 = ("Graph answered 404; the read-back checks that the user and the group exist and the membership "
                "does not")


class GraphKind(ActionKind):
    """A Graph action kind: its write (one `$batch` request), what its success records, and its undo."""

    # True: a 404 to the write is recorded, not failed, and the read-back decides (a membership already gone, or a
    # wrong id: only the read-back, which finds both sides, can tell)
    unproven_404: ClassVar[bool] = False
    # a kind this write must follow when the same batch has it for the same resource (`dependsOn`)
    after: ClassVar[str | None] = None

    @classmethod
    def write(cls, a: Action) -> Sub:
        raise ActionFailed(f"{cls.name} has no write")

    @classmethod
    def done(cls, connector: Any, a: Action, reply: Reply) -> Receipt:
        """The receipt of a write Graph accepted."""
        return Receipt(request_ids=(reply.request_id,), detail={"status": reply.status})

    @classmethod
    def undo(cls, connector: Any, a: Action) -> Receipt | Reply:
        """Send the restore: a Receipt when nothing was sent or Graph's answer is already judged, else the Reply."""
        raise ActionFailed(f"{connector.name} cannot restore '{cls.name}'")


class DirectoryObjectsConnector(Connector):
    """The base of a Graph connector whose kinds are GraphKinds: its client and names (`identify`), and apply /
    apply_many / restore, the writes sent as `$batch`es."""

    one_budget = True  # Graph limits an app per tenant: every request of the system spends one budget

    def __init__(self, system: str, settings: GraphSettings, secrets: Any, context: Any):
        super().__init__(system, settings, secrets, context)
        self.graph = GraphClient(system, settings, secrets, self.context.runtime)
        self.names = DirectoryNames(self.graph, own=(settings.client_id,))

    def pacing(self) -> dict[str, Any] | None:
        return self.graph.pacer.state()

    def resume_pacing(self, state: dict[str, Any] | None) -> None:
        self.graph.pacer.resume(state)

    def connect(self) -> Identity:
        identity = self.graph.connect()
        self.names.own.add(identity.display.casefold())
        return identity

    def identify(self, names: Sequence[str]) -> dict[str, Entity | None]:
        return self.names.identify(names)

    def _graph_kind(self, name: str, doing: str) -> type[GraphKind]:
        try:
            kind = self.kind(name)
        except KeyError:
            kind = None
        if not (isinstance(kind, type) and issubclass(kind, GraphKind)):
            raise ActionFailed(f"{self.name} cannot {doing} '{name}'")
        return kind

    def apply(self, action: Action) -> Receipt:
        answer = self.apply_many([action])[action.id]
        if isinstance(answer, RevokeError):
            raise answer
        return answer

    def apply_many(self, actions: Sequence[Action]) -> dict[str, Receipt | RevokeError]:
        out: dict[str, Receipt | RevokeError] = {}
        subs: list[Sub] = []
        ids = {(a.kind, a.resource): a.id for a in actions}
        for a in actions:
            try:
                kind = self._graph_kind(a.kind, "apply")
                sub = kind.write(a)
            except RevokeError as err:
                out[a.id] = err
                continue
            if kind.after and (kind.after, a.resource) in ids:
                sub.depends_on = ids[(kind.after, a.resource)]
            subs.append(sub)
        by_id = {a.id: a for a in actions}
        for key, reply in self.graph.batch(subs, reads=False).items():
            out[key] = self._answer(by_id[key], reply)
        return out

    def _answer(self, a: Action, reply: Reply) -> Receipt | RevokeError:
        kind = self._graph_kind(a.kind, "apply")
        if reply.ok:
            return kind.done(self, a, reply)
        if reply.status == 404 and kind.unproven_404:
            return Receipt(request_ids=(reply.request_id,), detail={"status": 404, "note": UNPROVEN_404})
        return reply.failure(kind.describe(a.label or a.resource), kind.permissions)

    def restore(self, action: Action) -> Receipt:
        kind = self._graph_kind(action.kind, "restore")
        answer = kind.undo(self, action)
        if isinstance(answer, Receipt):
            return answer
        if not answer.ok:
            raise answer.failure(f"restore {kind.describe(action.label or action.resource)}", kind.permissions)
        return Receipt(request_ids=(answer.request_id,), detail={"status": answer.status})


def already_there(reply: Reply) -> bool:
    """Graph's answer to re-adding a member or assignment that is there again (400 "... already exist ...")."""
    return reply.status == 400 and "already exist" in reply.error[1]


def answers_for(reply: Reply, key: str, fields: tuple[str, ...] = ("id",)) -> bool:
    """The answer is the object asked for (by id, or another of `fields`), not another one or an empty 200."""
    body = reply.body if isinstance(reply.body, dict) else None
    if body is None:
        return False
    return key.casefold() in {str(body.get(f) or "").casefold() for f in fields}


def read_all(graph: GraphClient, paths: dict[str, str]) -> dict[str, Reply]:
    """A batch of reads where a 404 is an answer (the read-back judges it) and any other failure is an error."""
    replies = graph.batch_get(paths) if paths else {}
    for key, reply in replies.items():
        if not reply.ok and reply.status != 404:
            raise graph.read_failure(reply, key)
    return replies


def found_users(c: DirectoryObjectsConnector, subjects: Sequence[Subject], replies: dict[str, Reply],
                out: Discovery) -> dict[str, tuple[Subject, dict[str, Any]]]:
    """The leavers the tenant has, by object id (with their user object), from the replies keyed by `user_key`;
    a notice for each one it does not have."""
    found: dict[str, tuple[Subject, dict[str, Any]]] = {}
    for s in subjects:
        reply = replies[user_key(s)]
        if reply.status == 404:
            out.notices.append(Notice(f"no Entra ID user '{s.ident}' in tenant {c.settings.tenant_id}",
                                      person=s.person))
        elif not reply.ok:
            raise c.graph.read_failure(reply, f"user {s.ident}")
        else:
            found[reply.body["id"]] = (s, reply.body)
            c.names.remember_user(reply.body)
    return found


def user_key(s: Subject) -> str:
    return f"user:{s.ident}"
