"""grantCredits and auditLedger over HTTP (admin only)."""

from __future__ import annotations

import uuid

import pytest
from books import balance, ledger
from conftest import touch

pytestmark = pytest.mark.emulator


def grant(api, admin_headers, **body):
    return api.post("grantCredits", json=body, headers=admin_headers)


def test_grant_adds_credits_with_a_ledger_entry(api, db, new_user, admin_headers):
    uid = new_user(5)
    resp = grant(api, admin_headers, userId=uid, credits=25, reason="promo")
    assert resp.status_code == 200, resp.text
    assert resp.json()["currentCredits"] == 30 == balance(db, uid)
    grants = [e for e in ledger(db, uid) if e["type"] == "grant" and e.get("reason") == "promo"]
    assert len(grants) == 1 and grants[0]["credits"] == 25 and grants[0]["balanceAfter"] == 30


def test_grant_creates_a_missing_user(api, db, admin_headers):
    uid = f"granted-{uuid.uuid4().hex[:8]}"
    touch(uid)
    assert grant(api, admin_headers, userId=uid, credits=7).status_code == 200
    assert balance(db, uid) == 7


def test_grant_with_idempotency_key_happens_once(api, db, new_user, admin_headers):
    uid, key = new_user(0), uuid.uuid4().hex
    headers = {**admin_headers, "Idempotency-Key": key}
    for _ in range(3):
        resp = api.post("grantCredits", json={"userId": uid, "credits": 10}, headers=headers)
        assert resp.status_code == 200
    assert balance(db, uid) == 10


@pytest.mark.parametrize("credits", [0, -5, 1.5, "10", True, None, 1_000_001, 10**30])
def test_bad_grant_amounts_are_rejected(api, db, new_user, admin_headers, credits):
    uid = new_user(5)
    resp = grant(api, admin_headers, userId=uid, credits=credits)
    assert resp.status_code == 400, resp.text
    assert balance(db, uid) == 5


def test_audit_is_clean_and_finds_tampering(api, db, new_user, admin_headers):
    uid = new_user(10)
    api.generate(userId=uid)
    report = api.get("auditLedger", params={"userId": uid}, headers=admin_headers).json()
    assert report == {"usersChecked": 1, "clean": True, "discrepancies": []}

    tampered = new_user(10)
    db.collection("users").document(tampered).update({"credits": 11})
    report = api.get("auditLedger", params={"userId": tampered}, headers=admin_headers).json()
    assert not report["clean"]
    assert any("credits 11 != ledger 10" in d for d in report["discrepancies"])
    db.collection("users").document(tampered).update({"credits": 10})  # restore the books
