"""Buying credits, the pure part: credit packs, redirect URLs, what a verified Stripe event
says, and how many credits a purchase should have reversed given what Stripe reported.

Stripe reports facts about a payment: the charge's cumulative refund, refunds that failed,
each dispute's amount and whether its funds were withdrawn or came back. `PaymentFacts`
merges them so that any order of the same events, with any duplicates, gives the same facts;
`reversal_targets` turns the facts into how many credits each claim (the refunds, each
dispute) should have taken back, and `moves` into the ledger moves still missing, never
taking a balance below 0 (the rest is recorded as a shortfall). The books are therefore a
function of the facts, not of the order they arrived in; applying the same facts twice moves
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from imagegen.core import errors

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
DISPUTE_EVENTS = (
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
    "charge.dispute.closed",
)
REFUND_EVENTS = ("charge.refund.updated", "refund.updated", "refund.failed")
CHARGE_EVENTS = ("charge.refunded", *DISPUTE_EVENTS, *REFUND_EVENTS)

# Dispute statuses (https://docs.stripe.com/api/disputes/object#dispute_object-status): an
# inquiry (`warning_*`) withdraws no funds; a chargeback does until it is won or lost.
INQUIRY_STATUSES = ("warning_needs_response", "warning_under_review", "warning_closed")
GIVEN_BACK_STATUSES = ("won", "warning_closed")
FAILED_REFUND_STATUSES = ("failed", "canceled")


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
    """What one charge, refund or dispute event says about a payment. `at` is the event's
    `created` time (Unix seconds): it orders refund snapshots, never the books."""

    payment_intent: str | None
    at: int = 0
    amount: int | None = None  # the charge's own amount (charge.refunded)
    currency: str | None = None
    amount_refunded: int | None = None  # cumulative, as of `at` (charge.refunded)
    failed_refund_id: str | None = None  # a refund that failed or was canceled
    failed_refund_amount: int = 0
    dispute_id: str | None = None
    dispute_amount: int = 0
    withdrawn: bool = False  # the dispute withdrew funds (a chargeback, or lost)
    given_back: bool = False  # its funds came back (reinstated, won, inquiry closed)


def charge_facts(event_type: str, obj: Mapping[str, Any], at: Any = 0) -> ChargeFacts:
    """The facts of a verified charge, refund or dispute event (`obj` is its data.object)."""
    intent = obj.get("payment_intent")
    if isinstance(intent, Mapping):
        intent = intent.get("id")
    intent = str(intent) if intent else None
    when = at if isinstance(at, int) and not isinstance(at, bool) else 0
    currency = str(obj["currency"]).lower() if obj.get("currency") else None
    if event_type == "charge.refunded":
        refunded = obj.get("amount_refunded")
        return ChargeFacts(
            intent,
            when,
            amount=_positive_int(obj.get("amount")),
            currency=currency,
            amount_refunded=refunded if _whole(refunded) else None,  # absent: no snapshot
        )
    if event_type in REFUND_EVENTS:
        failed = event_type == "refund.failed" or obj.get("status") in FAILED_REFUND_STATUSES
        if not failed or not obj.get("id"):
            return ChargeFacts(intent, when)
        return ChargeFacts(
            intent,
            when,
            currency=currency,
            failed_refund_id=str(obj["id"]),
            failed_refund_amount=_positive_int(obj.get("amount")) or 0,
        )
    status = str(obj.get("status") or "")
    inquiry = status in INQUIRY_STATUSES
    withdrawn = event_type == "charge.dispute.funds_withdrawn" or status == "lost"
    if not inquiry and event_type in ("charge.dispute.created", "charge.dispute.updated"):
        withdrawn = withdrawn or status in ("needs_response", "under_review")
    given_back = event_type == "charge.dispute.funds_reinstated" or (status in GIVEN_BACK_STATUSES)
    return ChargeFacts(
        intent,
        when,
        currency=currency,
        dispute_id=str(obj["id"]) if obj.get("id") else None,
        dispute_amount=_positive_int(obj.get("amount")) or 0,
        withdrawn=withdrawn,
        given_back=given_back,
    )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


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
    """Everything Stripe reported about one payment (`stripePayments/{paymentIntent}`),
    merged so that the result does not depend on the order of the events, nor on duplicates:

    - the refund snapshot: the charge's cumulative `amount_refunded` from the newest
      `charge.refunded` (by event time; the larger amount on a tie);
    - refunds that failed (or were canceled), each once, with when that was reported;
    - the charge's own amount and currency;
    - each dispute: its amount (the largest seen), whether funds were withdrawn, and
      whether they came back. Flags only ever turn on.
    """

    refunded_at: int = 0
    amount_refunded: int = 0
    charge_amount: int = 0
    charge_currency: str | None = None
    failed_refunds: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    disputes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> PaymentFacts:
        disputes: dict[str, dict[str, Any]] = {}
        for dispute_id, d in (data.get("disputes") or {}).items():
            legacy = "withdrawn" not in d  # written before inquiries were told apart
            disputes[str(dispute_id)] = {
                "amount": int(d.get("amount", 0)),
                "currency": d.get("currency"),
                "withdrawn": True if legacy else bool(d.get("withdrawn")),
                "givenBack": bool(d.get("givenBack") or d.get("reinstated")),
            }
        failed = {
            str(k): {"amount": int(v.get("amount", 0)), "at": int(v.get("at", 0))}
            for k, v in (data.get("failedRefunds") or {}).items()
        }
        currency = data.get("chargeCurrency")
        return cls(
            int(data.get("refundedAt", 0)),
            int(data.get("amountRefunded", 0)),
            int(data.get("chargeAmount", 0)),
            str(currency) if currency else None,
            failed,
            disputes,
        )

    def with_charge(self, facts: ChargeFacts) -> PaymentFacts:
        refunded_at, amount_refunded = self.refunded_at, self.amount_refunded
        if facts.amount_refunded is not None:
            refunded_at, amount_refunded = max(
                (refunded_at, amount_refunded), (facts.at, facts.amount_refunded)
            )
        failed = {k: dict(v) for k, v in self.failed_refunds.items()}
        if facts.failed_refund_id is not None:
            seen = failed.get(facts.failed_refund_id)
            at = facts.at if seen is None else min(int(seen["at"]), facts.at)
            amount = max(int(seen["amount"]) if seen else 0, facts.failed_refund_amount)
            failed[facts.failed_refund_id] = {"amount": amount, "at": at}
        disputes = {k: dict(v) for k, v in self.disputes.items()}
        if facts.dispute_id is not None:
            seen_d = disputes.get(facts.dispute_id, {})
            disputes[facts.dispute_id] = {
                "amount": max(int(seen_d.get("amount", 0)), facts.dispute_amount),
                "currency": seen_d.get("currency") or facts.currency,
                "withdrawn": bool(seen_d.get("withdrawn")) or facts.withdrawn,
                "givenBack": bool(seen_d.get("givenBack")) or facts.given_back,
            }
        charge_amount, charge_currency = self.charge_amount, self.charge_currency
        if facts.amount:
            charge_amount = max(charge_amount, facts.amount)
            charge_currency = charge_currency or facts.currency
        return PaymentFacts(
            refunded_at, amount_refunded, charge_amount, charge_currency, failed, disputes
        )

    def refunded(self) -> int:
        """The amount refunded now: the snapshot, less the refunds reported failed after it
        (a failure reported earlier, or in the same second, is taken to be out of the
        snapshot already)."""
        failed = sum(
            int(f["amount"]) for f in self.failed_refunds.values() if f["at"] > self.refunded_at
        )
        return max(0, self.amount_refunded - failed)

    def to_document(self) -> dict[str, Any]:
        return {
            "amountRefunded": self.amount_refunded,
            "refundedAt": self.refunded_at,
            "chargeAmount": self.charge_amount,
            "chargeCurrency": self.charge_currency,
            "failedRefunds": {k: dict(v) for k, v in self.failed_refunds.items()},
            "disputes": {k: dict(v) for k, v in self.disputes.items()},
        }


@dataclass(frozen=True)
class Targets:
    """How many credits each claim (`refund`, `dispute-<id>`) should have taken back, and the
    facts left out because their currency is not the purchase's (for operators)."""

    claims: dict[str, int]
    mismatched: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return sum(self.claims.values())


def reversal_targets(
    credits: int, amount: int, facts: PaymentFacts, currency: str | None = None
) -> Targets:
    """What each claim should have reversed, as a share of the charge it is about:

    - the refunds: `floor(credits * refunded / charge amount)` in total, both amounts from
      the charge itself (so in its own currency, whatever the purchase's);
    - each dispute holding withdrawn funds (an inquiry, or a dispute whose funds came back,
      holds none): its share of the charge, measured against the charge's amount when that
      is known in the dispute's currency, else the purchase's `amount` (what the session
      charged) when the currencies agree. A dispute in another currency than anything known
      is left out (`mismatched`, for operators), not converted.

    Shares are floored cumulatively (refunds, then disputes by id), so a refund and disputes
    that together cover the whole charge reverse exactly `credits`; never more in all.
    """
    mismatched: list[str] = []
    if facts.charge_amount:
        base, base_currency = facts.charge_amount, facts.charge_currency
    else:
        base, base_currency = amount, currency
    refunded = facts.refunded()
    covered = min(refunded, base) if base > 0 else 0  # of the charge, claimed so far
    if refunded and base <= 0:
        mismatched.append(REFUND_CLAIM)
    claims = {REFUND_CLAIM: credits * covered // base if base > 0 else 0}
    taken = claims[REFUND_CLAIM]
    for dispute_id in sorted(facts.disputes):
        dispute = facts.disputes[dispute_id]
        claim = DISPUTE_PREFIX + dispute_id
        share = 0
        if dispute.get("withdrawn") and not dispute.get("givenBack"):
            if base <= 0 or not _same(dispute.get("currency"), base_currency):
                mismatched.append(claim)
            else:
                covered = min(base, covered + min(int(dispute.get("amount", 0)), base))
                share = credits * covered // base - taken
        taken += share
        claims[claim] = share
    return Targets(claims, tuple(mismatched))


def _same(a: str | None, b: str | None) -> bool:
    """Two currencies agree (an unknown one agrees with anything)."""
    return not a or not b or a == b


@dataclass(frozen=True)
class Move:
    """One ledger move for a claim: `reversal` (credits taken back) or `reinstatement`
    (credits a claim had taken, given back)."""

    kind: str
    claim: str
    credits: int
    requested: int


def moves(
    targets: Mapping[str, int], claims: Mapping[str, Mapping[str, int]], balance: int
) -> tuple[list[Move], dict[str, dict[str, int]]]:
    """The moves that bring `claims` ({claim: {requested, taken}}) to `targets` from
    `balance`, and the claims after them.

    The credits taken in all are always `min(sum of targets, balance + taken so far)`: the
    books depend only on the facts and on what the balance allows, never on the order the
    facts arrived in. They are shared out over the claims in a fixed order (refund, then
    disputes by id); each claim moves only by its difference, give-backs before takes, so a
    dispute's credits moving to a refund of the same charge are neither taken twice nor
    handed back. What could not be taken is a shortfall (requested - taken); the next event
    about the same payment takes it when the balance allows.
    """
    taken_before = {k: int(v.get("taken", 0)) for k, v in claims.items()}
    available = max(0, balance) + sum(taken_before.values())
    names = sorted(set(targets) | set(claims), key=_claim_order)
    remaining = min(sum(max(0, targets.get(k, 0)) for k in names), available)
    after: dict[str, dict[str, int]] = {}
    for name in names:
        target = max(0, targets.get(name, 0))
        taken = min(target, remaining)
        remaining -= taken
        after[name] = {"requested": target, "taken": taken}
    gives = [
        Move("reinstatement", k, taken_before.get(k, 0) - after[k]["taken"], after[k]["requested"])
        for k in names
        if after[k]["taken"] < taken_before.get(k, 0)
    ]
    takes = [
        Move("reversal", k, after[k]["taken"] - taken_before.get(k, 0), after[k]["requested"])
        for k in names
        if after[k]["taken"] > taken_before.get(k, 0)
    ]
    return gives + takes, after


def _claim_order(claim: str) -> tuple[int, str]:
    return (0 if claim == REFUND_CLAIM else 1, claim)


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
