"""The Google Workspace fake behaves as Google's reference pages say, where revoke depends on it: checked with
plain HTTP (requests, and google-auth only to sign the service account's JWT), not with revoke."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from google.oauth2 import service_account

from revoke.sandbox.google import GoogleFake
from revoke.sandbox.google_seed import Seeded, service_account as make_key
from tests.google_env import fake, seeded  # noqa: F401 - fixtures

__all__ = ["fake", "seeded"]
USER = "https://www.googleapis.com/auth/admin.directory.user"


def session(fake: GoogleFake) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = fake.ca_file
    return s


def token(fake: GoogleFake, key_json: str, subject: str, scopes: list[str]) -> requests.Response:
    info = {**json.loads(key_json), "token_uri": fake.token_uri}
    creds = service_account.Credentials.from_service_account_info(info, scopes=scopes).with_subject(subject)
    assertion = creds._make_authorization_grant_assertion()   # the signed JWT google-auth would send
    return session(fake).post(fake.token_uri, data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                                    "assertion": assertion})


def bearer(fake: GoogleFake, seeded: Seeded, scopes: list[str] | None = None) -> requests.Session:
    answer = token(fake, seeded.key_json, seeded.admin, scopes or [USER])
    assert answer.status_code == 200, answer.text
    s = session(fake)
    s.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return s


def test_the_token_endpoint_checks_signature_subject_and_scopes(fake: GoogleFake, seeded: Seeded) -> None:
    assert token(fake, seeded.key_json, seeded.admin, [USER]).status_code == 200
    other = json.loads(make_key(fake, name="other"))
    forged = json.dumps({**json.loads(seeded.key_json), "private_key": other["private_key"]})
    assert token(fake, forged, seeded.admin, [USER]).json()["error"] == "invalid_grant"        # wrong key
    assert token(fake, seeded.key_json, "carol@acme.test", [USER]).json()["error"] == "invalid_grant"  # no admin
    answer = token(fake, seeded.key_json, seeded.admin, [USER, "https://www.googleapis.com/auth/cloud-platform"])
    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized_client"     # not delegated


def test_a_route_needs_one_of_its_scopes(fake: GoogleFake, seeded: Seeded) -> None:
    s = bearer(fake, seeded, [USER])
    assert s.get(fake.base_url + "admin/directory/v1/users/alice@acme.test").status_code == 200
    answer = s.get(fake.base_url + f"admin/directory/v1/users/{seeded.ids['alice']}/asps")
    assert answer.status_code == 403 and answer.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"
    assert session(fake).get(fake.base_url + "admin/directory/v1/users/alice@acme.test").status_code == 401


def test_errors_have_googles_shape_and_deleted_things_answer_404(fake: GoogleFake, seeded: Seeded) -> None:
    s = bearer(fake, seeded, [USER, "https://www.googleapis.com/auth/admin.directory.group"])
    group = fake.base_url + f"admin/directory/v1/groups/{seeded.ids['announce']}"
    assert s.get(group).status_code == 200 and s.delete(group).status_code == 204
    gone = s.get(group)
    assert gone.status_code == 404
    error = gone.json()["error"]
    assert error["code"] == 404 and error["status"] == "NOT_FOUND" and error["errors"][0]["reason"] == "notFound"
    refused = s.patch(fake.base_url + "admin/directory/v1/users/alice@acme.test",
                      json={"suspended": True, "suspensionReason": "engagement ended"})
    assert refused.status_code == 400 and not fake.users[seeded.ids["alice"]].suspended   # output-only field


def test_listings_page_by_page_cap(fake: GoogleFake, seeded: Seeded) -> None:
    s = bearer(fake, seeded, ["https://www.googleapis.com/auth/admin.directory.group"])
    url = fake.base_url + "admin/directory/v1/groups"
    first = s.get(url, params={"userKey": "alice@acme.test"}).json()
    assert len(first["groups"]) == 2 and first["nextPageToken"]
    second = s.get(url, params={"userKey": "alice@acme.test", "pageToken": first["nextPageToken"]}).json()
    assert len(second["groups"]) == 2 and "nextPageToken" not in second
    assert {g["email"] for g in first["groups"] + second["groups"]} == {
        "acme-project@acme.test", "alice-sandbox@acme.test", "all-staff@acme.test", "engineering@acme.test"}


def batch_body(parts: list[tuple[str, str]], boundary: str = "b0undary") -> str:
    out = []
    for i, (method, path) in enumerate(parts):
        out.append(f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{i}>\r\n\r\n"
                   f"{method} {path} HTTP/1.1\r\n\r\n")
    return "".join(out) + f"--{boundary}--\r\n"


def parse(answer: requests.Response) -> dict[str, Any]:
    boundary = answer.headers["Content-Type"].split("boundary=")[1]
    found = {}
    for part in answer.text.split(f"--{boundary}"):
        if "Content-ID" not in part:
            continue
        cid = part.split("Content-ID: <")[1].split(">")[0]
        found[cid] = int(part.split("HTTP/1.1 ")[1][:3])
    return found


def test_a_batch_answers_each_call_by_content_id(fake: GoogleFake, seeded: Seeded) -> None:
    s = bearer(fake, seeded, [USER])
    body = batch_body([("GET", "/admin/directory/v1/users/alice@acme.test"),
                       ("GET", "/admin/directory/v1/users/nobody@acme.test"),
                       ("PATCH", "/admin/directory/v1/users/nobody@acme.test")])
    answer = s.post(fake.base_url + "batch", data=body,
                    headers={"Content-Type": 'multipart/mixed; boundary="b0undary"'})
    assert answer.status_code == 200
    assert parse(answer) == {"response-item0": 200, "response-item1": 404, "response-item2": 404}
    assert answer.text.index("response-item2") < answer.text.index("response-item0")   # any order: by id only
    assert [r.batch for r in fake.log[-3:]] == [fake.log[-1].batch] * 3


def test_quota_and_throttling_answer_like_google(fake: GoogleFake, seeded: Seeded) -> None:
    s = bearer(fake, seeded, [USER])
    fake.quota(2, window=60)
    url = fake.base_url + "admin/directory/v1/users/alice@acme.test"
    answers = [s.get(url) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["errors"][0]["reason"] == "rateLimitExceeded"
    fake.quota(None)
    fake.throttle_share(2, 403)
    statuses = [s.get(url).status_code for _ in range(4)]
    assert statuses.count(403) == 2
    fake.throttle_share(2)
    assert [s.get(url).status_code for _ in range(2)] == [200, 429]


@pytest.mark.parametrize("apply", [True, False])
def test_an_injected_error_can_follow_the_write(apply: bool, fake: GoogleFake, seeded: Seeded) -> None:
    s = bearer(fake, seeded, ["https://www.googleapis.com/auth/admin.directory.user.security"])
    fake.inject("DELETE", r"/asps/1$", 503, "backendError", apply=apply)
    answer = s.delete(fake.base_url + f"admin/directory/v1/users/{seeded.ids['alice']}/asps/1")
    assert answer.status_code == 503
    assert (1 not in fake.users[seeded.ids["alice"]].asps) is apply
