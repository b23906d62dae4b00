"""A local, stateful HTTPS fake of Microsoft Graph v1.0 and the Entra ID token endpoint.

Used by the tests and by `revoke demo`, so a runbook can be rehearsed without a tenant. It behaves like the service
where revoke depends on it: msal gets a real client-credentials token from `/{tenant}/oauth2/v2.0/token` (the
secret or certificate is checked), every Graph call needs that bearer token, lists page through
`@odata.nextLink` with `$top`, JSON `$batch` takes at most 20 requests with `dependsOn` and per-request status
(a throttled sub-request is a 429 inside a 200 envelope), an optional rate limiter answers 429 + Retry-After
(each request inside a batch counts), and every answer carries `request-id` / `client-request-id`.

    fake = GraphFake().start()
    client_id, secret = fake.add_app()
    uid = fake.add_user("ann@contoso.test")
    ...  # point a client at fake.authority / fake.base_url, trusting fake.ca_file
    fake.stop()

TLS comes from a throwaway CA made by `trustme` at start; `ca_file` is its PEM for clients to trust.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import secrets as pysecrets
import ssl
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from revoke.testing.degraded import swallowed
from revoke.sandbox.graph_directory import ZERO_ROLE, Answer, Directory, GraphError, stamp
from revoke.sandbox.graph_directory import error_answer as _error
from revoke.sandbox.graph_http import GraphHandler, thumbprint  # noqa: F401 - thumbprint is part of the API

MAX_BATCH = 20


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str            # path relative to the Graph version root (`/users/x`), or the token endpoint's path
    query: str
    in_batch: bool
    status: int
    request_id: str
    at: float = 0.0      # time.monotonic() when it was answered (benchmarks measure how busy the service was)


@dataclass
class _Injection:
    method: str | None
    path: re.Pattern[str]
    times: int
    applied: bool
    status: int
    retry_after: int


# what a swallowed write must leave as it was
DIRECTORY_STATE = ("users", "groups", "members", "owners", "teams", "roles", "role_members", "service_principals",
                   "assignments", "deleted", "operations")


class GraphFake:
    """The fake service: start()/stop(), a seeding API, and inspection of state and of the requests it saw."""

    def __init__(self, tenant_id: str | None = None, *, page_size: int = 100):
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.directory = Directory(page_size=page_size)
        self.apps: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, float] = {}
        self.audiences: dict[str, str] = {}   # token -> the resource it was issued for (its `aud`)
        self.token_apps: dict[str, str] = {}  # token -> the client id it was issued to (its `appid`)
        self.log: list[LoggedRequest] = []
        self.token_lifetime = 3599
        self._injections: list[_Injection] = []
        self.degrader: Any = None  # revoke.testing.degraded.Degrader: reads answered badly, writes swallowed
        self._rate: int | None = None
        self._rate_retry_after = 1
        self._bucket = (0.0, 0.0)  # (tokens, when counted) of the rate limiter
        # what the rate limiter's bucket refills by: a test gives it revoke's FakeClock, so Graph's window moves
        # only when revoke's engine waits
        self.clock: Callable[[], float] = time.monotonic
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file = ""
        self.port = 0

    @contextlib.contextmanager
    def degraded(self, degrader: Any) -> Iterator[None]:
        """Answer through `degrader` (revoke.testing.degraded) inside the block."""
        self.degrader = degrader
        try:
            yield
        finally:
            self.degrader = None
            self.directory.page_cap = None

    # ---- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> "GraphFake":
        import trustme  # the sandbox extra; imported here so `revoke` itself does not need it

        self._tmp = tempfile.TemporaryDirectory(prefix="revoke-graph-fake-")
        ca = trustme.CA(key_type=trustme.KeyType.ECDSA)  # ECDSA: a fraction of RSA key generation time
        self.ca = ca
        cert = ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.ECDSA)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        self.ca_file = str(Path(self._tmp.name) / "graph-fake-ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        handler = type("Handler", (GraphHandler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.directory.graph_root = self.base_url
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="graph-fake", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._tmp:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "GraphFake":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The Graph root, like https://graph.microsoft.com/v1.0."""
        return f"{self.origin}/v1.0"

    @property
    def authority(self) -> str:
        """The authority host, like https://login.microsoftonline.com (the tenant goes after it)."""
        return self.origin

    # ---- seeding -------------------------------------------------------------------------------------------
    def add_app(self, client_id: str | None = None, secret: str | None = None, *,
                certificate_pem: bytes | None = None, name: str = "revoke") -> tuple[str, str]:
        """Register an app (and its service principal). Returns (client id, client secret)."""
        client_id = client_id or str(uuid.uuid4())
        secret = secret or pysecrets.token_urlsafe(24)
        self.apps[client_id] = {"secret": secret, "certificate": certificate_pem}
        with self.directory.lock:
            sp = str(uuid.uuid4())
            self.directory.service_principals[sp] = {"id": sp, "appId": client_id, "displayName": name,
                                                     "appRoles": []}
        return client_id, secret

    def add_user(self, upn: str, display_name: str | None = None, *, enabled: bool = True, guest: bool = False,
                 synced: bool = False, sam: str | None = None, dn: str | None = None) -> str:
        uid = str(uuid.uuid4())
        user = {"id": uid, "userPrincipalName": upn, "displayName": display_name or upn.split("@")[0],
                "mail": upn if not guest else upn.split("#EXT#")[0].replace("_", "@"),
                "accountEnabled": enabled, "userType": "Guest" if guest else "Member",
                "onPremisesSyncEnabled": True if synced else None,
                "onPremisesSamAccountName": (sam or upn.split("@")[0]) if synced else None,
                "onPremisesDistinguishedName": dn if synced else None,
                "onPremisesDomainName": upn.split("@")[1] if synced else None,
                "signInSessionsValidFromDateTime": "2026-01-01T00:00:00Z", "createdDateTime": stamp()}
        with self.directory.lock:
            self.directory.users[uid] = user
        return uid

    def add_group(self, name: str, *, kind: str = "security", mail: str | None = None, members: tuple[str, ...] = (),
                  owners: tuple[str, ...] = (), team: bool = False, rule: str | None = None,
                  synced: bool = False) -> str:
        """kind: security, m365 (Unified), mail-security (mail-enabled security), distribution, or dynamic."""
        kinds = {"security": (False, True, []), "m365": (True, False, ["Unified"]),
                 "mail-security": (True, True, []), "distribution": (True, False, []),
                 "dynamic": (False, True, ["DynamicMembership"])}
        mail_enabled, security_enabled, types = kinds[kind]
        gid = str(uuid.uuid4())
        nick = re.sub(r"[^a-z0-9]", "", name.lower()) or "group"
        group = {"id": gid, "displayName": name, "description": None, "groupTypes": list(types),
                 "mailEnabled": mail_enabled, "securityEnabled": security_enabled, "mailNickname": nick,
                 "mail": (mail or f"{nick}@contoso.test") if mail_enabled else None,
                 "membershipRule": (rule or 'user.department -eq "Engagement"') if kind == "dynamic" else None,
                 "membershipRuleProcessingState": "On" if kind == "dynamic" else None,
                 "onPremisesSyncEnabled": True if synced else None,
                 "resourceProvisioningOptions": ["Team"] if team else [], "createdDateTime": stamp(),
                 "deletedDateTime": None}
        with self.directory.lock:
            self.directory.groups[gid] = group
            self.directory.members[gid] = list(members)
            self.directory.owners[gid] = list(owners)
            if team:
                self.directory.teams[gid] = {"isArchived": False}
        return gid

    def add_member(self, gid: str, oid: str) -> None:
        with self.directory.lock:
            self.directory.members[gid].append(oid)

    def add_service_principal(self, name: str, roles: tuple[str, ...] = ()) -> tuple[str, dict[str, str]]:
        """An enterprise app with app roles; returns (service principal id, {role value: role id})."""
        sp = str(uuid.uuid4())
        role_ids = {r: str(uuid.uuid4()) for r in roles}
        with self.directory.lock:
            self.directory.service_principals[sp] = {
                "id": sp, "appId": str(uuid.uuid4()), "displayName": name,
                "appRoles": [{"id": i, "value": v, "displayName": v, "allowedMemberTypes": ["User"]}
                             for v, i in role_ids.items()]}
        return sp, role_ids

    def assign_app_role(self, uid: str, sp: str, role_id: str = ZERO_ROLE) -> str:
        with self.directory.lock:
            d = self.directory
            return d._new_assignment(d.users[uid], d.service_principals[sp], role_id)["id"]

    def add_directory_role(self, name: str, members: tuple[str, ...] = (), template_id: str | None = None) -> str:
        rid = str(uuid.uuid4())
        with self.directory.lock:
            self.directory.roles[rid] = {"id": rid, "displayName": name, "description": name,
                                         "roleTemplateId": template_id or str(uuid.uuid4()), "deletedDateTime": None}
            self.directory.role_members[rid] = list(members)
        return rid

    # ---- state inspection (independent of any client) -----------------------------------------------------
    def user(self, uid: str) -> dict[str, Any] | None:
        with self.directory.lock:
            u = self.directory.users.get(uid)
            return dict(u) if u else None

    def group(self, gid: str) -> dict[str, Any] | None:
        with self.directory.lock:
            g = self.directory.groups.get(gid)
            return dict(g) if g else None

    def members(self, gid: str) -> list[str]:
        with self.directory.lock:
            return list(self.directory.members.get(gid, []))

    def role_members(self, rid: str) -> list[str]:
        with self.directory.lock:
            return list(self.directory.role_members.get(rid, []))

    def assignments_of(self, uid: str) -> list[dict[str, Any]]:
        with self.directory.lock:
            return [dict(a) for a in self.directory.assignments.values() if a["principalId"] == uid]

    def team(self, gid: str) -> dict[str, Any] | None:
        with self.directory.lock:
            t = self.directory.teams.get(gid)
            return dict(t) if t else None

    def deleted(self, oid: str) -> dict[str, Any] | None:
        """The soft-deleted object (user or Microsoft 365 group) with its deletedDateTime, if any."""
        with self.directory.lock:
            d = self.directory.deleted.get(oid)
            return dict(d["object"]) if d else None

    def snapshot(self) -> str:
        """Every object and relation, as one string that changes with any write (for conformance checks)."""
        d = self.directory
        with d.lock:
            return json.dumps({"users": d.users, "groups": d.groups, "members": d.members, "owners": d.owners,
                               "teams": d.teams, "roles": d.role_members, "assignments": d.assignments,
                               "deleted": d.deleted}, sort_keys=True, default=str)

    def requests(self, *, in_batch: bool | None = None, graph_only: bool = True) -> list[LoggedRequest]:
        with self._lock:
            out = list(self.log)
        if graph_only:
            out = [r for r in out if r.path.startswith("/") and not r.path.startswith("/" + self.tenant_id)]
        if in_batch is not None:
            out = [r for r in out if r.in_batch == in_batch]
        return out

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    # ---- throttling ----------------------------------------------------------------------------------------
    def rate_limit(self, per_second: int | None, retry_after: int = 1) -> None:
        """Answer 429 + Retry-After past `per_second` Graph requests a second (each one inside a $batch counts).
        None turns the limiter off (the default).

        Graph's identity limits are a token bucket: "Throttling is based on a token bucket algorithm, which works
        by adding individual costs of requests ... Only the requests exceeding the limits are throttled"
        (learn.microsoft.com/graph/throttling-limits, Identity and access service limits), and "Microsoft Graph
        continues to log resource usage while a client is being throttled" (learn.microsoft.com/graph/throttling).
        So: a bucket of one second of requests, refilled continuously at `per_second`; every request costs one
        token, a throttled one too (the debt is capped at one more second); Retry-After is `retry_after` seconds
        or, when the debt is deeper, the whole seconds until a token is back (HTTP's Retry-After is in seconds).
        Each request costs 1 here: Graph's own costs vary by request (the fake does not model them)."""
        with self._lock:
            self._rate, self._rate_retry_after = per_second, retry_after
            self._bucket = (float(per_second or 0), self.clock())

    def throttle(self, path: str, *, method: str | None = None, times: int = 1, applied: bool = False,
                 status: int = 429, retry_after: int = 1) -> None:
        """The next `times` requests whose path matches the regex `path` (and method) are answered `status` (429
        and 503 with Retry-After; 403 as a missing permission). With applied=True the request is carried out
        first and answered as throttled anyway, as the service may do inside a $batch."""
        with self._lock:
            self._injections.append(_Injection(method, re.compile(path), times, applied, status, retry_after))

    def _injected(self, method: str, path: str) -> _Injection | None:
        with self._lock:
            for inj in self._injections:
                if inj.times > 0 and (inj.method in (None, method)) and inj.path.search(path):
                    inj.times -= 1
                    return inj
        return None

    def _over_rate(self) -> int | None:
        """None when the request is within the limit, else the Retry-After (seconds) to answer it with."""
        with self._lock:
            if self._rate is None:
                return None
            now = self.clock()
            tokens, then = self._bucket
            tokens = min(float(self._rate), tokens + (now - then) * self._rate)
            allowed = tokens >= 1.0
            tokens = max(-float(self._rate), tokens - 1.0)
            self._bucket = (tokens, now)
            if allowed:
                return None
            return max(self._rate_retry_after, math.ceil((1.0 - tokens) / self._rate))

    # ---- one Graph request (top level or inside $batch) ---------------------------------------------------
    def call(self, method: str, path: str, query: dict[str, str], body: Any, request_id: str,
             client_request_id: str) -> Answer:
        inj = self._injected(method, path)
        wait = self._over_rate() if inj is None else None
        if wait is not None:
            return _error(429, "TooManyRequests", "Too many requests.", request_id, client_request_id,
                          {"Retry-After": str(wait)})
        if inj is not None:
            if inj.applied:
                try:
                    self.directory.handle(method, path, query, body)
                except GraphError:
                    pass
            code, message = {429: ("TooManyRequests", "Too many requests."),
                             403: ("Authorization_RequestDenied", "Insufficient privileges to complete the "
                                   "operation.")}.get(inj.status, ("ServiceUnavailable", "Service unavailable."))
            headers = {"Retry-After": str(inj.retry_after)} if inj.status in (429, 503) else {}
            return _error(inj.status, code, message, request_id, client_request_id, headers)
        try:
            if self.degrader is not None:
                return self._degraded(method, path, query, body)
            return self.directory.handle(method, path, query, body)
        except GraphError as err:
            return _error(err.status, err.code, err.message, request_id, client_request_id)

    def _degraded(self, method: str, path: str, query: dict[str, str], body: Any) -> Answer:
        """The degraded-server mode: writes answered as the service does but not applied, reads answered badly."""
        d = self.degrader
        if method != "GET":
            if not d.swallow:
                return self.directory.handle(method, path, query, body)
            with self.directory.lock, swallowed(self.directory, DIRECTORY_STATE):
                return self.directory.handle(method, path, query, body)
        self.directory.page_cap, cut = d.page_cap, self.directory.pages_cut
        answer = self.directory.handle(method, path, query, body)
        if self.directory.pages_cut > cut:
            d.cut()
        if answer.status == 200 and answer.body is not None:
            key = f"{path}?{urlencode(sorted(query.items()))}"
            answer = Answer(answer.status, d.answer(key, answer.body), answer.headers)
        return answer

    def batch(self, body: Any, request_id: str, client_request_id: str) -> Answer:
        reqs = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(reqs, list) or not reqs:
            return _error(400, "BadRequest", "Invalid batch payload format.", request_id, client_request_id)
        if len(reqs) > MAX_BATCH:
            return _error(400, "BadRequest", f"The batch request contains {len(reqs)} requests; the limit is "
                          f"{MAX_BATCH}.", request_id, client_request_id)
        ids = [str(r.get("id")) for r in reqs if isinstance(r, dict)]
        if len(ids) != len(reqs) or len({i.casefold() for i in ids}) != len(ids):
            return _error(400, "BadRequest", "Batch request ids must be present and unique.", request_id,
                          client_request_id)
        known: set[str] = set()
        for r in reqs:
            deps = r.get("dependsOn") or []
            if any(d not in known for d in deps):
                return _error(400, "BadRequest", f"Request {r['id']} depends on an id that is not earlier in the "
                              "batch.", request_id, client_request_id)
            known.add(r["id"])
        results: dict[str, int] = {}
        responses = []
        for r in reqs:
            rid = r["id"]
            if any(results.get(d, 200) >= 400 for d in r.get("dependsOn") or []):
                answer = _error(424, "FailedDependency", "The request could not be processed because a request it "
                                "depends on failed.", request_id, client_request_id)
                self._log(r.get("method", ""), r.get("url", ""), True, 424, request_id)
            else:
                answer = self._sub(r, request_id, client_request_id)
            results[rid] = answer.status
            sub: dict[str, Any] = {"id": rid, "status": answer.status,
                                   "headers": {"Cache-Control": "no-cache", **answer.headers}}
            if answer.body is not None:
                sub["headers"].setdefault("Content-Type", "application/json")
                sub["body"] = answer.body
            responses.append(sub)
        # The service may answer in any order; reversing makes a client that relies on order fail its tests.
        return Answer(200, {"responses": list(reversed(responses))})

    def _sub(self, r: dict[str, Any], request_id: str, client_request_id: str) -> Answer:
        method = str(r.get("method", "")).upper()
        parts = urlsplit("/" + str(r.get("url", "")).lstrip("/"))
        headers = {k.casefold(): v for k, v in (r.get("headers") or {}).items()}
        if "body" in r and "content-type" not in headers:
            answer = _error(400, "BadRequest", f"Write request id : {r['id']} does not contain Content-Type header "
                            "or body.", request_id, client_request_id)
        elif method not in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            answer = _error(400, "BadRequest", f"Invalid method '{method}'.", request_id, client_request_id)
        else:
            answer = self.call(method, unquote(parts.path), dict(parse_qsl(parts.query)), r.get("body"),
                               request_id, client_request_id)
        self._log(method, unquote(parts.path), True, answer.status, request_id, parts.query)
        return answer

    def _log(self, method: str, path: str, in_batch: bool, status: int, request_id: str, query: str = "") -> None:
        with self._lock:
            self.log.append(LoggedRequest(method, path, query, in_batch, status, request_id, time.monotonic()))

    # ---- the token endpoint --------------------------------------------------------------------------------
    def token(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        def fail(status: int, error: str, code: str, text: str) -> tuple[int, dict[str, Any]]:
            return status, {"error": error, "error_description": f"{code}: {text}", "error_codes": [int(code[6:])],
                            "timestamp": stamp(), "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4())}

        if tenant != self.tenant_id:
            return fail(400, "invalid_request", "AADSTS90002", f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return fail(400, "unsupported_grant_type", "AADSTS70003", "The app requested an unsupported grant type.")
        app = self.apps.get(form.get("client_id", ""))
        if app is None:
            return fail(400, "unauthorized_client", "AADSTS700016",
                        f"Application with identifier '{form.get('client_id')}' was not found in the directory.")
        if not form.get("scope", "").endswith("/.default"):
            return fail(400, "invalid_scope", "AADSTS1002012", "The provided value for scope is not valid.")
        if "client_assertion" in form:
            if not self._assertion_ok(app, form["client_assertion"], form.get("client_id", "")):
                return fail(401, "invalid_client", "AADSTS700027", "Client assertion failed signature validation.")
        elif form.get("client_secret") != app["secret"]:
            return fail(401, "invalid_client", "AADSTS7000215", "Invalid client secret provided. Ensure the secret "
                        "being sent in the request is the client secret value, not the client secret ID.")
        access = pysecrets.token_urlsafe(32)
        with self._lock:
            self.tokens[access] = time.monotonic() + self.token_lifetime
            self.audiences[access] = form["scope"][:-len("/.default")]
            self.token_apps[access] = form.get("client_id", "")
        return 200, {"token_type": "Bearer", "expires_in": self.token_lifetime,
                     "ext_expires_in": self.token_lifetime, "access_token": access}

    def _assertion_ok(self, app: dict[str, Any], assertion: str, client_id: str) -> bool:
        if not app.get("certificate"):
            return False
        import jwt
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(app["certificate"])
        try:
            claims = jwt.decode(assertion, cert.public_key(), algorithms=["RS256", "PS256"],  # type: ignore[arg-type]
                                options={"verify_aud": False})
        except jwt.PyJWTError:
            return False
        return claims.get("iss") == client_id and claims.get("sub") == client_id

    def token_audience(self, token: str) -> str | None:
        """The resource a live token of this authority was issued for, or None (unknown or expired): what
        another service's fake (Exchange Online) checks, as the real one checks the token's `aud` claim."""
        with self._lock:
            expiry = self.tokens.get(token)
            return self.audiences.get(token) if expiry is not None and expiry >= time.monotonic() else None

    def bearer_ok(self, header: str | None) -> str | None:
        """None if the Authorization header carries a live token, else the service's complaint."""
        if not header or not header.startswith("Bearer ") or not header[7:].strip():
            return "Access token is empty."
        with self._lock:
            expiry = self.tokens.get(header[7:].strip())
        if expiry is None:
            return "CompactToken parsing failed with error code: 80049217"
        if expiry < time.monotonic():
            return "Lifetime validation failed, the token is expired."
        return None


def seed_engagement(fake: GraphFake, *, domain: str = "client.example") -> dict[str, str]:
    """A tenant for rehearsing a runbook (and for `revoke demo`): an app registration for revoke (its id and a
    fresh secret under `client_id` / `client_secret`), leavers `alice` (cloud account) and `bob` (synced from
    on-premises AD), `carol` who stays and owns the team, a guest from the partner; groups of every kind Graph
    treats differently (security, Microsoft 365, dynamic, distribution list, mail-enabled security), the
    engagement's team `Acme project`, its mailing list `acme-list@`, an enterprise app role and a directory role.
    Answers name -> id (and the app's credentials)."""
    client_id, secret = fake.add_app(name="revoke")
    ids = {"client_id": client_id, "client_secret": secret, "tenant_id": fake.tenant_id}
    alice = ids["alice"] = fake.add_user(f"alice@{domain}", "Alice Example")
    bob = ids["bob"] = fake.add_user(f"bob@{domain}", "Bob Example", synced=True, sam="bob",
                                     dn=f"CN=Bob Example,OU=Consultants,DC={domain.split('.')[0]},DC=test")
    carol = ids["carol"] = fake.add_user(f"carol@{domain}", "Carol Client")
    guest = ids["guest"] = fake.add_user(f"pat_partner.example#EXT#@{domain}", "Pat Partner", guest=True)
    ids["Engagement staff"] = fake.add_group("Engagement staff", members=(alice, bob, carol))
    ids["Acme project"] = fake.add_group("Acme project", kind="m365", team=True, owners=(carol,),
                                         members=(alice, bob, carol, guest))
    ids["acme-list"] = fake.add_group("Acme list", kind="m365", mail=f"acme-list@{domain}",
                                      members=(alice, bob, carol), owners=(carol,))
    ids["All consultants"] = fake.add_group("All consultants", kind="dynamic", members=(alice, bob))
    ids["acme-dl"] = fake.add_group("Acme DL", kind="distribution", mail=f"acme-dl@{domain}",
                                    members=(alice, carol))
    ids["Finance approvers"] = fake.add_group("Finance approvers", kind="mail-security", mail=f"finance@{domain}",
                                              members=(alice,))
    sp, roles = fake.add_service_principal("Timesheets", ("Approver", "Reader"))
    fake.assign_app_role(alice, sp, roles["Approver"])
    fake.assign_app_role(carol, sp, roles["Reader"])
    ids["Timesheets"] = sp
    ids["User Administrator"] = fake.add_directory_role("User Administrator", members=(alice,))
    return ids


def runbook_settings(fake: GraphFake, client_id: str, secret_name: str = "graph_secret") -> dict[str, Any]:
    """The `settings:` of an entra or m365-groups system that points at this fake."""
    return {"tenant_id": fake.tenant_id, "client_id": client_id, "client_secret": {"secret": secret_name},
            "authority_host": fake.authority, "graph_url": fake.base_url, "ca_file": fake.ca_file,
            "instance_discovery": False}
