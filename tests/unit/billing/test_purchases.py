"""The pure rules of buying credits: packs, redirect origins, what events say, reversals."""

from __future__ import annotations

import pytest

from imagegen.billing.purchase_rules import (
    ChargeFacts,
    PaymentFacts,
    charge_facts,
    moves,
    origin_of,
    pack_from,
    redirect_url,
    reversal_targets,
    session_facts,
    shortfall,
)
from imagegen.core import errors

ORIGINS = frozenset({"https://shop.example", "http://127.0.0.1:5000"})


def test_packs_are_read_strictly():
    assert pack_from("p", {"credits": 100, "amount": 500, "currency": "USD"}).currency == "usd"
    assert pack_from("p", {"credits": 100, "amount": 500, "currency": "usd", "active": False})
    for bad in (
        {"credits": 0, "amount": 500, "currency": "usd"},
        {"credits": True, "amount": 500, "currency": "usd"},
        {"credits": 10, "amount": "5", "currency": "usd"},
        {"credits": 10, "amount": 5, "currency": "dollars"},
    ):
        assert pack_from("p", bad) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/thanks",
        "https://SHOP.example/x?session={CHECKOUT_SESSION_ID}",
        "http://127.0.0.1:5000/",
    ],
)
def test_redirects_to_allowed_origins_pass(url):
    assert redirect_url("successUrl", url, ORIGINS) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example.evil.com/",
        "https://evil.com/?https://shop.example",
        "https://shop.example@evil.com/",
        "http://shop.example/",  # the scheme is part of the origin
        "javascript:alert(1)",
        "//shop.example/",
        "https://shop.example:8443/",
        "https://shop.example/\r\nLocation: x",
        "",
        None,
        42,
    ],
)
def test_open_redirects_are_refused(url):
    with pytest.raises(errors.DomainError) as err:
        redirect_url("successUrl", url, ORIGINS)
    assert err.value.code == errors.ErrorCode.INVALID_SUCCESS_URL


def test_origins_are_normalised():
    assert origin_of("HTTPS://Shop.Example/path") == "https://shop.example"
    assert origin_of("ftp://shop.example") is None


def test_session_metadata_arrives_as_strings():
    facts = session_facts(
        {
            "id": "cs_1",
            "client_reference_id": "u1",
            "metadata": {"credits": "600", "packId": "studio"},
            "amount_total": 2500,
            "currency": "USD",
            "payment_intent": {"id": "pi_1"},
            "payment_status": "paid",
        }
    )
    assert (facts.user_id, facts.credits, facts.payment_intent, facts.paid) == (
        "u1",
        600,
        "pi_1",
        True,
    )
    assert session_facts({"id": "cs_2", "metadata": {"credits": "-5"}}).credits is None


def test_refund_targets_are_cumulative_and_floored():
    facts = PaymentFacts().with_charge(
        charge_facts(
            "charge.refunded", {"payment_intent": "pi", "amount": 500, "amount_refunded": 333}, 10
        )
    )
    assert reversal_targets(100, 500, facts).claims == {"refund": 66}
    older = facts.with_charge(ChargeFacts("pi", at=9, amount=500, amount_refunded=100))
    assert older.refunded() == 333  # an older snapshot delivered late cannot undo a refund


def test_disputes_take_what_refunds_left_and_a_won_one_nothing():
    facts = PaymentFacts(amount_refunded=250).with_charge(
        ChargeFacts("pi", dispute_id="dp1", dispute_amount=500, withdrawn=True)
    )
    assert reversal_targets(100, 500, facts).claims == {"refund": 50, "dispute-dp1": 50}
    won = facts.with_charge(ChargeFacts("pi", dispute_id="dp1", given_back=True))
    assert reversal_targets(100, 500, won).claims == {"refund": 50, "dispute-dp1": 0}
    # a late `created` after the win does not reopen it
    late = won.with_charge(ChargeFacts("pi", dispute_id="dp1", dispute_amount=500, withdrawn=True))
    assert reversal_targets(100, 500, late).claims["dispute-dp1"] == 0


def test_facts_written_before_inquiries_were_told_apart_still_count():
    legacy = PaymentFacts.from_document(
        {"amountRefunded": 0, "disputes": {"dp": {"amount": 500, "reinstated": False}}}
    )
    assert reversal_targets(100, 500, legacy).claims["dispute-dp"] == 100


def test_moves_never_go_below_zero_and_record_the_shortfall():
    todo, claims = moves({"refund": 50, "dispute-d": 50}, {}, balance=60)
    assert [(m.kind, m.credits, m.requested) for m in todo] == [
        ("reversal", 50, 50),
        ("reversal", 10, 50),
    ]
    assert shortfall(claims) == 40
    again, same = moves({"refund": 50, "dispute-d": 50}, claims, balance=0)
    assert again == [] and same == claims  # the same facts twice move nothing
    back, after = moves({"refund": 50, "dispute-d": 0}, claims, balance=0)
    assert [(m.kind, m.credits) for m in back] == [("reinstatement", 10)]
    assert shortfall(after) == 0


def test_a_lowered_target_gives_back_only_the_difference():
    _, claims = moves({"dispute-d": 100}, {}, balance=100)
    todo, after = moves({"refund": 50, "dispute-d": 50}, claims, balance=0)
    assert [(m.kind, m.claim, m.credits) for m in todo] == [
        ("reinstatement", "dispute-d", 50),
        ("reversal", "refund", 50),
    ]
    assert sum(c["taken"] for c in after.values()) == 100
