"""Buying credits, the pure part: credit packs, redirect URLs, what a verified Stripe event
says, and how many credits a purchase should have reversed given what Stripe reported.

Stripe reports facts about a payment (the amount refunded so far, disputes opened or won);
`reversal_targets` turns them into how many credits each claim (the refunds, each dispute)
should have taken back, and `moves` into the ledger moves still missing, never taking a balance
below 0 (the rest is recorded as a shortfall). Applying the same facts twice moves nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import errors

MAX_PACK_CREDITS = 1_000_000
REFUND_CLAIM = "refund"
DISPUTE_PREFIX = "dispute-"


@dataclass(frozen=True)
class CreditPack:
    """`creditPacks/{packId}`: what a pack gives and costs (amount in minor units)."""

    id: str
    credits: int
    amount: int
    currency: str
    active: bool = True
    stripe_price_id: str | None = None


DEFAULT_PACKS: tuple[CreditPack, ...] = (
    CreditPack("starter", 100, 500, "usd"),
    CreditPack("studio", 600, 2500, "usd"),
)


def pack_documents(packs: tuple[CreditPack, ...] = DEFAULT_PACKS) -> dict[str, dict[str, Any]]:
    """The `creditPacks` documents for `packs` (what the seed writes)."""
    return {
        p.id: {
            "credits": p.credits,
            "amount": p.amount,
            "currency": p.currency,
            "active": p.active,
            "order": i,
            **({"stripePriceId": p.stripe_price_id} if p.stripe_price_id else {}),
        }
        for i, p in enumerate(packs)
    }


def pack_from(pack_id: str, data: Mapping[str, Any]) -> CreditPack | None:
    """A pack document, or None when it is not a usable pack (inactive ones are returned)."""
    credits, amount, currency = data.get("credits"), data.get("amount"), data.get("currency")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (credits, amount)):
        return None
    if not (0 < credits <= MAX_PACK_CREDITS and amount > 0):  # type: ignore[operator]
        return None
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        return None
    price = data.get("stripePriceId")
    return CreditPack(
        pack_id,
        int(credits),  # type: ignore[arg-type]
        int(amount),  # type: ignore[arg-type]
        currency.lower(),
        data.get("active", True) is not False,
        price if isinstance(price, str) and price else None,
    )


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        return None
    host = parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def redirect_url(field_name: str, value: Any, allowed_origins: frozenset[str]) -> str:
    """400 `invalid-<field>` unless `value` is an http(s) URL on an allowed origin (no open
    redirects); return it."""
    if not isinstance(value, str) or not value:
        raise errors.invalid_field(field_name, f"{field_name} must be a URL.")
    if len(value) > 2048 or any(c in value for c in "\r\n\t \x00"):
        raise errors.invalid_field(field_name, f"{field_name} is not a valid URL.")
    origin = origin_of(value)
    if origin is None or origin not in allowed_origins:
        raise errors.invalid_field(
            field_name,
            f"{field_name} must be on an allowed origin: {', '.join(sorted(allowed_origins))}.",
        )
    return value


# --- what a verified event says -------------------------------------------------------


SESSION_EVENTS = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
)
CHARGE_EVENTS = ("charge.refunded", "charge.dispute.created", "charge.dispute.funds_reinstated")


@dataclass(frozen=True)
class SessionFacts:
    """A Checkout Session as an event carries it (metadata values arrive as strings)."""

    session_id: str
    user_id: str | None
    pack_id: str | None
    credits: int | None
    amount: int | None
    currency: str | None
    payment_intent: str | None
    paid: bool


def session_facts(obj: Mapping[str, Any]) -> SessionFacts:
    metadata = obj.get("metadata") or {}
    user = metadata.get("userId") or obj.get("client_reference_id")
    credits = _positive_int(metadata.get("credits"))
    amount = _positive_int(obj.get("amount_total"))
    intent = obj.get("payment_intent")
    if isinstance(intent, Mapping):  # expanded
        intent = intent.get("id")
    return SessionFacts(
        str(obj["id"]),
        str(user) if user else None,
        str(metadata["packId"]) if metadata.get("packId") else None,
        credits,
        amount,
        str(obj["currency"]).lower() if obj.get("currency") else None,
        str(intent) if intent else None,
        obj.get("payment_status") in ("paid", "no_payment_required"),
    )


@dataclass(frozen=True)
class ChargeFacts:
    """What a charge or dispute event says about a payment."""

    payment_intent: str | None
    amount: int | None
    amount_refunded: int = 0
    dispute_id: str | None = None
    dispute_amount: int = 0
    reinstated: bool = False


def charge_facts(event_type: str, obj: Mapping[str, Any]) -> ChargeFacts:
    intent = obj.get("payment_intent")
    if isinstance(intent, Mapping):
        intent = intent.get("id")
    intent = str(intent) if intent else None
    if event_type == "charge.refunded":
        return ChargeFacts(
            intent, _positive_int(obj.get("amount")), _positive_int(obj.get("amount_refunded")) or 0
        )
    return ChargeFacts(
        intent,
        None,
        dispute_id=str(obj["id"]),
        dispute_amount=_positive_int(obj.get("amount")) or 0,
        reinstated=event_type == "charge.dispute.funds_reinstated",
    )


def _positive_int(value: Any) -> int | None:
    """A positive whole number from a JSON number or a metadata string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.isdigit():
        n = int(value)
        return n if n > 0 else None
    return None


# --- reversals ----------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentFacts:
    """Everything Stripe reported about one payment (`stripePayments/{paymentIntent}`), kept
    monotonic: the largest cumulative refund seen, each dispute and whether it was won."""

    amount_refunded: int = 0
    disputes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> PaymentFacts:
        return cls(int(data.get("amountRefunded", 0)), dict(data.get("disputes") or {}))

    def with_charge(self, facts: ChargeFacts) -> PaymentFacts:
        disputes = {k: dict(v) for k, v in self.disputes.items()}
        if facts.dispute_id is not None:
            seen = disputes.get(facts.dispute_id, {})
            disputes[facts.dispute_id] = {
                "amount": max(int(seen.get("amount", 0)), facts.dispute_amount),
                "reinstated": bool(seen.get("reinstated")) or facts.reinstated,
            }
        return PaymentFacts(max(self.amount_refunded, facts.amount_refunded), disputes)

    def to_document(self) -> dict[str, Any]:
        return {"amountRefunded": self.amount_refunded, "disputes": dict(self.disputes)}


def reversal_targets(credits: int, amount: int, facts: PaymentFacts) -> dict[str, int]:
    """How many credits each claim should have reversed: refunds `floor(credits *
    refunded / amount)` in total, each open dispute its share of what is left, a won
    (reinstated) dispute nothing. Never more than the purchase's credits in all."""
    refunded = min(facts.amount_refunded, amount)
    targets = {REFUND_CLAIM: credits * refunded // amount}
    left = credits - targets[REFUND_CLAIM]
    for dispute_id in sorted(facts.disputes):
        dispute = facts.disputes[dispute_id]
        share = 0
        if not dispute.get("reinstated"):
            share = min(left, credits * min(int(dispute.get("amount", 0)), amount) // amount)
        left -= share
        targets[DISPUTE_PREFIX + dispute_id] = share
    return targets


@dataclass(frozen=True)
class Move:
    """One ledger move for a claim: `reversal` (credits taken back, at most the balance) or
    `reinstatement` (what a won dispute had taken, given back)."""

    kind: str
    claim: str
    credits: int
    requested: int


def moves(
    targets: Mapping[str, int], claims: Mapping[str, Mapping[str, int]], balance: int
) -> tuple[list[Move], dict[str, dict[str, int]]]:
    """The moves that bring `claims` ({claim: {requested, taken}}) to `targets` from
    `balance`, and the claims after them. A reversal takes what the balance allows; the rest
    stays a shortfall (requested - taken). A target lowered to 0 gives back what was taken."""
    out: list[Move] = []
    after = {k: dict(v) for k, v in claims.items()}
    for claim, target in targets.items():
        prev = after.get(claim, {"requested": 0, "taken": 0})
        requested, taken = int(prev.get("requested", 0)), int(prev.get("taken", 0))
        if target > requested:
            take = min(target - requested, max(0, balance))
            balance -= take
            out.append(Move("reversal", claim, take, target - requested))
            after[claim] = {"requested": target, "taken": taken + take}
        elif target < requested:
            balance += taken
            out.append(Move("reinstatement", claim, taken, target - requested))
            after[claim] = {"requested": target, "taken": 0}
    return out, after


REVENUE_COUNTS = (
    "purchases",
    "creditsPurchased",
    "reversals",
    "creditsReversed",
    "reinstatements",
    "creditsReinstated",
)


def week_revenue(days: list[Mapping[str, Any]]) -> dict[str, Any]:
    """A week's revenue from its `revenueDays` documents: purchases and the credits they
    added, the amount paid per currency (minor units), reversals (refunds, disputes) and
    reinstatements, and the net credits sold."""
    totals = dict.fromkeys(REVENUE_COUNTS, 0)
    amounts: dict[str, int] = {}
    for day in days:
        for name in REVENUE_COUNTS:
            totals[name] += int(day.get(name, 0) or 0)
        for currency, amount in (day.get("amount") or {}).items():
            amounts[currency] = amounts.get(currency, 0) + int(amount or 0)
    net = totals["creditsPurchased"] - totals["creditsReversed"] + totals["creditsReinstated"]
    return {**totals, "amount": dict(sorted(amounts.items())), "netCreditsSold": net}


def shortfall(claims: Mapping[str, Mapping[str, int]]) -> int:
    """Credits that should have been reversed but were already spent."""
    return sum(max(0, int(c.get("requested", 0)) - int(c.get("taken", 0))) for c in claims.values())
