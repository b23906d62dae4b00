"""The Okta fake answers as Okta's documentation says Okta does: checked with a bare `requests` client, so the
connector's own tests stand on a fake that is right about paging, throttling, lifecycle rules and error shapes."""

from __future__ import annotations

import re
from typing import Any

import requests

from revoke.sandbox.okta import OktaFake
from revoke.sandbox.okta_seed import Seeded
from tests.okta_env import fake, seeded  # noqa: F401 - fixtures

__all__ = ["fake", "seeded"]


def http(fake: OktaFake, token: str) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = fake.ca_file
    s.headers["Authorization"] = f"SSWS {token}"
    return s


def every_page(s: requests.Session, url: str) -> tuple[list[dict[str, Any]], int]:
    items, pages = [], 0
    while url:
        resp = s.get(url)
        assert resp.status_code == 200, resp.text
        items += resp.json()
        pages += 1
        nxt = re.search(r'<([^>]+)>; rel="next"', resp.headers.get("Link", ""))
        url = nxt.group(1) if nxt else ""
    return items, pages


def test_the_default_user_list_hides_deactivated_users_but_lookups_and_searches_find_them(
        fake: OktaFake, seeded: Seeded) -> None:
    s = http(fake, seeded.token)
    listed, pages = every_page(s, f"{fake.org_url}/api/v1/users?limit=2")
    logins = {u["profile"]["login"] for u in listed}
    assert pages > 1 and "erin@consult.example" not in logins and "alice@consult.example" in logins
    assert "after=" in s.get(f"{fake.org_url}/api/v1/users?limit=2").headers["Link"]
    assert s.get(f"{fake.org_url}/api/v1/users/erin@consult.example").json()["status"] == "DEPROVISIONED"
    found = s.get(f"{fake.org_url}/api/v1/users", params={"search": 'profile.email eq "erin@consult.example"'})
    assert [u["status"] for u in found.json()] == ["DEPROVISIONED"]


def test_suspend_is_refused_with_oktas_error_shape_for_a_user_who_is_not_active(fake: OktaFake,
                                                                                seeded: Seeded) -> None:
    s = http(fake, seeded.token)
    resp = s.post(f"{fake.org_url}/api/v1/users/{seeded.ids['erin']}/lifecycle/suspend")
    body = resp.json()
    assert resp.status_code == 400 and body["errorCode"] == "E0000001"
    assert {"errorSummary", "errorLink", "errorId", "errorCauses"} <= set(body)
    assert body["errorCauses"][0]["errorSummary"] == "Cannot suspend a user that is not active"
    assert resp.headers["X-Okta-Request-Id"]
    assert s.post(f"{fake.org_url}/api/v1/users/{seeded.ids['alice']}/lifecycle/suspend").status_code == 200
    assert fake.user("alice@consult.example").status == "SUSPENDED"


def test_429_carries_the_rate_limit_headers_and_an_epoch_reset_not_retry_after(fake: OktaFake,
                                                                               seeded: Seeded) -> None:
    fake.now = lambda: 1_800_000_030.0
    fake.rate_limit(2, window=60)
    s = http(fake, seeded.token)
    answers = [s.get(f"{fake.org_url}/api/v1/users/{seeded.ids['alice']}") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["X-Rate-Limit-Remaining"] for a in answers] == ["1", "0", "0"]
    last = answers[-1]
    assert last.headers["X-Rate-Limit-Limit"] == "2" and last.headers["X-Rate-Limit-Reset"] == "1800000060"
    assert "Retry-After" not in last.headers and last.json()["errorCode"] == "E0000047"
    assert s.get(f"{fake.org_url}/api/v1/groups").status_code == 200   # another bucket
    fake.now = lambda: 1_800_000_061.0
    assert s.get(f"{fake.org_url}/api/v1/users/{seeded.ids['alice']}").status_code == 200


def test_a_revoked_grant_and_a_deleted_user_answer_404(fake: OktaFake, seeded: Seeded) -> None:
    s = http(fake, seeded.token)
    uid = seeded.ids["bob"]
    grant = s.get(f"{fake.org_url}/api/v1/users/{uid}/grants").json()[0]["id"]
    assert s.delete(f"{fake.org_url}/api/v1/users/{uid}/grants/{grant}").status_code == 204
    gone = s.get(f"{fake.org_url}/api/v1/users/{uid}/grants/{grant}")
    assert gone.status_code == 404 and gone.json()["errorCode"] == "E0000007"
    assert s.delete(f"{fake.org_url}/api/v1/users/{uid}").status_code == 204    # the first DELETE deactivates
    assert fake.user(uid).status == "DEPROVISIONED"
    assert s.delete(f"{fake.org_url}/api/v1/users/{uid}").status_code == 204
    assert s.get(f"{fake.org_url}/api/v1/users/{uid}").status_code == 404


def test_group_memberships_okta_manages_elsewhere(fake: OktaFake, seeded: Seeded) -> None:
    s = http(fake, seeded.token)
    uid = seeded.ids["alice"]
    ad = fake.group_named("AD-Staff")
    assert s.delete(f"{fake.org_url}/api/v1/groups/{ad.id}/users/{uid}").status_code == 403
    ruled = fake.group_named("acme-contractors")
    assert s.delete(f"{fake.org_url}/api/v1/groups/{ruled.id}/users/{uid}").status_code == 204
    rule = next(iter(fake.rules.values()))
    assert rule.exclude == [uid]   # Okta adds a rule's member removed by hand to the rule's exclusions
    listed = s.get(f"{fake.org_url}/api/v1/groups/rules").json()
    assert listed[0]["conditions"]["people"]["users"]["exclude"] == [uid]


def test_sessions_are_cleared_with_oauth_tokens_only_when_asked(fake: OktaFake, seeded: Seeded) -> None:
    s = http(fake, seeded.token)
    alice = fake.user("alice@consult.example")
    assert s.delete(f"{fake.org_url}/api/v1/users/{alice.id}/sessions").status_code == 204
    assert alice.sessions == 0 and alice.tokens
    assert s.delete(f"{fake.org_url}/api/v1/users/{alice.id}/sessions?oauthTokens=true").status_code == 204
    assert alice.tokens == {}


def test_bad_credentials_answer_401(fake: OktaFake, seeded: Seeded) -> None:
    resp = http(fake, "not-a-token").get(f"{fake.org_url}/api/v1/users/me")
    assert resp.status_code == 401 and resp.json()["errorCode"] == "E0000011"


def test_a_user_is_found_by_an_unambiguous_login_shortname(fake: OktaFake, seeded: Seeded) -> None:
    s = http(fake, seeded.token)
    assert s.get(f"{fake.org_url}/api/v1/users/dave").json()["profile"]["login"] == "dave@acme.example"
    fake.add_user("dave@consult.example")
    assert s.get(f"{fake.org_url}/api/v1/users/dave").status_code == 404   # two daves: ambiguous
