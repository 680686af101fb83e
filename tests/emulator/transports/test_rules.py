"""Firestore security rules, through the Firestore emulator's REST API with unsigned tokens."""

from __future__ import annotations

import os

import pytest
import requests
from conftest import PROJECT_ID
from id_token import unsigned_token

pytestmark = pytest.mark.emulator

HOST = os.environ.get("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080")
DOCS = f"http://{HOST}/v1/projects/{PROJECT_ID}/databases/(default)/documents"


def headers(uid: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {unsigned_token(uid, PROJECT_ID)}"} if uid else {}


def get(path: str, uid: str | None) -> int:
    return requests.get(f"{DOCS}/{path}", headers=headers(uid), timeout=10).status_code


def write(path: str, uid: str | None, fields: dict) -> int:
    body = {"fields": {k: {"integerValue": str(v)} for k, v in fields.items()}}
    return requests.patch(f"{DOCS}/{path}", json=body, headers=headers(uid), timeout=10).status_code


def create(collection: str, uid: str | None, fields: dict) -> int:
    body = {"fields": {k: {"stringValue": str(v)} for k, v in fields.items()}}
    url = f"{DOCS}/{collection}"
    return requests.post(url, json=body, headers=headers(uid), timeout=10).status_code


@pytest.fixture(scope="module")
def owned(api, db):
    from conftest import make_user

    uid = make_user(db, 5, "rules")
    rid = api.generate(userId=uid).json()["generationRequestId"]
    return uid, rid


def test_owner_reads_own_user_ledger_and_requests(owned):
    uid, rid = owned
    assert get(f"users/{uid}", uid) == 200
    assert get(f"users/{uid}/transactions/test-grant", uid) == 200
    assert get(f"generationRequests/{rid}", uid) == 200


def test_others_and_anonymous_read_nothing_private(owned):
    uid, rid = owned
    for who in ("someone-else", None):
        assert get(f"users/{uid}", who) == 403
        assert get(f"users/{uid}/transactions/test-grant", who) == 403
        assert get(f"generationRequests/{rid}", who) == 403


def test_owner_lists_only_own_requests(owned):
    uid, _ = owned
    query = {
        "structuredQuery": {
            "from": [{"collectionId": "generationRequests"}],
            "where": {
                "fieldFilter": {
                    "field": {"fieldPath": "userId"},
                    "op": "EQUAL",
                    "value": {"stringValue": uid},
                }
            },
        }
    }
    url = f"{DOCS}:runQuery"
    assert requests.post(url, json=query, headers=headers(uid), timeout=10).status_code == 200
    unfiltered = {"structuredQuery": {"from": [{"collectionId": "generationRequests"}]}}
    assert requests.post(url, json=unfiltered, headers=headers(uid), timeout=10).status_code == 403


def test_nobody_reads_a_requests_operator_details_not_even_its_owner(owned, db):
    uid, rid = owned
    details = f"generationRequests/{rid}/operator/details"
    db.document(details).set({"failureDetail": "upstream said: ...", "userId": uid})
    assert get(f"generationRequests/{rid}", uid) == 200  # the request itself: yes
    for who in (uid, "someone-else", None):
        assert get(details, who) == 403
        assert write(details, who, {"x": 1}) == 403
    admin = admin_headers_for("rules-admin")
    assert requests.get(f"{DOCS}/{details}", headers=admin, timeout=10).status_code == 403
    listing = f"{DOCS}/generationRequests/{rid}/operator"
    assert requests.get(listing, headers=headers(uid), timeout=10).status_code == 403
    group = {
        "structuredQuery": {
            "from": [{"collectionId": "operator", "allDescendants": True}],
            "where": {
                "fieldFilter": {
                    "field": {"fieldPath": "userId"},
                    "op": "EQUAL",
                    "value": {"stringValue": uid},
                }
            },
        }
    }
    query = requests.post(f"{DOCS}:runQuery", json=group, headers=headers(uid), timeout=10)
    assert query.status_code == 403


def test_only_the_owner_reads_their_uploads_and_nobody_writes_them(owned, db):
    uid, _ = owned
    path = f"users/{uid}/uploads/up1"
    db.document(path).set({"contentType": "image/png", "width": 1, "height": 1})
    assert get(path, uid) == 200
    for who in ("someone-else", None):
        assert get(path, who) == 403
    for who in (uid, "someone-else", None):
        assert write(path, who, {"width": 4096}) == 403
        assert create(f"users/{uid}/uploads", who, {"contentType": "image/png"}) == 403
    assert db.document(path).get().to_dict()["width"] == 1


def test_catalog_is_public_and_read_only():
    assert get("sizes/512x512", None) == 200
    assert get("styles/anime", "someone") == 200
    assert write("sizes/512x512", "someone", {"credits": 0}) == 403
    assert write("sizes/512x512", None, {"credits": 0}) == 403
    assert get("models/model-a", None) == 200  # the console's model picker
    assert write("models/model-a", "someone", {"credits": 0}) == 403


@pytest.mark.parametrize("collection", ["reports", "idempotencyKeys", "weeklyActiveUsers"])
def test_operational_collections_are_closed(collection):
    assert get(f"{collection}/anything", "someone") == 403
    assert create(collection, "someone", {"x": 1}) == 403


def test_nobody_writes_money_or_requests(owned, db):
    uid, rid = owned
    before = db.collection("users").document(uid).get().to_dict()["credits"]
    assert write(f"users/{uid}", uid, {"credits": 1_000_000}) == 403
    assert write(f"users/{uid}/transactions/forged", uid, {"credits": 500}) == 403
    assert write(f"generationRequests/{rid}", uid, {"cost": 0}) == 403
    assert create("generationRequests", uid, {"userId": uid}) == 403
    assert write("users/brand-new", "brand-new", {"credits": 100}) == 403
    assert db.collection("users").document(uid).get().to_dict()["credits"] == before


def test_only_operators_read_reports_and_nobody_writes_them(db):
    db.collection("reports").document("2014-W01").set({"weekId": "2014-W01", "totalRequests": 0})
    admin = {"Authorization": f"Bearer {unsigned_token('ops', PROJECT_ID, admin=True)}"}
    url = f"{DOCS}/reports/2014-W01"
    assert requests.get(url, headers=admin, timeout=10).status_code == 200
    assert get("reports/2014-W01", "a-user") == 403
    assert get("reports/2014-W01", None) == 403
    body = {"fields": {"totalRequests": {"integerValue": "5"}}}
    assert requests.patch(url, json=body, headers=admin, timeout=10).status_code == 403


def admin_headers_for(uid: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {unsigned_token(uid, PROJECT_ID, admin=True)}"}


def test_only_operators_read_and_write_the_generation_controls_and_only_valid_ones():
    url = f"{DOCS}/config/rules-probe"
    bool_doc = {
        "fields": {"enabled": {"booleanValue": True}, "dailyCreditBudget": {"integerValue": "0"}}
    }
    assert get("config/generation", "someone") == 403
    assert write("config/generation", "someone", {"dailyCreditBudget": 0}) == 403
    admin = admin_headers_for("rules-admin")
    assert requests.get(f"{DOCS}/config/generation", headers=admin, timeout=10).status_code in (
        200,
        404,
    )
    # another document, a missing field, a negative budget, an extra field: refused
    assert requests.patch(url, json=bool_doc, headers=admin, timeout=10).status_code == 403
    bad_docs = [
        {"fields": {"enabled": {"booleanValue": True}}},
        {
            "fields": {
                "enabled": {"booleanValue": True},
                "dailyCreditBudget": {"integerValue": "-1"},
            }
        },
        {"fields": {**bool_doc["fields"], "credits": {"integerValue": "5"}}},
    ]
    for body in bad_docs:
        resp = requests.patch(f"{DOCS}/config/generation", json=body, headers=admin, timeout=10)
        assert resp.status_code == 403, resp.text


def test_owner_reads_and_lists_own_sessions_others_nothing_nobody_writes(owned, api):
    uid, _ = owned
    resp = api.post("createSession", json={"userId": uid, "title": "rules"})
    assert resp.status_code == 200, resp.text
    path = f"users/{uid}/sessions/{resp.json()['sessionId']}"
    assert get(path, uid) == 200
    for who in ("someone-else", None):
        assert get(path, who) == 403
    parent = f"{DOCS}/users/{uid}:runQuery"
    listing = {"structuredQuery": {"from": [{"collectionId": "sessions"}]}}
    assert requests.post(parent, json=listing, headers=headers(uid), timeout=10).status_code == 200
    other = requests.post(parent, json=listing, headers=headers("someone-else"), timeout=10)
    assert other.status_code == 403
    for who in (uid, "someone-else"):
        assert write(path, who, {"turns": 0}) == 403
        assert create(f"users/{uid}/sessions", who, {"title": "mine"}) == 403
