"""The Graph fake behaves as Microsoft documents the service: tokens, paging, $batch, throttling, 404 after delete.

These tests talk to the fake with a bare HTTPS client, not revoke's, so a fault in the fake cannot hide behind the
same fault in the client.
"""

from __future__ import annotations

import requests

from revoke.sandbox.graph import GraphFake
from revoke.sandbox.graph_directory import MAIL_ENABLED_MESSAGE, SYNCED_MESSAGE
from tests.graph_env import RawGraph, graph, graph_app  # noqa: F401 - fixtures


def raw(fake: GraphFake, app: tuple[str, str]) -> RawGraph:
    return RawGraph(fake, *app)


def test_token_needs_the_right_secret(graph: GraphFake, graph_app: tuple[str, str]) -> None:
    s = requests.Session()
    s.trust_env = False
    s.verify = graph.ca_file
    url = f"{graph.authority}/{graph.tenant_id}/oauth2/v2.0/token"
    form = {"client_id": graph_app[0], "grant_type": "client_credentials", "scope": f"{graph.origin}/.default"}
    wrong = s.post(url, data={**form, "client_secret": "not-the-secret"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert "AADSTS7000215" in wrong.json()["error_description"]
    other_tenant = s.post(f"{graph.authority}/not-a-tenant/oauth2/v2.0/token",
                          data={**form, "client_secret": graph_app[1]})
    assert other_tenant.status_code == 400 and "AADSTS90002" in other_tenant.json()["error_description"]
    ok = s.post(url, data={**form, "client_secret": graph_app[1]})
    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer" and ok.json()["expires_in"] > 0


def test_graph_requires_a_bearer_token(graph: GraphFake, graph_app: tuple[str, str]) -> None:
    uid = graph.add_user("ann@contoso.test")
    s = requests.Session()
    s.trust_env = False
    s.verify = graph.ca_file
    resp = s.get(f"{graph.base_url}/users/{uid}")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "InvalidAuthenticationToken"
    forged = s.get(f"{graph.base_url}/users/{uid}", headers={"Authorization": "Bearer forged"})
    assert forged.status_code == 401
    assert raw(graph, graph_app).call("GET", f"/users/{uid}").status_code == 200


def test_every_answer_has_request_ids(graph: GraphFake, graph_app: tuple[str, str]) -> None:
    g = raw(graph, graph_app)
    resp = g.session.get(f"{graph.base_url}/users/nobody@contoso.test", headers={"client-request-id": "abc-123"})
    assert resp.status_code == 404
    assert resp.headers["client-request-id"] == "abc-123" and len(resp.headers["request-id"]) == 36
    error = resp.json()["error"]
    assert error["code"] == "Request_ResourceNotFound"
    assert error["innerError"]["request-id"] == resp.headers["request-id"]


def test_lists_page_through_next_link_with_top(graph: GraphFake, graph_app: tuple[str, str]) -> None:
    ids = {graph.add_user(f"user{i:02}@contoso.test") for i in range(25)}
    g = raw(graph, graph_app)
    first = g.call("GET", "/users?$top=10").json()
    assert len(first["value"]) == 10 and "@odata.nextLink" in first
    seen, url, pages = [], f"{graph.base_url}/users?$top=10", 0
    while url:
        page = g.call("GET", url).json()
        seen += [u["id"] for u in page["value"]]
        url = page.get("@odata.nextLink")
        pages += 1
    assert pages == 3 and set(seen) == ids and len(seen) == 25
    assert g.call("GET", "/users?$top=1000").status_code == 400


def test_batch_answers_each_request_by_id(graph: GraphFake, graph_app: tuple[str, str]) -> None:
    uid = graph.add_user("ann@contoso.test")
    gid = graph.add_group("Eng", members=(uid,))
    g = raw(graph, graph_app)
    resp, by_id = g.batch([
        {"id": "a", "method": "GET", "url": f"/users/{uid}"},
        {"id": "b", "method": "DELETE", "url": f"/groups/{gid}/members/{uid}/$ref"},
        {"id": "c", "method": "GET", "url": "/groups/00000000-0000-0000-0000-000000000000"},
    ])
    assert resp.status_code == 200
    assert by_id["a"]["status"] == 200 and by_id["a"]["body"]["id"] == uid
    assert by_id["b"]["status"] == 204 and graph.members(gid) == []
    assert by_id["c"]["status"] == 404
    assert [r.in_batch for r in graph.requests()] == [True, True, True, False]


def test_batch_takes_at_most_20_requests(graph: GraphFake, graph_app: tuple[str, str]) -> None:
    uid = graph.add_user("ann@contoso.test")
    g = raw(graph, graph_app)
    resp, _ = g.batch([{"id": str(i), "method": "GET", "url": f"/users/{uid}"} for i in range(21)])
    assert resp.status_code == 400
    ok, by_id = g.batch([{"id": str(i), "method": "GET", "url": f"/users/{uid}"} for i in range(20)])
    assert ok.status_code == 200 and len(by_id) == 20
    dup, _ = g.batch([{"id": "1", "method": "GET", "url": f"/users/{uid}"}] * 2)
    assert dup.status_code == 400


def test_batch_depends_on_fails_dependents_with_424(graph: GraphFake, graph_app: tuple[str, str]) -> None:
    uid = graph.add_user("ann@contoso.test", synced=True)
    gid = graph.add_group("Eng", members=(uid,))
    _, by_id = raw(graph, graph_app).batch([
        {"id": "1", "method": "PATCH", "url": f"/users/{uid}", "body": {"accountEnabled": False},
         "headers": {"Content-Type": "application/json"}},
        {"id": "2", "dependsOn": ["1"], "method": "DELETE", "url": f"/groups/{gid}/members/{uid}/$ref"},
    ])
    assert by_id["1"]["status"] == 400 and by_id["1"]["body"]["error"]["message"] == SYNCED_MESSAGE
    assert by_id["2"]["status"] == 424
    assert graph.members(gid) == [uid] and graph.user(uid)["accountEnabled"] is True


def test_throttled_sub_request_is_a_429_inside_a_200(graph: GraphFake, graph_app: tuple[str, str]) -> None:
    uid = graph.add_user("ann@contoso.test")
    gid = graph.add_group("Eng", members=(uid,))
    graph.throttle(r"/members/.*/\$ref$", method="DELETE", applied=True, retry_after=3)
    resp, by_id = raw(graph, graph_app).batch([
        {"id": "1", "method": "DELETE", "url": f"/groups/{gid}/members/{uid}/$ref"},
        {"id": "2", "method": "GET", "url": f"/users/{uid}"}])
    assert resp.status_code == 200
    assert by_id["1"]["status"] == 429 and by_id["1"]["headers"]["Retry-After"] == "3"
    assert by_id["2"]["status"] == 200
    assert graph.members(gid) == []  # applied although answered as throttled


def test_rate_limit_counts_requests_inside_a_batch(graph: GraphFake, graph_app: tuple[str, str]) -> None:
    uid = graph.add_user("ann@contoso.test")
    g = raw(graph, graph_app)
    graph.rate_limit(5, retry_after=2)
    resp, by_id = g.batch([{"id": str(i), "method": "GET", "url": f"/users/{uid}"} for i in range(8)])
    statuses = sorted(r["status"] for r in by_id.values())
    assert resp.status_code == 200 and statuses == [200] * 5 + [429] * 3
    assert all(r["headers"]["Retry-After"] == "2" for r in by_id.values() if r["status"] == 429)
    single = g.call("GET", f"/users/{uid}")
    assert single.status_code == 429 and single.headers["Retry-After"] == "2"


def test_throttled_requests_count_too_and_lengthen_the_wait(graph: GraphFake, graph_app: tuple[str, str]) -> None:
    uid = graph.add_user("ann@contoso.test")
    graph.rate_limit(2, retry_after=1)
    resp, by_id = raw(graph, graph_app).batch([{"id": str(i), "method": "GET", "url": f"/users/{uid}"}
                                               for i in range(6)])
    answers = [(by_id[str(i)]["status"], by_id[str(i)]["headers"].get("Retry-After")) for i in range(6)]
    # a token bucket of one second of requests; each throttled request is charged too, so the wait grows
    assert answers == [(200, None), (200, None), (429, "1"), (429, "2"), (429, "2"), (429, "2")]


def test_expand_member_of_answers_at_most_20_objects_without_a_next_page(graph: GraphFake,
                                                                         graph_app: tuple[str, str]) -> None:
    uid = graph.add_user("ann@contoso.test")
    gids = {graph.add_group(f"Team {g:02d}", members=(uid,)) for g in range(25)}
    g = raw(graph, graph_app)
    body = g.call("GET", f"/users/{uid}?$select=id,accountEnabled&$expand=memberOf").json()
    assert body["accountEnabled"] is True and len(body["memberOf"]) == 20
    assert "@odata.nextLink" not in body and "memberOf@odata.nextLink" not in body
    assert {x["id"] for x in body["memberOf"]} < gids
    assert {x["id"] for x in g.call("GET", f"/users/{uid}/memberOf?$top=999").json()["value"]} == gids


def test_deleted_m365_group_is_gone_then_restorable(graph: GraphFake, graph_app: tuple[str, str]) -> None:
    uid = graph.add_user("ann@contoso.test")
    gid = graph.add_group("Acme list", kind="m365", members=(uid,), owners=(uid,))
    sec = graph.add_group("Acme sec")
    g = raw(graph, graph_app)
    assert g.call("DELETE", f"/groups/{gid}").status_code == 204
    assert g.call("GET", f"/groups/{gid}").status_code == 404
    listed = g.call("GET", "/directory/deletedItems/microsoft.graph.group").json()["value"]
    assert [d["id"] for d in listed] == [gid] and listed[0]["deletedDateTime"]
    assert g.call("DELETE", f"/groups/{sec}").status_code == 204
    assert g.call("GET", f"/directory/deletedItems/{sec}").status_code == 404  # security groups are not kept
    assert g.call("POST", f"/directory/deletedItems/{gid}/restore").status_code == 200
    assert g.call("GET", f"/groups/{gid}").status_code == 200 and graph.members(gid) == [uid]


def test_member_delete_without_ref_deletes_the_user(graph: GraphFake, graph_app: tuple[str, str]) -> None:
    uid = graph.add_user("ann@contoso.test")
    gid = graph.add_group("Eng", members=(uid,))
    g = raw(graph, graph_app)
    assert g.call("DELETE", f"/groups/{gid}/members/{uid}").status_code == 204
    assert graph.user(uid) is None and graph.deleted(uid) is not None
    assert g.call("GET", f"/users/{uid}").status_code == 404


def test_read_only_groups_refuse_member_writes(graph: GraphFake, graph_app: tuple[str, str]) -> None:
    uid = graph.add_user("ann@contoso.test")
    dl = graph.add_group("All staff", kind="distribution", members=(uid,))
    mesg = graph.add_group("Mail sec", kind="mail-security", members=(uid,))
    dyn = graph.add_group("Dynamic", kind="dynamic", members=(uid,))
    g = raw(graph, graph_app)
    for gid in (dl, mesg):
        resp = g.call("DELETE", f"/groups/{gid}/members/{uid}/$ref")
        assert resp.status_code == 400 and resp.json()["error"]["message"] == MAIL_ENABLED_MESSAGE
    assert g.call("DELETE", f"/groups/{dyn}/members/{uid}/$ref").status_code == 403
    assert all(graph.members(x) == [uid] for x in (dl, mesg, dyn))


def test_team_archive_is_an_async_operation(graph: GraphFake, graph_app: tuple[str, str]) -> None:
    owner = graph.add_user("owner@contoso.test")
    team = graph.add_group("Acme team", kind="m365", team=True, owners=(owner,), members=(owner,))
    orphan = graph.add_group("Orphan team", kind="m365", team=True)
    g = raw(graph, graph_app)
    resp = g.call("POST", f"/teams/{team}/archive")
    assert resp.status_code == 202 and resp.headers["Location"].startswith(f"/teams('{team}')/operations('")
    assert graph.team(team)["isArchived"] is False  # not yet: the operation runs asynchronously
    op = g.call("GET", resp.headers["Location"]).json()
    assert op["status"] == "succeeded" and op["operationType"] == "archiveTeam"
    assert g.call("GET", f"/teams/{team}").json()["isArchived"] is True
    assert g.call("POST", f"/teams/{orphan}/archive").status_code == 400
    assert g.call("GET", f"/teams/{owner}").status_code == 404


def test_demo_seed_gives_a_working_app_and_every_kind_of_group(graph: GraphFake) -> None:
    from revoke.sandbox.graph import seed_engagement

    ids = seed_engagement(graph)
    g = RawGraph(graph, ids["client_id"], ids["client_secret"])
    alice = g.call("GET", "/users/alice@client.example").json()
    assert alice["id"] == ids["alice"] and alice["accountEnabled"] is True
    assert g.call("GET", f"/users/{ids['bob']}").json()["onPremisesSyncEnabled"] is True
    kinds = {x["displayName"]: (x["mailEnabled"], x["groupTypes"])
             for x in g.call("GET", f"/users/{ids['alice']}/memberOf").json()["value"]
             if x["@odata.type"] == "#microsoft.graph.group"}
    assert kinds["Acme DL"] == (True, []) and kinds["All consultants"] == (False, ["DynamicMembership"])
    assert g.call("GET", f"/teams/{ids['Acme project']}").json()["isArchived"] is False
