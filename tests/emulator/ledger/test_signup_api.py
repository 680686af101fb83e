"""The signup bonus, only for a proven address: users signed up through the Auth emulator's REST
API (as the client SDKs do) get SIGNUP_BONUS_CREDITS once their email is verified (the
emulator's email verification flow), at the next sign-in (the blocking trigger) or at the first
call with a verified token, exactly once; an unverified account gets nothing, and a verified
variant of an address that got it (case, dots, +tag, googlemail) gets none."""

from __future__ import annotations

import hashlib
import threading
import uuid
from typing import Any

import pytest
import requests
from books import check_books, ledger
from conftest import PROJECT_ID, bearer, call, touch

pytestmark = pytest.mark.emulator

AUTH = "http://127.0.0.1:9099"
IDENTITY = f"{AUTH}/identitytoolkit.googleapis.com/v1"
KEY = "?key=demo-key"
BONUS = 10  # SIGNUP_BONUS_CREDITS' default


def auth_call(method: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = requests.post(f"{IDENTITY}/{method}{KEY}", json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def sign_up(email: str | None) -> dict[str, Any]:
    """accounts:signUp (anonymous without an email): localId, idToken, refreshToken."""
    body: dict[str, Any] = {"returnSecureToken": True}
    if email is not None:
        body.update(email=email, password="password")
    return auth_call("accounts:signUp", body)


def sign_in(email: str) -> str:
    """A new sign-in (runs the blocking sign-in trigger); its ID token."""
    body = {"email": email, "password": "password", "returnSecureToken": True}
    return str(auth_call("accounts:signInWithPassword", body)["idToken"])


def verify_email(id_token: str, email: str) -> None:
    """The emulator's email verification flow: send the code, read it, apply it."""
    auth_call("accounts:sendOobCode", {"requestType": "VERIFY_EMAIL", "idToken": id_token})
    resp = requests.get(f"{AUTH}/emulator/v1/projects/{PROJECT_ID}/oobCodes", timeout=30)
    assert resp.status_code == 200, resp.text
    codes = [
        c["oobCode"]
        for c in resp.json()["oobCodes"]
        if c["requestType"] == "VERIFY_EMAIL" and c["email"] == email.lower()
    ]
    assert codes, f"no verification code for {email}"
    assert auth_call("accounts:update", {"oobCode": codes[-1]})["emailVerified"] is True


def refreshed(refresh_token: str) -> str:
    """A new ID token without a new sign-in (as the SDKs' getIdToken(true)): no trigger runs."""
    resp = requests.post(
        f"{AUTH}/securetoken.googleapis.com/v1/token{KEY}",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["id_token"])


def user_doc(db: Any, uid: str) -> dict[str, Any] | None:
    snap = db.collection("users").document(uid).get()
    return snap.to_dict() if snap.exists else None


def credits_of(db: Any, uid: str) -> int | None:
    data = user_doc(db, uid)
    return None if data is None else data["credits"]


def bonus_entries(db: Any, uid: str) -> list[tuple[str, int, str | None]]:
    return [(e["type"], e["credits"], e.get("reason")) for e in ledger(db, uid)]


def claims_of(db: Any, uid: str) -> list[Any]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = db.collection("signupBonuses").where(filter=FieldFilter("userId", "==", uid))
    return list(query.stream())


def test_an_unverified_sign_up_gets_nothing_until_it_verifies_then_the_bonus_once(db, api):
    email = f"ada{uuid.uuid4().hex[:8]}@gmail.com"
    account = sign_up(email)
    uid = account["localId"]
    token = sign_in(email)
    resp = api.get("getUserCredits", params={"userId": uid}, headers=bearer(token))
    assert resp.status_code == 404, resp.text  # no bonus, not even a user document
    assert user_doc(db, uid) is None

    verify_email(token, email)
    touch(uid)
    assert user_doc(db, uid) is None  # verified, but not yet seen by the service
    token = sign_in(email)  # the first sign-in with email_verified: the bonus
    assert credits_of(db, uid) == BONUS
    assert bonus_entries(db, uid) == [("grant", BONUS, "signup-bonus")]
    assert user_doc(db, uid)["signupBonus"] == "granted"
    decided_at = db.collection("users").document(uid).get().update_time

    token = sign_in(email)
    for _ in range(2):
        resp = api.get("getUserCredits", params={"userId": uid}, headers=bearer(token))
        assert resp.status_code == 200, resp.text
        assert resp.json()["currentCredits"] == BONUS
    assert len(ledger(db, uid)) == 1 and check_books(db, [uid]) == []
    # Decided: later sign-ins and calls write nothing.
    assert db.collection("users").document(uid).get().update_time == decided_at

    # The claim names the user, not the address, under a keyed hash (not its plain SHA-256).
    (claim,) = claims_of(db, uid)
    assert set(claim.to_dict()) == {"userId", "grantedAt"}
    assert claim.id != hashlib.sha256(email.encode()).hexdigest()


def test_a_verified_variant_of_an_address_that_got_the_bonus_gets_none(db, api):
    name = f"grace{uuid.uuid4().hex[:8]}"
    first = sign_up(f"{name}@gmail.com")
    verify_email(first["idToken"], f"{name}@gmail.com")
    touch(first["localId"])
    sign_in(f"{name}@gmail.com")
    assert credits_of(db, first["localId"]) == BONUS

    for alias in (
        f"{name[:2].upper()}.{name[2:]}@Gmail.com",  # (Auth itself folds case only)
        f"{name}+promo@gmail.com",
        f"{name[:1]}.{name[1:]}+x@googlemail.com",
    ):
        other = sign_up(alias)
        uid = other["localId"]
        touch(uid)
        verify_email(other["idToken"], alias)
        token = sign_in(alias)
        assert credits_of(db, uid) == 0, alias  # decided: no bonus for this address
        assert user_doc(db, uid)["signupBonus"] == "address-used"
        resp = api.get("getUserCredits", params={"userId": uid}, headers=bearer(token))
        assert resp.status_code == 200 and resp.json()["currentCredits"] == 0, resp.text
        assert ledger(db, uid) == []
    assert credits_of(db, first["localId"]) == BONUS
    assert check_books(db, [first["localId"]]) == []


def test_a_verified_token_gets_the_bonus_at_its_first_call_without_a_new_sign_in(db, api):
    """After verifying, the SDKs refresh the ID token (no sign-in, no trigger): the first call
    with it decides the bonus, over HTTP and through the callable alike, once."""
    for via in ("http", "callable"):
        email = f"hopper{uuid.uuid4().hex[:8]}@example.com"
        account = sign_up(email)
        uid = account["localId"]
        touch(uid)
        verify_email(account["idToken"], email)
        assert user_doc(db, uid) is None
        token = refreshed(account["refreshToken"])
        for _ in range(2):
            if via == "http":
                resp = api.get("getUserCredits", params={"userId": uid}, headers=bearer(token))
                assert resp.status_code == 200, resp.text
                body = resp.json()
            else:
                resp = call("getCredits", token, {})
                assert resp.status_code == 200, resp.text
                body = resp.json()["result"]
            assert body["currentCredits"] == BONUS, via
        assert bonus_entries(db, uid) == [("grant", BONUS, "signup-bonus")]
        assert check_books(db, [uid]) == []


def test_the_sign_in_trigger_and_a_call_at_once_grant_it_exactly_once(db, api):
    email = f"lovelace{uuid.uuid4().hex[:8]}@example.com"
    account = sign_up(email)
    uid = account["localId"]
    touch(uid)
    verify_email(account["idToken"], email)
    token = refreshed(account["refreshToken"])
    results: list[Any] = []

    def by_call() -> None:
        results.append(api.get("getUserCredits", params={"userId": uid}, headers=bearer(token)))

    threads = [threading.Thread(target=by_call), threading.Thread(target=sign_in, args=(email,))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results[0].status_code == 200, results[0].text
    assert results[0].json()["currentCredits"] == BONUS
    assert credits_of(db, uid) == BONUS
    assert bonus_entries(db, uid) == [("grant", BONUS, "signup-bonus")]
    assert len(claims_of(db, uid)) == 1 and check_books(db, [uid]) == []


def test_a_google_account_is_verified_from_the_start_and_gets_it_at_creation(db):
    email = f"turing{uuid.uuid4().hex[:8]}@gmail.com"
    claims = f'{{"sub": "{uuid.uuid4().hex}", "email": "{email}", "email_verified": true}}'
    body = {
        "postBody": f"id_token={claims}&providerId=google.com",
        "requestUri": "http://localhost",
        "returnSecureToken": True,
    }
    uid = auth_call("accounts:signInWithIdp", body)["localId"]
    touch(uid)
    assert credits_of(db, uid) == BONUS
    assert bonus_entries(db, uid) == [("grant", BONUS, "signup-bonus")]


def test_a_user_without_an_email_gets_no_bonus(db, api):
    account = sign_up(None)  # anonymous sign-in: free to repeat, so no free credits
    uid = account["localId"]
    resp = api.get("getUserCredits", params={"userId": uid}, headers=bearer(account["idToken"]))
    assert resp.status_code == 404, resp.text
    assert user_doc(db, uid) is None


def test_the_decision_is_made_once_per_user_and_address_even_when_run_twice(db):
    from imagegen.ledger import moves as money

    uid = f"twice-{uuid.uuid4().hex[:10]}"
    other = f"{uid}-b"
    touch(uid)
    touch(other)
    key = uuid.uuid4().hex
    assert money.decide_signup_bonus(db, uid, key, 7) == money.BonusDecision.GRANTED
    assert money.decide_signup_bonus(db, uid, key, 7) is None  # decided before
    assert money.decide_signup_bonus(db, other, key, 7) == money.BonusDecision.ADDRESS_USED
    assert money.decide_signup_bonus(db, other, uuid.uuid4().hex, 7) is None
    assert credits_of(db, uid) == 7 and credits_of(db, other) == 0
    assert len(ledger(db, uid)) == 1 and ledger(db, other) == []
    assert check_books(db, [uid, other]) == []


def test_an_address_claimed_before_claims_were_keyed_gets_no_second_bonus(db, api):
    """A claim with the old id (the plain SHA-256 of the old normalisation) still counts."""
    name = f"linus{uuid.uuid4().hex[:8]}"
    old = hashlib.sha256(f"{name}@gmail.com".encode()).hexdigest()
    db.collection("signupBonuses").document(old).set({"userId": "an-earlier-account"})
    alias = f"{name}+again@gmail.com"
    account = sign_up(alias)
    uid = account["localId"]
    verify_email(account["idToken"], alias)
    touch(uid)
    sign_in(alias)
    assert credits_of(db, uid) == 0 and user_doc(db, uid)["signupBonus"] == "address-used"
    assert ledger(db, uid) == []
