"""Unit tests of the request record's mapping to and from a `generationRequests/{id}` document."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from imagegen.core.vocabulary import RequestStatus, Visibility
from imagegen.records import request_record as rr
from imagegen.records.request_record import GenerationRequest

CREATED = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
REQUEST = GenerationRequest("r1", "u1", "model-a", "anime", "neon", "1024x1024", "a cat", 3)

texts = st.text(min_size=1, max_size=8)


@settings(max_examples=25, deadline=None)
@given(
    status=st.sampled_from(list(RequestStatus)),
    budget_day=st.none() | st.just("2026-03-02"),
    visibility=st.none() | st.sampled_from([v.value for v in Visibility]),
    webhook_url=st.none() | texts,
    image_path=st.none() | texts,
    cost=st.integers(0, 50),
)
def test_a_request_round_trips_through_its_document(
    status, budget_day, visibility, webhook_url, image_path, cost
):
    request = replace(
        REQUEST,
        status=status.value,
        cost=cost,
        created_at=CREATED,
        budget_day=budget_day,
        visibility=visibility,
        webhook_url=webhook_url,
        image_path=image_path,
    )
    doc = request.to_document()
    back = GenerationRequest.from_document("r1", doc)
    assert replace(back, times={}) == replace(request, times={})
    assert doc.get(rr.BUDGET_DAY) == back.budget_day == budget_day
    assert doc.get(rr.VISIBILITY) == back.visibility == visibility
    assert doc.get(rr.STATUS) == back.status and doc[rr.COST] == back.cost == cost
    assert doc.get(rr.IMAGE_PATH) == back.image_path and doc.get(rr.WEBHOOK_URL) == webhook_url
    assert doc[rr.USER_ID] == back.user_id and doc[rr.MODEL] == back.model
    assert doc[rr.CREATED_AT] == back.created_at == CREATED


def test_a_new_request_has_no_budget_day_or_visibility_and_clients_see_neither():
    doc = replace(REQUEST, created_at=CREATED).to_document()
    assert rr.BUDGET_DAY not in doc and rr.VISIBILITY not in doc
    assert rr.BUDGET_DAY not in rr.PUBLIC_FIELDS and rr.VISIBILITY not in rr.PUBLIC_FIELDS
    assert rr.IMAGE_PATH not in rr.PUBLIC_FIELDS


def test_stored_times_are_read_into_the_record():
    deleted = datetime(2026, 3, 3, tzinfo=UTC)
    data = {
        **REQUEST.to_document(),
        rr.CREATED_AT: CREATED,
        rr.DELETED_AT: deleted,
        rr.PURGED_AT: "not a time",
        rr.VISIBILITY: Visibility.DELETED.value,
    }
    stored = GenerationRequest.from_document("r1", data)
    assert stored.created_at == CREATED and stored.times[rr.DELETED_AT] == deleted
    assert rr.PURGED_AT not in stored.times
    assert stored.visibility == Visibility.DELETED


def test_odd_stored_values_read_as_absent_or_zero():
    data = {rr.USER_ID: "u1", rr.COST: "3", rr.BUDGET_DAY: 20260302, rr.VISIBILITY: True}
    stored = GenerationRequest.from_document("r1", data)
    assert stored.cost == 0 and stored.status == RequestStatus.PENDING
    assert stored.budget_day is None and stored.visibility is None
    assert stored.model == "" and stored.created_at is None


def test_status_predicates_read_the_stored_status():
    assert rr.unsettled({rr.STATUS: "pending"}) and not rr.unsettled({})
    assert rr.cancelable({rr.STATUS: "queued"}) and not rr.cancelable({rr.STATUS: "processing"})


def test_an_edit_records_its_input_and_clients_see_it():
    from imagegen.providers.image_models import InputImage
    from imagegen.records.shapes import request_json
    from imagegen.records.validation import GenerationInput, InputRef

    order = GenerationInput(
        "u1", "model-a", "anime", "neon", "512x512", "brighter", 1, None,
        InputRef("generation", "r0"), InputImage(b"png", "image/png"), "ab12",
    )  # fmt: skip
    request = GenerationRequest.from_order(order, "r1")
    doc = request.to_document()
    assert doc[rr.INPUT] == {"kind": "generation", "id": "r0", "sha256": "ab12"}
    assert GenerationRequest.from_document("r1", doc).input == doc[rr.INPUT]
    assert request_json("r1", doc)["input"] == doc[rr.INPUT]
    assert request.spec(order.input_image).input_image == InputImage(b"png", "image/png")
    assert "input" not in REQUEST.to_document()
    assert GenerationRequest.from_document("r1", {**doc, rr.INPUT: "junk"}).input is None
