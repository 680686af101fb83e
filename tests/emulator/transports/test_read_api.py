"""getUserCredits, getGenerationRequest and health over HTTP against the emulators."""

from __future__ import annotations

import pytest
from books import balance
from conftest import bearer

pytestmark = pytest.mark.emulator


def test_credits_and_history_newest_first(api, db, new_user):
    uid = new_user(10)
    ok = api.generate(userId=uid, size="1024x1024").json()
    failed = api.generate(outcome="failure", userId=uid).json()["error"]
    resp = api.get("getUserCredits", params={"userId": uid})
    assert resp.status_code == 200
    body = resp.json()
    assert body["currentCredits"] == balance(db, uid) == 7
    got = [(t["type"], t["credits"], t["generationRequestId"]) for t in body["transactions"]]
    assert got == [
        ("refund", 1, failed["generationRequestId"]),
        ("deduction", 1, failed["generationRequestId"]),
        ("deduction", 3, ok["generationRequestId"]),
        ("grant", 10, None),
    ]
    for t in body["transactions"]:
        assert set(t) >= {"id", "type", "credits", "generationRequestId", "timestamp"}
        assert t["timestamp"].endswith("Z")
    assert body["nextPageToken"] is None


def test_history_pages_cover_every_entry_once(api, db, new_user):
    uid = new_user(30)
    for _ in range(6):
        assert api.generate(userId=uid).status_code == 200
    seen, token, pages = [], None, 0
    while True:
        params = {"userId": uid, "pageSize": 3, **({"pageToken": token} if token else {})}
        body = api.get("getUserCredits", params=params).json()
        assert len(body["transactions"]) <= 3
        seen += [t["id"] for t in body["transactions"]]
        pages += 1
        token = body["nextPageToken"]
        if not token:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    assert seen[-1] == "test-grant"


@pytest.mark.parametrize(
    "params,status,code",
    [
        ({}, 400, "missing-fields"),
        ({"userId": "nobody-here"}, 404, "user-not-found"),
        ({"userId": "testUser1", "pageSize": 0}, 400, "invalid-page-size"),
        ({"userId": "testUser1", "pageSize": 101}, 400, "invalid-page-size"),
        ({"userId": "testUser1", "pageSize": "ten"}, 400, "invalid-page-size"),
        ({"userId": "testUser1", "pageToken": "!!!"}, 400, "invalid-page-token"),
        ({"userId": "testUser1", "pageToken": "bm9wZQ"}, 400, "invalid-page-token"),
    ],
)
def test_get_user_credits_errors(api, params, status, code):
    resp = api.get("getUserCredits", params=params)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code


def test_get_user_credits_rejects_post(api):
    assert api.post("getUserCredits", json={"userId": "testUser1"}).status_code == 405


def test_seeded_users_exist(api):
    for uid in ("testUser1", "testUser2"):
        body = api.get("getUserCredits", params={"userId": uid}).json()
        assert isinstance(body["currentCredits"], int)
        assert body["transactions"][-1]["type"] == "grant"


def test_get_generation_request(api, new_user):
    uid = new_user(5)
    rid = api.generate(userId=uid, style="sketch").json()["generationRequestId"]
    resp = api.get("getGenerationRequest", params={"id": rid})
    assert resp.status_code == 200
    body = resp.json()
    assert body["generationRequestId"] == rid
    assert body["status"] == "completed" and body["userId"] == uid
    assert body["style"] == "sketch" and body["cost"] == 1
    assert body["createdAt"].endswith("Z")
    assert body["imageUrl"].endswith(f"/getGenerationImage?id={rid}")


def test_get_generation_request_errors(api):
    assert api.get("getGenerationRequest").status_code == 400
    resp = api.get("getGenerationRequest", params={"id": "does-not-exist"})
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not-found"


def test_health(api):
    body = api.get("health").json()
    assert body["status"] == "ok" and body["emulator"] is True
    deep = api.get("health", params={"deep": "1"}).json()
    assert deep["firestore"]["status"] == "ok"


@pytest.mark.serial  # no other test's catalog entry may exist meanwhile
def test_catalog_in_firestore_matches_the_seed(db):
    """initial_data/ must stay what seed_config.py writes (regenerate it when they differ)."""
    from imagegen.core.catalog import DEFAULT_CATALOG, catalog_documents

    for collection, docs in catalog_documents(DEFAULT_CATALOG).items():
        stored = {d.id: d.to_dict() for d in db.collection(collection).stream()}
        assert stored == docs, collection


def test_list_generation_requests_newest_first_with_filters_and_pages(api, new_user, token_for):
    uid = new_user(30)
    made = []
    for model, outcome in [
        ("model-a", "success"),
        ("model-b", "failure"),
        ("model-b", "success"),
        ("model-a", "success"),
        ("model-b", "success"),
    ]:
        resp = api.generate(outcome=outcome, userId=uid, model=model)
        body = resp.json()
        made.append(body.get("generationRequestId") or body["error"]["generationRequestId"])
    newest_first = made[::-1]

    def ids(**params):
        body = api.get("listGenerationRequests", params={"userId": uid, **params}).json()
        return [r["generationRequestId"] for r in body["generationRequests"]], body

    assert ids()[0] == newest_first
    assert ids(model="model-b")[0] == [made[4], made[2], made[1]]
    assert ids(status="failed")[0] == [made[1]]
    assert ids(status="completed", model="model-a")[0] == [made[3], made[0]]
    _, first = ids(pageSize=2)
    seen, token = (
        [r["generationRequestId"] for r in first["generationRequests"]],
        first["nextPageToken"],
    )
    while token:
        page, body = ids(pageSize=2, pageToken=token)
        seen += page
        token = body["nextPageToken"]
    assert seen == newest_first
    # the token's uid is the default user, and other users' lists are closed
    mine = api.get("listGenerationRequests", headers=bearer(token_for(uid))).json()
    assert [r["generationRequestId"] for r in mine["generationRequests"]] == newest_first
    other = api.get(
        "listGenerationRequests", params={"userId": "testUser1"}, headers=bearer(token_for(uid))
    )
    assert other.status_code == 403


@pytest.mark.parametrize(
    "params,code",
    [
        ({}, "missing-fields"),
        ({"userId": "testUser1", "status": "lost"}, "invalid-status"),
        ({"userId": "testUser1", "model": "model-z"}, "invalid-model"),
        ({"userId": "testUser1", "pageSize": 1000}, "invalid-page-size"),
        ({"userId": "testUser1", "pageToken": "bm9wZQ"}, "invalid-page-token"),
    ],
)
def test_list_generation_requests_errors(api, params, code):
    resp = api.get("listGenerationRequests", params=params)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == code
