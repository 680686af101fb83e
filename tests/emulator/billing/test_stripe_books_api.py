"""Stripe books under an adversary, over HTTP: the same signed events in several orders end
the same, an inquiry takes nothing, refund shares use the charge's own amount, a failed
refund gives back, and a payment that completes for a closing account is refunded through
the local Stripe double instead of landing as credits."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests
from books import ledger
from conftest import bearer, spend, touch
from google.cloud import firestore
from stripe_events import charge, deliver, dispute, event, session

pytestmark = pytest.mark.emulator

DOUBLE = "http://127.0.0.1:12111"
CONSOLE = "http://127.0.0.1:5000"
READER = {"Authorization": "Bearer sk_test_reader"}


def new_buyer() -> str:
    uid = f"buyer-{uuid.uuid4().hex[:12]}"
    touch(uid)
    return uid


def ids() -> tuple[str, str]:
    return f"cs_test_{uuid.uuid4().hex}", f"pi_{uuid.uuid4().hex[:16]}"


def state(db: Any, uid: str, sid: str) -> tuple[int, int, str, int, int]:
    """(balance, net of the purchase's entries, status, reversed, shortfall)."""
    user = db.collection("users").document(uid).get().to_dict() or {}
    p = db.collection("users").document(uid).collection("purchases").document(sid).get()
    purchase = p.to_dict() or {}
    sign = {"purchase": 1, "reinstatement": 1, "reversal": -1}
    net = sum(
        sign[e["type"]] * e["credits"]
        for e in ledger(db, uid)
        if e.get("checkoutSessionId") == sid and e["type"] in sign
    )
    return (
        user.get("credits", 0),
        net,
        purchase.get("status", ""),
        purchase.get("reversedCredits", 0),
        purchase.get("shortfallCredits", 0),
    )


def audit_clean(api: Any, admin_headers: dict[str, str], uid: str) -> None:
    report = api.get("auditLedger", params={"userId": uid}, headers=admin_headers).json()
    assert report["clean"], report["discrepancies"]


@pytest.mark.parametrize(
    "order",
    [
        ("paid", "dispute", "refund"),
        ("paid", "refund", "dispute"),
        ("dispute", "refund", "paid"),
        ("refund", "paid", "dispute", "dispute", "refund"),
    ],
)
def test_a_full_dispute_and_a_half_refund_end_the_same_in_any_order(api, db, admin_headers, order):
    """The review's case: before, a refund after the dispute handed all 100 credits back."""
    uid, (sid, pi) = new_buyer(), ids()
    events = {
        "paid": event("checkout.session.completed", session(sid, uid, intent=pi)),
        "dispute": event(
            "charge.dispute.created", dispute(f"dp_{pi}", pi, 500, status="needs_response")
        ),
        "refund": event("charge.refunded", charge(pi, 500, 250)),
    }
    for name in order:
        assert deliver(api, events[name]).status_code == 200
    assert state(db, uid, sid) == (0, 0, "paid", 100, 0)
    audit_clean(api, admin_headers, uid)


def test_an_inquiry_takes_nothing_and_a_lost_chargeback_keeps_its_reversal(api, db, admin_headers):
    uid, (sid, pi) = new_buyer(), ids()
    assert deliver(api, event("checkout.session.completed", session(sid, uid, intent=pi))).ok
    inquiry = dispute(f"dp_i_{pi}", pi, 500, status="warning_needs_response")
    assert deliver(api, event("charge.dispute.created", inquiry)).ok
    assert state(db, uid, sid) == (100, 100, "paid", 0, 0)
    closed = {**inquiry, "status": "warning_closed"}
    assert deliver(api, event("charge.dispute.closed", closed)).ok
    assert state(db, uid, sid) == (100, 100, "paid", 0, 0)
    assert [e["type"] for e in ledger(db, uid)] == ["purchase"]

    lost = dispute(f"dp_l_{pi}", pi, 250, status="lost")  # only its close arrives
    assert deliver(api, event("charge.dispute.closed", lost)).ok
    assert state(db, uid, sid) == (50, 50, "paid", 50, 0)
    audit_clean(api, admin_headers, uid)


def test_refund_shares_use_the_charge_amount_and_a_failed_refund_gives_back(api, db, admin_headers):
    uid, (sid, pi) = new_buyer(), ids()
    discounted = session(sid, uid, credits=100, amount=400, intent=pi)  # list price 500
    assert deliver(api, event("checkout.session.completed", discounted)).ok
    assert deliver(api, event("charge.refunded", charge(pi, 400, 200))).ok
    assert state(db, uid, sid) == (50, 50, "paid", 50, 0)  # half of what was paid
    failed = {
        "id": f"re_{pi}",
        "object": "refund",
        "amount": 200,
        "currency": "usd",
        "payment_intent": pi,
        "status": "failed",
        "failure_reason": "expired_or_canceled_card",
    }
    failure = event("charge.refund.updated", failed)
    failure["created"] += 3600  # a refund fails days later, never in the second it was made
    assert deliver(api, failure).ok
    assert state(db, uid, sid) == (100, 100, "paid", 0, 0)
    uid2, (sid2, pi2) = new_buyer(), ids()  # paid in euros for a pack priced in dollars
    assert deliver(api, event("checkout.session.completed", session(sid2, uid2, intent=pi2))).ok
    euros = {**charge(pi2, 460, 230), "currency": "eur"}
    assert deliver(api, event("charge.refunded", euros)).ok
    assert state(db, uid2, sid2) == (50, 50, "paid", 50, 0)
    purchase = (
        db.collection("users").document(uid2).collection("purchases").document(sid2).get()
    ).to_dict()
    assert purchase["chargeCurrency"] == "eur"
    audit_clean(api, admin_headers, uid)
    audit_clean(api, admin_headers, uid2)


def _wait(predicate: Any, what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := predicate()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return value


@pytest.mark.parametrize("action", ["pay", "pay_delayed"])
def test_a_payment_completing_for_a_closing_account_is_refunded_through_stripe(
    api, db, token_for, admin_headers, action
):
    """A session left open, or a delayed bank payment, that completes after the account
    started closing: refunded in full at Stripe, recorded `refunded`, no credits land."""
    uid = new_buyer()
    user = db.collection("users").document(uid)
    user.set({"credits": 0}, merge=True)
    resp = api.post(
        "createCheckoutSession",
        json={"packId": "starter", "successUrl": f"{CONSOLE}/", "cancelUrl": f"{CONSOLE}/"},
        headers=bearer(token_for(uid)),
    )
    assert resp.status_code == 200, resp.text
    sid, url = resp.json()["sessionId"], resp.json()["url"]
    user.update({"closingAt": firestore.SERVER_TIMESTAMP})  # deletion's first commit
    paid = requests.post(url, data={"action": action}, allow_redirects=False, timeout=10)
    assert paid.status_code == 303
    purchases = user.collection("purchases").document(sid)
    _wait(lambda: (purchases.get().to_dict() or {}).get("status") == "refunded", "no refund")
    doc = purchases.get().to_dict()
    assert doc["refundReason"] == "account-deleted"
    seen = requests.get(f"{DOUBLE}/v1/checkout/sessions/{sid}", headers=READER, timeout=10)
    pi = seen.json()["payment_intent"]
    refunds = requests.get(
        f"{DOUBLE}/v1/refunds", params={"payment_intent": pi}, headers=READER, timeout=10
    ).json()["data"]
    assert [(r["amount"], r["status"]) for r in refunds] == [(500, "succeeded")]
    assert doc["stripeRefundId"] == refunds[0]["id"]
    time.sleep(1.5)  # the double's charge.refunded event lands and changes nothing
    assert user.get().to_dict()["credits"] == 0
    assert [e["type"] for e in ledger(db, uid)] == []
    if action == "pay":  # our refund fails later (an expired card): flagged for an operator
        failed = {"id": refunds[0]["id"], "object": "refund", "amount": 500, "status": "failed"}
        failure = event("charge.refund.updated", {**failed, "payment_intent": pi})
        failure["created"] += 3600
        assert deliver(api, failure).ok
        assert purchases.get().to_dict()["refundFailed"] is True
        assert user.get().to_dict()["credits"] == 0
    audit_clean(api, admin_headers, uid)


@pytest.mark.parametrize("first", ["cs_a", "cs_b"])
def test_credits_given_back_on_one_purchase_pay_what_another_could_not_take(
    api, db, admin_headers, first
):
    """Two purchases of 10 credits, 16 spent: a chargeback on each, then the first is won.
    Whichever chargeback arrives first, the user ends with 0 (the won one's credits pay the
    other's shortfall) and nothing owed."""
    uid = new_buyer()
    sessions = {name: ids() for name in ("cs_a", "cs_b")}
    for sid, pi in sessions.values():
        paid = session(sid, uid, credits=10, amount=500, intent=pi)
        assert deliver(api, event("checkout.session.completed", paid)).ok
    spend(api, uid, 4)
    second = "cs_b" if first == "cs_a" else "cs_a"
    for name in (first, second):
        sid, pi = sessions[name]
        chargeback = dispute(f"dp_{pi}", pi, 500, status="needs_response")
        assert deliver(api, event("charge.dispute.created", chargeback)).ok
    sid_a, pi_a = sessions["cs_a"]
    won = dispute(f"dp_{pi_a}", pi_a, 500, status="won")
    assert deliver(api, event("charge.dispute.closed", won)).ok
    user = db.collection("users").document(uid).get().to_dict()
    assert user["credits"] == 0 and user.get("stripeShortfalls") == {sessions["cs_b"][0]: 6}
    states = {name: state(db, uid, sid) for name, (sid, _) in sessions.items()}
    assert states["cs_a"][3:] == (0, 0)  # won: nothing reversed, nothing owed
    assert states["cs_b"][3:] == (4, 6)  # 4 taken back, 6 spent already
    audit_clean(api, admin_headers, uid)
