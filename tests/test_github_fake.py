"""The GitHub fake behaves as GitHub's REST documentation says, checked with a bare HTTP client (httpx)."""

from __future__ import annotations

import ssl
from typing import Iterator

import httpx
import pytest

from revoke.sandbox.github import GitHubFake


@pytest.fixture
def fake() -> Iterator[GitHubFake]:
    with GitHubFake(page_cap=2) as f:
        f.now = lambda: 1_800_000_010.0   # the rate limits' clock, held still
        for login in ("owner", "alice", "bob", "carol", "outsider"):
            f.add_user(login)
        f.add_org("acme", owners=["owner"], members=["alice", "bob", "carol"], saml=True)
        f.add_repo("acme", "secret")
        yield f


def client(fake: GitHubFake, token: str) -> httpx.Client:
    return httpx.Client(base_url=fake.base_url, verify=trust(fake), headers={"Authorization": f"token {token}"})


def trust(fake: GitHubFake) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=fake.ca_file)


def test_listings_page_with_link_headers(fake: GitHubFake) -> None:
    c = client(fake, fake.add_token("owner"))
    first = c.get("orgs/acme/members", params={"per_page": 100})
    assert first.status_code == 200 and len(first.json()) == 2          # page_cap: fewer than asked
    assert 'rel="next"' in first.headers["link"] and 'rel="last"' in first.headers["link"]
    seen, resp = [], first
    while True:
        seen += [u["login"] for u in resp.json()]
        nxt = [part for part in resp.headers.get("link", "").split(",") if 'rel="next"' in part]
        if not nxt:
            break
        resp = c.get(nxt[0].split(";")[0].strip()[1:-1])
    assert seen == ["owner", "alice", "bob", "carol"]
    assert first.headers["Cache-Control"].startswith("private, max-age=60")  # why clients must not cache read-backs


def test_primary_rate_limit_answers_403_with_the_reset_epoch(fake: GitHubFake) -> None:
    fake.rate_limit(2, window=60)
    c = client(fake, fake.add_token("owner"))
    answers = [c.get("user") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 403]
    assert answers[1].headers["x-ratelimit-remaining"] == "0" or answers[2].headers["x-ratelimit-remaining"] == "0"
    assert answers[2].headers["x-ratelimit-reset"] == "1800000060"          # the window's end, epoch seconds
    assert "rate limit exceeded" in answers[2].json()["message"]
    fake.now = lambda: 1_800_000_061.0                                      # the clock moves past the reset
    assert c.get("user").status_code == 200


def test_secondary_rate_limit_answers_retry_after_on_writes(fake: GitHubFake) -> None:
    fake.secondary_limit(1, window=60)
    c = client(fake, fake.add_token("owner"))
    assert c.delete("orgs/acme/memberships/alice").status_code == 204
    second = c.delete("orgs/acme/memberships/bob")
    assert second.status_code == 403 and second.headers["Retry-After"] == "50"
    assert "secondary rate limit" in second.json()["message"]
    assert fake.role("acme", "bob") == "member"                             # refused, so not carried out
    assert c.get("orgs/acme/memberships/bob").status_code == 200            # reads are not limited by it


def test_the_last_owner_is_never_removed(fake: GitHubFake) -> None:
    c = client(fake, fake.add_token("owner"))
    answer = c.delete("orgs/acme/memberships/owner")
    assert answer.status_code == 403
    assert set(answer.json()) == {"message", "documentation_url", "status"} and "last owner" in answer.json()["message"]
    assert fake.role("acme", "owner") == "admin"


def test_removing_a_member_leaves_their_pending_repository_invitation(fake: GitHubFake) -> None:
    fake.add_repo_invitation("acme", "secret", fake.user("alice").id, "write")
    fake.add_team("acme", "devs", members={"alice": "member"})
    c = client(fake, fake.add_token("owner"))
    assert c.delete("orgs/acme/memberships/alice").status_code == 204
    org = fake.org("acme")
    assert fake.role("acme", "alice") is None and not org.teams["devs"].members
    assert [i.invitee_id for i in org.repos["secret"].invitations.values()] == [fake.user("alice").id]


def test_removing_an_invited_users_membership_cancels_the_invitation(fake: GitHubFake) -> None:
    fake.add_invitation("acme", login="outsider")
    c = client(fake, fake.add_token("owner"))
    assert c.get("orgs/acme/memberships/outsider").json()["state"] == "pending"
    assert c.delete("orgs/acme/memberships/outsider").status_code == 204
    assert fake.role("acme", "outsider") is None
    assert c.get("orgs/acme/memberships/outsider").status_code == 404


def test_a_private_object_the_token_cannot_see_answers_404(fake: GitHubFake) -> None:
    c = client(fake, fake.add_token("outsider"))
    assert c.get("orgs/acme").status_code == 200                # the organisation itself is public
    assert c.get("repos/acme/secret").status_code == 404         # not 403: GitHub hides private objects
    assert c.get("orgs/acme/teams").status_code == 404
    member = client(fake, fake.add_token("alice"))
    assert member.get("repos/acme/secret").status_code == 200
    assert member.get("orgs/acme/credential-authorizations").status_code == 403   # owners only


def test_a_write_can_be_applied_and_still_answered_with_an_error(fake: GitHubFake) -> None:
    fake.inject("DELETE", r"/memberships/bob$", 502, applied=True)
    c = client(fake, fake.add_token("owner"))
    assert c.delete("orgs/acme/memberships/bob").status_code == 502
    assert fake.role("acme", "bob") is None


def test_an_app_acts_through_its_installation_token_only(fake: GitHubFake) -> None:
    import jwt

    app, key = fake.add_app("revoke-app")
    inst = fake.install(app, "acme", repositories=[])
    token = jwt.encode({"iss": str(app.id), "iat": 0, "exp": 4_000_000_000}, key, algorithm="RS256")
    as_app = httpx.Client(base_url=fake.base_url, verify=trust(fake), headers={"Authorization": f"Bearer {token}"})
    assert as_app.get("orgs/acme/installation").json()["id"] == inst.id
    assert as_app.get("orgs/acme/members").status_code == 403              # a JWT only works on the app's routes
    minted = as_app.post(f"app/installations/{inst.id}/access_tokens").json()["token"]
    c = client(fake, minted)
    assert c.get("orgs/acme/members").status_code == 200
    assert c.get("repos/acme/secret").status_code == 404                   # not among the selected repositories
    assert c.get("orgs/acme/credential-authorizations").json()["message"] == "Resource not accessible by integration"
    forged = jwt.encode({"iss": str(app.id), "iat": 0, "exp": 4_000_000_000}, "x" * 32, algorithm="HS256")
    assert httpx.get(f"{fake.base_url}app", verify=trust(fake),
                     headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_credential_authorizations_only_in_saml_organisations(fake: GitHubFake) -> None:
    fake.add_org("plain", owners=["owner"])
    fake.add_credential("acme", "alice")
    c = client(fake, fake.add_token("owner"))
    assert [x["login"] for x in c.get("orgs/acme/credential-authorizations", params={"login": "ALICE"}).json()] == [
        "alice"]
    assert c.get("orgs/plain/credential-authorizations").status_code == 404
