"""Authentication and authorization over HTTP with real Auth emulator ID tokens."""

from __future__ import annotations

import pytest
from books import balance, requests_of
from conftest import PROJECT_ID, bearer
from id_token import unsigned_token

pytestmark = pytest.mark.emulator

BODY = {"model": "model-a", "style": "anime", "color": "neon", "size": "512x512", "prompt": "x"}
SUCCESS = {"X-Simulate-Outcome": "success"}


def test_user_token_acts_for_its_uid(api, db, new_user, token_for):
    uid = new_user(5)
    headers = {**SUCCESS, **bearer(token_for(uid))}
    resp = api.post("createGenerationRequest", json={"userId": uid, **BODY}, headers=headers)
    assert resp.status_code == 200, resp.text
    resp = api.post("createGenerationRequest", json=BODY, headers=headers)  # userId from token
    assert resp.status_code == 200, resp.text
    assert balance(db, uid) == 3
    resp = api.get("getUserCredits", headers=bearer(token_for(uid)))
    assert resp.json()["userId"] == uid and resp.json()["currentCredits"] == 3


def test_other_users_are_forbidden(api, db, new_user, token_for):
    me, other = new_user(5), new_user(5)
    headers = {**SUCCESS, **bearer(token_for(me))}
    resp = api.post("createGenerationRequest", json={"userId": other, **BODY}, headers=headers)
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "permission-denied"
    assert balance(db, other) == 5 and requests_of(db, other) == []
    resp = api.get("getUserCredits", params={"userId": other}, headers=bearer(token_for(me)))
    assert resp.status_code == 403


def test_other_users_requests_are_not_revealed(api, new_user, token_for):
    owner, snoop = new_user(5), new_user(5)
    rid = api.generate(userId=owner).json()["generationRequestId"]
    resp = api.get("getGenerationRequest", params={"id": rid}, headers=bearer(token_for(snoop)))
    assert resp.status_code == 404
    resp = api.get("getGenerationRequest", params={"id": rid}, headers=bearer(token_for(owner)))
    assert resp.status_code == 200


def test_admin_may_act_for_anyone(api, db, new_user, admin_headers):
    uid = new_user(5)
    resp = api.post(
        "createGenerationRequest",
        json={"userId": uid, **BODY},
        headers={**SUCCESS, **admin_headers},
    )
    assert resp.status_code == 200
    assert balance(db, uid) == 4


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-token",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
        "Bearer " + unsigned_token("someone", PROJECT_ID, expires_in=-3600),
        "Bearer " + unsigned_token("someone", "another-project"),
    ],
)
def test_bad_tokens_are_401_and_change_nothing(api, db, new_user, header):
    uid = new_user(5)
    resp = api.post(
        "createGenerationRequest", json={"userId": uid, **BODY}, headers={"Authorization": header}
    )
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["code"] == "unauthenticated"
    assert balance(db, uid) == 5 and requests_of(db, uid) == []


@pytest.mark.parametrize(
    "method,name",
    [
        ("POST", "grantCredits"),
        ("POST", "recoverPendingRequests"),
        ("GET", "auditLedger"),
        ("POST", "generateWeeklyReport"),
    ],
)
def test_admin_endpoints_need_an_admin(api, token_for, method, name):
    assert api.request(method, name).status_code == 401
    resp = api.request(method, name, headers=bearer(token_for("plain-user")))
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "permission-denied"


def test_seeded_auth_users_can_sign_in(api):
    from id_token import sign_in

    token = sign_in("testuser2@example.com")
    resp = api.get("getUserCredits", headers=bearer(token))
    assert resp.status_code == 200 and resp.json()["userId"] == "testUser2"
    admin = sign_in("admin@example.com")
    assert api.get("auditLedger", params={"userId": "testUser2"}, headers=bearer(admin)).ok


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'"data"', b"\xff\xfe"],
    ids=["broken", "array", "string", "not-utf8"],
)
def test_callable_with_a_malformed_body_is_a_400_and_changes_nothing(
    api, db, new_user, token_for, raw
):
    """The callable protocol's body is a JSON object; anything else is the client's mistake
    (400 INVALID_ARGUMENT), never a 500."""
    uid = new_user(5)
    headers = {"Content-Type": "application/json", **bearer(token_for(uid))}
    resp = api.post("generateImage", data=raw, headers=headers)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert balance(db, uid) == 5 and requests_of(db, uid) == []
