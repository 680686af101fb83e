"""The signup bonus: a new Auth user (signed up through the Auth emulator's REST API, as the
client SDKs do) gets SIGNUP_BONUS_CREDITS once, through the blocking `grantSignupBonus`
trigger; an alias of an address that got it (case, dots, +tag) gets none."""

from __future__ import annotations

import uuid

import pytest
import requests
from books import check_books, ledger
from conftest import touch

pytestmark = pytest.mark.emulator

SIGN_UP = "http://127.0.0.1:9099/identitytoolkit.googleapis.com/v1/accounts:signUp?key=demo-key"
BONUS = 10  # SIGNUP_BONUS_CREDITS' default


def sign_up(email: str | None) -> str:
    body = {"returnSecureToken": True}
    if email is not None:
        body.update(email=email, password="password")
    resp = requests.post(SIGN_UP, json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()["localId"]


def credits_of(db, uid):
    snap = db.collection("users").document(uid).get()
    return snap.to_dict()["credits"] if snap.exists else None


def test_a_new_user_gets_the_bonus_once_and_an_alias_gets_none(db):
    name = f"ada{uuid.uuid4().hex[:8]}"
    first = sign_up(f"{name}@gmail.com")
    touch(first)  # the only one of these with a user document: the end-of-run audit checks it
    assert credits_of(db, first) == BONUS
    entries = ledger(db, first)
    assert [(e["type"], e["credits"], e.get("reason")) for e in entries] == [
        ("grant", BONUS, "signup-bonus")
    ]
    for alias in (
        f"{name[:2].upper()}.{name[2:]}@Gmail.com",  # (Auth itself folds case only)
        f"{name}+promo@gmail.com",
        f"{name[:1]}.{name[1:]}+x@googlemail.com",
    ):
        other = sign_up(alias)
        assert credits_of(db, other) is None, alias  # no bonus, no user document
    assert check_books(db, [first]) == []


def test_a_user_without_an_email_gets_no_bonus(db):
    uid = sign_up(None)  # anonymous sign-in: free to repeat, so no free credits
    assert credits_of(db, uid) is None


def test_the_grant_is_exactly_once_per_user_and_address_even_when_run_twice(db):
    from imagegen import ledger as money
    from imagegen.emails import email_key, normalized_email

    uid = f"twice-{uuid.uuid4().hex[:10]}"
    touch(uid)
    key = email_key(normalized_email(f"{uid}@example.com"))
    assert money.grant_signup_bonus(db, uid, key, 7) is True
    assert money.grant_signup_bonus(db, uid, key, 7) is False  # the trigger ran again
    other = f"{uid}-b"
    assert money.grant_signup_bonus(db, other, key, 7) is False  # same address, other user
    assert credits_of(db, uid) == 7 and credits_of(db, other) is None
    assert len(ledger(db, uid)) == 1 and check_books(db, [uid]) == []
