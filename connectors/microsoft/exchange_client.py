"""The Exchange Online client: cmdlets over `InvokeCommand`, the way ExchangeOnlineManagement v3 runs them.

Not a public API (see `exchange_cmdlets`): every call is checked against the declared table before it is sent, and
every answer is checked for the shape the connector relies on. One request is one attempt:
- a throttled or briefly unavailable answer (429/503 with `Retry-After`) is `ActionFailed(retryable=True,
  retry_after=...)`; reads are repeated by the engine's runtime (`context.runtime.read`, its wait budget and
  clock), writes go back to the engine, which reads the target back before sending one again;
- every request waits its turn at a pacer shared by the Exchange systems of one app and tenant, on the run's
  clock, so the engine's threads hold together until a `Retry-After` has passed instead of each sending into it;
- a cmdlet error (`{"error": {"code", "message", "details": [{"message": "Ex..|<exception>|<text>"}]}}`) is a
  `CmdletError` naming the cmdlet, the object and the exception, so a caller can tell "absent" from "refused".

The sign-in (msal, the token cache), TLS trust and pacing are the Graph connectors' own (`graph.py`): one Microsoft
base, a token for `{base_url}/.default` instead of Graph's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import requests
from pydantic import Field

from revoke.connector import Identity
from revoke.connectors.microsoft.base import MicrosoftApp, MicrosoftAppSettings, PinnedSession, pacer_for
from revoke.connectors.microsoft.exchange_cmdlets import AMBIGUOUS, CMDLETS, NOT_FOUND
from revoke.errors import ActionFailed, ConnectionFailed
from revoke.pacing import Pacer
from revoke.runtime import Runtime
from revoke.secrets import Secrets

RETRY_STATUSES = (429, 503)
# Exchange Online throttles at tens of cmdlets a second, not Graph's thousands: pace from the first few
PACE_FROM = 5.0
# ExchangeOnlineManagement routes organisation-wide cmdlets to this arbitration mailbox of the tenant
ORGANIZATION_ANCHOR = "UPN:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@"


class ExchangeSettings(MicrosoftAppSettings):
    """Per-runbook settings of an `exchange-online` system: the same app registration as Graph's systems."""

    base_url: str = Field("https://outlook.office365.com", description="the Exchange Online endpoint; sovereign "
                          "clouds: https://outlook.office365.us (GCC High), https://webmail.apps.mil (DoD), "
                          "https://partner.outlook.cn (21Vianet)")
    organization: str | None = Field(None, description="the tenant as the endpoint names it: its id (the default) "
                                     "or its initial domain", examples=["contoso.onmicrosoft.com"])
    mailbox_scope: Literal["shared", "all", "none"] = Field(
        "shared", description="whose mailboxes are searched for permissions given to the leavers: shared mailboxes "
        "(the usual place), every mailbox (a slow read in a large tenant), or none")
    page_size: int = Field(default=1000, ge=1, le=1000, description="items per page of a listing")

    @property
    def root(self) -> str:
        return self.base_url.rstrip("/")

    @property
    def scope(self) -> str:
        return f"{self.root}/.default"

    @property
    def endpoint(self) -> str:
        return f"{self.root}/adminapi/beta/{self.organization or self.tenant_id}/InvokeCommand"


@dataclass
class Answer:
    """What a cmdlet answered: its objects (every page), its warnings and the request ids."""

    values: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)


class CmdletError(ActionFailed):
    """A cmdlet failed on the service's side; `exception` is the Exchange exception it named (may be "")."""

    def __init__(self, reason: str, *, exception: str, status: int, retryable: bool = False,
                 retry_after: float | None = None, request_ids: list[str] | None = None):
        super().__init__(reason, retryable=retryable, retry_after=retry_after, request_ids=request_ids)
        self.exception = exception
        self.status = status

    @property
    def not_found(self) -> bool:
        return self.exception.endswith(NOT_FOUND)

    @property
    def ambiguous(self) -> bool:
        return self.exception.endswith(AMBIGUOUS)


def describe(cmdlet: str, params: dict[str, Any]) -> str:
    """`Get-Mailbox -Identity 'x'`: how a failure names the call (never a secret: parameters are addresses)."""
    shown = [f"-{k} {v!r}" for k, v in params.items() if k not in ("Confirm", "BypassSecurityGroupManagerCheck")]
    return " ".join([cmdlet, *shown])


class ExchangeClient:
    def __init__(self, system: str, settings: ExchangeSettings, secrets: Secrets, runtime: Runtime):
        self.system = system
        self.settings = settings
        self._secrets = secrets
        self.runtime = runtime
        self.session = PinnedSession(settings.ca_file)
        self.app = MicrosoftApp(system, settings, secrets, self.session)
        self.pacer = pacer_for(("exchange", settings.root, settings.tenant_id, settings.client_id),
                               settings.requests_per_second,
                               make=lambda: Pacer(clock=runtime.monotonic, sleep=runtime.sleep,
                                                  min_rate=PACE_FROM))

    def connect(self) -> Identity:
        s = self.settings
        self.app.connect(s.scope)
        return Identity(display=f"app {s.client_id} (tenant {s.tenant_id})", aliases=(s.client_id,),
                        detail={"app_id": s.client_id, "tenant_id": s.tenant_id, "authority": self.app.authority,
                                "exchange_url": s.root})

    # ---- calls -----------------------------------------------------------------------------------------------
    def read(self, cmdlet: str, **params: Any) -> Answer:
        """An idempotent cmdlet, every page; throttling repeated by the engine's runtime, page by page."""
        self._check(cmdlet, params, writes=False)
        answer = Answer()
        url: str | None = self.settings.endpoint
        while url:
            page = self.runtime.read(lambda url=url: self._once(url, cmdlet, params))  # type: ignore[misc]
            answer.values.extend(page.values)
            answer.warnings.extend(page.warnings)
            answer.request_ids.extend(page.request_ids)
            url = page.next_link
        return answer

    def write(self, cmdlet: str, **params: Any) -> Answer:
        """One attempt of a cmdlet that changes something; the engine decides about another."""
        self._check(cmdlet, params, writes=True)
        page = self._once(self.settings.endpoint, cmdlet, params)
        return Answer(page.values, page.warnings, page.request_ids)

    @staticmethod
    def _check(cmdlet: str, params: dict[str, Any], writes: bool) -> None:
        declared = CMDLETS.get(cmdlet)
        if declared is None or declared.writes != writes or not set(params) <= declared.parameters:
            extra = sorted(set(params) - declared.parameters) if declared else []
            raise ActionFailed(f"{cmdlet}{' ' + ', '.join(extra) if extra else ''} is not in the connector's "
                               "declared cmdlet table (connectors/microsoft/exchange_cmdlets.py): refused unsent")

    def _once(self, url: str, cmdlet: str, params: dict[str, Any]) -> "_Page":
        what = describe(cmdlet, params)
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}}
        headers = {"Authorization": f"Bearer {self.app.token(self.settings.scope)}",
                   "Accept": "application/json", "client-request-id": str(uuid.uuid4()),
                   "Prefer": f"odata.maxpagesize={self.settings.page_size}",
                   "X-AnchorMailbox": self._anchor(cmdlet, params)}
        sent_at = self.pacer.wait(1)
        try:
            resp = self.session.post(url, json=body, headers=headers, timeout=self.settings.timeout_seconds)
        except requests.RequestException as exc:
            raise ConnectionFailed(self.system, f"{what}: {type(exc).__name__}: "
                                   f"{self._secrets.redact(str(exc))}") from None
        rid = resp.headers.get("request-id", "")
        retry_after = _seconds(resp.headers.get("Retry-After"))
        if resp.status_code in RETRY_STATUSES:
            self.pacer.throttled(sent_at, retry_after)
        else:
            self.pacer.accepted(1)
        try:
            payload = resp.json() if resp.content else None
        except ValueError:
            payload = None
        if not 200 <= resp.status_code < 300:
            raise _failure(what, resp.status_code, payload, rid, retry_after)
        if not isinstance(payload, dict) or not isinstance(payload.get("value"), list) \
                or not all(isinstance(v, dict) for v in payload["value"]):
            raise ActionFailed(f"{what}: unexpected answer from Exchange Online (HTTP {resp.status_code}, no list of "
                               "objects in 'value'); InvokeCommand is not a public API and may have changed",
                               request_ids=[rid] if rid else [])
        warnings = payload.get("@adminapi.warnings") or []
        nxt = payload.get("@odata.nextLink")
        if nxt is not None and (not isinstance(nxt, str) or not nxt.startswith(self.settings.root + "/")):
            raise ActionFailed(f"{what}: unexpected next page link from Exchange Online: {str(nxt)[:80]!r}",
                               request_ids=[rid] if rid else [])
        return _Page(payload["value"], [str(w) for w in warnings] if isinstance(warnings, list) else [str(warnings)],
                     [rid] if rid else [], nxt)

    def _anchor(self, cmdlet: str, params: dict[str, Any]) -> str:
        anchor = CMDLETS[cmdlet].anchor
        value = params.get(anchor) if anchor else None
        if isinstance(value, str) and value:
            return f"UPN:{value}"
        return ORGANIZATION_ANCHOR + (self.settings.organization or self.settings.tenant_id)


@dataclass
class _Page:
    values: list[dict[str, Any]]
    warnings: list[str]
    request_ids: list[str]
    next_link: str | None


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _failure(what: str, status: int, payload: Any, rid: str, retry_after: float | None) -> ActionFailed:
    error = payload.get("error") if isinstance(payload, dict) else None
    code = message = exception = ""
    if isinstance(error, dict):
        code, message = str(error.get("code") or ""), str(error.get("message") or "")
        for detail in error.get("details") or []:
            parts = str(detail.get("message") if isinstance(detail, dict) else detail).split("|")
            if len(parts) >= 3:  # "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.<Exception>|<text>"
                exception, message = parts[1].rsplit(".", 1)[-1], "|".join(parts[2:])
                break
    text = f"{what}: Exchange Online answered {status}"
    text += f" {exception or code}: {message}" if (exception or code or message) else ""
    if status in (401, 403):
        text += ("; the app needs the application permission Exchange.ManageAsApp (admin consent) and an Exchange "
                 "role for this cmdlet (`revoke permissions` lists them)")
    return CmdletError(text, exception=exception, status=status, retryable=status in RETRY_STATUSES,
                       retry_after=retry_after, request_ids=[rid] if rid else [])


def require(obj: dict[str, Any], fields: Sequence[str], what: str) -> dict[str, Any]:
    """The object, when it has every field the connector reads; else a located failure (never a guess)."""
    missing = [f for f in fields if f not in obj]
    if missing:
        raise ActionFailed(f"{what}: Exchange Online's answer lacks {', '.join(missing)}; InvokeCommand is not a "
                           "public API and may have changed: nothing was decided from it")
    return obj
