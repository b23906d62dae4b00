"""The one Microsoft Graph client that the `entra` and `m365-groups` connectors share, on the Microsoft base
(`base.py`: the app's sign-in and token cache, TLS trust and pacing) that the `exchange-online` connector shares.

msal acquires an app-only token (client secret or certificate, from `Secrets`) and caches it for the run. Reads
page through `@odata.nextLink` and go in JSON `$batch`es of at most 20; writes go in `$batch`es too.

Retries and waits are the engine's (`context.runtime`, revoke/runtime.py), never this client's own:
- an idempotent read (discovery, read-back) answered 429/503 is repeated through the runtime's retry decision
  (`Runtime.read` / `Runtime.may_retry`), within the system's attempts and wait budget;
- every request goes through one `revoke.pacing.Pacer` per app and tenant, made once per run by the runtime
  (`Runtime.shared`) and waiting on the run's clock: it counts each sub-request of a `$batch`, learns Graph's rate
  from the throttled answers (Graph does not announce it) and holds every thread until the Retry-After, so the
  engine's threads do not each find the closed window by sending into it;
- a write is never repeated here. A throttled write, or a throttled sub-request of a batch, may have been applied
  anyway (Graph says so for `$batch`), so it goes back to the engine as `ActionFailed(retryable=True,
  retry_after=...)`; the engine reads the target back before deciding to send it again.

Every answer's `request-id` is kept so evidence can name the provider's record of each write.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Sequence
from urllib.parse import quote

import requests
from pydantic import Field

from revoke.connector import Identity
from revoke.connectors.microsoft.base import (  # noqa: F401 - the shared base, re-exported for the Graph connectors
    MicrosoftApp,
    MicrosoftAppSettings,
    PinnedSession,
    pacer_for,
    shared_token_cache,
)
from revoke.errors import ActionFailed, ConnectionFailed
from revoke.pacing import Pacer
from revoke.runtime import Runtime
from revoke.secrets import Secrets

MAX_BATCH = 20
RETRY_STATUSES = (429, 503, 504)
# Pace from the rate Graph accepted, however low. Its identity limits are per app and tenant, so what fills this
# app's window in this tenant is this app: this process, or the same run's other workers (a scheduled run's shards
# of one tenant on several machines), each then pacing at the share it was accepted. An app's write quota in a
# tenant is 3,000 per 150 s (20 a second; learn.microsoft.com/graph/throttling-limits, identity and access), well
# under revoke.pacing's default of 100 a second: unpaced, every thread sends into the closed window after each
# Retry-After, which Graph charges too.
PACE_FROM = 5.0


class GraphSettings(MicrosoftAppSettings):
    """Per-runbook settings of a Graph system."""

    graph_url: str = Field("https://graph.microsoft.com/v1.0", description="the Graph root: "
                           "https://graph.microsoft.us/v1.0 (US Gov L4), https://microsoftgraph.chinacloudapi.cn/v1.0 "
                           "(21Vianet)")
    async_poll_seconds: float = Field(30.0, description="between looks at a Teams async operation (Microsoft asks "
                                      "for more than 30 seconds)")

    @property
    def graph_root(self) -> str:
        return self.graph_url.rstrip("/")

    @property
    def scope(self) -> str:
        # The resource is the Graph host without the version: https://graph.microsoft.com/.default
        base = self.graph_root.rsplit("/", 1)[0] if self.graph_root.count("/") > 2 else self.graph_root
        return f"{base}/.default"


@dataclass
class Reply:
    """One Graph answer: a top-level response or one sub-response of a `$batch`."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    request_id: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def throttled(self) -> bool:
        return self.status in RETRY_STATUSES

    @property
    def retry_after(self) -> float | None:
        value = next((v for k, v in self.headers.items() if k.casefold() == "retry-after"), None)
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None

    @property
    def error(self) -> tuple[str, str]:
        err = self.body.get("error") if isinstance(self.body, dict) else None
        if isinstance(err, dict):
            return str(err.get("code") or ""), str(err.get("message") or "")
        return "", ""

    def failure(self, what: str, needs: Sequence[str] = ()) -> ActionFailed:
        """This answer as the engine's error: retryable when throttled or briefly unavailable. `needs`: the
        application permissions the call takes, named in the message when Graph refuses for lack of them."""
        code, message = self.error
        retryable = self.throttled or self.status == 424
        text = f"{what}: Graph answered {self.status}"
        text += f" {code}: {message}" if code or message else ""
        if self.status == 424:
            text = f"{what}: not attempted, an earlier request in its batch failed"
        if self.status == 403 and needs:
            text += f"; the app needs the application permission {' or '.join(needs)} (admin consent granted)"
        return ActionFailed(text, retryable=retryable, retry_after=self.retry_after,
                            request_ids=[self.request_id] if self.request_id else [])


@dataclass
class Sub:
    """One request for a `$batch`. `key` is the caller's name for it (an action id, a user id...)."""

    key: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    depends_on: str | None = None   # key of a request that must run first (same batch)


def seg(value: str) -> str:
    """One URL path segment: UPNs of guests contain '#', which must not end the path."""
    return quote(value, safe="@'=")


class GraphClient:
    def __init__(self, system: str, settings: GraphSettings, secrets: Secrets, runtime: Runtime):
        self.system = system
        self.settings = settings
        self._secrets = secrets
        self.runtime = runtime
        self.session = PinnedSession(settings.ca_file)
        self.app = MicrosoftApp(system, settings, secrets, self.session)
        self.pacer = shared_pacer(settings, runtime)

    # ---- token -----------------------------------------------------------------------------------------------
    def connect(self) -> Identity:
        s = self.settings
        self.app.connect(s.scope)
        return Identity(display=f"app {s.client_id} (tenant {s.tenant_id})", aliases=(s.client_id,),
                        detail={"app_id": s.client_id, "tenant_id": s.tenant_id, "authority": self.app.authority,
                                "graph_url": s.graph_root})

    def _token(self) -> str:
        return self.app.token(self.settings.scope)

    # ---- one HTTP request ------------------------------------------------------------------------------------
    def send(self, method: str, path_or_url: str, body: Any = None, params: dict[str, str] | None = None) -> Reply:
        sent_at = self.pacer.wait(1)
        reply = self._http(method, path_or_url, body, params)
        self._paced(sent_at, [reply])
        return reply

    def _paced(self, sent_at: float, replies: Sequence[Reply]) -> None:
        """Tell the pacer how Graph answered requests sent at `sent_at`."""
        throttled = [r for r in replies if r.throttled]
        self.pacer.accepted(sum(1 for r in replies if not r.throttled and r.status != 424))
        if throttled:
            self.pacer.throttled(sent_at, max((r.retry_after for r in throttled if r.retry_after is not None),
                                              default=None), len(throttled))

    def _http(self, method: str, path_or_url: str, body: Any = None, params: dict[str, str] | None = None) -> Reply:
        url = path_or_url if path_or_url.startswith("https://") else f"{self.settings.graph_root}{path_or_url}"
        headers = {"Authorization": f"Bearer {self._token()}", "client-request-id": str(uuid.uuid4()),
                   "Accept": "application/json"}
        try:
            resp = self.session.request(method, url, json=body, params=params, headers=headers,
                                        timeout=self.settings.timeout_seconds)
        except requests.RequestException as exc:
            raise ConnectionFailed(self.system, f"{method} {url.split('?')[0]}: {type(exc).__name__}: "
                                   f"{self._secrets.redact(str(exc))}") from None
        try:
            payload = resp.json() if resp.content else None
        except ValueError:
            payload = {"error": {"code": "", "message": resp.text[:200]}}
        return Reply(resp.status_code, payload, dict(resp.headers), resp.headers.get("request-id", ""))

    def get(self, path_or_url: str, params: dict[str, str] | None = None) -> Reply:
        """An idempotent read, throttling waited out by the runtime. Errors other than throttling come back as the
        Reply; throttling past the system's budget is raised as the retryable ActionFailed."""
        def once() -> Reply:
            reply = self.send("GET", path_or_url, params=params)
            if reply.throttled:
                raise reply.failure(f"reading {path_or_url.split('?')[0]}")
            return reply
        return self.runtime.read(once)

    def get_all(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        reply = self.get(path, params)
        return self.collect(reply, path)

    def collect(self, reply: Reply, what: str) -> list[dict[str, Any]]:
        """All items of a list answer, following @odata.nextLink."""
        items: list[dict[str, Any]] = []
        while True:
            if not reply.ok:
                raise self.read_failure(reply, what)
            page = list_page(reply)
            if page is None:  # a 200 without its list proves nothing: never read as "no items"
                raise ActionFailed(f"reading {what}: Graph answered 200 without a `value` list")
            items.extend(page)
            nxt = reply.body.get("@odata.nextLink")
            if not nxt:
                return items
            reply = self.get(nxt)

    def read_failure(self, reply: Reply, what: str) -> ActionFailed:
        err = reply.failure(f"reading {what}")
        if reply.status in (401, 403):
            err.reason += "; grant the app the read permissions `revoke permissions` lists"
            err.args = (err.reason,)
        return err

    # ---- $batch ----------------------------------------------------------------------------------------------
    def batch(self, subs: Sequence[Sub], *, reads: bool) -> dict[str, Reply]:
        """Send in `$batch`es of at most 20, keeping requests that depend on each other in one batch. Reads are
        retried while throttled (within the wait budget); writes are answered exactly as Graph answered them."""
        answers: dict[str, Reply] = {}
        for chunk in _chunks(subs):
            answers.update(self._batch_once(chunk))
        attempt = 1
        while reads:
            again = [s for s in subs if answers[s.key].throttled]
            if not again:
                break
            retry_after = max((answers[s.key].retry_after or 1.0) for s in again)
            if self.runtime.may_retry(attempt, retry_after) is None:
                break  # the pacer holds the next send until the Retry-After: no wait of its own here
            attempt += 1
            for chunk in _chunks(again):
                answers.update(self._batch_once(chunk))
        return answers

    def batch_get(self, paths: dict[str, str]) -> dict[str, Reply]:
        """GET many paths in batches; list answers come back with every page merged into `value`."""
        answers = self.batch([Sub(k, "GET", p) for k, p in paths.items()], reads=True)
        for key, reply in answers.items():
            if reply.ok and isinstance(reply.body, dict) and reply.body.get("@odata.nextLink"):
                reply.body = {"value": self.collect(reply, paths[key])}
        return answers

    def _batch_once(self, chunk: list[Sub]) -> dict[str, Reply]:
        ids = {s.key: str(i + 1) for i, s in enumerate(chunk)}
        requests_ = []
        for s in chunk:
            req: dict[str, Any] = {"id": ids[s.key], "method": s.method, "url": s.path}
            if s.body is not None:
                req["body"] = s.body
                req["headers"] = {"Content-Type": "application/json"}
            if s.depends_on and s.depends_on in ids:
                req["dependsOn"] = [ids[s.depends_on]]
            requests_.append(req)
        sent_at = self.pacer.wait(len(chunk))
        envelope = self._http("POST", "/$batch", {"requests": requests_})
        if not envelope.ok:
            self._paced(sent_at, [envelope])
            # the whole batch was refused: every request in it shares that answer (and, when throttled, its wait)
            return {s.key: Reply(envelope.status, envelope.body, envelope.headers, envelope.request_id)
                    for s in chunk}
        by_id = {str(r.get("id")): r for r in envelope.body.get("responses", [])}
        out: dict[str, Reply] = {}
        for s in chunk:
            r = by_id.get(ids[s.key])
            if r is None:
                out[s.key] = Reply(500, {"error": {"code": "", "message": "no answer in the batch response"}},
                                   {}, envelope.request_id)
                continue
            out[s.key] = Reply(int(r.get("status", 500)), r.get("body"), dict(r.get("headers") or {}),
                               f"{envelope.request_id}#{ids[s.key]}")
        for s in chunk:
            # a request skipped (424) because the one it depends on was throttled waits as long as that one
            first = out.get(s.depends_on or "")
            if out[s.key].status == 424 and first is not None and first.retry_after is not None:
                out[s.key].headers.setdefault("Retry-After", str(first.retry_after))
        self._paced(sent_at, list(out.values()))
        return out


def shared_pacer(settings: GraphSettings, runtime: Runtime) -> Pacer:
    """Graph limits an app per tenant, so the systems of a run that use the same app in the same tenant (an
    `entra` and an `m365-groups` system, applied side by side) pace together: one pacer per run, made by the
    runtime, waiting on the run's clock; the lowest configured `requests_per_second` among them holds. The same
    app in another tenant (a provider's multi-tenant app) has a budget of its own, and so a pacer of its own."""
    key = ("graph-pacer", settings.graph_root, settings.tenant_id, settings.client_id)
    pacer = runtime.shared(key, lambda: Pacer(clock=runtime.monotonic, sleep=runtime.sleep, min_rate=PACE_FROM))
    pacer.limit(settings.requests_per_second)
    return pacer


def _chunks(subs: Sequence[Sub]) -> list[list[Sub]]:
    """Pack requests into as few batches of at most 20 as fit, keeping each dependency chain together and in
    order. Longest chains first, each into the first batch with room: requests that do not depend on each other
    may run in any order in a `$batch` anyway, so packing loses nothing (in order, chains of 2 among single
    requests left batches of 19)."""
    chains: list[list[Sub]] = []
    chain_of: dict[str, list[Sub]] = {}
    for s in subs:
        if s.depends_on and s.depends_on in chain_of:
            chain = chain_of[s.depends_on]
            chain.append(s)
        else:
            chain = [s]
            chains.append(chain)
        chain_of[s.key] = chain
    out: list[list[Sub]] = []
    open_: list[list[Sub]] = []  # batches with room left
    for chain in sorted(chains, key=len, reverse=True):  # stable: equal chains keep their order
        if len(chain) > MAX_BATCH:
            raise ValueError("a dependency chain longer than one $batch")
        room = next((b for b in open_ if len(b) + len(chain) <= MAX_BATCH), None)
        if room is None:
            room = []
            out.append(room)
            open_.append(room)
        room.extend(chain)
        if len(room) == MAX_BATCH:
            open_.remove(room)
    return out


# ---- what Graph cannot change, known at plan time -------------------------------------------------------------
EXCHANGE_RUNBOOK = "runbooks/exchange-online-distribution-lists.md"


def is_mail_only(group: dict[str, Any]) -> bool:
    """Distribution lists and mail-enabled security groups: mastered in Exchange Online, read-only in Graph."""
    return bool(group.get("mailEnabled")) and "Unified" not in (group.get("groupTypes") or [])


def membership_blocker(group: dict[str, Any], upn: str) -> tuple[str, str] | None:
    """(outcome, note) when Graph refuses membership writes on this group, else None. The note is the manual step."""
    name = group.get("displayName") or group.get("id")
    if "DynamicMembership" in (group.get("groupTypes") or []):
        return ("immutable", f"'{name}' is a dynamic group: its rule ({group.get('membershipRule')}) decides "
                f"membership, Graph refuses member writes; it follows the account's attributes")
    if group.get("onPremisesSyncEnabled"):
        return ("attention", f"'{name}' is synced from on-premises Active Directory: remove {upn} from it in AD "
                "(the runbook's active-directory system, or by hand); Graph refuses the change")
    if is_mail_only(group):
        return ("attention", f"needs Exchange Online: '{name}' <{group.get('mail')}> is a "
                f"{'mail-enabled security group' if group.get('securityEnabled') else 'distribution list'}, "
                f"read-only in Graph. Run: Remove-DistributionGroupMember -Identity '{group.get('mail')}' "
                f"-Member '{upn}' -BypassSecurityGroupManagerCheck -Confirm:$false (see {EXCHANGE_RUNBOOK})")
    return None


def list_page(reply: Reply) -> list[dict[str, Any]] | None:
    """The items of one page of a list answer, or None when the answer has no `value` list of objects."""
    value = reply.body.get("value") if isinstance(reply.body, dict) else None
    if not isinstance(value, list) or not all(isinstance(x, dict) and isinstance(x.get("id"), str) for x in value):
        return None
    return value


def exchange_route(group: dict[str, Any]) -> dict[str, str]:
    """Params that hand a membership Graph cannot change to the runbook's `exchange-online` system, if it has
    one (revoke.planner routes it): distribution lists and mail-enabled security groups, not synced or dynamic."""
    blocked = membership_blocker(group, "")
    return {"route": "exchange-online"} if blocked and blocked[1].startswith("needs Exchange Online") else {}


def directory_object_url(settings: GraphSettings, oid: str) -> str:
    return f"{settings.graph_root}/directoryObjects/{oid}"
