"""Idempotency-Key over HTTP: one charge per key, stored outcomes replayed, misuse refused."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from books import balance, ledger, requests_of

pytestmark = pytest.mark.emulator

BODY = {"model": "model-a", "style": "anime", "color": "neon", "size": "1024x1024", "prompt": "x"}


def send(api, uid, key, outcome="success", **overrides):
    headers = {"Idempotency-Key": key, "X-Simulate-Outcome": outcome}
    return api.post(
        "createGenerationRequest", json={"userId": uid, **BODY, **overrides}, headers=headers
    )


def test_same_key_same_payload_charges_once_and_replays(api, db, new_user):
    uid, key = new_user(10), uuid.uuid4().hex
    first = send(api, uid, key)
    second = send(api, uid, key)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert balance(db, uid) == 7
    assert len(requests_of(db, uid)) == 1


def test_refunded_failure_is_replayed_not_retried(api, db, new_user):
    uid, key = new_user(10), uuid.uuid4().hex
    first = send(api, uid, key, outcome="failure")
    second = send(api, uid, key, outcome="success")  # the header is not part of the payload
    assert first.status_code == second.status_code == 500
    assert second.json() == first.json()
    assert balance(db, uid) == 10
    kinds = sorted(e["type"] for e in ledger(db, uid))
    assert kinds == ["deduction", "grant", "refund"]


def test_same_key_different_payload_is_409(api, db, new_user):
    uid, key = new_user(10), uuid.uuid4().hex
    assert send(api, uid, key).status_code == 200
    resp = send(api, uid, key, prompt="something else")
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "idempotency-key-reused"
    assert balance(db, uid) == 7


def test_keys_are_scoped_per_user(api, db, new_user):
    a, b, key = new_user(10), new_user(10), uuid.uuid4().hex
    ra, rb = send(api, a, key), send(api, b, key)
    assert ra.status_code == rb.status_code == 200
    assert ra.json()["generationRequestId"] != rb.json()["generationRequestId"]
    assert balance(db, a) == balance(db, b) == 7


def test_validation_rejection_stores_nothing(api, db, new_user):
    uid, key = new_user(10), uuid.uuid4().hex
    assert send(api, uid, key, size="1x1").status_code == 400
    resp = send(api, uid, key)
    assert resp.status_code == 200 and "Idempotent-Replayed" not in resp.headers
    assert balance(db, uid) == 7


def test_concurrent_duplicates_charge_once(api, db, new_user):
    uid, key = new_user(30), uuid.uuid4().hex
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: send(api, uid, key), range(8)))
    ok = [r for r in responses if r.status_code == 200]
    assert ok, [r.text for r in responses]
    assert len({r.json()["generationRequestId"] for r in ok}) == 1
    for r in responses:
        assert r.status_code in (200, 409), r.text
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "request-in-progress"
    assert balance(db, uid) == 27
    assert len(requests_of(db, uid)) == 1


def test_record_expires_after_at_least_24h(api, db, new_user):
    import hashlib

    uid, key = new_user(10), uuid.uuid4().hex
    send(api, uid, key)
    rid = hashlib.sha256(f"{uid}\n{key}".encode()).hexdigest()
    record = db.collection("idempotencyKeys").document(rid).get().to_dict()
    assert (record["expiresAt"] - record["createdAt"]).total_seconds() >= 24 * 3600
    assert record["state"] == "done" and record["userId"] == uid


def test_bad_keys_are_rejected(api, new_user):
    uid = new_user(10)
    assert send(api, uid, "k" * 256).status_code == 400
