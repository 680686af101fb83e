"""Stripe events as Stripe sends them (https://docs.stripe.com/api/events), signed with the
webhook secret by Stripe's documented scheme (https://docs.stripe.com/webhooks#verify-manually):
`Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import requests
from conftest import ROOT


def webhook_secret() -> str:
    for line in (ROOT / "functions" / ".secret.local").read_text().splitlines():
        name, _, value = line.partition("=")
        if name == "STRIPE_WEBHOOK_SECRET":
            return value.strip()
    raise AssertionError("STRIPE_WEBHOOK_SECRET is not in functions/.secret.local")


def signature(payload: str, secret: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "api_version": "2025-10-29.clover",
        "created": int(time.time()),
        "type": event_type,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }


def session(
    session_id: str,
    uid: str,
    credits: int = 100,
    amount: int = 500,
    paid: bool = True,
    intent: str | None = None,
    pack: str = "starter",
) -> dict[str, Any]:
    """A Checkout Session object; metadata values are strings, as Stripe sends them."""
    return {
        "id": session_id,
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid" if paid else "unpaid",
        "amount_total": amount,
        "currency": "usd",
        "client_reference_id": uid,
        "metadata": {"userId": uid, "packId": pack, "credits": str(credits)},
        "payment_intent": intent,
        "livemode": False,
    }


def charge(intent: str, amount: int = 500, refunded: int = 0) -> dict[str, Any]:
    return {
        "id": f"ch_{uuid.uuid4().hex[:16]}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": refunded,
        "currency": "usd",
        "payment_intent": intent,
        "refunded": refunded == amount,
        "status": "succeeded",
    }


def dispute(
    dispute_id: str, intent: str, amount: int, won: bool = False, status: str | None = None
) -> dict[str, Any]:
    """A Dispute object; `status` as Stripe names it (default: `needs_response`, or `won`)."""
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "charge": f"ch_{intent}",
        "payment_intent": intent,
        "currency": "usd",
        "reason": "fraudulent",
        "status": status or ("won" if won else "needs_response"),
    }


def deliver(api: Any, evt: dict[str, Any], secret: str | None = None, **sign_args: Any) -> Any:
    """POST one event to stripeWebhook as Stripe does (raw JSON body, signed), and as Stripe
    does, deliver it again when the connection failed or the answer was a 5xx."""
    payload = json.dumps(evt, indent=2)
    header = signature(payload, secret or webhook_secret(), **sign_args)
    for attempt in range(4):
        try:
            resp = api.post(
                "stripeWebhook",
                data=payload.encode(),
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": header,
                },
            )
        except requests.ConnectionError:
            if attempt == 3:
                raise
            time.sleep(0.5)
            continue
        if resp.status_code < 500 or attempt == 3:
            return resp
        time.sleep(0.5)
    raise AssertionError("unreachable")
