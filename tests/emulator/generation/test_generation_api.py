"""createGenerationRequest over HTTP against the emulators: money moves exactly as promised."""

from __future__ import annotations

import pytest
from books import balance, ledger, request_doc, requests_of

pytestmark = pytest.mark.emulator

PRICES = {"512x512": 1, "1024x1024": 3, "1024x1792": 4}


@pytest.mark.parametrize("size,price", sorted(PRICES.items()))
def test_success_charges_the_size_price_and_records_everything(api, db, new_user, size, price):
    uid = new_user(20)
    resp = api.generate(userId=uid, size=size, model="model-b", style="watercolor")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    rid = body["generationRequestId"]
    assert body["deductedCredits"] == price
    assert body["remainingCredits"] == 20 - price
    assert body["status"] == "completed"
    assert body["imageUrl"] == f"{api.url('getGenerationImage')}?id={rid}"

    assert balance(db, uid) == 20 - price
    doc = request_doc(db, rid)
    assert doc["status"] == "completed" and doc["cost"] == price
    assert doc["userId"] == uid and doc["model"] == "model-b" and doc["size"] == size
    assert doc["imageUrl"] == body["imageUrl"]
    assert doc["createdAt"] is not None and doc["completedAt"] is not None
    deductions = [e for e in ledger(db, uid) if e["type"] == "deduction"]
    assert len(deductions) == 1
    assert deductions[0]["credits"] == price
    assert deductions[0]["generationRequestId"] == rid
    assert deductions[0]["balanceAfter"] == 20 - price
    assert not [e for e in ledger(db, uid) if e["type"] == "refund"]


def test_model_failure_refunds_exactly_once(api, db, new_user):
    uid = new_user(10)
    resp = api.generate(outcome="failure", userId=uid, size="1024x1792")
    assert resp.status_code == 500
    err = resp.json()["error"]
    assert err["code"] == "generation-failed"
    assert err["message"] == "AI generation failed, credits refunded."
    assert err["refundedCredits"] == 4
    rid = err["generationRequestId"]

    assert balance(db, uid) == 10
    doc = request_doc(db, rid)
    assert doc["status"] == "failed" and doc["refundedCredits"] == 4
    assert doc["failureReason"]
    kinds = sorted((e["type"], e["credits"]) for e in ledger(db, uid) if e["type"] != "grant")
    assert kinds == [("deduction", 4), ("refund", 4)]


def test_insufficient_credits_changes_nothing(api, db, new_user):
    uid = new_user(3)
    resp = api.generate(userId=uid, size="1024x1792")
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["code"] == "insufficient-credits"
    assert err["message"] == "Insufficient credits."
    assert err["currentCredits"] == 3 and err["requiredCredits"] == 4
    assert balance(db, uid) == 3
    assert requests_of(db, uid) == []
    assert [e["type"] for e in ledger(db, uid)] == ["grant"]


def test_exact_balance_can_be_spent_to_zero(api, db, new_user):
    uid = new_user(4)
    assert api.generate(userId=uid, size="1024x1792").status_code == 200
    assert balance(db, uid) == 0
    resp = api.generate(userId=uid, size="512x512")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "insufficient-credits"
    assert balance(db, uid) == 0


def test_unknown_user_is_404_and_writes_nothing(api, db):
    resp = api.generate(userId="no-such-user-xyz")
    assert resp.status_code == 404
    assert resp.json() == {"error": {"code": "user-not-found", "message": "User not found."}}
    assert not db.collection("users").document("no-such-user-xyz").get().exists
    assert requests_of(db, "no-such-user-xyz") == []


def test_seeded_user_can_generate(api, db):
    before = balance(db, "testUser2")
    resp = api.generate(userId="testUser2", size="512x512")
    assert resp.status_code == 200, resp.text
    assert balance(db, "testUser2") == before - 1


def test_random_failures_without_header_still_balance(api, db, new_user):
    """Without the header the real 5% failure path runs; whichever happens, books balance."""
    uid = new_user(30)
    statuses = [api.generate(outcome=None, userId=uid).status_code for _ in range(10)]
    assert set(statuses) <= {200, 500}
    failed = statuses.count(500)
    assert balance(db, uid) == 30 - (10 - failed)
    docs = requests_of(db, uid)
    assert len(docs) == 10
    assert sum(d["status"] == "failed" for d in docs) == failed


def test_parallel_requests_never_overdraw(api, db, new_user):
    """12 simultaneous requests for 1 credit each on a user holding 5: exactly 5 succeed."""
    from concurrent.futures import ThreadPoolExecutor

    uid = new_user(5)
    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda _: api.generate(userId=uid), range(12)))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 5, [r.text for r in responses]
    for r in responses:
        if r.status_code != 200:
            assert r.status_code in (400, 503), r.text
            assert r.json()["error"]["code"] in ("insufficient-credits", "busy")
    assert balance(db, uid) == 0
    assert len(requests_of(db, uid)) == 5


def test_charge_marks_the_user_active_in_the_week_once(api, db, new_user):
    from datetime import UTC, datetime

    from imagegen.core.weeks import week_id

    uid = new_user(5)
    week = week_id(datetime.now(UTC))
    marker = db.collection("weeklyActiveUsers").document(week).collection("users").document(uid)
    assert api.generate(userId=uid).status_code == 200
    first = marker.get()
    assert first.exists and first.to_dict()["userId"] == uid
    assert api.generate(userId=uid).status_code == 200
    assert marker.get().update_time == first.update_time  # not rewritten by later charges
