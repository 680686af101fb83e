"""More properties of several images per request (pure; no emulator): what a settled request
reads back as (the images served by index, the paths a late settlement keeps, the answer's
balance), numImages over any JSON value, and documents written before `numImages`."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from imagegen.core import errors
from imagegen.core.vocabulary import RequestStatus
from imagegen.ledger.audit import refunds_owed
from imagegen.ledger.moves import _settled
from imagegen.records import shapes
from imagegen.records.request_record import (
    GenerationRequest,
    ImageOutcome,
    image_path_of,
    outcome_patch,
    settle_fields,
)
from imagegen.records.validation import GenerationInput, parse_num_images

counts = st.integers(min_value=1, max_value=10)


@st.composite
def settled_docs(draw):
    """(a settled request document as Firestore holds it, its unit price, indices stored)."""
    n = draw(counts)
    unit = draw(st.integers(min_value=0, max_value=40))
    stored = draw(st.sets(st.integers(min_value=0, max_value=n - 1)))
    ext = draw(st.sampled_from(["png", "jpg", "webp"]))
    outcomes = [
        ImageOutcome(i, f"generated/u/r/{i}.{ext}", f"https://x?id=r&index={i}", "image/png")
        if i in stored
        else ImageOutcome(i, failure_kind="model-error", failure_reason="no")
        for i in range(n)
    ]
    settled = settle_fields(unit * n, n, outcomes, "pending")
    doc = {"userId": "u", "cost": unit * n, "numImages": n, **settled.fields}
    return json.loads(json.dumps(doc)), unit, stored


@settings(max_examples=60)
@given(settled_docs(), st.integers(min_value=-3, max_value=13))
def test_an_image_is_served_only_for_an_index_that_was_stored(case, index):
    doc, _, stored = case
    path = image_path_of(doc, index)
    if index in stored:
        assert path is not None and path.startswith("generated/u/r/") and f"/{index}." in path
    else:
        assert path is None  # a failed image, or one the request does not have
    first = image_path_of(doc)
    assert first == (image_path_of(doc, min(stored)) if stored else None)


@settings(max_examples=60)
@given(settled_docs())
def test_a_late_settlement_keeps_exactly_the_stored_images_and_reads_the_refund(case):
    doc, unit, stored = case
    seen = _settled(GenerationRequest.from_document("r", doc))
    assert not seen.settled_now
    assert set(seen.kept_paths) == {image_path_of(doc, i) for i in stored}
    assert seen.image_urls == doc["imageUrls"]
    assert seen.refunded == doc["refundedCredits"] == unit * (doc["numImages"] - len(stored))
    assert seen.status == (RequestStatus.COMPLETED if stored else RequestStatus.FAILED)


@settings(max_examples=60)
@given(settled_docs(), st.integers(min_value=0, max_value=1000))
def test_the_answer_counts_each_refund_once(case, balance_after_charge):
    doc, unit, stored = case
    if not stored:
        return
    n = doc["numImages"]
    order = GenerationInput("u", "model-a", "anime", "neon", "512x512", "p", unit * n, num_images=n)
    seen = _settled(GenerationRequest.from_document("r", doc))
    body = shapes.completed_json(
        "r",
        order,
        balance_after_charge,
        seen.image_url,
        seen.image_urls,
        seen.images,
        seen.refunded,
    )
    assert body["remainingCredits"] == balance_after_charge + body["refundedCredits"]
    assert body["deductedCredits"] - body["refundedCredits"] == unit * len(stored)
    assert body["imageUrls"] == doc["imageUrls"] and body["imageUrl"] == doc["imageUrls"][0]
    assert all("imagePath" not in image for image in body["images"])


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)


@settings(max_examples=200)
@given(JSON, counts)
def test_num_images_is_a_whole_number_from_one_to_the_most_or_refused(value, most):
    whole = (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )
    accepted = value is None or (whole and 1 <= value <= most)
    try:
        got = parse_num_images(value, most)
    except errors.DomainError as refused:
        assert not accepted and refused.code == "invalid-num-images"
    else:
        assert accepted and type(got) is int and got == (1 if value is None else value)


@settings(max_examples=60)
@given(
    st.sampled_from(["completed", "failed", "canceled", "pending", "queued", "processing"]),
    st.integers(min_value=0, max_value=500),
)
def test_a_document_from_before_num_images_is_one_image(status, cost):
    """No `numImages`, `images` or image counts: the audit owes it what it owed before, and
    the migration writes its status mirrors once (spent + refunded = its cost)."""
    doc = {"userId": "u", "cost": cost, "status": status}
    if status == "completed":
        doc |= {"imagePath": "generated/u/r.png", "imageUrl": "https://x?id=r"}
    patched = {**doc, **outcome_patch(doc)}
    assert outcome_patch(patched) == {}
    settled = status in ("completed", "failed", "canceled")
    spent, refunded = patched["creditsSpent"], patched["creditsRefunded"]
    assert spent + refunded == (cost if settled else 0)
    if status == "completed":
        assert (spent, refunds_owed(doc)) == (cost, (0, 0))
        assert image_path_of(doc) == image_path_of(doc, 0) == "generated/u/r.png"
        assert image_path_of(doc, 1) is None
        seen = _settled(GenerationRequest.from_document("r", doc))
        assert seen.kept_paths == ("generated/u/r.png",) and seen.image_urls == [doc["imageUrl"]]
    elif settled:
        assert refunds_owed(doc) == ((1, cost) if cost else (0, 0))
        assert refunded == cost and image_path_of(doc) is None
