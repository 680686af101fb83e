"""Buying credits over HTTP: Checkout Sessions against the local Stripe test double, and signed
Stripe events delivered to stripeWebhook (duplicates, any order, delayed payments, refunds,
disputes), checked in the ledger, the purchases and the audit."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from books import ledger
from conftest import bearer, spend, touch
from stripe_events import charge, deliver, dispute, event, session, signature, webhook_secret

pytestmark = pytest.mark.emulator

DOUBLE = "http://127.0.0.1:12111"
CONSOLE = "http://127.0.0.1:5000"


def new_buyer(created: bool = True) -> str:
    """A user id with no document yet; `created`: the test makes it exist (then the
    session's end-of-run audit checks it)."""
    uid = f"buyer-{uuid.uuid4().hex[:12]}"
    if created:
        touch(uid)
    return uid


def balance_of(db, uid):
    """The balance; 0 for a user not created yet (a purchase creates it when paid)."""
    snap = db.collection("users").document(uid).get()
    return snap.to_dict()["credits"] if snap.exists else 0


def purchase(db, uid, sid):
    snap = db.collection("users").document(uid).collection("purchases").document(sid).get()
    return snap.to_dict() if snap.exists else None


def kinds(db, uid):
    return sorted((e["type"], e["credits"]) for e in ledger(db, uid))


def audit_clean(api, admin_headers, uid):
    report = api.get("auditLedger", params={"userId": uid}, headers=admin_headers).json()
    assert report["clean"], report["discrepancies"]


def ids():
    return f"cs_test_{uuid.uuid4().hex}", f"pi_{uuid.uuid4().hex[:16]}"


def test_a_paid_session_credits_once_under_concurrent_duplicates_and_mixed_events(
    api, db, admin_headers
):
    uid = new_buyer()  # no users/{uid} yet: a paid purchase must still be credited
    sid, pi = ids()
    paid = session(sid, uid, intent=pi)
    completed = event("checkout.session.completed", paid)
    deliveries = [completed] * 5  # the same event id, five times at once
    deliveries += [event("checkout.session.completed", paid) for _ in range(3)]
    deliveries += [event("checkout.session.async_payment_succeeded", paid) for _ in range(2)]
    with ThreadPoolExecutor(len(deliveries)) as pool:
        answers = list(pool.map(lambda e: deliver(api, e), deliveries))
    assert [r.status_code for r in answers] == [200] * len(deliveries), [
        r.text for r in answers if r.status_code != 200
    ]
    assert balance_of(db, uid) == 100
    assert kinds(db, uid) == [("purchase", 100)]
    doc = purchase(db, uid, sid)
    assert doc["status"] == "paid" and doc["credits"] == 100 and doc["paymentIntent"] == pi
    assert doc["packId"] == "starter" and doc["amount"] == 500
    audit_clean(api, admin_headers, uid)


@pytest.mark.parametrize(
    "case", ["wrong secret", "stale", "tampered", "missing", "no v1", "garbage"]
)
def test_every_bad_signature_is_a_400_and_changes_nothing(api, db, case):
    uid = new_buyer(created=False)
    sid, pi = ids()
    payload = json.dumps(event("checkout.session.completed", session(sid, uid, intent=pi)))
    secret = webhook_secret()
    header = {
        "wrong secret": signature(payload, "whsec_not_the_secret"),
        "stale": signature(payload, secret, int(time.time()) - 301),
        "tampered": signature(payload.replace('"100"', '"900"'), secret),
        "missing": None,
        "no v1": signature(payload, secret).replace("v1=", "v0="),
        "garbage": "t=abc,v1=zz",
    }[case]
    body = payload if case != "tampered" else payload.replace('"100"', '"101"')
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    resp = api.post("stripeWebhook", data=body.encode(), headers=headers)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "invalid-signature"
    assert not db.collection("users").document(uid).get().exists
    assert purchase(db, uid, sid) is None


def test_a_delayed_payment_is_pending_then_credited_or_failed(api, db, admin_headers):
    uid = new_buyer()
    sid, pi = ids()
    unpaid = session(sid, uid, paid=False, intent=pi)
    assert deliver(api, event("checkout.session.completed", unpaid)).status_code == 200
    assert purchase(db, uid, sid)["status"] == "pending" and balance_of(db, uid) == 0
    paid = session(sid, uid, paid=True, intent=pi)
    assert deliver(api, event("checkout.session.async_payment_succeeded", paid)).status_code == 200
    assert purchase(db, uid, sid)["status"] == "paid" and balance_of(db, uid) == 100
    # a late, out-of-order completed(unpaid) changes nothing
    assert deliver(api, event("checkout.session.completed", unpaid)).status_code == 200
    assert purchase(db, uid, sid)["status"] == "paid" and balance_of(db, uid) == 100

    failing, pi2 = ids()
    unpaid2 = session(failing, uid, paid=False, intent=pi2)
    assert deliver(api, event("checkout.session.completed", unpaid2)).ok
    failed = session(failing, uid, paid=False, intent=pi2)
    assert deliver(api, event("checkout.session.async_payment_failed", failed)).status_code == 200
    assert purchase(db, uid, failing)["status"] == "failed"
    assert balance_of(db, uid) == 100 and kinds(db, uid) == [("purchase", 100)]

    expired, _ = ids()
    obj = {**session(expired, uid, paid=False), "status": "expired"}
    assert deliver(api, event("checkout.session.expired", obj)).status_code == 200
    assert purchase(db, uid, expired)["status"] == "expired"
    audit_clean(api, admin_headers, uid)


def test_refunds_and_disputes_after_partial_spending(api, db, admin_headers):
    uid = new_buyer()
    sid, pi = ids()
    assert deliver(api, event("checkout.session.completed", session(sid, uid, intent=pi))).ok
    spend(api, uid, 3)  # 12 of the 100 credits
    assert balance_of(db, uid) == 88
    half = event("charge.refunded", charge(pi, 500, 250))  # a partial refund: half
    assert deliver(api, half).ok and deliver(api, half).ok
    again = event("charge.refunded", charge(pi, 500, 250))  # the same refund, another event
    assert deliver(api, again).ok
    assert balance_of(db, uid) == 38  # 88 - floor(100 * 250 / 500)
    dp = f"dp_{uuid.uuid4().hex[:12]}"
    assert deliver(api, event("charge.dispute.created", dispute(dp, pi, 250))).ok
    assert balance_of(db, uid) == 0  # 50 asked, 38 taken: never below 0
    doc = purchase(db, uid, sid)
    assert doc["reversedCredits"] == 88 and doc["shortfallCredits"] == 12
    won = event("charge.dispute.funds_reinstated", dispute(dp, pi, 250, won=True))
    assert deliver(api, won).ok and deliver(api, won).ok
    assert balance_of(db, uid) == 38  # what the dispute took comes back
    assert kinds(db, uid) == sorted(
        [
            ("purchase", 100),
            ("deduction", 4),
            ("deduction", 4),
            ("deduction", 4),
            ("reversal", 50),
            ("reversal", 38),
            ("reinstatement", 38),
        ]
    )
    doc = purchase(db, uid, sid)
    assert doc["reversedCredits"] == 50 and doc["shortfallCredits"] == 0
    full = event("charge.refunded", charge(pi, 500, 500))  # the rest refunded too
    assert deliver(api, full).ok
    assert balance_of(db, uid) == 0 and purchase(db, uid, sid)["shortfallCredits"] == 12
    audit_clean(api, admin_headers, uid)


def test_a_refund_seen_before_its_purchase_is_applied_when_the_purchase_arrives(
    api, db, admin_headers
):
    uid = new_buyer()
    sid, pi = ids()
    assert deliver(api, event("charge.refunded", charge(pi, 2500, 2500))).ok
    assert not db.collection("users").document(uid).get().exists
    paid = session(sid, uid, credits=600, amount=2500, intent=pi, pack="studio")
    assert deliver(api, event("checkout.session.completed", paid)).ok
    assert balance_of(db, uid) == 0
    assert kinds(db, uid) == [("purchase", 600), ("reversal", 600)]
    assert purchase(db, uid, sid)["reversedCredits"] == 600
    audit_clean(api, admin_headers, uid)


def test_unknown_and_foreign_events_are_acknowledged_and_ignored(api, db):
    resp = deliver(api, event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert resp.status_code == 200 and resp.json()["outcome"] == "ignored"
    sub = {**session("cs_test_sub", "nobody"), "mode": "subscription"}
    assert deliver(api, event("checkout.session.completed", sub)).json()["outcome"] == "ignored"
    assert not db.collection("users").document("nobody").get().exists


# --- checkout sessions through the stripe library and the local test double -----------


def start_checkout(api, headers, **body):
    fields = {
        "packId": "starter",
        "successUrl": f"{CONSOLE}/?purchase=done",
        "cancelUrl": f"{CONSOLE}/",
        **body,
    }
    return api.post("createCheckoutSession", json=fields, headers=headers)


def test_a_checkout_paid_on_the_test_page_credits_the_buyer(api, db, token_for, admin_headers):
    uid = new_buyer()
    headers = bearer(token_for(uid))
    resp = start_checkout(api, headers, packId="studio")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["url"].startswith(DOUBLE + "/pay/") and body["sessionId"].startswith("cs_test_")
    assert (body["credits"], body["amount"], body["currency"]) == (600, 2500, "usd")
    doc = purchase(db, uid, body["sessionId"])
    assert doc["status"] == "open" and doc["credits"] == 600
    seen = requests.get(
        f"{DOUBLE}/v1/checkout/sessions/{body['sessionId']}",
        headers={"Authorization": "Bearer sk_test_reader"},
        timeout=10,
    ).json()
    assert seen["mode"] == "payment" and seen["client_reference_id"] == uid
    assert seen["metadata"] == {"userId": uid, "packId": "studio", "credits": "600"}
    assert seen["amount_total"] == 2500
    paid = requests.post(body["url"], data={"action": "pay"}, allow_redirects=False, timeout=10)
    assert paid.status_code == 303 and paid.headers["Location"] == f"{CONSOLE}/?purchase=done"
    deadline = time.monotonic() + 30
    while balance_of(db, uid) != 600:
        assert time.monotonic() < deadline, "the purchase was not credited"
        time.sleep(0.2)
    assert purchase(db, uid, body["sessionId"])["status"] == "paid"
    audit_clean(api, admin_headers, uid)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"packId": "nope"}, "invalid-pack-id"),
        ({"packId": 7}, "invalid-pack-id"),
        ({"successUrl": "https://evil.example/"}, "invalid-success-url"),
        ({"successUrl": "javascript:alert(1)"}, "invalid-success-url"),
        ({"cancelUrl": "//evil.example/"}, "invalid-cancel-url"),
        ({"cancelUrl": "http://127.0.0.1:5000@evil.example/"}, "invalid-cancel-url"),
        ({"packId": None}, "missing-fields"),
    ],
)
def test_bad_checkout_input_is_a_400_and_records_nothing(api, db, token_for, body, code):
    uid = new_buyer(created=False)
    resp = start_checkout(api, bearer(token_for(uid)), **body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == code
    assert list(db.collection("users").document(uid).collection("purchases").stream()) == []


def test_a_signed_in_buyer_always_buys_for_itself(api, db, token_for):
    buyer, other = new_buyer(created=False), new_buyer(created=False)
    resp = start_checkout(api, bearer(token_for(buyer)), userId=other)
    assert resp.status_code == 200  # the token's user buys; a userId in the body is ignored
    assert list(db.collection("users").document(other).collection("purchases").stream()) == []


def test_purchases_and_reversals_are_counted_for_the_weekly_report(api, db, admin_headers):
    from datetime import UTC, datetime

    day = db.collection("revenueDays").document(datetime.now(UTC).strftime("%Y-%m-%d"))

    def counted():
        data = day.get().to_dict() or {}
        return {k: data.get(k, 0) for k in ("purchases", "creditsPurchased", "creditsReversed")}, (
            data.get("amount") or {}
        ).get("usd", 0)

    (before, usd_before) = counted()
    uid = new_buyer()
    sid, pi = ids()
    paid = session(sid, uid, credits=600, amount=2500, intent=pi, pack="studio")
    assert deliver(api, event("checkout.session.completed", paid)).ok
    assert deliver(api, event("charge.refunded", charge(pi, 2500, 500))).ok  # a fifth back
    (after, usd_after) = counted()
    assert after["purchases"] - before["purchases"] == 1
    assert after["creditsPurchased"] - before["creditsPurchased"] == 600
    assert after["creditsReversed"] - before["creditsReversed"] == 120
    assert usd_after - usd_before == 2500

    # The report of a (past) week sums its days, beside the credits spent.
    week = "2016-W20"  # Monday 2016-05-16 .. Sunday 2016-05-22; no other test uses it
    days = db.collection("revenueDays")
    days.document("2016-05-16").set(
        {"purchases": 2, "creditsPurchased": 700, "amount": {"usd": 3000}, "day": "2016-05-16"}
    )
    days.document("2016-05-22").set(
        {
            "purchases": 1,
            "creditsPurchased": 100,
            "amount": {"eur": 500},
            "reversals": 1,
            "creditsReversed": 50,
            "day": "2016-05-22",
        }
    )
    days.document("2016-05-23").set({"purchases": 9, "creditsPurchased": 900})  # next week
    resp = api.post("generateWeeklyReport", params={"week": week}, headers=admin_headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["revenue"] == {
        "purchases": 3,
        "creditsPurchased": 800,
        "reversals": 1,
        "creditsReversed": 50,
        "reinstatements": 0,
        "creditsReinstated": 0,
        "amount": {"eur": 500, "usd": 3000},
        "netCreditsSold": 750,
    }


def test_a_payment_link_session_naming_only_its_pack_is_credited(api, db, admin_headers):
    uid = new_buyer()
    sid, pi = ids()
    obj = session(sid, uid, amount=2500, intent=pi)
    obj["metadata"] = {"packId": "studio"}  # no userId, no credits: client_reference_id + pack
    assert deliver(api, event("checkout.session.completed", obj)).ok
    assert balance_of(db, uid) == 600
    assert purchase(db, uid, sid)["packId"] == "studio"
    audit_clean(api, admin_headers, uid)
