"""Accounts: the signup bonus of a new Auth user."""

from __future__ import annotations

import logging

from .. import ledger
from ..emails import email_key, normalized_email
from ..settings import SIGNUP_BONUS_CREDITS
from ..wiring import db

log = logging.getLogger(__name__)


def signup_bonus(user_id: str, email: str | None) -> int:
    """Grant SIGNUP_BONUS_CREDITS to a new user, exactly once, and never to an address that
    normalizes (case, dots, `+tag`) to one that already got it; users without an email get
    none (anonymous accounts cost nothing to make). Returns the credits granted."""
    credits = max(0, SIGNUP_BONUS_CREDITS.value)
    normalized = normalized_email(email)
    if credits == 0 or normalized is None:
        return 0
    if ledger.grant_signup_bonus(db(), user_id, email_key(normalized), credits):
        log.info("signup bonus of %d credits for %s", credits, user_id)
        return credits
    log.info("no signup bonus for %s: already granted to this user or address", user_id)
    return 0
