"""Deleted accounts hold no money, over HTTP and the callable protocol: deletion closes the
account first (no charge, grant or checkout from that commit on), expires its open Checkout
Sessions at the local Stripe double, then purges and forfeits; a request admitted while it
runs is refused or purged; a deleted, disabled or revoked user's token starts no checkout."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from books import balance, check_books, ledger, requests_of
from conftest import bearer, call, touch

pytestmark = pytest.mark.emulator

DOUBLE = "http://127.0.0.1:12111"
CONSOLE = "http://127.0.0.1:5000"
STRIPE_KEY = {"Authorization": "Bearer sk_test_reader"}
ORDER = {"model": "model-a", "style": "anime", "color": "neon", "size": "512x512"}
CHECKOUT = {
    "packId": "starter",
    "successUrl": f"{CONSOLE}/?purchase=done",
    "cancelUrl": f"{CONSOLE}/",
}


def user_doc(db, uid):
    return db.collection("users").document(uid).get().to_dict() or {}


def purchases_of(db, uid):
    return {
        snap.id: snap.to_dict()
        for snap in db.collection("users").document(uid).collection("purchases").stream()
    }


def stripe_session(sid):
    return requests.get(f"{DOUBLE}/v1/checkout/sessions/{sid}", headers=STRIPE_KEY, timeout=10)


def sessions_at_stripe(uid):
    """The Checkout Sessions the Stripe double holds for `uid` (among its newest 100)."""
    listed = requests.get(
        f"{DOUBLE}/v1/checkout/sessions", params={"limit": 100}, headers=STRIPE_KEY, timeout=10
    )
    assert listed.status_code == 200, listed.text
    return [s for s in listed.json()["data"] if s["client_reference_id"] == uid]


def delete_until_done(send, attempts=300):
    """Call a deletion until it answers anything but `request-in-progress` (what it answers
    while a request admitted before the closing still runs; the account is closed meanwhile).
    `send()` gives the answer's status and error code ("" for none)."""
    for _ in range(attempts):
        status, code = send()
        if code != "request-in-progress":
            return status, code
        time.sleep(0.1)
    raise AssertionError("the deletion never finished")


def http_error_code(resp):
    return resp.json()["error"]["code"] if resp.status_code >= 400 else ""


def callable_error_code(resp):
    error = resp.json().get("error")
    return error["details"]["code"] if error else ""


def request_id_of(resp):
    body = resp.json()
    return body.get("generationRequestId") or body["error"]["generationRequestId"]


def assert_gone_with_exact_books(api, db, uid, admin_headers):
    """After a deletion: every request of the user has no prompt, the account is closed and
    deleted, the balance is 0 after one forfeit at most, and the books add up."""
    user = user_doc(db, uid)
    assert user["closingAt"] and user["deletedAt"] and user["credits"] == 0
    assert user["closingAt"] <= user["deletedAt"]
    for request in requests_of(db, uid):
        assert request["prompt"] == "" and request["purgedAt"], request
        assert request["status"] in ("completed", "failed", "canceled"), request
    assert len([e for e in ledger(db, uid) if e["type"] == "forfeit"]) <= 1
    assert check_books(db, [uid]) == []
    audit = api.get("auditLedger", params={"userId": uid}, headers=admin_headers).json()
    assert audit["clean"], audit["discrepancies"]


# --- a request admitted while the account is being deleted -----------------------------


def test_a_create_burst_racing_a_deletion_is_refused_or_purged(
    api, db, new_user, token_for, admin_headers
):
    uid = new_user(60)
    headers = bearer(token_for(uid))
    gate = threading.Barrier(2)
    answers = []

    def burst():
        gate.wait()
        for n in range(24):
            extra = {"Prefer": "respond-async"} if n % 4 == 3 else {}
            resp = api.post(
                "createGenerationRequest",
                json={**ORDER, "prompt": f"a private thought {n}"},
                headers={**headers, **extra},
            )
            answers.append(resp)

    def delete():
        gate.wait()
        time.sleep(0.3)  # a few creates land first, the rest race the closing

        def send():
            resp = api.post("deleteUserAccount", headers=headers)
            return resp.status_code, http_error_code(resp)

        return delete_until_done(send)

    with ThreadPoolExecutor(2) as pool:
        creating, deleting = pool.submit(burst), pool.submit(delete)
        creating.result()
        assert deleting.result() == (200, "")
    for resp in answers:
        assert http_error_code(resp) in ("", "user-not-found", "generation-failed"), resp.text
    admitted = {request_id_of(r) for r in answers if r.status_code != 404}
    assert admitted == {r["id"] for r in requests_of(db, uid)}
    assert_gone_with_exact_books(api, db, uid, admin_headers)
    after = api.post("createGenerationRequest", json={"userId": uid, **ORDER, "prompt": "x"})
    assert after.status_code == 404 and after.json()["error"]["code"] == "user-not-found"


def test_a_callable_burst_racing_deleteAccount_is_refused_or_purged(
    api, db, new_user, token_for, admin_headers
):
    uid = new_user(40)
    token = token_for(uid)
    gate = threading.Barrier(2)
    answers = []

    def burst():
        gate.wait()
        for n in range(16):
            data = {**ORDER, "prompt": f"a diary line {n}", "simulateOutcome": "success"}
            answers.append(call("generateImage", token, data))

    def delete():
        gate.wait()
        time.sleep(0.2)

        def send():
            resp = call("deleteAccount", token, {})
            return resp.status_code, callable_error_code(resp)

        return delete_until_done(send)

    with ThreadPoolExecutor(2) as pool:
        creating, deleting = pool.submit(burst), pool.submit(delete)
        creating.result()
        assert deleting.result() == (200, "")
    for resp in answers:
        assert callable_error_code(resp) in ("", "user-not-found"), resp.text
        if "result" in resp.json():
            assert resp.json()["result"]["status"] == "completed"
    assert len(requests_of(db, uid)) == sum("result" in r.json() for r in answers)
    assert_gone_with_exact_books(api, db, uid, admin_headers)


# --- closing first: a crash right after it, and what a closed account can no longer do ----


def test_a_closed_account_gets_no_charge_grant_or_checkout_and_a_retry_finishes(
    api, db, new_user, token_for, admin_headers
):
    uid = new_user(10)
    headers = bearer(token_for(uid))
    crashed = api.post("deleteUserAccount", headers={**headers, "X-Simulate-Crash": "after-close"})
    assert crashed.status_code == 500 and crashed.json()["error"]["code"] == "simulated-crash"
    user = user_doc(db, uid)
    assert user["closingAt"] and "deletedAt" not in user and user["credits"] == 10

    charge = api.post("createGenerationRequest", json={**ORDER, "prompt": "x"}, headers=headers)
    assert charge.status_code == 404 and charge.json()["error"]["code"] == "user-not-found"
    grant = api.post(
        "grantCredits",
        json={"userId": uid, "credits": 5, "reason": "goodwill"},
        headers=admin_headers,
    )
    assert grant.status_code == 410 and grant.json()["error"]["code"] == "account-closed"
    checkout = api.post("createCheckoutSession", json=CHECKOUT, headers=headers)
    assert checkout.status_code == 410 and checkout.json()["error"]["code"] == "account-closed"
    bought = call("buyCredits", token_for(uid), CHECKOUT).json()["error"]
    assert bought["status"] == "FAILED_PRECONDITION"
    assert bought["details"]["code"] == "account-closed"
    anonymous = api.post("createCheckoutSession", json={**CHECKOUT, "userId": uid})
    assert anonymous.status_code == 410  # the emulator's no-token form too
    assert purchases_of(db, uid) == {} and sessions_at_stripe(uid) == []
    assert balance(db, uid) == 10 and [e["type"] for e in ledger(db, uid)] == ["grant"]

    done = api.post("deleteUserAccount", headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["forfeitedCredits"] == 10
    assert user_doc(db, uid)["closingAt"] == user["closingAt"]  # kept, not rewritten
    assert_gone_with_exact_books(api, db, uid, admin_headers)


def test_deletion_expires_the_open_checkout_sessions_at_stripe(
    api, db, new_user, token_for, admin_headers
):
    uid = new_user(5)
    headers = bearer(token_for(uid))
    opened = [api.post("createCheckoutSession", json=CHECKOUT, headers=headers) for _ in range(2)]
    assert [r.status_code for r in opened] == [200, 200], [r.text for r in opened]
    sids = [r.json()["sessionId"] for r in opened]
    assert [stripe_session(sid).json()["status"] for sid in sids] == ["open", "open"]
    # A purchase still recorded open whose session Stripe no longer knows (or that is already
    # expired or complete there): Stripe refuses the expire, and the deletion carries on.
    gone = f"cs_test_{uuid.uuid4().hex}"
    db.collection("users").document(uid).collection("purchases").document(gone).set(
        {"userId": uid, "sessionId": gone, "status": "open", "packId": "starter", "credits": 100}
    )
    resp = api.post("deleteUserAccount", headers=headers)
    assert resp.status_code == 200, resp.text
    assert [stripe_session(sid).json()["status"] for sid in sids] == ["expired", "expired"]
    deadline = time.monotonic() + 30  # Stripe's checkout.session.expired events follow
    while any(purchases_of(db, uid)[sid]["status"] != "expired" for sid in sids):
        assert time.monotonic() < deadline, purchases_of(db, uid)
        time.sleep(0.2)
    assert balance(db, uid) == 0
    assert sorted(e["type"] for e in ledger(db, uid)) == ["forfeit", "grant"]
    assert_gone_with_exact_books(api, db, uid, admin_headers)


# --- tokens: money endpoints check revocation --------------------------------------------


def test_a_deleted_users_token_starts_no_checkout(api, db, new_user, token_for):
    uid = new_user(3)
    token = token_for(uid)
    assert api.post("deleteUserAccount", headers=bearer(token)).status_code == 200
    resp = api.post("createCheckoutSession", json=CHECKOUT, headers=bearer(token))
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthenticated"
    called = call("buyCredits", token, CHECKOUT)
    assert called.status_code == 401 and called.json()["error"]["status"] == "UNAUTHENTICATED"
    again = api.post("deleteUserAccount", headers=bearer(token))
    assert again.status_code == 401
    assert purchases_of(db, uid) == {} and sessions_at_stripe(uid) == []


def test_a_disabled_or_revoked_users_token_starts_no_checkout(
    api, db, new_user, token_for, auth_app
):
    from firebase_admin import auth

    disabled, revoked = new_user(3), new_user(3)
    disabled_token, revoked_token = token_for(disabled), token_for(revoked)
    auth.update_user(disabled, disabled=True, app=auth_app)
    time.sleep(1.1)  # revocation has a resolution of one second: revoke after the token's
    auth.revoke_refresh_tokens(revoked, app=auth_app)
    for uid, token in ((disabled, disabled_token), (revoked, revoked_token)):
        resp = api.post("createCheckoutSession", json=CHECKOUT, headers=bearer(token))
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthenticated"
        called = call("buyCredits", token, CHECKOUT)
        assert called.status_code == 401, called.text
        deletion = api.post("deleteUserAccount", headers=bearer(token))
        assert deletion.status_code == 401
        assert "closingAt" not in user_doc(db, uid) and balance(db, uid) == 3
        assert purchases_of(db, uid) == {} and sessions_at_stripe(uid) == []
        # Reads do not pay for the revocation check: the token still reads.
        assert api.get("getUserCredits", headers=bearer(token)).status_code == 200
    touch(disabled)
    touch(revoked)


def test_a_revoked_admins_token_mints_no_credits(api, db, new_user, token_for, auth_app):
    from firebase_admin import auth

    admin_uid, uid = f"admin-{uuid.uuid4().hex[:10]}", new_user(3)
    token = token_for(admin_uid, admin=True)
    time.sleep(1.1)  # revocation has a resolution of one second
    auth.revoke_refresh_tokens(admin_uid, app=auth_app)
    resp = api.post("grantCredits", json={"userId": uid, "credits": 500}, headers=bearer(token))
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthenticated"
    assert balance(db, uid) == 3
