"""The Exchange Online fake itself, through a bare HTTPS client: it must behave like InvokeCommand where revoke
depends on it (tokens for its own audience, paging, the error shape, throttling, writes applied but failed)."""

# ruff: noqa: F811 - fixtures imported from tests/*_env.py are the tests' parameters
from __future__ import annotations

from typing import Any

from revoke.sandbox.exchange import ExchangeFake
from revoke.sandbox.graph import GraphFake
from tests.exchange_env import RawExchange, exo, exo_app  # noqa: F401
from tests.graph_env import graph  # noqa: F401

NOT_FOUND = "ManagementObjectNotFoundException"


def raw(exo: ExchangeFake, app: tuple[str, str]) -> RawExchange:
    return RawExchange(exo, *app)


def detail(resp: Any) -> str:
    return resp.json()["error"]["details"][0]["message"]


def test_a_graph_token_or_an_app_without_manage_as_app_is_refused(exo: ExchangeFake, graph: GraphFake,
                                                                  exo_app: tuple[str, str]) -> None:
    graph_token = RawExchange(exo, *exo_app, resource=graph.origin)  # a token for Graph, not for Exchange
    resp = graph_token.invoke("Get-AcceptedDomain")
    assert resp.status_code == 401 and "audience" in detail(resp)
    other = graph.add_app()  # registered, but never granted Exchange.ManageAsApp
    assert RawExchange(exo, *other).invoke("Get-AcceptedDomain").status_code == 403
    bare = RawExchange(exo, *exo_app)
    bare.session.headers["Authorization"] = "Bearer forged"
    assert bare.invoke("Get-AcceptedDomain").status_code == 401
    assert raw(exo, exo_app).invoke("Get-AcceptedDomain").json()["value"][0]["DomainName"] == "contoso.test"


def test_pages_follow_the_next_link_with_the_same_body(exo: ExchangeFake, exo_app: tuple[str, str]) -> None:
    for i in range(250):
        exo.add_mailbox(f"shared{i}@contoso.test", shared=True)
    client = raw(exo, exo_app)
    first = client.invoke("Get-Mailbox", RecipientTypeDetails="SharedMailbox", ResultSize="Unlimited").json()
    assert len(first["value"]) == 100 and first["@odata.nextLink"].startswith(exo.endpoint)
    assert client.invoke("Get-Mailbox", url=first["@odata.nextLink"], RecipientTypeDetails="UserMailbox",
                         ResultSize="Unlimited").status_code == 400  # a next link is POSTed with the same body
    second = client.invoke("Get-Mailbox", RecipientTypeDetails="SharedMailbox", ResultSize="Unlimited").json()
    page = client.invoke("Get-Mailbox", url=second["@odata.nextLink"], RecipientTypeDetails="SharedMailbox",
                         ResultSize="Unlimited").json()
    third = client.invoke("Get-Mailbox", url=page["@odata.nextLink"], RecipientTypeDetails="SharedMailbox",
                          ResultSize="Unlimited").json()
    names = [m["PrimarySmtpAddress"] for m in second["value"] + page["value"] + third["value"]]
    assert len(set(names)) == 250 and "@odata.nextLink" not in third


def test_a_missing_object_answers_404_in_the_cmdlet_error_shape(exo: ExchangeFake,
                                                                exo_app: tuple[str, str]) -> None:
    client = raw(exo, exo_app)
    resp = client.invoke("Get-DistributionGroup", Identity="nobody@contoso.test")
    error = resp.json()["error"]
    assert resp.status_code == 404 and error["message"] == "Error executing cmdlet"
    assert detail(resp).split("|")[1].endswith(NOT_FOUND) and "request-id" in resp.headers
    assert error["innererror"]["type"].endswith("ODataServiceException")
    mailbox = exo.add_mailbox("ann@contoso.test")
    assert client.invoke("Get-DistributionGroup", Identity=mailbox).status_code == 404  # a mailbox is not a list


def test_a_deleted_list_answers_404(exo: ExchangeFake, exo_app: tuple[str, str]) -> None:
    dl = exo.add_list("Acme DL", "acme-dl@contoso.test")
    client = raw(exo, exo_app)
    assert client.invoke("Get-DistributionGroup", Identity="ACME-DL@contoso.test").json()["value"][0]["Guid"] == dl
    assert client.invoke("Remove-DistributionGroup", Identity=dl, BypassSecurityGroupManagerCheck=True,
                         Confirm=False).status_code == 200
    again = client.invoke("Get-DistributionGroup", Identity=dl)
    assert again.status_code == 404 and NOT_FOUND in detail(again) and exo.recipient(dl) is None


def test_an_absent_member_is_a_warning_and_a_synced_list_refuses(exo: ExchangeFake,
                                                                 exo_app: tuple[str, str]) -> None:
    ann = exo.add_mailbox("ann@contoso.test")
    dl = exo.add_list("Acme DL", "acme-dl@contoso.test")
    synced = exo.add_list("Onprem", "onprem@contoso.test", members=(ann,), synced=True)
    client = raw(exo, exo_app)
    resp = client.invoke("Remove-DistributionGroupMember", Identity=dl, Member=ann, Confirm=False,
                         BypassSecurityGroupManagerCheck=True)
    assert resp.status_code == 200 and "not a member" in resp.json()["@adminapi.warnings"][0]
    refused = client.invoke("Remove-DistributionGroupMember", Identity=synced, Member=ann, Confirm=False,
                            BypassSecurityGroupManagerCheck=True)
    assert refused.status_code == 400 and "on-premises" in detail(refused) and exo.members(synced) == [ann]


def test_mailbox_cmdlets_need_the_mailbox_as_anchor(exo: ExchangeFake, exo_app: tuple[str, str]) -> None:
    exo.add_mailbox("ann@contoso.test")
    client = raw(exo, exo_app)
    assert client.invoke("Get-Mailbox", Identity="ann@contoso.test").status_code == 400
    assert client.invoke("Get-Mailbox", anchor="UPN:ann@contoso.test", Identity="ann@contoso.test").ok


def test_throttling_answers_429_with_retry_after(exo: ExchangeFake, exo_app: tuple[str, str]) -> None:
    client = raw(exo, exo_app)
    exo.rate_limit(2)
    answers = [client.invoke("Get-AcceptedDomain") for _ in range(6)]
    throttled = [r for r in answers if r.status_code == 429]
    assert throttled and all(int(r.headers["Retry-After"]) >= 1 for r in throttled)
    assert "ThrottlingException" in detail(throttled[0])


def test_a_write_can_be_applied_and_answered_as_failed(exo: ExchangeFake, exo_app: tuple[str, str]) -> None:
    ann = exo.add_mailbox("ann@contoso.test")
    dl = exo.add_list("Acme DL", "acme-dl@contoso.test", members=(ann,))
    exo.fail("Remove-DistributionGroupMember", status=503, applied=True, retry_after=3)
    resp = raw(exo, exo_app).invoke("Remove-DistributionGroupMember", Identity=dl, Member=ann, Confirm=False,
                                    BypassSecurityGroupManagerCheck=True)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "3"
    assert exo.members(dl) == []  # carried out all the same


def test_a_cmdlet_or_parameter_outside_the_table_is_unknown(exo: ExchangeFake,
                                                            exo_app: tuple[str, str]) -> None:
    client = raw(exo, exo_app)
    assert "CommandNotFoundException" in detail(client.invoke("Remove-Mailbox", Identity="x"))
    assert "ParameterBindingException" in detail(client.invoke("Get-Recipient", Identity="x", Filter="*"))


def test_a_list_write_without_the_manager_bypass_is_refused(exo: ExchangeFake, exo_app: tuple[str, str]) -> None:
    ann = exo.add_mailbox("ann@contoso.test")
    dl = exo.add_list("Acme DL", "acme-dl@contoso.test", members=(ann,))
    resp = raw(exo, exo_app).invoke("Remove-DistributionGroupMember", Identity=dl, Member=ann, Confirm=False)
    assert resp.status_code == 400 and "manager of the group" in detail(resp) and exo.members(dl) == [ann]


def test_the_client_can_ask_for_smaller_pages_and_revoke_reads_them_all(exo: ExchangeFake,
                                                                       exo_app: tuple[str, str]) -> None:
    from tests.exchange_env import exo_connector

    for i in range(25):
        exo.add_mailbox(f"shared{i}@contoso.test", shared=True)
    conn = exo_connector(exo, *exo_app, page_size=10)
    before = len(exo.calls)
    boxes = conn.exchange.read("Get-Mailbox", RecipientTypeDetails="SharedMailbox", ResultSize="Unlimited").values
    assert len({b["Guid"] for b in boxes}) == 25 and len(exo.calls) - before == 3  # pages of 10, 10 and 5
