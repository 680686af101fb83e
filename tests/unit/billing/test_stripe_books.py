"""The Stripe books as a function of the facts: properties of the pure rules, searched by
hypothesis over generated payment histories (refunds, refunds that fail, inquiries,
chargebacks won and lost), delivered in any order with duplicates.

The model below applies events the way `purchases.apply_event` does, with the same pure
functions: a paid session adds the credits and reconciles; a charge, refund or dispute event
merges its facts and, once the purchase is paid, reconciles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagegen.billing.purchase_rules import (
    PaymentFacts,
    charge_facts,
    moves,
    reversal_targets,
    session_facts,
    shortfall,
)

PI = "pi_1"


@dataclass
class Books:
    """One user's balance and one purchase's state, as the webhook keeps them."""

    balance: int
    credits: int
    amount: int
    paid: bool = False
    facts: PaymentFacts = field(default_factory=PaymentFacts)
    claims: dict[str, dict[str, int]] = field(default_factory=dict)
    reversed: int = 0
    net: int = 0  # purchase + reinstatement - reversal entries
    lowest: int = 0

    def apply(self, event: dict[str, Any]) -> None:
        obj = event["data"]["object"]
        if event["type"] == "checkout.session.completed":
            if session_facts(obj).paid and not self.paid:
                self.paid = True
                self._move(self.credits)
                self._reconcile()
            return
        self.facts = self.facts.with_charge(charge_facts(event["type"], obj, event["created"]))
        if self.paid:
            self._reconcile()

    def _reconcile(self) -> None:
        targets = reversal_targets(self.credits, self.amount, self.facts, "usd")
        todo, self.claims = moves(targets.claims, self.claims, self.balance)
        for move in todo:
            assert move.credits > 0
            sign = -1 if move.kind == "reversal" else 1
            self.reversed -= sign * move.credits
            self._move(sign * move.credits)

    def _move(self, credits: int) -> None:
        self.balance += credits
        self.net += credits
        self.lowest = min(self.lowest, self.balance)

    def outcome(self) -> tuple[int, int, bool, int, int]:
        return (self.balance, self.net, self.paid, self.reversed, shortfall(self.claims))


def _event(kind: str, obj: dict[str, Any], at: int) -> dict[str, Any]:
    return {"id": f"evt_{kind}_{at}", "type": kind, "created": at, "data": {"object": obj}}


@st.composite
def histories(draw: Any) -> tuple[int, int, int, list[dict[str, Any]], int]:
    """(other credits, pack credits, amount, events in the order they happened, credits that
    should be reversed in the end)."""
    credits = draw(st.integers(1, 1000))
    amount = draw(st.integers(50, 10_000))
    other = draw(st.integers(0, 300))
    t = 1000
    events = [
        _event(
            "checkout.session.completed",
            {
                "id": "cs_1",
                "mode": "payment",
                "payment_status": "paid",
                "amount_total": amount,
                "currency": "usd",
                "payment_intent": PI,
                "metadata": {"userId": "u", "credits": str(credits)},
            },
            t,
        )
    ]
    refunds: list[tuple[str, int]] = []
    failed: set[str] = set()
    withdrawn: dict[str, int] = {}
    for step in draw(st.lists(st.sampled_from(["refund", "fail", "dispute"]), max_size=5)):
        t += 1
        live = sum(a for r, a in refunds if r not in failed)
        if step == "refund" and live < amount:
            part = draw(st.integers(1, amount - live))
            refunds.append((f"re_{len(refunds)}", part))
            charge = {
                "id": "ch_1",
                "object": "charge",
                "amount": amount,
                "amount_refunded": live + part,
                "currency": "usd",
                "payment_intent": PI,
            }
            events.append(_event("charge.refunded", charge, t))
        elif step == "fail" and [r for r, _ in refunds if r not in failed]:
            rid, part = draw(st.sampled_from([r for r in refunds if r[0] not in failed]))
            failed.add(rid)
            refund = {"id": rid, "object": "refund", "amount": part, "status": "failed"}
            events.append(_event("charge.refund.updated", {**refund, "payment_intent": PI}, t))
        elif step == "dispute":
            dispute_id = f"dp_{t}"
            d_amount = draw(st.integers(1, amount))
            inquiry = draw(st.booleans())
            end = draw(st.sampled_from(["open", "won", "lost"]))
            obj = {
                "id": dispute_id,
                "object": "dispute",
                "amount": d_amount,
                "currency": "usd",
                "payment_intent": PI,
            }
            if inquiry:
                events.append(
                    _event("charge.dispute.created", {**obj, "status": "warning_needs_response"}, t)
                )
                if end != "open":
                    status = "warning_closed" if end == "won" else "lost"
                    t += 1
                    events.append(_event("charge.dispute.closed", {**obj, "status": status}, t))
                    if end == "lost":  # an inquiry that escalated and was lost
                        withdrawn[dispute_id] = d_amount
            else:
                events.append(
                    _event("charge.dispute.created", {**obj, "status": "needs_response"}, t)
                )
                t += 1
                events.append(
                    _event("charge.dispute.funds_withdrawn", {**obj, "status": "needs_response"}, t)
                )
                withdrawn[dispute_id] = d_amount
                if end != "open":
                    t += 1
                    events.append(_event("charge.dispute.closed", {**obj, "status": end}, t))
                if end == "won":
                    t += 1
                    events.append(
                        _event("charge.dispute.funds_reinstated", {**obj, "status": "won"}, t)
                    )
                    del withdrawn[dispute_id]
    covered = sum(a for r, a in refunds if r not in failed)  # of the charge, floored once
    for dispute_id in sorted(withdrawn):
        covered = min(amount, covered + withdrawn[dispute_id])
    return other, credits, amount, events, credits * covered // amount


def _deliver(other: int, credits: int, amount: int, events: list[dict[str, Any]]) -> Books:
    books = Books(other, credits, amount)
    for event in events:
        books.apply(event)
        assert books.balance >= 0
        assert 0 <= books.reversed <= credits
    assert books.lowest >= 0
    return books


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.data())
def test_any_order_with_duplicates_ends_as_in_order(history: Any, data: Any) -> None:
    """Any permutation of the same events, with duplicates, gives the same balance, ledger
    net and purchase state as in-order delivery; and in-order delivery reverses what the
    final facts call for, as far as the balance allows."""
    other, credits, amount, events, expected = history
    in_order = _deliver(other, credits, amount, events)
    shuffled = data.draw(st.permutations(events))
    repeats = data.draw(st.lists(st.sampled_from(events), max_size=4))
    spots = data.draw(st.lists(st.integers(0, len(shuffled)), min_size=len(repeats)))
    delivered = list(shuffled)
    for event, spot in zip(repeats, spots, strict=False):
        delivered.insert(spot, event)
    assert _deliver(other, credits, amount, delivered).outcome() == in_order.outcome()
    assert in_order.reversed == min(expected, other + credits)
    assert shortfall(in_order.claims) == expected - in_order.reversed
    assert in_order.balance == other + credits - in_order.reversed


@settings(max_examples=50, deadline=None)
@given(
    st.integers(1, 1000),
    st.dictionaries(
        st.sampled_from(["refund", "dispute-a", "dispute-b"]), st.integers(0, 1000), max_size=3
    ),
    st.lists(
        st.dictionaries(
            st.sampled_from(["refund", "dispute-a", "dispute-b"]),
            st.integers(0, 1000),
            max_size=3,
        ),
        max_size=4,
    ),
    st.integers(0, 2000),
)
def test_moves_take_what_the_balance_allows_and_give_back_only_differences(
    credits: int, first: dict[str, int], later: list[dict[str, int]], balance: int
) -> None:
    """Whatever sequence of targets: the balance never goes below 0, each step's taken total
    is min(targets, what the balance allows), and the same targets twice move nothing."""
    claims: dict[str, dict[str, int]] = {}
    available = balance
    for targets in [first, *later]:
        todo, claims = moves(targets, claims, balance)
        gives = [m for m in todo if m.kind == "reinstatement"]
        assert todo[: len(gives)] == gives  # give-backs before takes
        for m in todo:
            balance += m.credits if m.kind == "reinstatement" else -m.credits
            assert balance >= 0
        taken = sum(c["taken"] for c in claims.values())
        assert taken == min(sum(targets.values()), available)
        assert balance == available - taken
        again, same = moves(targets, claims, balance)
        assert again == [] and same == claims


def test_a_refund_after_a_full_dispute_changes_nothing_in_either_order() -> None:
    """The review's case: a dispute of the whole charge and a 50% refund, in both orders."""
    session = {
        "id": "cs",
        "payment_status": "paid",
        "amount_total": 500,
        "currency": "usd",
        "payment_intent": PI,
        "metadata": {"userId": "u", "credits": "100"},
    }
    dispute = {"id": "dp", "amount": 500, "currency": "usd", "payment_intent": PI}
    charge = {"amount": 500, "amount_refunded": 250, "currency": "usd", "payment_intent": PI}
    paid = _event("checkout.session.completed", session, 1)
    disputed = _event("charge.dispute.created", {**dispute, "status": "needs_response"}, 2)
    refunded = _event("charge.refunded", charge, 3)
    for order in ([paid, disputed, refunded], [paid, refunded, disputed]):
        books = _deliver(0, 100, 500, order)
        assert books.outcome() == (0, 0, True, 100, 0)
    full = _event("charge.refunded", {**charge, "amount_refunded": 500}, 4)
    books = _deliver(0, 100, 500, [paid, disputed, full])
    assert books.outcome() == (0, 0, True, 100, 0)  # not handed back after both paid out


def test_an_inquiry_takes_nothing_and_its_close_gives_nothing() -> None:
    obj = {"id": "dp", "amount": 500, "currency": "usd", "payment_intent": PI}
    facts = PaymentFacts().with_charge(
        charge_facts("charge.dispute.created", {**obj, "status": "warning_needs_response"}, 1)
    )
    assert reversal_targets(100, 500, facts).claims == {"refund": 0, "dispute-dp": 0}
    closed = facts.with_charge(
        charge_facts("charge.dispute.closed", {**obj, "status": "warning_closed"}, 2)
    )
    assert reversal_targets(100, 500, closed).claims["dispute-dp"] == 0
    lost = facts.with_charge(charge_facts("charge.dispute.closed", {**obj, "status": "lost"}, 3))
    assert reversal_targets(100, 500, lost).claims["dispute-dp"] == 100


def test_shares_use_the_charge_itself_and_a_foreign_dispute_is_not_guessed() -> None:
    charge = {"amount": 400, "amount_refunded": 200, "currency": "usd", "payment_intent": PI}
    facts = PaymentFacts().with_charge(charge_facts("charge.refunded", charge, 1))
    # the pack lists 500, the charge was 400 (a discount): half was refunded
    assert reversal_targets(100, 500, facts, "usd").claims["refund"] == 50
    # paid in euros (the purchase says usd 500): the charge's own amounts give the share
    eur = {**charge, "amount": 460, "amount_refunded": 230, "currency": "eur"}
    facts = PaymentFacts().with_charge(charge_facts("charge.refunded", eur, 1))
    assert reversal_targets(100, 500, facts, "usd").claims["refund"] == 50
    # a euro dispute before any charge event: no base in its currency, kept for operators
    dispute = {"id": "dp", "amount": 460, "currency": "eur", "status": "needs_response"}
    held = PaymentFacts().with_charge(charge_facts("charge.dispute.created", dispute, 1))
    targets = reversal_targets(100, 500, held, "usd")
    assert targets.claims["dispute-dp"] == 0 and targets.mismatched == ("dispute-dp",)
    known = held.with_charge(charge_facts("charge.refunded", {**eur, "amount_refunded": 0}, 2))
    assert reversal_targets(100, 500, known, "usd").claims["dispute-dp"] == 100


def test_a_refund_and_a_dispute_covering_the_charge_reverse_every_credit() -> None:
    """Shares are floored cumulatively: 100 of 300 refunded, 200 disputed is all 100."""
    charge = {"amount": 300, "amount_refunded": 100, "currency": "usd", "payment_intent": PI}
    facts = PaymentFacts().with_charge(charge_facts("charge.refunded", charge, 1))
    dispute = {"id": "dp", "amount": 200, "currency": "usd", "status": "needs_response"}
    facts = facts.with_charge(charge_facts("charge.dispute.created", dispute, 2))
    assert reversal_targets(100, 300, facts, "usd").claims == {"refund": 33, "dispute-dp": 67}


def test_a_snapshot_without_amount_refunded_is_no_snapshot() -> None:
    charge = {"amount": 500, "amount_refunded": 500, "currency": "usd", "payment_intent": PI}
    facts = PaymentFacts().with_charge(charge_facts("charge.refunded", charge, 10))
    partial = {k: v for k, v in charge.items() if k != "amount_refunded"}
    assert facts.with_charge(charge_facts("charge.refunded", partial, 20)).refunded() == 500


def test_a_failed_refund_gives_back_and_an_older_snapshot_changes_nothing() -> None:
    charge = {"amount": 500, "currency": "usd", "payment_intent": PI}
    facts = PaymentFacts().with_charge(
        charge_facts("charge.refunded", {**charge, "amount_refunded": 300}, 5)
    )
    older = facts.with_charge(
        charge_facts("charge.refunded", {**charge, "amount_refunded": 100}, 4)
    )
    assert older.refunded() == 300
    failed = older.with_charge(
        charge_facts("charge.refund.updated", {"id": "re", "amount": 200, "status": "failed"}, 6)
    )
    assert failed.refunded() == 100
    # a new refund's snapshot in the same second as the failure already leaves it out
    newer = failed.with_charge(
        charge_facts("charge.refunded", {**charge, "amount_refunded": 150}, 6)
    )
    assert newer.refunded() == 150
    again = PaymentFacts.from_document(failed.to_document())
    assert again == failed


class UserBooks:
    """Several purchases of one user, as the webhook keeps them: an event on one purchase
    reconciles it, then the credits it brought in pay the other purchases' shortfalls."""

    def __init__(self, other: int, packs: dict[str, tuple[int, int]]) -> None:
        self.balance, self.net = other, 0
        self.packs = packs  # session -> (credits, amount)
        self.paid: set[str] = set()
        self.facts = {sid: PaymentFacts() for sid in packs}
        self.claims: dict[str, dict[str, dict[str, int]]] = {sid: {} for sid in packs}

    def apply(self, sid: str, event: dict[str, Any]) -> None:
        obj = event["data"]["object"]
        if event["type"] == "checkout.session.completed":
            if sid in self.paid:
                return
            self.paid.add(sid)
            self._move(self.packs[sid][0])
        else:
            self.facts[sid] = self.facts[sid].with_charge(
                charge_facts(event["type"], obj, event["created"])
            )
            if sid not in self.paid:
                return
        self._reconcile(sid)
        for other in sorted(self.paid - {sid}):
            if self.balance <= 0:
                break
            if shortfall(self.claims[other]):
                self._reconcile(other)
        assert self.balance >= 0

    def _reconcile(self, sid: str) -> None:
        credits, amount = self.packs[sid]
        targets = reversal_targets(credits, amount, self.facts[sid], "usd")
        todo, self.claims[sid] = moves(targets.claims, self.claims[sid], self.balance)
        for move in todo:
            self._move(move.credits if move.kind == "reinstatement" else -move.credits)

    def _move(self, credits: int) -> None:
        self.balance += credits
        self.net += credits
        assert self.balance >= 0

    def outcome(self) -> tuple[int, int, int]:
        owed = sum(shortfall(c) for c in self.claims.values())
        taken = sum(sum(x["taken"] for x in c.values()) for c in self.claims.values())
        return self.balance, self.net, taken + owed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), histories(), st.data())
def test_across_purchases_of_one_user_any_order_ends_the_same(
    first: Any, second: Any, data: Any
) -> None:
    """Two purchases of one user (the second's events re-labelled to its own session and
    payment): any interleaving ends with the same balance and ledger net, and credits given
    back on one pay what the other could not take back."""
    other, c1, a1, events1, _ = first
    _, c2, a2, events2, _ = second
    paid = [("cs_1", events1[0]), ("cs_2", events2[0])]
    tagged = [("cs_1", e) for e in events1[1:]] + [("cs_2", e) for e in events2[1:]]
    left = data.draw(st.integers(0, other + c1 + c2))  # the user spent the rest meanwhile

    def run(order: list[tuple[str, dict[str, Any]]]) -> UserBooks:
        books = UserBooks(other, {"cs_1": (c1, a1), "cs_2": (c2, a2)})
        for sid, event in paid:
            books.apply(sid, event)
        books.balance = left
        for sid, event in order:
            books.apply(sid, event)
        return books

    in_order = run(sorted(tagged, key=lambda t: t[1]["created"]))
    shuffled = run(data.draw(st.permutations(tagged)))
    assert shuffled.outcome() == in_order.outcome()
    owed = sum(shortfall(c) for c in in_order.claims.values())
    assert in_order.balance == 0 or owed == 0  # nothing is owed while credits are left
