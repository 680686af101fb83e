"""Stripe through its official `stripe` library (imported on first use): Checkout Sessions
(create, expire), refunds and webhook signatures. The API root is `STRIPE_API_BASE`: Stripe
itself, or the local test double in the emulator; the code path is the same."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from imagegen.billing.purchase_rules import CreditPack

log = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_SECONDS = 300


class StripeUnavailable(Exception):
    """Stripe could not be reached or refused the call (network, 5xx, 429, bad key)."""


class BadSignature(Exception):
    """The webhook's `Stripe-Signature` does not verify (wrong secret, stale, tampered)."""


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


@lru_cache(maxsize=4)
def _client(api_key: str, api_base: str) -> Any:
    import stripe

    return stripe.StripeClient(
        api_key, base_addresses={"api": api_base.rstrip("/")}, max_network_retries=2
    )


def create_checkout_session(
    api_key: str,
    api_base: str,
    pack: CreditPack,
    user_id: str,
    success_url: str,
    cancel_url: str,
    idempotency_key: str,
) -> CheckoutSession:
    """A Checkout Session (`mode=payment`) selling `pack` to `user_id`."""
    import stripe

    metadata = {"userId": user_id, "packId": pack.id, "credits": str(pack.credits)}
    line_item: dict[str, Any] = (
        {"price": pack.stripe_price_id, "quantity": 1}
        if pack.stripe_price_id
        else {
            "price_data": {
                "currency": pack.currency,
                "unit_amount": pack.amount,
                "product_data": {"name": f"{pack.credits} credits ({pack.id})"},
            },
            "quantity": 1,
        }
    )
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [line_item],
        "client_reference_id": user_id,
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    try:
        session = _client(api_key, api_base).v1.checkout.sessions.create(
            params=params,  # type: ignore[arg-type]
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as err:
        # The message may name the key's last digits: log the class and status only.
        log.error("stripe checkout session failed: %s %s", type(err).__name__, err.http_status)
        raise StripeUnavailable(type(err).__name__) from None
    if not session.url:
        raise StripeUnavailable("the session has no url")
    return CheckoutSession(str(session.id), str(session.url))


def refund_payment(api_key: str, api_base: str, payment_intent: str, idempotency_key: str) -> str:
    """Refund a payment in full (`POST /v1/refunds`); the refund's id. Safe to repeat with
    the same `idempotency_key` (Stripe answers the first refund again). StripeUnavailable when
    Stripe refuses or cannot be reached."""
    import stripe

    client = _client(api_key, api_base)
    try:
        refund = client.v1.refunds.create(
            params={"payment_intent": payment_intent, "reason": "requested_by_customer"},
            options={"idempotency_key": idempotency_key},
        )
    except stripe.InvalidRequestError as err:
        # Stripe keeps idempotency keys for 24 h but redelivers events for days: a retry
        # after our own refund landed finds the charge refunded already. Record that refund.
        if err.code == "charge_already_refunded":
            refunds = client.v1.refunds.list(params={"payment_intent": payment_intent})
            if refunds.data:
                return str(refunds.data[0].id)
        log.error("stripe refund refused: %s %s", err.code, err.http_status)
        raise StripeUnavailable(type(err).__name__) from None
    except stripe.StripeError as err:
        log.error("stripe refund failed: %s %s", type(err).__name__, err.http_status)
        raise StripeUnavailable(type(err).__name__) from None
    return str(refund.id)


def expire_checkout_session(api_key: str, api_base: str, session_id: str) -> bool:
    """Expire an open Checkout Session (`POST /v1/checkout/sessions/{id}/expire`), so that it
    can no longer be paid. False when Stripe refuses it as a request error (the session is
    already expired or complete, or unknown): nothing is left to expire then.
    StripeUnavailable when Stripe could not be asked (network, 5xx, 429, bad key)."""
    import stripe

    try:
        _client(api_key, api_base).v1.checkout.sessions.expire(session_id)
    except stripe.InvalidRequestError as err:
        log.info("checkout session %s not expired: %s", session_id, err.http_status)
        return False
    except stripe.StripeError as err:
        log.error("stripe expire failed: %s %s", type(err).__name__, err.http_status)
        raise StripeUnavailable(type(err).__name__) from None
    return True


def verified_event(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event JSON, once `signature` verifies over the raw `payload` with `secret`
    (within 300 s); BadSignature otherwise."""
    import stripe

    if not signature or not secret:
        raise BadSignature("missing signature or secret")
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), signature, secret, SIGNATURE_TOLERANCE_SECONDS
        )
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as err:
        raise BadSignature(type(err).__name__) from None
    if not isinstance(event, dict):
        raise BadSignature("not an event object")
    return event
