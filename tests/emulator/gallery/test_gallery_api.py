"""Owners delete, restore and purge their images, and delete their accounts, over HTTP and the
callable protocol; the bucket, the ledger, the audit and the weekly reports are checked."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests
from books import balance, check_books, ledger, request_doc, stored_images
from conftest import PROJECT_ID, bearer, call, touch
from google.cloud.firestore_v1.base_query import FieldFilter
from reportdata import request as report_request
from reportdata import write

pytestmark = pytest.mark.emulator

ORDER = {"model": "model-a", "style": "anime", "color": "neon", "size": "512x512"}
PURGE_TRIGGER = (
    f"http://127.0.0.1:5001/functions/projects/{PROJECT_ID}/triggers/"
    "us-central1-purgeDeletedImages-0"
)


def generate(api, uid, prompt="a secret garden", outcome="success"):
    resp = api.post(
        "createGenerationRequest",
        json={"userId": uid, **ORDER, "prompt": prompt},
        headers={"X-Simulate-Outcome": outcome},
    )
    assert resp.status_code in (200, 500), resp.text
    body = resp.json()
    return body.get("generationRequestId") or body["error"]["generationRequestId"]


def act(api, name, rid, headers=None):
    return api.post(name, json={"id": rid}, headers=headers or {})


def listed(api, uid, deleted=None):
    params = {"userId": uid, **({"deleted": deleted} if deleted is not None else {})}
    body = api.get("listGenerationRequests", params=params).json()
    return [r["generationRequestId"] for r in body["generationRequests"]]


def image_status(api, rid):
    resp = api.get("getGenerationImage", params={"id": rid})
    return resp.status_code, (resp.json()["error"]["code"] if resp.status_code >= 400 else None)


def test_delete_hides_and_restore_brings_back(api, db, new_user):
    uid = new_user(10)
    rid, other = generate(api, uid), generate(api, uid, "kept")
    entries = ledger(db, uid)
    resp = act(api, "deleteGenerationRequest", rid)
    assert resp.status_code == 200 and resp.json() == {
        "generationRequestId": rid,
        "deleted": True,
        "purged": False,
        "changed": True,
    }
    assert listed(api, uid) == [other] and listed(api, uid, "true") == [rid]
    shown = api.get("getGenerationRequest", params={"id": rid}).json()
    assert shown["deletedAt"] and shown["status"] == "completed"
    assert image_status(api, rid) == (410, "image-deleted")
    again = act(api, "deleteGenerationRequest", rid)
    assert again.status_code == 200 and again.json()["changed"] is False
    restored = act(api, "restoreGenerationRequest", rid)
    assert restored.status_code == 200 and restored.json()["deleted"] is False
    assert sorted(listed(api, uid)) == sorted([rid, other]) and listed(api, uid, "true") == []
    assert image_status(api, rid) == (200, None)
    assert act(api, "restoreGenerationRequest", rid).json()["changed"] is False  # no-op
    assert ledger(db, uid) == entries and stored_images(uid) == {rid, other}


def test_purge_erases_the_image_and_prompt_and_keeps_the_books(api, db, new_user, admin_headers):
    uid = new_user(10)
    rid = generate(api, uid, "my private prompt")
    failed = generate(api, uid, "a failed one", outcome="failure")
    entries, before = ledger(db, uid), balance(db, uid)
    act(api, "deleteGenerationRequest", rid)
    resp = act(api, "purgeGenerationRequest", rid)
    assert resp.status_code == 200 and resp.json()["purged"] is True
    assert act(api, "purgeGenerationRequest", failed).status_code == 200  # without a delete
    assert stored_images(uid) == set()
    doc = request_doc(db, rid)
    assert doc["prompt"] == "" and doc["purgedAt"] and "imageUrl" not in doc
    assert (doc["userId"], doc["cost"], doc["status"], doc["size"]) == (
        uid,
        1,
        "completed",
        "512x512",
    )
    assert doc["creditsSpent"] == 1 and doc["isCompleted"] == 1  # what reports read
    assert "a failed one" not in str(request_doc(db, failed))
    assert image_status(api, rid) == (410, "image-purged")
    restore = act(api, "restoreGenerationRequest", rid)
    assert restore.status_code == 410 and restore.json()["error"]["code"] == "image-purged"
    assert act(api, "purgeGenerationRequest", rid).json()["changed"] is False
    assert sorted(listed(api, uid, "true")) == sorted([rid, failed]) and listed(api, uid) == []
    assert ledger(db, uid) == entries and balance(db, uid) == before
    audit = api.get("auditLedger", params={"userId": uid}, headers=admin_headers).json()
    assert audit["clean"], audit["discrepancies"]


def test_unsettled_requests_cannot_be_deleted_and_others_are_not_found(
    api, db, new_user, token_for
):
    owner = new_user(10)
    running = db.collection("generationRequests").document(f"running-{uuid.uuid4().hex}")
    running.set({"userId": owner, "status": "processing", "cost": 1, "model": "model-a"})
    try:
        for name in ("deleteGenerationRequest", "purgeGenerationRequest"):
            resp = act(api, name, running.id)
            assert resp.status_code == 409, resp.text
            error = resp.json()["error"]
            assert error["code"] == "request-in-progress" and error["currentStatus"] == "processing"
        assert "deletedAt" not in request_doc(db, running.id)
    finally:
        running.delete()
    rid = generate(api, owner)
    intruder = new_user(1)
    for name in ("deleteGenerationRequest", "restoreGenerationRequest", "purgeGenerationRequest"):
        resp = act(api, name, rid, bearer(token_for(intruder)))
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "not-found"
    for name in ("deleteGenerationRequest", "purgeGenerationRequest"):  # the no-token form
        resp = api.post(name, json={"id": rid, "userId": intruder})
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "not-found"
    assert api.post("deleteGenerationRequest", json={"id": rid, "userId": owner}).json()["deleted"]
    assert act(api, "restoreGenerationRequest", rid).status_code == 200
    assert act(api, "deleteGenerationRequest", "no-such-request").status_code == 404
    assert act(api, "deleteGenerationRequest", "").json()["error"]["code"] == "missing-fields"
    assert "deletedAt" not in request_doc(db, rid) and stored_images(owner) == {rid}


def test_the_callables_and_their_codes(api, db, new_user, token_for):
    uid = new_user(10)
    token = token_for(uid)
    rid = generate(api, uid)
    assert call("deleteGeneration", token, {"id": rid}).json()["result"]["deleted"] is True
    page = call("listGenerations", token, {"deleted": True}).json()["result"]
    assert [r["generationRequestId"] for r in page["generationRequests"]] == [rid]
    assert call("restoreGeneration", token, {"id": rid}).json()["result"]["deleted"] is False
    assert call("purgeGeneration", token, {"id": rid}).json()["result"]["purged"] is True
    error = call("restoreGeneration", token, {"id": rid}).json()["error"]
    assert error["status"] == "FAILED_PRECONDITION" and error["details"]["code"] == "image-purged"
    error = call("deleteGeneration", token, {"id": "nope"}).json()["error"]
    assert error["status"] == "NOT_FOUND" and error["details"]["code"] == "not-found"
    error = call("listGenerations", token, {"deleted": "yes"}).json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"


@pytest.mark.serial  # the job, run 30 days ahead, purges every user's deleted requests
def test_the_daily_job_purges_what_was_deleted_long_enough_ago(api, db, new_user):
    uid = new_user(10)
    old, kept, visible = generate(api, uid), generate(api, uid), generate(api, uid)
    act(api, "deleteGenerationRequest", old)
    # SOFT_DELETE_DAYS (30) after the deletion: run the job as Cloud Scheduler would then.
    later = datetime.now(UTC) + timedelta(days=30, hours=1)
    resp = requests.post(
        PURGE_TRIGGER,
        json={"data": {}},
        headers={"X-CloudScheduler-ScheduleTime": later.isoformat().replace("+00:00", "Z")},
        timeout=120,
    )
    assert resp.status_code == 200, resp.text
    assert request_doc(db, old)["purgedAt"] and request_doc(db, old)["prompt"] == ""
    act(api, "deleteGenerationRequest", kept)  # deleted now: not due yet
    soon = datetime.now(UTC) + timedelta(days=29)
    requests.post(
        PURGE_TRIGGER,
        json={"data": {}},
        headers={"X-CloudScheduler-ScheduleTime": soon.isoformat().replace("+00:00", "Z")},
        timeout=120,
    )
    assert "purgedAt" not in request_doc(db, kept) and "purgedAt" not in request_doc(db, visible)
    assert stored_images(uid) == {kept, visible}


def test_a_purge_leaves_the_weekly_report_unchanged(api, db, new_user, admin_headers):
    week = "2016-W40"  # a week no other test writes to (nor uses as a baseline)
    created = datetime(2016, 10, 5, 12, tzinfo=UTC)
    uid = f"r-{uuid.uuid4().hex[:12]}"  # requests written as an import would, no user document
    docs = [report_request(created, "completed", user=uid) for _ in range(3)]
    write(db, docs)
    ids = [
        snap.id
        for snap in db.collection("generationRequests")
        .where(filter=FieldFilter("userId", "==", uid))
        .stream()
    ]

    def report():
        resp = api.post("generateWeeklyReport", params={"week": week}, headers=admin_headers)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        return {k: v for k, v in body.items() if k not in ("computedWith", "generatedAt")}

    before = report()
    for rid in ids:
        assert act(api, "purgeGenerationRequest", rid).status_code == 200
    assert report() == before


def stored_paths(uid):
    """Every object stored for `uid` under generated/ (through the emulator)."""
    from imagegen.operations.wiring import images

    return set(images().paths(f"generated/{uid}/"))


def four_images(api, uid):
    """A request of four images, two of which (1 and 3) fail."""
    resp = api.post(
        "createGenerationRequest",
        json={"userId": uid, **ORDER, "prompt": "four of them", "numImages": 4},
        headers={"X-Simulate-Outcome": "partial"},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["generationRequestId"]


def test_every_image_of_a_request_is_deleted_restored_purged_and_erased_with_the_account(
    api, db, new_user, token_for, admin_headers
):
    uid = new_user(20)
    rid, single = four_images(api, uid), generate(api, uid)
    folder, kept = f"generated/{uid}/{rid}", f"generated/{uid}/{single}.png"
    assert stored_paths(uid) == {f"{folder}/0.png", f"{folder}/2.png", kept}

    def served(index):
        resp = api.get("getGenerationImage", params={"id": rid, "index": index})
        return resp.status_code, resp.json()["error"]["code"] if resp.status_code >= 400 else None

    act(api, "deleteGenerationRequest", rid)
    assert served(0) == served(2) == (410, "image-deleted")
    act(api, "restoreGenerationRequest", rid)
    assert served(0) == served(2) == (200, None)
    entries = ledger(db, uid)
    assert act(api, "purgeGenerationRequest", rid).json()["purged"] is True
    assert stored_paths(uid) == {kept}  # both of rid's images are gone
    assert served(2) == (410, "image-purged")
    doc = request_doc(db, rid)
    assert [i["status"] for i in doc["images"]] == ["completed", "failed"] * 2
    assert "generated/" not in str(doc) and "imageUrls" not in doc and doc["prompt"] == ""
    assert (doc["imagesCompleted"], doc["imagesFailed"], doc["creditsSpent"]) == (2, 2, 2)
    assert ledger(db, uid) == entries
    audit = api.get("auditLedger", params={"userId": uid}, headers=admin_headers).json()
    assert audit["clean"], audit["discrepancies"]

    four_images(api, uid)  # not purged before the account goes
    resp = api.post("deleteUserAccount", headers=bearer(token_for(uid)))
    assert resp.status_code == 200 and resp.json()["purgedRequests"] == 3, resp.text
    assert stored_paths(uid) == set()
    assert check_books(db, [uid]) == []


# --- deleting an account ---------------------------------------------------------------


def account(api, db, new_user, token_for, credits=10):
    uid = new_user(credits)
    rids = [generate(api, uid), generate(api, uid, "failed", outcome="failure")]
    return uid, bearer(token_for(uid)), rids


def auth_user_exists(app, uid):
    from firebase_admin import auth

    try:
        auth.get_user(uid, app=app)
        return True
    except auth.UserNotFoundError:
        return False


def test_deleting_an_account_purges_forfeits_and_removes_the_user(
    api, db, new_user, token_for, admin_headers, auth_app
):
    uid, headers, rids = account(api, db, new_user, token_for)
    assert auth_user_exists(auth_app, uid)
    remaining = balance(db, uid)
    resp = api.post("deleteUserAccount", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "userId": uid,
        "deleted": True,
        "purgedRequests": 2,
        "forfeitedCredits": remaining,
    }
    user = db.collection("users").document(uid).get().to_dict()
    assert user["credits"] == 0 and user["closingAt"] <= user["deletedAt"]
    forfeits = [e for e in ledger(db, uid) if e["type"] == "forfeit"]
    assert [e["credits"] for e in forfeits] == [remaining]
    assert stored_images(uid) == set()
    assert all(request_doc(db, rid)["purgedAt"] for rid in rids)
    audit = api.get("auditLedger", params={"userId": uid}, headers=admin_headers).json()
    assert audit["clean"], audit["discrepancies"]
    assert check_books(db, [uid]) == []
    assert not auth_user_exists(auth_app, uid)  # deleted last
    again = api.post("deleteUserAccount", headers=headers)  # idempotent
    assert (
        again.status_code in (200, 401)
        and len([e for e in ledger(db, uid) if e["type"] == "forfeit"]) == 1
    )
    charge = api.post("createGenerationRequest", json={"userId": uid, **ORDER, "prompt": "x"})
    assert charge.status_code == 404  # the account is gone for charges too


def test_account_deletion_needs_a_real_token(api, db, new_user):
    uid = new_user(5)
    resp = api.post("deleteUserAccount", json={"userId": uid})
    assert resp.status_code == 401
    assert (
        balance(db, uid) == 5
        and "deletedAt" not in db.collection("users").document(uid).get().to_dict()
    )


def test_a_crash_half_way_is_finished_by_a_retry_and_concurrent_calls_forfeit_once(
    api, db, new_user, token_for
):
    uid, headers, rids = account(api, db, new_user, token_for)
    remaining = balance(db, uid)
    crashed = api.post("deleteUserAccount", headers={**headers, "X-Simulate-Crash": "after-purge"})
    assert crashed.status_code == 500 and crashed.json()["error"]["code"] == "simulated-crash"
    assert stored_images(uid) == set() and balance(db, uid) == remaining  # half-way
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: api.post("deleteUserAccount", headers=headers), range(4)))
    # 401 for a call whose token is checked after another call deleted the Auth user.
    assert {r.status_code for r in answers} <= {200, 401}, [r.text for r in answers]
    assert 200 in {r.status_code for r in answers}
    finished = [r for r in answers if r.status_code == 200]
    assert sum(r.json()["forfeitedCredits"] for r in finished) == remaining
    assert [e["credits"] for e in ledger(db, uid) if e["type"] == "forfeit"] == [remaining]
    assert balance(db, uid) == 0 and check_books(db, [uid]) == []


def test_an_account_with_a_request_in_progress_is_closed_but_not_deleted_yet(
    api, db, new_user, token_for
):
    """The account is closed first (no new charge), then a request at its provider stops
    the deletion with 409; once it has ended, calling again finishes the deletion."""
    uid = new_user(5)
    headers = bearer(token_for(uid))
    running = db.collection("generationRequests").document(f"running-{uuid.uuid4().hex}")
    running.set({"userId": uid, "status": "processing", "cost": 1, "model": "model-a"})
    try:
        resp = api.post("deleteUserAccount", headers=headers)
        assert resp.status_code == 409 and resp.json()["error"]["code"] == "request-in-progress"
        assert balance(db, uid) == 5 and ledger(db, uid)[0]["type"] == "grant"
        user = db.collection("users").document(uid).get().to_dict()
        assert user["closingAt"] and "deletedAt" not in user
        charge = api.post("createGenerationRequest", json={**ORDER, "prompt": "x"}, headers=headers)
        assert charge.status_code == 404
    finally:
        running.delete()
    resp = api.post("deleteUserAccount", headers=headers)
    assert resp.status_code == 200 and resp.json()["forfeitedCredits"] == 5
    assert check_books(db, [uid]) == []
    touch(uid)


def test_deleting_an_account_cancels_its_queued_requests_first(api, db, new_user, token_for):
    """A queued request (charged, no provider has it yet) does not hold the deletion up: it is
    canceled and refunded, then the balance is forfeited whole."""
    from imagegen.core.vocabulary import RequestStatus
    from imagegen.ledger import moves as money
    from imagegen.records.request_record import GenerationRequest

    uid = new_user(5)
    headers = bearer(token_for(uid))
    rid = uuid.uuid4().hex
    queued = GenerationRequest(
        rid, uid, "model-a", "anime", "neon", "512x512", "never run", 1, RequestStatus.QUEUED
    )
    money.charge(db, queued)  # as the API charges it; its task never runs
    assert balance(db, uid) == 4
    resp = api.post("deleteUserAccount", headers=headers)
    touch(uid)
    assert resp.status_code == 200, resp.text
    assert request_doc(db, rid)["status"] == "canceled"
    assert resp.json()["forfeitedCredits"] == 5
    assert check_books(db, [uid]) == []
