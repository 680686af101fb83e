"""Purchases of credits in Firestore: the `open` record of a checkout, and each verified Stripe
event applied exactly once.

Documents:
- `users/{uid}/purchases/{sessionId}`: `status` (`open` -> `pending` (a delayed payment) ->
  `paid`, or `failed` / `expired`, or `refunded` when the payment completed for an account
  that is closing or deleted: refunded in full through Stripe, no credits), `packId`,
  `credits`, `amount` (what the session charged), `currency`, `paymentIntent`, `claims` (per
  refund / dispute: credits requested and taken back), `reversedCredits`, `shortfallCredits`,
  `currencyMismatch` (facts in another currency, left for operators), times.
- `stripePayments/{paymentIntent}`: what Stripe reported about the payment (the refund
  snapshot, failed refunds, the charge's amount and currency, disputes; see
  `purchase_rules.PaymentFacts`), and which purchase it pays once known, so that a refund or
  a dispute arriving before its purchase is applied when the purchase arrives.
- `stripeEvents/{eventId}`: events already applied (`expiresAt`: a TTL policy deletes them
  after 30 days).
- `revenueDays/{YYYY-MM-DD}`: the day's purchases and reversals, incremented in the same
  commit, for the weekly report.

Each event is one commit, conditional on every document it read being unchanged (created
ones must still be absent): concurrent duplicate deliveries credit once, and whatever order
events arrive in, the purchase ends the same (the books are a function of the facts:
`purchase_rules`). A refund through Stripe for a closed account is made before that commit,
with an idempotency key derived from the session, so a retried event cannot refund twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core.exceptions import AlreadyExists
from google.cloud import firestore

from imagegen.billing.purchase_rules import (
    CHARGE_EVENTS,
    SESSION_EVENTS,
    ChargeFacts,
    CreditPack,
    PaymentFacts,
    SessionFacts,
    Targets,
    charge_facts,
    moves,
    pack_from,
    reversal_targets,
    session_facts,
    shortfall,
)
from imagegen.core.firestore_client import get_many
from imagegen.core.retry import RetryPolicy, retry_on_conflict
from imagegen.core.vocabulary import (
    CREDIT_PACKS,
    PURCHASES,
    REVENUE_DAYS,
    USERS,
    EntryType,
)
from imagegen.ledger import entries
from imagegen.ledger.moves import account_closed
from imagegen.records.validation import is_document_id

log = logging.getLogger(__name__)

PAYMENTS = "stripePayments"
EVENTS = "stripeEvents"
EVENT_RETENTION = timedelta(days=30)
POLICY = RetryPolicy(max_attempts=100, deadline_seconds=30.0, max_delay=0.5)

OPEN, PENDING, PAID, FAILED, EXPIRED = "open", "pending", "paid", "failed", "expired"
REFUNDED = "refunded"  # paid for a closing or deleted account: refunded through Stripe
ACCOUNT_DELETED = "account-deleted"

# Refunds a payment intent in full with an idempotency key; the refund's id. Raises when
# Stripe cannot (the event then answers 5xx and Stripe delivers it again).
Refunder = Callable[[str, str], str]


def purchase_ref(client: firestore.Client, user_id: str, session_id: str) -> Any:
    return client.collection(USERS).document(user_id).collection(PURCHASES).document(session_id)


def record_open(
    client: firestore.Client, user_id: str, session_id: str, pack: CreditPack, url: str
) -> None:
    """Record a new checkout as `open` (an event that got here first keeps its status)."""
    ref = purchase_ref(client, user_id, session_id)
    fields = {
        "userId": user_id,
        "sessionId": session_id,
        "packId": pack.id,
        "credits": pack.credits,
        "amount": pack.amount,
        "currency": pack.currency,
        "checkoutUrl": url,
        "updatedAt": firestore.SERVER_TIMESTAMP,
    }
    try:
        ref.create({**fields, "status": OPEN, "createdAt": firestore.SERVER_TIMESTAMP})
    except AlreadyExists:  # the webhook was faster: keep its status
        ref.update({k: v for k, v in fields.items() if k != "checkoutUrl"})


@dataclass(frozen=True)
class Applied:
    """What applying an event did: `duplicate` (seen before), `ignored`, or `applied`."""

    outcome: str
    detail: str = ""


def apply_event(
    client: firestore.Client, event: Mapping[str, Any], refund: Refunder | None = None
) -> Applied:
    """Apply one verified Stripe event (its JSON) exactly once. `refund` refunds a payment
    that completes for a closing or deleted account."""
    event_id, event_type = str(event.get("id", "")), str(event.get("type", ""))
    obj = (event.get("data") or {}).get("object") or {}
    if not event_id or not isinstance(obj, Mapping):
        return Applied("ignored", "no id or object")
    if event_type in SESSION_EVENTS:
        if obj.get("mode") not in (None, "payment"):
            return Applied("ignored", f"a {obj.get('mode')} session")
        facts = session_facts(obj)
        return retry_on_conflict(
            lambda: _apply_session(client, event_id, event_type, facts, refund), POLICY
        )
    if event_type in CHARGE_EVENTS:
        charge = charge_facts(event_type, obj, event.get("created"))
        if charge.payment_intent is None:
            return Applied("ignored", "no payment_intent")
        return retry_on_conflict(lambda: _apply_charge(client, event_id, charge), POLICY)
    return Applied("ignored", f"event type {event_type}")


# --- one commit per event ---------------------------------------------------------------


class _Commit:
    """A batch whose writes are conditional on what was read: an existing document must be
    unchanged, a missing one must still be missing."""

    def __init__(self, client: firestore.Client) -> None:
        self.client = client
        self.batch = client.batch()
        self.revenue: Counter[str] = Counter()  # today's revenue counters, written once

    def count(self, counts: Mapping[str, int]) -> None:
        self.revenue.update(counts)

    def commit(self) -> None:
        """Commit, with today's revenue counters incremented in the same write."""
        if self.revenue:
            day = datetime.now(UTC).strftime("%Y-%m-%d")
            fields: dict[str, Any] = {"day": day}
            for key, value in self.revenue.items():
                head, _, tail = key.partition(".")
                if tail:
                    fields.setdefault(head, {})[tail] = firestore.Increment(value)
                else:
                    fields[key] = firestore.Increment(value)
            ref = self.client.collection(REVENUE_DAYS).document(day)
            self.batch.set(ref, fields, merge=True)
        self.batch.commit()

    def put(self, snap: Any, fields: dict[str, Any]) -> None:
        if snap.exists:
            option = self.client.write_option(last_update_time=snap.update_time)
            self.batch.update(snap.reference, fields, option=option)
        else:
            self.batch.create(snap.reference, fields)


def _event_doc(event_id: str, event_type: str, outcome: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "type": event_type,
        "outcome": outcome,
        "processedAt": firestore.SERVER_TIMESTAMP,
        "expiresAt": now + EVENT_RETENTION,
    }


def _apply_session(
    client: firestore.Client,
    event_id: str,
    event_type: str,
    s: SessionFacts,
    refund: Refunder | None,
) -> Applied:
    event_ref = client.collection(EVENTS).document(event_id)
    if s.user_id is None:
        # Not one of ours (no user to credit): kept for an operator, never silently dropped.
        event_snap = event_ref.get()
        if event_snap.exists:
            return Applied("duplicate")
        commit = _Commit(client)
        fields = _event_doc(event_id, event_type, "unmatched")
        commit.put(event_snap, {**fields, "session": s.session_id})
        commit.commit()
        log.error("stripe session %s has no userId or client_reference_id", s.session_id)
        return Applied("ignored", "no user")
    user_ref = client.collection(USERS).document(s.user_id)
    p_ref = purchase_ref(client, s.user_id, s.session_id)
    refs = [event_ref, p_ref, user_ref]
    if s.payment_intent:
        refs.append(client.collection(PAYMENTS).document(s.payment_intent))
    snaps = get_many(client, *refs)
    event_snap, p_snap, user_snap = snaps[:3]
    pay_snap = snaps[3] if len(snaps) > 3 else None
    if event_snap.exists:
        return Applied("duplicate")
    purchase = p_snap.to_dict() or {}
    status = purchase.get("status", OPEN)
    credits = int(purchase.get("credits") or s.credits or 0)
    amount = int(s.amount or purchase.get("amount") or 0)  # what the session charged
    if not credits and s.pack_id:  # e.g. a Payment Link whose metadata names only the pack
        pack = _pack(client, s.pack_id)
        credits, amount = (pack.credits, amount or pack.amount) if pack else (0, amount)
    update: dict[str, Any] = {
        "userId": s.user_id,
        "sessionId": s.session_id,
        "credits": credits,
        "amount": amount,
        "currency": purchase.get("currency") or s.currency,
        "packId": purchase.get("packId") or s.pack_id,
        "updatedAt": firestore.SERVER_TIMESTAMP,
    }
    if s.payment_intent:
        update["paymentIntent"] = s.payment_intent
    if not p_snap.exists:
        update["createdAt"] = firestore.SERVER_TIMESTAMP
    commit = _Commit(client)
    credit_now = event_type == "checkout.session.async_payment_succeeded" or (
        event_type == "checkout.session.completed" and s.paid
    )
    outcome = "applied"
    if status in (PAID, REFUNDED):
        outcome = f"already {status}"
    elif credit_now and _closed(user_snap):
        outcome = _refund_for_closed_account(s, refund, update)
    elif credit_now:
        if credits <= 0:
            log.error("stripe session %s is paid but names no credits", s.session_id)
            update["status"] = "unfulfilled"
            outcome = "no credits"
        else:
            facts = PaymentFacts.from_document((pay_snap.to_dict() or {}) if pay_snap else {})
            _credit(commit, user_snap, s.session_id, facts, purchase, update)
    elif event_type == "checkout.session.completed":
        update["status"] = PENDING if status in (OPEN, PENDING) else status
    elif event_type == "checkout.session.async_payment_failed":
        update.update(status=FAILED, failedAt=firestore.SERVER_TIMESTAMP)
    elif event_type == "checkout.session.expired":
        update["status"] = EXPIRED if status == OPEN else status
    if pay_snap is not None:
        commit.put(
            pay_snap,
            {
                "userId": s.user_id,
                "sessionId": s.session_id,
                "credits": credits,
                "amount": amount,
                "updatedAt": firestore.SERVER_TIMESTAMP,
            },
        )
    commit.put(p_snap, update)
    commit.put(event_snap, _event_doc(event_id, event_type, outcome))
    commit.commit()
    return Applied("applied", outcome)


def _closed(user_snap: Any) -> bool:
    """Whether the account is closing or deleted (it holds no money from then on)."""
    return user_snap.exists and account_closed(user_snap.to_dict() or {})


def _refund_for_closed_account(
    s: SessionFacts, refund: Refunder | None, update: dict[str, Any]
) -> str:
    """A payment that completed for a closing or deleted account: refunded in full through
    Stripe (idempotency key from the session), recorded `refunded`; no credits land."""
    if s.payment_intent is None or refund is None:
        log.error("stripe session %s paid for a closed account: refund it by hand", s.session_id)
        update.update(status="unfulfilled", refundReason=ACCOUNT_DELETED)
        return "closed account, not refunded"
    refund_id = refund(s.payment_intent, f"refund-{ACCOUNT_DELETED}-{s.session_id}")
    update.update(
        status=REFUNDED,
        refundReason=ACCOUNT_DELETED,
        stripeRefundId=refund_id,
        refundedAt=firestore.SERVER_TIMESTAMP,
    )
    log.info("stripe session %s paid for a closed account: refunded", s.session_id)
    return "refunded (account deleted)"


def _credit(
    commit: _Commit,
    user_snap: Any,
    session_id: str,
    facts: PaymentFacts,
    purchase: Mapping[str, Any],
    update: dict[str, Any],
) -> None:
    """Add a paid purchase's credits (one `purchase` entry), then any reversal Stripe already
    reported for its payment."""
    credits, amount, currency = update["credits"], update["amount"], update["currency"]
    update.update(status=PAID, paidAt=firestore.SERVER_TIMESTAMP)
    balance = entries.credits_of(user_snap) + credits
    entries.post(
        commit.batch,
        user_snap.reference,
        f"purchase-{session_id}",
        entries.entry(EntryType.PURCHASE, credits, balance, **entries.checkout_refs(session_id)),
    )
    commit.count({"purchases": 1, "creditsPurchased": credits})
    if currency:
        commit.count({f"amount.{currency}": amount})
    target = _Target(user_snap.reference, session_id, credits, amount, currency)
    balance = _reconcile(commit, target, facts, purchase, update, balance)
    _settle_user(commit, user_snap, session_id, _shortfall_after(purchase, update), balance)


@dataclass(frozen=True)
class _Target:
    """The purchase reversals apply to."""

    user_ref: Any
    session_id: str
    credits: int
    amount: int  # what the session charged: the base until a charge event reports its own
    currency: str | None


def _apply_charge(client: firestore.Client, event_id: str, c: ChargeFacts) -> Applied:
    assert c.payment_intent is not None
    event_ref = client.collection(EVENTS).document(event_id)
    pay_ref = client.collection(PAYMENTS).document(c.payment_intent)
    event_snap, pay_snap = get_many(client, event_ref, pay_ref)
    if event_snap.exists:
        return Applied("duplicate")
    payment = pay_snap.to_dict() or {}
    facts = PaymentFacts.from_document(payment).with_charge(c)
    commit = _Commit(client)
    pay_update: dict[str, Any] = {**facts.to_document(), "updatedAt": firestore.SERVER_TIMESTAMP}
    outcome = "recorded (purchase not seen yet)"
    user_id, session_id = payment.get("userId"), payment.get("sessionId")
    if user_id and session_id:
        user_ref = client.collection(USERS).document(str(user_id))
        p_ref = purchase_ref(client, str(user_id), str(session_id))
        p_snap, user_snap = get_many(client, p_ref, user_ref)
        purchase = p_snap.to_dict() or {}
        refund_id = purchase.get("stripeRefundId")
        if purchase.get("status") == REFUNDED and refund_id in facts.failed_refunds:
            # Our refund to a closed account failed: the customer paid and holds nothing.
            if not purchase.get("refundFailed"):
                log.error("stripe refund %s of closed account %s failed", refund_id, user_id)
                fields = {"refundFailed": True, "updatedAt": firestore.SERVER_TIMESTAMP}
                commit.put(p_snap, fields)
            outcome = "recorded (refund to a closed account failed: for an operator)"
        elif purchase.get("status") == PAID and _closed(user_snap):
            # A deleted account holds no money: nothing to take back, nothing given back to
            # it (its balance was forfeited); the facts are kept for operators.
            outcome = "recorded (account closed)"
        elif purchase.get("status") == PAID:
            update: dict[str, Any] = {"updatedAt": firestore.SERVER_TIMESTAMP}
            target = _Target(
                user_ref,
                str(session_id),
                int(purchase["credits"]),
                int(purchase.get("amount") or 0),
                purchase.get("currency"),
            )
            balance = _reconcile(
                commit, target, facts, purchase, update, entries.credits_of(user_snap)
            )
            owed = _shortfall_after(purchase, update)
            _settle_user(commit, user_snap, str(session_id), owed, balance)
            commit.put(p_snap, update)
            outcome = "applied"
    commit.put(pay_snap, pay_update)
    commit.put(event_snap, _event_doc(event_id, "charge", outcome))
    commit.commit()
    return Applied("applied", outcome)


def _shortfall_after(purchase: Mapping[str, Any], update: Mapping[str, Any]) -> int:
    return int(update.get("shortfallCredits", purchase.get("shortfallCredits", 0)) or 0)


def _settle_user(
    commit: _Commit, user_snap: Any, session_id: str, shortfall_now: int, balance: int
) -> None:
    """Write the user's balance after an event on purchase `session_id`, once the credits it
    brought in (a purchase, a give-back) have paid what the user's other purchases could not
    take back (their shortfalls, `users/{uid}.stripeShortfalls`): a user who still owes on a
    refund or a chargeback pays that first, whichever purchase's event arrives first, so the
    books across purchases do not depend on the order of the events either."""
    owed = {
        str(k): int(v)
        for k, v in (
            ((user_snap.to_dict() or {}) if user_snap.exists else {}).get("stripeShortfalls") or {}
        ).items()
        if isinstance(v, int) and v > 0
    }
    owed[session_id] = shortfall_now
    for other in sorted(k for k in owed if k != session_id):
        if balance <= 0:
            break
        balance, owed[other] = _collect(commit, user_snap.reference, other, balance)
    shortfalls = {k: v for k, v in sorted(owed.items()) if v > 0}
    entries.set_balance(
        commit.client, commit.batch, user_snap, balance, stripeShortfalls=shortfalls
    )


def _collect(commit: _Commit, user_ref: Any, session_id: str, balance: int) -> tuple[int, int]:
    """Reconcile another paid purchase of the user from `balance` (its facts are unchanged:
    only what the balance allows is new); (balance, its shortfall) after it."""
    p_snap = user_ref.collection(PURCHASES).document(session_id).get()
    purchase = p_snap.to_dict() or {}
    intent = purchase.get("paymentIntent")
    if purchase.get("status") != PAID or not intent:
        return balance, 0
    pay_snap = commit.client.collection(PAYMENTS).document(str(intent)).get()
    facts = PaymentFacts.from_document(pay_snap.to_dict() or {})
    target = _Target(
        user_ref,
        session_id,
        int(purchase.get("credits") or 0),
        int(purchase.get("amount") or 0),
        purchase.get("currency"),
    )
    update: dict[str, Any] = {"updatedAt": firestore.SERVER_TIMESTAMP}
    balance = _reconcile(commit, target, facts, purchase, update, balance)
    commit.put(p_snap, update)
    if pay_snap.exists:  # what was read must be unchanged when this commits
        commit.put(pay_snap, {"updatedAt": firestore.SERVER_TIMESTAMP})
    return balance, _shortfall_after(purchase, update)


def _reconcile(
    commit: _Commit,
    target: _Target,
    facts: PaymentFacts,
    purchase: Mapping[str, Any],
    update: dict[str, Any],
    balance: int,
) -> int:
    """Add the reversal and reinstatement entries the facts call for; return the balance."""
    session_id, user_ref = target.session_id, target.user_ref
    targets: Targets = reversal_targets(target.credits, target.amount, facts, target.currency)
    if targets.mismatched:
        update["currencyMismatch"] = list(targets.mismatched)
        log.error("stripe payment of %s: facts in another currency", session_id)
    if facts.charge_currency and target.currency and facts.charge_currency != target.currency:
        update["chargeCurrency"] = facts.charge_currency  # paid in another currency
    todo, claims = moves(targets.claims, purchase.get("claims") or {}, balance)
    reversed_total = int(purchase.get("reversedCredits", 0))
    seq = int(purchase.get("moveCount", 0))
    for move in todo:
        seq += 1
        if move.kind == "reversal":
            balance -= move.credits
            reversed_total += move.credits
            kind = EntryType.REVERSAL
            commit.count({"reversals": 1, "creditsReversed": move.credits})
        else:
            balance += move.credits
            reversed_total -= move.credits
            kind = EntryType.REINSTATEMENT
            commit.count({"reinstatements": 1, "creditsReinstated": move.credits})
        entry = entries.entry(
            kind,
            move.credits,
            balance,
            **entries.checkout_refs(session_id),
            claim=move.claim,
            requestedCredits=move.requested,
        )
        entries.post(
            commit.batch, user_ref, f"{kind.value}-{session_id}-{move.claim}-m{seq}", entry
        )
    if claims != (purchase.get("claims") or {}):
        update.update(
            claims=claims,
            reversedCredits=reversed_total,
            shortfallCredits=shortfall(claims),
            moveCount=seq,
        )
    return balance


def _pack(client: firestore.Client, pack_id: str) -> CreditPack | None:
    if not is_document_id(pack_id):
        return None
    snap = client.collection(CREDIT_PACKS).document(pack_id).get()
    return pack_from(pack_id, snap.to_dict() or {}) if snap.exists else None
