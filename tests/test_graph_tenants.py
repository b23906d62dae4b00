"""One Graph endpoint serving many tenants, as graph.microsoft.com does: each tenant's directory is its own, a token
works only in the tenant that issued it, and each app in each tenant has its own throttling budget (Graph's
identity limits are per app and tenant). Checked with bare HTTPS clients, independent of revoke."""

from __future__ import annotations

from revoke.sandbox.graph import GraphFake
from tests.graph_env import RawGraph, graph  # noqa: F401


def test_each_tenant_sees_only_its_own_directory_through_one_endpoint(graph: GraphFake) -> None:  # noqa: F811
    other = graph.add_tenant()
    assert other.base_url == graph.base_url and other.authority == graph.authority and other.ca_file == graph.ca_file
    ann = graph.add_user("ann@contoso.test")
    bob = other.add_user("bob@fabrikam.test")
    mine = RawGraph(graph, *graph.add_app())
    theirs = RawGraph(other, *other.add_app())
    assert [u["id"] for u in mine.call("GET", "/users").json()["value"]] == [ann]
    assert [u["id"] for u in theirs.call("GET", "/users").json()["value"]] == [bob]
    assert mine.call("GET", f"/users/{bob}").status_code == 404
    assert theirs.call("PATCH", f"/users/{ann}", {"accountEnabled": False}).status_code == 404
    assert graph.user(ann)["accountEnabled"] is True
    # each tenant's log holds its own requests only
    assert {r.path for r in graph.requests()} == {"/users", f"/users/{bob}"}
    assert {r.path for r in other.requests()} == {"/users", f"/users/{ann}"}


def test_an_app_signs_in_only_in_the_tenant_that_registered_it(graph: GraphFake) -> None:  # noqa: F811
    other = graph.add_tenant()
    client_id, secret = graph.add_app()
    raw = RawGraph(graph, client_id, secret)
    resp = raw.session.post(f"{graph.authority}/{other.tenant_id}/oauth2/v2.0/token", data={
        "client_id": client_id, "client_secret": secret, "grant_type": "client_credentials",
        "scope": f"{graph.origin}/.default"})
    assert resp.status_code == 400 and "AADSTS700016" in resp.json()["error_description"]
    config = raw.session.get(f"{graph.authority}/{other.tenant_id}/v2.0/.well-known/openid-configuration")
    assert config.status_code == 200 and other.tenant_id in config.json()["token_endpoint"]


def test_each_app_in_each_tenant_has_its_own_throttling_budget(graph: GraphFake) -> None:  # noqa: F811
    other = graph.add_tenant()
    now = [0.0]
    for t in (graph, other):
        t.clock = lambda: now[0]  # the buckets refill only when this test moves time
        t.add_user("someone@contoso.test")
    graph.rate_limit(5)
    other.rate_limit(50)
    first, second = RawGraph(graph, *graph.add_app()), RawGraph(graph, *graph.add_app())
    theirs = RawGraph(other, *other.add_app())

    def statuses(raw: RawGraph, n: int) -> list[int]:
        _, by_id = raw.batch([{"id": str(i), "method": "GET", "url": "/users"} for i in range(n)])
        return [by_id[str(i)]["status"] for i in range(n)]

    assert statuses(first, 8) == [200] * 5 + [429] * 3      # past its 5 a second
    throttled = first.batch([{"id": "1", "method": "GET", "url": "/users"}])[1]["1"]
    assert throttled["status"] == 429 and int(throttled["headers"]["Retry-After"]) >= 1
    assert statuses(second, 5) == [200] * 5                 # another app of the tenant: a budget of its own
    assert statuses(theirs, 20) == [200] * 20               # another tenant: its own limit, untouched
    now[0] += 2.0
    assert statuses(first, 1) == [200]                      # refilled with time
