"""A local, stateful HTTPS fake of Exchange Online's `InvokeCommand` endpoint (what ExchangeOnlineManagement v3 calls).

It signs nothing itself: tokens come from a `GraphFake`'s Entra ID token endpoint (the same tenant and apps, the
same test CA), and a request is accepted only with a live token issued for this fake's own resource (its origin,
as `https://outlook.office365.com` is the real one's) to an app granted `Exchange.ManageAsApp`; a Graph token is
refused with 401. Then, like the service:

- `POST /adminapi/beta/{tenant}/InvokeCommand` with `{"CmdletInput": {"CmdletName", "Parameters"}}` runs exactly the
  cmdlets revoke uses (sandbox/exchange_org.py), on one organisation's state;
- answers `{"@odata.context", "@adminapi.warnings", "value": [...]}` in pages of at most `page_size` (or the
  client's `Prefer: odata.maxpagesize`), with an `@odata.nextLink` that is POSTed again with the same body;
- a cmdlet failure is HTTP 400/404 with `{"error": {"code", "message": "Error executing cmdlet", "details":
  [{"message": "Ex..|<exception type>|<text>"}], "innererror"}}`;
- an optional rate limit answers 429 with `Retry-After`; `fail(...)` injects an answer for the next matching calls,
  optionally after carrying the write out (applied, answered as failed);
- mailbox cmdlets need `X-AnchorMailbox: UPN:<the mailbox>`; every answer carries `request-id`.

    graph = GraphFake().start(); exo = ExchangeFake(graph).start()
    client_id, secret = graph.add_app(); exo.grant(client_id)
    dl = exo.add_list("Acme DL", "acme-dl@contoso.test", members=(ann,))
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, ContextManager
from urllib.parse import parse_qsl, urlsplit

from revoke.connectors.microsoft.exchange_cmdlets import (
    CMDLETS,
    DISTRIBUTION_LIST,
    MAIL_SECURITY_GROUP,
    SHARED_MAILBOX,
    USER_MAILBOX,
)
from revoke.sandbox.exchange_org import CmdletFailure, Organization
from revoke.sandbox.graph import GraphFake
from revoke.sandbox.https_fake import FakeHandler, HttpsFake


@dataclass(frozen=True)
class Call:
    cmdlet: str
    parameters: dict[str, Any]
    status: int
    anchor: str
    at: float            # time.monotonic() when answered


@dataclass
class _Injection:
    cmdlet: str
    times: int
    status: int
    applied: bool
    retry_after: int
    exception: str


class _Handler(FakeHandler):
    fake: ExchangeFake

    def serve(self, method: str) -> None:
        if method != "POST":  # the endpoint is POST only
            self.send(405, {}, b"")
            return
        raw = self.read_body()
        parts = urlsplit(self.path)
        path = re.fullmatch(r"/adminapi/beta/([^/]+)/InvokeCommand", parts.path)
        headers: dict[str, str] = {}
        if path is None or path.group(1) not in (self.fake.graph.tenant_id, *self.fake.org.domains):
            status, body = 404, _error(404, "System.ArgumentException", "No such tenant or endpoint.")
        elif (refused := self.fake.authorize(self.headers.get("Authorization"))) is not None:
            status, body = refused[0], _error(refused[0], "System.UnauthorizedAccessException", refused[1])
            headers["WWW-Authenticate"] = 'Bearer error="invalid_token"' if refused[0] == 401 else ""
        else:
            try:
                request = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                request = None
            status, body, headers = self.fake.invoke(request, dict(parse_qsl(parts.query)),
                                                     self.headers.get("X-AnchorMailbox") or "",
                                                     self.headers.get("Prefer") or "")
        out = {"request-id": str(uuid.uuid4()), **{k: v for k, v in headers.items() if v}}
        self.send(status, out, json.dumps(body).encode(), "application/json;odata.metadata=minimal;charset=utf-8")


class ExchangeFake(HttpsFake):
    handler_class = _Handler
    server_name = "exchange-fake"

    def __init__(self, graph: GraphFake, *, domain: str = "contoso.test", page_size: int = 100):
        self.graph = graph
        self.org = Organization(domain)
        self.page_size = page_size        # the service's own page size; a client's Prefer may only lower it
        self._size = threading.local()    # the page size of the request a handler thread answers
        self.granted: set[str] = set()    # client ids with Exchange.ManageAsApp and a role
        self.calls: list[Call] = []
        self._pages: dict[str, tuple[str, list[dict[str, Any]], list[str]]] = {}  # skiptoken -> (body digest, rest)
        self._injections: list[_Injection] = []
        self.degrader: Any = None  # revoke.testing.degraded.Degrader: reads answered badly, writes swallowed
        self._rate: int | None = None
        self._bucket = (0.0, 0.0)
        self._lock = threading.Lock()

    def issuing_ca(self) -> Any:
        return self.graph.ca  # the Graph fake's CA: one ca_file (graph.ca_file) for both

    @property
    def base_url(self) -> str:
        """Like https://outlook.office365.com: the resource tokens must be issued for."""
        return self.origin

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/adminapi/beta/{self.graph.tenant_id}/InvokeCommand"

    # ---- seeding -------------------------------------------------------------------------------------------
    def grant(self, client_id: str) -> None:
        self.granted.add(client_id)

    def add_mailbox(self, upn: str, name: str | None = None, *, shared: bool = False, external_id: str | None = None,
                    aliases: tuple[str, ...] = ()) -> str:
        return self.org.add(SHARED_MAILBOX if shared else USER_MAILBOX, name or upn.split("@")[0], upn,
                            external_id=external_id, aliases=aliases)

    def add_list(self, name: str, address: str, *, members: tuple[str, ...] = (), owners: tuple[str, ...] = (),
                 security: bool = False, synced: bool = False, external_id: str | None = None) -> str:
        gid = self.org.add(MAIL_SECURITY_GROUP if security else DISTRIBUTION_LIST, name, address, synced=synced,
                           external_id=external_id)
        with self.org.lock:
            self.org.members[gid] = list(members)
            self.org.recipients[gid]["ManagedBy"] = [self.org.recipients[o]["Name"] for o in owners]
        return gid

    def grant_full_access(self, mailbox: str, user: str) -> None:
        with self.org.lock:
            self.org.mailbox_permissions[mailbox].append({"User": user, "AccessRights": ["FullAccess"],
                                                          "IsInherited": False, "Deny": False})

    def grant_send_as(self, mailbox: str, user: str) -> None:
        with self.org.lock:
            self.org.send_as[mailbox].add(user)

    def grant_send_on_behalf(self, mailbox: str, user: str) -> None:
        with self.org.lock:
            self.org.recipients[mailbox]["GrantSendOnBehalfTo"].append(user)

    def add_inbox_rule(self, mailbox: str, name: str, *, forward_to: str | None = None,
                       redirect_to: str | None = None) -> str:
        with self.org.lock:
            n = len(self.org.inbox_rules[mailbox]) + 1
            rid = f"{self.org.recipients[mailbox]['Alias']}\\{n:019d}"
            self.org.inbox_rules[mailbox].append({
                "Identity": rid, "RuleIdentity": str(n), "Name": name, "Enabled": True,
                "ForwardTo": [f'"{forward_to}" [SMTP:{forward_to}]'] if forward_to else None,
                "ForwardAsAttachmentTo": None,
                "RedirectTo": [f'"{redirect_to}" [SMTP:{redirect_to}]'] if redirect_to else None})
            return rid

    def set_forwarding(self, mailbox: str, address: str, keep_copy: bool = True) -> None:
        with self.org.lock:
            self.org.recipients[mailbox].update({"ForwardingSmtpAddress": f"smtp:{address}",
                                                 "DeliverToMailboxAndForward": keep_copy})

    # ---- inspection (independent of any client) ------------------------------------------------------------
    def recipient(self, guid: str) -> dict[str, Any] | None:
        with self.org.lock:
            r = self.org.recipients.get(guid)
            return json.loads(json.dumps(r)) if r else None

    def members(self, gid: str) -> list[str]:
        with self.org.lock:
            return list(self.org.members.get(gid, []))

    def full_access(self, mailbox: str) -> set[str]:
        with self.org.lock:
            return {e["User"] for e in self.org.mailbox_permissions[mailbox] if "FullAccess" in e["AccessRights"]}

    def send_as(self, mailbox: str) -> set[str]:
        with self.org.lock:
            return set(self.org.send_as[mailbox])

    def rules(self, mailbox: str) -> list[dict[str, Any]]:
        with self.org.lock:
            return [dict(r) for r in self.org.inbox_rules[mailbox]]

    def snapshot(self) -> str:
        o = self.org
        with o.lock:
            return json.dumps({"r": o.recipients, "m": o.members, "p": o.mailbox_permissions,
                               "s": {k: sorted(v) for k, v in o.send_as.items()}, "i": o.inbox_rules},
                              sort_keys=True, default=str)

    def writes(self) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if CMDLETS.get(c.cmdlet) and CMDLETS[c.cmdlet].writes]

    # ---- behaviour -----------------------------------------------------------------------------------------
    def rate_limit(self, per_second: int | None) -> None:
        """Answer 429 + Retry-After past `per_second` calls a second (a token bucket of one second)."""
        with self._lock:
            self._rate = per_second
            self._bucket = (float(per_second or 0), time.monotonic())

    def fail(self, cmdlet: str, *, times: int = 1, status: int = 429, applied: bool = False, retry_after: int = 1,
             exception: str = "Microsoft.Exchange.Data.Storage.TransientException") -> None:
        """The next `times` calls of `cmdlet` are answered `status` (429/503 with Retry-After, or a cmdlet error
        naming `exception`); with applied=True the cmdlet is carried out first, then answered as failed."""
        with self._lock:
            self._injections.append(_Injection(cmdlet, times, status, applied, retry_after, exception))

    def _injected(self, cmdlet: str) -> _Injection | None:
        with self._lock:
            for inj in self._injections:
                if inj.times > 0 and inj.cmdlet == cmdlet:
                    inj.times -= 1
                    return inj
        return None

    def _over_rate(self) -> int | None:
        with self._lock:
            if self._rate is None:
                return None
            now = time.monotonic()
            tokens, then = self._bucket
            tokens = min(float(self._rate), tokens + (now - then) * self._rate)
            allowed = tokens >= 1.0
            tokens = max(-float(self._rate), tokens - 1.0)
            self._bucket = (tokens, now)
            return None if allowed else max(1, math.ceil((1.0 - tokens) / self._rate))

    def authorize(self, header: str | None) -> tuple[int, str] | None:
        token = header[7:].strip() if header and header.startswith("Bearer ") else ""
        audience = self.graph.token_audience(token) if token else None
        if audience is None:
            return 401, "The access token is missing, invalid or expired."
        if audience.rstrip("/") != self.base_url:
            return 401, f"The token's audience '{audience}' is not this service ({self.base_url})."
        if self.graph.token_apps.get(token) not in self.granted:
            return 403, ("The role assigned to application isn't supported in this scenario: grant "
                         "Exchange.ManageAsApp and assign an Exchange role.")
        return None

    def invoke(self, body: Any, query: dict[str, str], anchor: str,
               prefer: str = "") -> tuple[int, dict[str, Any], dict[str, str]]:
        asked = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        self._size.value = min(self.page_size, int(asked.group(1))) if asked and int(asked.group(1)) > 0 \
            else self.page_size
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        cmd = body.get("CmdletInput") if isinstance(body, dict) else None
        if not isinstance(cmd, dict) or not isinstance(cmd.get("CmdletName"), str) \
                or not isinstance(cmd.get("Parameters", {}), dict):
            return 400, _error(400, "System.ArgumentException", "The request body is not a CmdletInput."), {}
        name, params = cmd["CmdletName"], dict(cmd.get("Parameters") or {})
        status, answer, headers = self._answer(name, params, digest, query, anchor)
        with self._lock:
            self.calls.append(Call(name, params, status, anchor, time.monotonic()))
        return status, answer, headers

    def _answer(self, name: str, params: dict[str, Any], digest: str, query: dict[str, str],
                anchor: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        wait = self._over_rate()
        if wait is not None:
            return 429, _error(429, "Microsoft.Exchange.Net.ThrottlingException", "Too many requests; retry after "
                               f"{wait} seconds."), {"Retry-After": str(wait)}
        declared = CMDLETS.get(name)
        if declared and declared.anchor and declared.anchor in params \
                and anchor.casefold() != f"UPN:{params[declared.anchor]}".casefold():
            return 400, _error(400, "System.ArgumentException", f"X-AnchorMailbox must name the mailbox of "
                               f"-{declared.anchor} for {name} (got {anchor!r})."), {}
        skip = query.get("$skiptoken")
        if skip is not None:
            with self._lock:
                page = self._pages.pop(skip, None)
            if page is None or page[0] != digest:
                return 400, _error(400, "System.ArgumentException", "The next link's body differs from the first "
                                   "page's, or the link expired."), {}
            return 200, self._page(page[1], page[2], digest), {}
        inj = self._injected(name)
        if inj is not None:
            if inj.applied:
                try:
                    self.org.run(name, params)
                except CmdletFailure:
                    pass
            headers = {"Retry-After": str(inj.retry_after)} if inj.status in (429, 503) else {}
            return inj.status, _error(inj.status, inj.exception, "The operation failed; try again."), headers
        try:
            if self.degrader is not None and self.degrader.swallow and not name.startswith("Get-"):
                from revoke.testing.degraded import swallowed

                with swallowed(self.org, ("recipients", "members", "mailbox_permissions", "send_as", "inbox_rules")):
                    values, warnings = self.org.run(name, params)
            else:
                values, warnings = self.org.run(name, params)
        except CmdletFailure as err:
            return err.status, _error(err.status, err.exception, err.message), {}
        page = self._page(values, warnings, digest)
        if self.degrader is not None and name.startswith("Get-"):
            if "@odata.nextLink" in page and self.degrader.page_cap:
                self.degrader.cut()
            page = self.degrader.answer(f"{name}?{digest}", page)
        return 200, page, {}

    def degraded(self, degrader: Any) -> ContextManager[None]:
        """Answer through `degrader` inside the block (revoke.testing.degraded.serving)."""
        from revoke.testing.degraded import serving

        return serving(self, degrader, "page_size")

    def _page(self, values: list[dict[str, Any]], warnings: list[str], digest: str) -> dict[str, Any]:
        out: dict[str, Any] = {"@odata.context": f"{self.endpoint}/$metadata#Collection(Exchange.GenericHashTable)",
                               "adminapi.warnings@odata.type": "#Collection(String)", "@adminapi.warnings": warnings,
                               "value": values[:self._size.value]}
        if len(values) > self._size.value:
            token = uuid.uuid4().hex
            with self._lock:
                self._pages[token] = (digest, values[self._size.value:], [])
            out["@odata.nextLink"] = f"{self.endpoint}?$skiptoken={token}"
        return out


def _error(status: int, exception: str, text: str) -> dict[str, Any]:
    code = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 429: "TooManyRequests",
            503: "ServiceUnavailable"}.get(status, "InternalServerError")
    return {"error": {"code": code, "message": "Error executing cmdlet",
                      "details": [{"code": "Context", "target": "", "message": f"Ex6F9304|{exception}|{text}"}],
                      "innererror": {"message": "Error executing cmdlet",
                                     "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"}}}
