"""Fixtures and helpers for tests against the Exchange Online fake (revoke.sandbox.exchange) and its Graph authority."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import pytest
import requests

from revoke.sandbox.exchange import ExchangeFake
from revoke.sandbox.graph import GraphFake
from tests.graph_env import graph  # noqa: F401 - the authority the Exchange fake trusts


@pytest.fixture
def exo(graph: GraphFake) -> Iterator[ExchangeFake]:  # noqa: F811
    fake = ExchangeFake(graph).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def exo_app(graph: GraphFake, exo: ExchangeFake, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:  # noqa: F811
    """An app registration granted Exchange.ManageAsApp, its secret exported as the runbook secret `exo_secret`."""
    client_id, secret = graph.add_app()
    exo.grant(client_id)
    monkeypatch.setenv("REVOKE_EXO_SECRET", secret)
    return client_id, secret


def exo_settings(exo: ExchangeFake, client_id: str, **extra: Any) -> dict[str, Any]:
    g = exo.graph
    settings = {"tenant_id": g.tenant_id, "client_id": client_id, "client_secret": {"secret": "exo_secret"},
                "authority_host": g.authority, "base_url": exo.base_url, "ca_file": g.ca_file,
                "instance_discovery": False}
    settings.update(extra)
    return settings


def exo_system(exo: ExchangeFake, client_id: str, **extra: Any) -> dict[str, Any]:
    return {"connector": "exchange-online", "settings": exo_settings(exo, client_id, **extra)}


def exo_connector(exo: ExchangeFake, client_id: str, secret: str, runtime: Any = None, **extra: Any) -> Any:
    """A connected connector outside the engine."""
    from pydantic import SecretStr

    from revoke.connector import RunContext
    from revoke.connectors.microsoft.exchange import ExchangeOnlineConnector
    from revoke.runtime import Runtime
    from revoke.secrets import Secrets

    settings = ExchangeOnlineConnector.Settings.model_validate(exo_settings(exo, client_id, **extra))
    context = RunContext(run_id="test", started_at=dt.datetime.now(dt.timezone.utc), runtime=runtime or Runtime())
    conn = ExchangeOnlineConnector("exo", settings, Secrets({"exo_secret": SecretStr(secret)}), context)
    conn.connect()
    return conn


class RawExchange:
    """A bare HTTPS client for checking the fake itself, independent of revoke's client."""

    def __init__(self, exo: ExchangeFake, client_id: str, secret: str, resource: str | None = None):
        g = exo.graph
        self.exo = exo
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = g.ca_file
        token = self.session.post(f"{g.authority}/{g.tenant_id}/oauth2/v2.0/token", data={
            "client_id": client_id, "client_secret": secret, "grant_type": "client_credentials",
            "scope": f"{resource or exo.base_url}/.default"}).json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"

    def invoke(self, cmdlet: str, anchor: str = "UPN:SystemMailbox@x", url: str | None = None,
               **params: Any) -> requests.Response:
        return self.session.post(url or self.exo.endpoint, headers={"X-AnchorMailbox": anchor},
                                 json={"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}})
