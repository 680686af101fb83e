"""Buying credits: a Stripe Checkout Session for a credit pack, and the Stripe webhook that
fulfils it (credits added from the verified event only, exactly once) or reverses it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from imagegen.billing import purchases, stripe_api
from imagegen.billing.purchase_rules import CreditPack, origin_of, pack_from, redirect_url
from imagegen.core import auth, errors
from imagegen.core.auth import Caller
from imagegen.core.settings import (
    STRIPE_API_BASE,
    STRIPE_SECRET_KEY,
    STRIPE_WEBHOOK_SECRET,
    redirect_origins,
    secret_value,
)
from imagegen.core.vocabulary import CREDIT_PACKS, PURCHASES, USERS
from imagegen.generation import idempotency
from imagegen.ledger import moves
from imagegen.operations.wiring import db
from imagegen.records.validation import is_document_id, validate_user_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkout:
    session_id: str
    url: str
    pack: CreditPack


def allowed_origins() -> frozenset[str]:
    return frozenset(o for o in map(origin_of, redirect_origins()) if o)


def active_pack(pack_id: Any) -> CreditPack:
    """The active pack `pack_id`; 400 `invalid-pack-id` listing the active packs otherwise."""
    packs = {
        snap.id: pack
        for snap in db().collection(CREDIT_PACKS).stream()
        if (pack := pack_from(snap.id, snap.to_dict() or {})) is not None and pack.active
    }
    if not isinstance(pack_id, str) or not is_document_id(pack_id) or pack_id not in packs:
        raise errors.invalid_choice("packId", str(pack_id), sorted(packs))
    return packs[pack_id]


def buy_credits(
    caller: Caller, data: Mapping[str, Any], idempotency_key: str | None = None
) -> Checkout:
    """Create a Checkout Session for a pack and record the purchase `open`. The buyer is the
    caller (in the emulator without a token, `userId`). An account being deleted (or deleted)
    is 410 `account-closed` and nothing is created at Stripe; should it be closed while the
    session is being created, the session is expired at once and the answer is the same (the
    deletion, which lists open purchases after closing, expires it as well)."""
    missing = [f for f in ("packId", "successUrl", "cancelUrl") if data.get(f) in (None, "")]
    if caller.uid is None and data.get("userId") in (None, ""):
        missing.insert(0, "userId")
    if missing:
        raise errors.missing_fields(missing)
    user_id = caller.uid if caller.uid is not None else validate_user_id(data.get("userId"))
    auth.require_user(caller, user_id)
    origins = allowed_origins()
    success = redirect_url("successUrl", data.get("successUrl"), origins)
    cancel = redirect_url("cancelUrl", data.get("cancelUrl"), origins)
    pack = active_pack(data.get("packId"))
    client = db()
    if _closed(client, user_id):
        raise errors.account_closed(user_id)
    key = (
        f"checkout-{user_id}-{idempotency.validate_key(idempotency_key)}"
        if idempotency_key is not None
        else f"checkout-{uuid.uuid4().hex}"
    )
    try:
        session = stripe_api.create_checkout_session(
            secret_value(STRIPE_SECRET_KEY),
            STRIPE_API_BASE.value,
            pack,
            user_id,
            success,
            cancel,
            key,
        )
    except stripe_api.StripeUnavailable:
        raise errors.payments_unavailable() from None
    purchases.record_open(client, user_id, session.id, pack, session.url)
    if _closed(client, user_id):  # closed meanwhile: this session must not stay payable
        _expire(user_id, session.id)
        raise errors.account_closed(user_id)
    return Checkout(session.id, session.url, pack)


def _refund_in_full(payment_intent: str, idempotency_key: str) -> str:
    """Refund a payment through Stripe (a payment completed for a closed account)."""
    return stripe_api.refund_payment(
        secret_value(STRIPE_SECRET_KEY), STRIPE_API_BASE.value, payment_intent, idempotency_key
    )


def _closed(client: Any, user_id: str) -> bool:
    snap = client.collection(USERS).document(user_id).get(field_paths=["closingAt", "deletedAt"])
    return snap.exists and moves.account_closed(snap.to_dict() or {})


def _expire(user_id: str, session_id: str) -> bool:
    try:
        return stripe_api.expire_checkout_session(
            secret_value(STRIPE_SECRET_KEY), STRIPE_API_BASE.value, session_id
        )
    except stripe_api.StripeUnavailable:
        log.error("could not expire checkout session %s of %s", session_id, user_id)
        raise errors.payments_unavailable() from None


def expire_open_checkouts(user_id: str) -> int:
    """Expire at Stripe every Checkout Session of the user still recorded `open`, so that none
    can be paid any more (a step of deleting an account, after it was closed). A session that
    Stripe refuses to expire (already expired or complete, unknown) is skipped; Stripe out of
    reach is 503 `payments-unavailable` (the deletion is then finished by calling again).
    Returns how many were expired."""
    query = (
        db()
        .collection(USERS)
        .document(user_id)
        .collection(PURCHASES)
        .where(filter=FieldFilter("status", "==", purchases.OPEN))
    )
    return sum(_expire(user_id, snap.id) for snap in query.select([]).stream())


def handle_stripe_webhook(payload: bytes, signature: str | None) -> purchases.Applied:
    """Verify and apply one Stripe event: 400 `invalid-signature` (nothing changed) when it
    does not verify; any failure while applying propagates (a 5xx: Stripe retries)."""
    try:
        event = stripe_api.verified_event(payload, signature, secret_value(STRIPE_WEBHOOK_SECRET))
    except stripe_api.BadSignature as err:
        log.warning("stripe webhook refused: %s", err)
        raise errors.invalid_signature() from None
    applied = purchases.apply_event(db(), event, _refund_in_full)
    log.info(
        "stripe event %s (%s): %s %s",
        event.get("id"),
        event.get("type"),
        applied.outcome,
        applied.detail,
    )
    return applied
