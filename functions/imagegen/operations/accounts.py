"""Accounts: the signup bonus, for a proven address.

The bonus is decided once per user, when its email is first seen verified: at creation (a
Google account is verified from the start), at a sign-in (the blocking triggers) or at a call
of the API with an ID token whose `email_verified` is true. An unverified account gets nothing
and nothing is written for it; once decided (granted, or not because the address already got
it), the user document says so and later sign-ins and calls skip it.
"""

from __future__ import annotations

import logging

from imagegen.core.auth import Caller
from imagegen.core.settings import SIGNUP_BONUS_CREDITS, SIGNUP_BONUS_KEY, secret_value
from imagegen.ledger import moves
from imagegen.ledger.emails import email_key, legacy_email_key, normalized_email
from imagegen.operations.wiring import db

log = logging.getLogger(__name__)

# Users whose bonus this instance saw decided: later calls skip even the read.
_decided: set[str] = set()
_DECIDED_MAX = 100_000


def signup_bonus(user_id: str, email: str | None, email_verified: bool) -> int:
    """Decide the signup bonus of a user whose email is verified: SIGNUP_BONUS_CREDITS, once
    per user and once per normalized address (case, NFKC, IDNA, `+tag`, provider aliases).
    Nothing for an unverified email (not even a read). Returns the credits granted."""
    credits = max(0, SIGNUP_BONUS_CREDITS.value)
    if not email_verified or credits == 0 or user_id in _decided:
        return 0
    secret = secret_value(SIGNUP_BONUS_KEY)
    if not secret:
        log.error("SIGNUP_BONUS_KEY is not set: no signup bonus is decided")
        return 0
    normalized = normalized_email(email)
    key = email_key(normalized, secret.encode()) if normalized is not None else None
    decision = moves.decide_signup_bonus(db(), user_id, key, credits, legacy_email_key(email))
    if len(_decided) >= _DECIDED_MAX:
        _decided.clear()
    _decided.add(user_id)
    if decision is None:
        return 0
    log.info("signup bonus for %s: %s", user_id, decision.value)  # the uid only, no address
    return credits if decision is moves.BonusDecision.GRANTED else 0


def signup_bonus_for(caller: Caller) -> None:
    """The signup bonus of a caller whose ID token says its email is verified (API calls). A
    failure is logged and never fails the call: the next call tries again."""
    if caller.uid is None or not caller.email_verified or caller.uid in _decided:
        return
    try:
        signup_bonus(caller.uid, caller.email, email_verified=True)
    except Exception:
        log.exception("signup bonus failed for %s", caller.uid)
