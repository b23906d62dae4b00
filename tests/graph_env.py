"""Fixtures and helpers for tests against the local Graph fake (revoke.sandbox.graph)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
import requests

from revoke.sandbox.graph import GraphFake


@pytest.fixture
def graph() -> Iterator[GraphFake]:
    fake = GraphFake().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def graph_app(graph: GraphFake, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """An app registration with a secret generated now, exported as the runbook secret `graph_secret`."""
    client_id, secret = graph.add_app()
    monkeypatch.setenv("REVOKE_GRAPH_SECRET", secret)
    return client_id, secret


def graph_system(fake: GraphFake, client_id: str, connector: str = "entra", **extra: Any) -> dict[str, Any]:
    settings = {"tenant_id": fake.tenant_id, "client_id": client_id, "client_secret": {"secret": "graph_secret"},
                "authority_host": fake.authority, "graph_url": fake.base_url, "ca_file": fake.ca_file,
                "instance_discovery": False}
    settings.update(extra)
    return {"connector": connector, "settings": settings}


class RawGraph:
    """A bare HTTPS client for checking the fake itself, independent of revoke's Graph client."""

    def __init__(self, fake: GraphFake, client_id: str, secret: str):
        self.fake = fake
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = fake.ca_file
        token = self.session.post(f"{fake.authority}/{fake.tenant_id}/oauth2/v2.0/token", data={
            "client_id": client_id, "client_secret": secret, "grant_type": "client_credentials",
            "scope": f"{fake.origin}/.default"}).json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        url = path if path.startswith("https://") else f"{self.fake.base_url}{path}"
        return self.session.request(method, url, json=body)

    def batch(self, requests_: list[dict[str, Any]]) -> tuple[requests.Response, dict[str, dict[str, Any]]]:
        resp = self.call("POST", "/$batch", {"requests": requests_})
        by_id = {r["id"]: r for r in resp.json().get("responses", [])} if resp.status_code == 200 else {}
        return resp, by_id


def graph_connector(fake: GraphFake, cls: Any, client_id: str, secret: str, **extra: Any) -> Any:
    """A connected connector outside the engine, for restore and connector-level checks."""
    import datetime as dt

    from pydantic import SecretStr

    from revoke.connector import RunContext
    from revoke.secrets import Secrets

    settings = cls.Settings.model_validate(graph_system(fake, client_id, **extra)["settings"])
    context = RunContext(run_id="test", started_at=dt.datetime.now(dt.timezone.utc))
    conn = cls("m365", settings, Secrets({"graph_secret": SecretStr(secret)}), context)
    conn.connect()
    return conn


def bare_member_deletes(fake: GraphFake) -> list[Any]:
    """Requests of the form DELETE /groups/{g}/members/{o} without /$ref: on the real service they delete the user."""
    import re

    return [r for r in fake.requests() if r.method == "DELETE" and re.fullmatch(r"/groups/[^/]+/members/[^/]+", r.path)]
