"""A local, stateful HTTPS fake of Microsoft Graph v1.0 and the Entra ID token endpoint.

Used by the tests and by `revoke demo`, so a runbook can be rehearsed without a tenant. It behaves like the service
where revoke depends on it: msal gets a real client-credentials token from `/{tenant}/oauth2/v2.0/token` (the
secret or certificate is checked), every Graph call needs that bearer token, lists page through
`@odata.nextLink` with `$top`, JSON `$batch` takes at most 20 requests with `dependsOn` and per-request status
(a throttled sub-request is a 429 inside a 200 envelope), an optional rate limiter of each app answers 429 +
Retry-After (each request inside a batch counts), and every answer carries `request-id` / `client-request-id`.

    fake = GraphFake().start()
    client_id, secret = fake.add_app()
    uid = fake.add_user("ann@contoso.test")
    other = fake.add_tenant()   # a second tenant on the same endpoint, as graph.microsoft.com serves every tenant
    ...  # point a client at fake.authority / fake.base_url, trusting fake.ca_file
    fake.stop()

TLS comes from a throwaway CA made by `trustme` at start; `ca_file` is its PEM for clients to trust. The parts:
graph_requests.py (requests, `$batch`, throttling, the log), graph_token.py (the token endpoint), graph_directory.py
(the tenant's objects), graph_answers.py (error bodies, OData helpers), graph_http.py (HTTP), graph_seed.py.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets as pysecrets
import ssl
import tempfile
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

from revoke.sandbox.graph_answers import ZERO_ROLE, stamp
from revoke.sandbox.graph_directory import Directory
from revoke.sandbox.graph_http import GraphHandler, thumbprint  # noqa: F401 - thumbprint is part of the API
from revoke.sandbox.graph_requests import (  # noqa: F401 - part of the API
    DIRECTORY_STATE,
    MAX_BATCH,
    GraphRequests,
    LoggedRequest,
    _Injection,
)
from revoke.sandbox.graph_seed import runbook_settings, seed_engagement  # noqa: F401 - part of the API
from revoke.sandbox.graph_token import TokenEndpoint


class GraphFake(GraphRequests, TokenEndpoint):
    """The fake service: start()/stop(), a seeding API, and inspection of state and of the requests it saw. One
    fake is one tenant; `add_tenant` adds more on the same endpoint (each with its own directory, apps, rate
    limits and request log: a bearer token says which tenant a request is for, as in Graph)."""

    def __init__(self, tenant_id: str | None = None, *, page_size: int = 100):
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.directory = Directory(page_size=page_size)
        self.apps: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, float] = {}
        self.audiences: dict[str, str] = {}
        self.token_apps: dict[str, str] = {}
        self.log: list[LoggedRequest] = []
        self.token_lifetime = 3599
        self._injections: list[_Injection] = []
        self.degrader: Any = None  # revoke.testing.degraded.Degrader: reads answered badly, writes swallowed
        self._rate: int | None = None
        self._rate_retry_after = 1
        self._buckets: dict[str, tuple[float, float]] = {}  # app -> (tokens, when counted) of its rate limiter
        # what the rate limiter's bucket refills by: a test gives it revoke's FakeClock, so Graph's window moves
        # only when revoke's engine waits
        self.clock: Callable[[], float] = time.monotonic
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file = ""
        self.port = 0
        self.tenants: dict[str, GraphFake] = {self.tenant_id: self}  # the tenants this fake's endpoint serves
        self._host: GraphFake = self
        self._token_tenants: dict[str, GraphFake] = {}  # a token of a hosted tenant -> that tenant

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

    def add_tenant(self, tenant_id: str | None = None, *, page_size: int = 100) -> "GraphFake":
        """Another tenant on this (started) fake's endpoint, with its own directory, apps, tokens, rate limits
        (`rate_limit` on it) and request log; seed and inspect it through the answer, as a fake of its own."""
        if self._server is None:
            raise RuntimeError("start the fake before adding tenants to it")
        tenant = GraphFake(tenant_id, page_size=page_size)
        tenant._host, tenant.port, tenant.ca_file, tenant.ca = self, self.port, self.ca_file, self.ca
        tenant.directory.graph_root = tenant.base_url
        with self._lock:
            if tenant.tenant_id in self.tenants:
                raise ValueError(f"tenant {tenant.tenant_id} is already served here")
            self.tenants[tenant.tenant_id] = tenant
        return tenant

    def _issued(self, token: str) -> None:
        if self._host is not self:
            with self._host._lock:
                self._host._token_tenants[token] = self

    def tenant_for(self, authorization: str | None) -> "GraphFake":
        """The tenant whose token the Authorization header carries (this one when no hosted tenant issued it)."""
        token = (authorization or "")[7:].strip()
        with self._lock:
            return self._token_tenants.get(token, self)

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
