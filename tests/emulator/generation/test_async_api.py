"""Asynchronous mode over HTTP: Prefer: respond-async, the task queue, stages, cancel."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from books import balance, check_books, entries_for, ledger, request_doc
from conftest import assert_cancel_refused_while_processing, wait_until_settled

pytestmark = pytest.mark.emulator

ASYNC = {"Prefer": "respond-async"}
BODY = {"model": "model-a", "style": "anime", "color": "neon", "size": "1024x1024", "prompt": "x"}


def submit(api, uid, outcome="success", **headers):
    return api.post(
        "createGenerationRequest",
        json={"userId": uid, **BODY},
        headers={**ASYNC, "X-Simulate-Outcome": outcome, **headers},
    )


def test_async_happy_path_goes_through_every_stage(api, db, new_user):
    uid = new_user(10)
    resp = submit(api, uid)
    assert resp.status_code == 202, resp.text
    assert resp.headers["Preference-Applied"] == "respond-async"
    body = resp.json()
    assert body["status"] == "queued" and body["deductedCredits"] == 3
    assert balance(db, uid) == 7  # charged at once
    done = wait_until_settled(api, body["generationRequestId"])
    assert done["status"] == "completed"
    assert done["imageUrl"].endswith(f"/getGenerationImage?id={done['generationRequestId']}")
    assert done["mode"] == "async"
    assert done["queuedAt"] <= done["processingAt"] <= done["completedAt"]
    assert balance(db, uid) == 7
    assert entries_for(db, uid, done["generationRequestId"]) == []


def test_async_failure_is_refunded_once_with_its_stage_and_kind(api, db, new_user):
    uid = new_user(10)
    rid = submit(api, uid, outcome="failure").json()["generationRequestId"]
    done = wait_until_settled(api, rid)
    assert done["status"] == "failed"
    assert done["failureKind"] == "model-error" and done["failureStage"] == "processing"
    assert balance(db, uid) == 10
    assert len(entries_for(db, uid, rid)) == 1


def test_async_with_idempotency_key_queues_once(api, db, new_user):
    uid, key = new_user(10), uuid.uuid4().hex
    first = submit(api, uid, **{"Idempotency-Key": key})
    second = submit(api, uid, **{"Idempotency-Key": key})
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    wait_until_settled(api, first.json()["generationRequestId"])
    assert balance(db, uid) == 7


def queued_without_task(db, uid, outcome=None):
    """A request charged and queued whose task has not run yet (created directly); `outcome`
    forces the simulated model's, as the X-Simulate-Outcome header does."""
    from imagegen.core.catalog import DEFAULT_CATALOG
    from imagegen.core.vocabulary import RequestStatus
    from imagegen.ledger import moves as money
    from imagegen.providers.simulator import MODEL_NAMES
    from imagegen.records.request_record import GenerationRequest
    from imagegen.records.validation import parse_generation_input

    order = parse_generation_input({"userId": uid, **BODY}, DEFAULT_CATALOG, MODEL_NAMES)
    rid = uuid.uuid4().hex
    request = GenerationRequest.from_order(
        order, rid, RequestStatus.QUEUED, mode="async", simulate_outcome=outcome
    )
    money.charge(db, request)
    return rid


def test_cancel_a_queued_request_refunds_once(api, db, new_user):
    from imagegen.generation import pipeline
    from imagegen.operations.wiring import studio

    uid = new_user(10)
    rid = queued_without_task(db, uid)
    assert balance(db, uid) == 7
    resp = api.post("cancelGenerationRequest", params={"id": rid})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"generationRequestId": rid, "status": "canceled", "refundedCredits": 3}
    doc = request_doc(db, rid)
    assert doc["status"] == "canceled" and doc["failureKind"] == "canceled"
    assert doc["failureStage"] == "queued" and doc["canceledAt"] is not None
    assert balance(db, uid) == 10 and len(entries_for(db, uid, rid)) == 1

    again = api.post("cancelGenerationRequest", params={"id": rid})
    assert again.status_code == 409 and again.json()["error"]["code"] == "not-cancelable"
    assert pipeline.process_queued(db, rid, studio()) is None  # a late task does nothing
    assert request_doc(db, rid)["status"] == "canceled"
    assert balance(db, uid) == 10 and len(entries_for(db, uid, rid)) == 1


@pytest.mark.parametrize(("outcome", "status"), [("success", "completed"), ("failure", "failed")])
def test_a_processing_request_cannot_be_canceled_and_settles_once(
    api, db, new_user, token_for, outcome, status
):
    """Once the task has taken it to `processing` (a provider has it), a cancel is 409
    `request-in-progress` over HTTP and the callable alike, and changes nothing; the request
    then ends as it ends: charged once, refunded only if it fails."""
    from imagegen.generation import pipeline
    from imagegen.operations.wiring import studio

    uid = new_user(10)
    rid = queued_without_task(db, uid, outcome)
    assert pipeline.start_processing(db, rid) is not None  # the task's first step
    assert_cancel_refused_while_processing(api, token_for(uid), rid)
    assert request_doc(db, rid)["status"] == "processing"
    assert balance(db, uid) == 7 and entries_for(db, uid, rid) == []

    settlement = pipeline.process_queued(db, rid, studio())  # the task carries on
    assert settlement is not None and settlement.status == status
    assert request_doc(db, rid)["status"] == status
    deductions = [e for e in ledger(db, uid) if e["type"] == "deduction"]
    assert [e["generationRequestId"] for e in deductions] == [rid]
    assert len(entries_for(db, uid, rid)) == (1 if status == "failed" else 0)
    assert balance(db, uid) == (10 if status == "failed" else 7)
    assert check_books(db, [uid]) == []


def test_cancel_and_the_move_to_processing_exclude_each_other(api, db, new_user):
    """Both are conditional commits on the request: a cancel that wins keeps the task from
    reaching the model; a task that wins makes the cancel a 409. Never both, never neither."""
    from imagegen.generation import pipeline
    from imagegen.operations.wiring import studio

    uid = new_user(30)
    for _ in range(6):
        rid = queued_without_task(db, uid, "success")
        gate = threading.Barrier(2)

        def start(rid=rid, gate=gate):
            gate.wait()
            return pipeline.start_processing(db, rid)

        def cancel(rid=rid, gate=gate):
            gate.wait()
            return api.post("cancelGenerationRequest", params={"id": rid})

        with ThreadPoolExecutor(2) as pool:
            started, canceled = pool.submit(start), pool.submit(cancel)
            started_request, answer = started.result(), canceled.result()
        if answer.status_code == 200:
            assert started_request is None
            assert pipeline.process_queued(db, rid, studio()) is None  # no model call
            assert request_doc(db, rid)["status"] == "canceled"
            assert len(entries_for(db, uid, rid)) == 1
        else:
            assert answer.status_code == 409, answer.text
            assert answer.json()["error"]["code"] == "request-in-progress"
            assert started_request is not None
            assert pipeline.process_queued(db, rid, studio()).status == "completed"
            assert entries_for(db, uid, rid) == []
    assert check_books(db, [uid]) == []


def test_cancel_races_completion(api, db, new_user):
    """Cancel right after submitting: either it wins (refund) or the task does (image)."""
    uid = new_user(40)
    outcomes = set()
    for _ in range(5):
        rid = submit(api, uid).json()["generationRequestId"]
        cancel = api.post("cancelGenerationRequest", params={"id": rid})
        done = wait_until_settled(api, rid)
        if cancel.status_code == 200:
            assert done["status"] == "canceled" and len(entries_for(db, uid, rid)) == 1
        else:
            assert cancel.status_code == 409
            assert done["status"] == "completed" and entries_for(db, uid, rid) == []
        outcomes.add(done["status"])
    completed = sum(1 for e in ledger(db, uid) if e["type"] == "deduction") - sum(
        1 for e in ledger(db, uid) if e["type"] == "refund"
    )
    assert balance(db, uid) == 40 - 3 * completed


def test_cancel_a_finished_request_changes_nothing(api, db, new_user, token_for):
    uid = new_user(10)
    rid = api.generate(userId=uid).json()["generationRequestId"]
    resp = api.post("cancelGenerationRequest", params={"id": rid})
    assert resp.status_code == 409
    assert resp.json()["error"]["currentStatus"] == "completed"
    assert balance(db, uid) == 9
    other = new_user(1)
    from conftest import bearer

    resp = api.post("cancelGenerationRequest", params={"id": rid}, headers=bearer(token_for(other)))
    assert resp.status_code == 404
    assert api.post("cancelGenerationRequest", params={"id": "nope"}).status_code == 404
    assert api.post("cancelGenerationRequest").status_code == 400


@pytest.mark.serial  # the sweep settles every user's pending requests
def test_sweeper_refunds_a_request_stuck_in_the_queue(api, db, new_user, admin_headers):
    uid = new_user(10)
    rid = queued_without_task(db, uid)
    resp = api.post("recoverPendingRequests", params={"olderThanSeconds": 0}, headers=admin_headers)
    assert rid in resp.json()["refunded"]
    doc = request_doc(db, rid)
    assert doc["status"] == "failed" and doc["failureKind"] == "timeout"
    assert doc["failureStage"] == "queued"
    assert balance(db, uid) == 10 and len(entries_for(db, uid, rid)) == 1


def test_list_filters_by_the_new_statuses(api, db, new_user):
    uid = new_user(10)
    rid = queued_without_task(db, uid)
    listed = api.get("listGenerationRequests", params={"userId": uid, "status": "queued"}).json()
    assert [r["generationRequestId"] for r in listed["generationRequests"]] == [rid]
    api.post("cancelGenerationRequest", params={"id": rid})
    listed = api.get("listGenerationRequests", params={"userId": uid, "status": "canceled"}).json()
    assert [r["generationRequestId"] for r in listed["generationRequests"]] == [rid]
