"""The money rules of several images per request, as properties (pure; no emulator):
whatever images fail, the refunds are one per failed image, never more than the charge, the
whole charge when every image failed; the audit and the books agree with the settlement."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagegen.core import errors
from imagegen.core.vocabulary import FailureKind, RequestStatus
from imagegen.ledger.audit import check_images, check_user, refunds_owed
from imagegen.records.request_record import (
    ImageOutcome,
    image_path_of,
    outcome_patch,
    refund_shares,
    settle_fields,
)
from imagegen.records.validation import parse_num_images

counts = st.integers(min_value=1, max_value=10)


@st.composite
def requests(draw):
    """(unit price, number of images, indices stored)."""
    n = draw(counts)
    unit = draw(st.integers(min_value=1, max_value=50))
    stored = draw(st.sets(st.integers(min_value=0, max_value=n - 1)))
    return unit, n, stored


def outcomes_of(rid, n, stored):
    return [
        ImageOutcome(i, f"generated/u/{rid}/{i}.png", f"https://x/{i}", "image/png")
        if i in stored
        else ImageOutcome(i, failure_kind="model-error", failure_reason="no")
        for i in range(n)
    ]


@given(requests())
def test_refunds_are_one_share_per_failed_image_and_never_exceed_the_charge(case):
    unit, n, stored = case
    cost = unit * n
    settled = settle_fields(cost, n, outcomes_of("r", n, stored), "pending")
    failed = set(range(n)) - stored
    assert set(settled.refunds) == failed
    assert all(credits == unit for credits in settled.refunds.values())
    assert 0 <= settled.refunded <= cost
    if stored:
        assert settled.status == RequestStatus.COMPLETED
        assert settled.fields["creditsSpent"] + settled.fields["creditsRefunded"] == cost
        assert settled.fields["imageUrls"] == [f"https://x/{i}" for i in sorted(stored)]
        assert settled.fields["imageUrl"] == f"https://x/{min(stored)}"
    else:
        assert settled.status == RequestStatus.FAILED and settled.refunded == cost
        assert settled.fields["creditsRefunded"] == cost
    assert settled.fields["imagesCompleted"] + settled.fields["imagesFailed"] == n
    # the audit owes exactly what settlement refunded, and the migration leaves it alone
    doc = {"status": settled.status.value, "cost": cost, "numImages": n, **settled.fields}
    owed = refunds_owed(doc) if n > 1 or not stored else (0, 0)
    assert owed == (len(settled.refunds), settled.refunded)
    assert outcome_patch(doc) == {}


@given(st.integers(min_value=0, max_value=1000), counts, st.data())
def test_shares_of_any_cost_add_up_to_it_when_every_image_fails(cost, n, data):
    shares = refund_shares(cost, n, range(n))
    assert sum(shares.values()) == cost
    some = data.draw(st.sets(st.integers(min_value=0, max_value=n - 1)))
    assert sum(refund_shares(cost, n, some).values()) <= cost
    assert set(refund_shares(cost, n, some)) <= some


@given(requests())
def test_the_order_images_settle_in_does_not_change_the_books(case):
    unit, n, stored = case
    outcomes = outcomes_of("r", n, stored)
    forward = settle_fields(unit * n, n, outcomes, "pending")
    backward = settle_fields(unit * n, n, list(reversed(outcomes)), "pending")
    assert forward.fields == backward.fields and forward.refunds == backward.refunds


def test_images_without_an_outcome_fail_as_the_failure_says():
    settled = settle_fields(
        8,
        4,
        [ImageOutcome(0, "p0", "u0")],
        "pending",
        (RequestStatus.FAILED, FailureKind.TIMEOUT, "swept"),
    )
    assert [i.get("failureKind") for i in settled.fields["images"]] == [
        None,
        "timeout",
        "timeout",
        "timeout",
    ]
    canceled = settle_fields(
        8, 4, [], "queued", (RequestStatus.CANCELED, FailureKind.CANCELED, "canceled")
    )
    assert canceled.status == RequestStatus.CANCELED and canceled.refunds == dict.fromkeys(
        range(4), 2
    )


def test_a_one_image_request_settles_as_before():
    done = settle_fields(3, 1, [ImageOutcome(0, "generated/u/r.png", "url")], "pending")
    assert done.refunds == {} and done.fields["imagePath"] == "generated/u/r.png"
    failed = settle_fields(3, 1, [ImageOutcome(0, failure_kind="safety-block")], "pending")
    assert failed.refunds == {0: 3} and failed.fields["failureKind"] == "safety-block"


@given(requests(), st.integers(min_value=0, max_value=3))
def test_the_audit_finds_a_missing_or_doubled_refund(case, extra):
    unit, n, stored = case
    if n == 1:
        return
    cost = unit * n
    settled = settle_fields(cost, n, outcomes_of("r", n, stored), "pending")
    doc = {"id": "r", "cost": cost, "numImages": n, **settled.fields}
    ledger = [{"id": "d", "type": "deduction", "credits": cost, "generationRequestId": "r"}]
    refunds = [
        {"id": f"r-refund-{i}", "type": "refund", "credits": c, "generationRequestId": "r"}
        for i, c in settled.refunds.items()
    ]
    grant = [{"id": "g", "type": "grant", "credits": cost}]
    balance = settled.refunded
    assert check_user("u", balance, grant + ledger + refunds, [doc], None) == []
    if refunds:  # one refund lost, or paid twice: both are found
        assert check_user(
            "u", balance - refunds[0]["credits"], grant + ledger + refunds[1:], [doc], None
        )
        doubled = refunds + [{**refunds[0], "id": "again"}]
        assert check_user(
            "u", balance + refunds[0]["credits"], grant + ledger + doubled, [doc], None
        )
    else:
        stray = {"id": "x", "type": "refund", "credits": unit, "generationRequestId": "r"}
        assert check_user("u", balance + unit, grant + ledger + [stray], [doc], None)


def test_stored_objects_must_match_completed_images():
    settled = settle_fields(4, 4, outcomes_of("r", 4, {0, 2}), "pending")
    doc = {"id": "r", **settled.fields}
    kept = {"generated/u/r/0.png", "generated/u/r/2.png"}
    assert check_images("u", [doc], kept) == []
    assert check_images("u", [doc], {"generated/u/r/0.png"})  # a completed image lost
    assert check_images("u", [doc], kept | {"generated/u/r/1.png"})  # a failed one kept
    assert check_images("u", [{**doc, "purgedAt": 1}], kept)  # a purged one kept


def test_image_path_of_by_index():
    settled = settle_fields(4, 4, outcomes_of("r", 4, {1, 2}), "pending")
    doc = {"status": "completed", **settled.fields}
    assert image_path_of(doc) == "generated/u/r/1.png"
    assert image_path_of(doc, 2) == "generated/u/r/2.png"
    assert image_path_of(doc, 0) is None and image_path_of(doc, 7) is None
    old = {"status": "completed", "imagePath": "generated/u/r.png"}
    assert image_path_of(old, 0) == image_path_of(old) == "generated/u/r.png"
    assert image_path_of(old, 1) is None


@pytest.mark.parametrize("value", [0, 5, -1, "2", 2.5, True, [2], float("nan")])
def test_num_images_out_of_range_or_not_an_integer_is_refused(value):
    with pytest.raises(errors.DomainError) as refused:
        parse_num_images(value, 4)
    assert refused.value.code == "invalid-num-images"


def test_num_images_defaults_to_one_and_accepts_whole_numbers():
    assert parse_num_images(None) == 1
    assert parse_num_images(4, 4) == parse_num_images(4.0, 4) == 4


def test_the_audit_finds_a_request_settled_with_images_left_pending():
    """What a version that knew nothing of several images would leave: completed, one image
    stored, the others neither completed nor refunded."""
    from imagegen.records.request_record import pending_images

    doc = {
        "id": "r",
        "cost": 4,
        "numImages": 4,
        "status": "completed",
        "images": list(pending_images(4)),
        "imagePath": "generated/u/r.png",
    }
    ledger = [
        {"id": "g", "type": "grant", "credits": 4},
        {"id": "d", "type": "deduction", "credits": 4, "generationRequestId": "r"},
    ]
    problems = check_user("u", 0, ledger, [doc], None)
    assert any("images left unsettled" in p for p in problems)
    settled = settle_fields(4, 4, outcomes_of("r", 4, {0, 1, 2, 3}), "pending")
    assert check_user("u", 0, ledger, [{**doc, **settled.fields}], None) == []
