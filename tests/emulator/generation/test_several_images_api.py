"""Several images per request over HTTP: one charge, a refund for each image that fails
(its own ledger entry, exactly once), crashes between images repaired by the sweeper, and
concurrent requests that cannot overdraw."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from books import balance, check_books, entries_for, ledger, request_doc, stored_paths
from conftest import wait_until_settled
from PIL import Image

pytestmark = pytest.mark.emulator

ASYNC = {"Prefer": "respond-async"}


def audit_of(api, admin_headers, uid):
    resp = api.get("auditLedger", params={"userId": uid}, headers=admin_headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_four_images_two_forced_failures_one_charge_two_refunds(api, db, new_user, admin_headers):
    uid = new_user(10)
    resp = api.generate("partial", userId=uid, numImages=4)  # 1 credit an image
    assert resp.status_code == 200, resp.text
    body = resp.json()
    rid = body["generationRequestId"]
    assert (body["status"], body["numImages"]) == ("completed", 4)
    assert (body["deductedCredits"], body["refundedCredits"], body["remainingCredits"]) == (4, 2, 8)
    assert [i["status"] for i in body["images"]] == ["completed", "failed"] * 2
    base = f"{api.url('getGenerationImage')}?id={rid}"
    assert body["imageUrls"] == [f"{base}&index=0", f"{base}&index=2"]
    assert body["imageUrl"] == body["imageUrls"][0]
    assert all("imagePath" not in i for i in body["images"])
    # the books: one deduction of the whole price, one refund per failed image
    [deduction] = entries_for(db, uid, rid, "deduction")
    assert deduction["credits"] == 4
    refunds = entries_for(db, uid, rid, "refund")
    assert [(e["id"], e["credits"], e["imageIndex"]) for e in refunds] == [
        (f"{rid}-refund-1", 1, 1),
        (f"{rid}-refund-3", 1, 3),
    ]
    assert balance(db, uid) == 8
    doc = request_doc(db, rid)
    assert (doc["refundedCredits"], doc["creditsSpent"], doc["creditsRefunded"]) == (2, 2, 2)
    assert (doc["imagesCompleted"], doc["imagesFailed"]) == (2, 2)
    # two stored images, served by index; the failed ones are not found
    assert stored_paths(uid) == {f"generated/{uid}/{rid}/0.png", f"generated/{uid}/{rid}/2.png"}
    pictures = []
    for url in body["imageUrls"]:
        got = api.session.get(url, timeout=60)
        assert got.status_code == 200 and got.headers["Content-Type"] == "image/png"
        pictures.append(got.content)
        assert Image.open(io.BytesIO(got.content)).size == (512, 512)
    assert pictures[0] != pictures[1]
    first = api.get("getGenerationImage", params={"id": rid})
    assert first.status_code == 200 and first.content == pictures[0]
    for index in (1, 3, 4):
        missing = api.get("getGenerationImage", params={"id": rid, "index": index})
        assert missing.status_code == 404, missing.text
        assert missing.json()["error"]["code"] == "image-not-found"
    read = api.get("getGenerationRequest", params={"id": rid}).json()
    assert read["imageUrls"] == body["imageUrls"] and read["numImages"] == 4
    assert [i.get("failureKind") for i in read["images"]] == [None, "model-error"] * 2
    assert check_books(db, [uid]) == []
    report = audit_of(api, admin_headers, uid)
    assert report["clean"], report["discrepancies"]


def test_every_image_failing_fails_the_request_refunded_in_full(api, db, new_user):
    uid = new_user(10)
    resp = api.generate("failure", userId=uid, numImages=3, size="1024x1024")  # 3 an image
    assert resp.status_code == 500, resp.text
    error = resp.json()["error"]
    assert (error["code"], error["refundedCredits"]) == ("generation-failed", 9)
    rid = error["generationRequestId"]
    refunds = entries_for(db, uid, rid, "refund")
    assert [(e["id"], e["credits"]) for e in refunds] == [
        (f"{rid}-refund-{i}", 3) for i in range(3)
    ]
    doc = request_doc(db, rid)
    assert (doc["status"], doc["refundedCredits"], doc["imagesFailed"]) == ("failed", 9, 3)
    assert balance(db, uid) == 10 and stored_paths(uid) == set()
    assert check_books(db, [uid]) == []


@pytest.mark.parametrize("value", [0, 5, 11, -1, "2", 2.5, True, None, [2]], ids=lambda v: repr(v))
def test_bad_num_images_is_refused_and_charges_nothing(api, db, new_user, value):
    uid = new_user(10)
    body = {"numImages": value} if value is not None else {"numImages": None, "size": "nope"}
    resp = api.generate(userId=uid, **body)
    assert resp.status_code == 400, resp.text
    expected = "invalid-size" if value is None else "invalid-num-images"
    assert resp.json()["error"]["code"] == expected
    assert balance(db, uid) == 10 and ledger(db, uid)[0]["id"] == "test-grant"
    assert len(ledger(db, uid)) == 1


def test_an_idempotent_retry_replays_the_images_and_another_count_is_refused(api, db, new_user):
    uid = new_user(10)
    key = {"Idempotency-Key": f"several-{uid}", "X-Simulate-Outcome": "success"}
    body = {
        "userId": uid,
        "model": "model-a",
        "style": "anime",
        "color": "neon",
        "size": "512x512",
        "prompt": "a few cats",
        "numImages": 2,
    }
    first = api.post("createGenerationRequest", json=body, headers=key)
    again = api.post("createGenerationRequest", json=body, headers=key)
    assert first.status_code == again.status_code == 200, first.text
    assert again.json()["imageUrls"] == first.json()["imageUrls"]
    other = api.post("createGenerationRequest", json={**body, "numImages": 3}, headers=key)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency-key-reused"
    one = {**body, "numImages": 1}  # absent and 1 are the same order; 2 is not
    assert api.post("createGenerationRequest", json=one, headers=key).status_code == 409
    assert len(entries_for(db, uid, first.json()["generationRequestId"], "deduction")) == 1
    assert balance(db, uid) == 10 - 2 + first.json()["refundedCredits"]


@pytest.mark.serial  # the sweep settles every user's pending requests
def test_a_crash_between_images_is_repaired_by_the_sweeper_each_image_once(
    api, db, new_user, admin_headers
):
    uid = new_user(10)
    resp = (
        api.generate("success", userId=uid, numImages=4, **{})
        if False
        else api.post(
            "createGenerationRequest",
            json={
                "userId": uid,
                "model": "model-a",
                "style": "anime",
                "color": "neon",
                "size": "512x512",
                "prompt": "crash between images",
                "numImages": 4,
            },
            headers={"X-Simulate-Outcome": "success", "X-Simulate-Crash": "after-first-image"},
        )
    )
    assert resp.status_code == 500 and resp.json()["error"]["code"] == "simulated-crash"
    rid = resp.json()["error"]["generationRequestId"]
    assert request_doc(db, rid)["status"] == "pending" and balance(db, uid) == 6
    assert stored_paths(uid) == {f"generated/{uid}/{rid}/0.png"}
    swept = api.post(
        "recoverPendingRequests", params={"olderThanSeconds": 0}, headers=admin_headers
    ).json()
    assert rid in swept["completed"]
    again = api.post(
        "recoverPendingRequests", params={"olderThanSeconds": 0}, headers=admin_headers
    ).json()
    assert rid not in again["completed"] + again["refunded"]
    doc = request_doc(db, rid)
    assert doc["status"] == "completed"
    assert [i["status"] for i in doc["images"]] == ["completed", "failed", "failed", "failed"]
    assert {i.get("failureKind") for i in doc["images"][1:]} == {"timeout"}
    refunds = entries_for(db, uid, rid, "refund")
    assert [e["id"] for e in refunds] == [f"{rid}-refund-{i}" for i in (1, 2, 3)]
    assert balance(db, uid) == 9
    image = api.get("getGenerationImage", params={"id": rid, "index": 0})
    assert image.status_code == 200
    assert check_books(db, [uid]) == []
    assert audit_of(api, admin_headers, uid)["clean"]


def test_twenty_simultaneous_four_image_requests_on_credits_for_nine_images(
    api, db, new_user, admin_headers
):
    uid = new_user(9)

    def order(_):
        return api.generate(None, userId=uid, numImages=4)  # images fail at the model's rate

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(order, range(20)))
    statuses = sorted(r.status_code for r in answers)
    charged = [r for r in answers if r.status_code in (200, 500)]
    refused = [r for r in answers if r.status_code not in (200, 500)]
    assert len(charged) == 2, statuses  # 9 credits pay for two requests of four images
    assert all(r.json()["error"]["code"] in ("insufficient-credits", "busy") for r in refused), [
        r.text for r in refused
    ]
    refunded = 0
    for r in charged:
        body = r.json() if r.status_code == 200 else r.json()["error"]
        refunded += body["refundedCredits"]
        rid = body["generationRequestId"]
        assert len(entries_for(db, uid, rid, "deduction")) == 1
        assert (
            sum(e["credits"] for e in entries_for(db, uid, rid, "refund"))
            == body["refundedCredits"]
        )
    assert balance(db, uid) == 9 - 8 + refunded
    assert check_books(db, [uid]) == []
    assert audit_of(api, admin_headers, uid)["clean"]


def test_a_queued_request_of_several_images_settles_each_image(api, db, new_user):
    uid = new_user(10)
    resp = api.post(
        "createGenerationRequest",
        json={
            "userId": uid,
            "model": "model-b",
            "style": "anime",
            "color": "neon",
            "size": "512x512",
            "prompt": "queued",
            "numImages": 4,
        },
        headers={**ASYNC, "X-Simulate-Outcome": "partial"},
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()["deductedCredits"] == 4
    rid = resp.json()["generationRequestId"]
    done = wait_until_settled(api, rid)
    assert done["status"] == "completed" and len(done["imageUrls"]) == 2
    assert [e["id"] for e in entries_for(db, uid, rid, "refund")] == [
        f"{rid}-refund-1",
        f"{rid}-refund-3",
    ]
    assert balance(db, uid) == 8 and check_books(db, [uid]) == []


def test_one_image_of_several_is_edited_by_its_index(api, db, new_user):
    import hashlib

    uid = new_user(10)
    made = api.generate("partial", userId=uid, numImages=4).json()
    rid = made["generationRequestId"]
    third = api.session.get(made["imageUrls"][1], timeout=60).content  # index 2
    edit = api.generate(
        "success", userId=uid, input={"generationRequestId": rid, "index": 2}, prompt="brighter"
    )
    assert edit.status_code == 200, edit.text
    doc = request_doc(db, edit.json()["generationRequestId"])
    assert doc["input"] == {
        "kind": "generation",
        "id": rid,
        "index": 2,
        "sha256": hashlib.sha256(third).hexdigest(),
    }
    before = balance(db, uid)
    failed = api.generate("success", userId=uid, input={"generationRequestId": rid, "index": 1})
    assert failed.status_code == 404 and failed.json()["error"]["code"] == "image-not-found"
    bad = api.generate("success", userId=uid, input={"uploadId": "x", "index": 1})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid-input"
    assert balance(db, uid) == before


@pytest.mark.serial  # the sweep settles every user's pending requests
def test_a_retry_after_a_crash_answers_the_balance_the_user_has(api, db, new_user, admin_headers):
    """A partial request whose process died after storing its images, settled by the
    sweeper: the retry with the same Idempotency-Key answers the balance as it is (the
    refunds of the failed images are in it already, not added twice)."""
    uid = new_user(10)
    body = {
        "userId": uid,
        "model": "model-a",
        "style": "anime",
        "color": "neon",
        "size": "512x512",
        "prompt": "crash after the uploads",
        "numImages": 4,
    }
    key = {"Idempotency-Key": f"crash-{uid}", "X-Simulate-Outcome": "partial"}
    crashed = api.post(
        "createGenerationRequest", json=body, headers={**key, "X-Simulate-Crash": "after-upload"}
    )
    assert crashed.status_code == 500, crashed.text
    assert crashed.json()["error"]["code"] == "simulated-crash"
    rid = crashed.json()["error"]["generationRequestId"]
    swept = api.post(
        "recoverPendingRequests", params={"olderThanSeconds": 0}, headers=admin_headers
    ).json()
    assert rid in swept["completed"]
    assert balance(db, uid) == 10 - 4 + 2  # images 1 and 3 refunded
    retry = api.post("createGenerationRequest", json=body, headers=key)
    assert retry.status_code == 200, retry.text
    answer = retry.json()
    assert answer["generationRequestId"] == rid
    assert (answer["deductedCredits"], answer["refundedCredits"]) == (4, 2)
    assert answer["remainingCredits"] == balance(db, uid) == 8
    assert len(answer["imageUrls"]) == 2
    assert check_books(db, [uid]) == []


def queued_several(db, uid, num_images, outcome=None):
    """A request of several images charged and queued, its task not run yet (created
    directly); `outcome` forces the simulated model's."""
    import uuid

    from imagegen.core.catalog import DEFAULT_CATALOG
    from imagegen.core.vocabulary import RequestStatus
    from imagegen.ledger import moves
    from imagegen.providers.simulator import MODEL_NAMES
    from imagegen.records.request_record import GenerationRequest
    from imagegen.records.validation import parse_generation_input

    fields = {"model": "model-a", "style": "anime", "color": "neon", "prompt": "x"}
    order = parse_generation_input(
        {"userId": uid, "size": "1024x1024", "numImages": num_images, **fields},
        DEFAULT_CATALOG,
        MODEL_NAMES,
        max_images=num_images,
    )
    rid = uuid.uuid4().hex
    request = GenerationRequest.from_order(
        order, rid, RequestStatus.QUEUED, mode="async", simulate_outcome=outcome
    )
    moves.charge(db, request)
    return rid


@pytest.mark.serial  # the sweep settles every user's pending requests
def test_a_canceled_queued_request_of_several_images_is_refunded_once_per_image(
    api, db, new_user, admin_headers
):
    from imagegen.generation import pipeline
    from imagegen.operations.wiring import studio

    uid = new_user(20)
    rid = queued_several(db, uid, 3)
    assert balance(db, uid) == 11  # three images of 3 credits
    resp = api.post("cancelGenerationRequest", params={"id": rid})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["status"], resp.json()["refundedCredits"]) == ("canceled", 9)
    # a late task, the sweeper and a second cancel change nothing
    assert pipeline.process_queued(db, rid, studio()) is None
    api.post("recoverPendingRequests", params={"olderThanSeconds": 0}, headers=admin_headers)
    assert api.post("cancelGenerationRequest", params={"id": rid}).status_code == 409
    refunds = entries_for(db, uid, rid, "refund")
    assert [(e["id"], e["credits"], e["imageIndex"]) for e in refunds] == [
        (f"{rid}-refund-{i}", 3, i) for i in range(3)
    ]
    doc = request_doc(db, rid)
    assert (doc["status"], doc["creditsRefunded"], doc["imagesFailed"]) == ("canceled", 9, 3)
    assert balance(db, uid) == 20 and stored_paths(uid) == set()
    assert check_books(db, [uid]) == []
    assert audit_of(api, admin_headers, uid)["clean"]


@pytest.mark.serial  # the sweep settles every user's pending requests
def test_a_late_run_after_the_sweeper_keeps_only_the_images_it_completed(
    api, db, new_user, admin_headers
):
    """The sweeper completed image 0 (stored before a crash) and refunded the others; a run
    of the same request arriving later stores all four, loses the settlement and deletes
    the three the sweeper refunded: no image outlives its refund, none is paid twice."""
    from imagegen.core import errors
    from imagegen.generation import pipeline
    from imagegen.operations.wiring import studio
    from imagegen.providers.image_models import Outcome
    from imagegen.records.request_record import GenerationRequest

    uid = new_user(20)
    rid = queued_several(db, uid, 4, "success")
    request = pipeline.start_processing(db, rid)
    assert request is not None and request.num_images == 4
    with pytest.raises(errors.DomainError) as crashed:
        pipeline.run_and_settle(
            db,
            studio(),
            request.spec(),
            uid,
            Outcome.SUCCESS,
            crash=pipeline.CrashPoint.AFTER_FIRST_IMAGE,
            num_images=4,
        )
    assert crashed.value.code == "simulated-crash"
    assert stored_paths(uid) == {f"generated/{uid}/{rid}/0.png"}
    swept = api.post(
        "recoverPendingRequests", params={"olderThanSeconds": 0}, headers=admin_headers
    ).json()
    assert rid in swept["completed"]
    late = pipeline.run_and_settle(db, studio(), request.spec(), uid, Outcome.SUCCESS, num_images=4)
    assert not late.settled_now and late.status == "completed"
    assert late.kept_paths == (f"generated/{uid}/{rid}/0.png",)
    assert stored_paths(uid) == {f"generated/{uid}/{rid}/0.png"}
    assert [e["id"] for e in entries_for(db, uid, rid, "refund")] == [
        f"{rid}-refund-{i}" for i in (1, 2, 3)
    ]
    assert balance(db, uid) == 20 - 12 + 9
    doc = GenerationRequest.from_document(rid, request_doc(db, rid))
    assert doc.image_urls is not None and len(doc.image_urls) == 1
    assert check_books(db, [uid]) == []
    assert audit_of(api, admin_headers, uid)["clean"]


class FlakyStore:
    """The real bucket, except that uploads to `failing` paths write their bytes and then
    raise, as an upload whose answer was lost would."""

    def __init__(self, images, failing):
        self.images, self.failing = images, failing

    def put(self, path, data, content_type):
        self.images.put(path, data, content_type)
        if path in self.failing:
            raise OSError("connection reset after the upload")

    def __getattr__(self, name):
        return getattr(self.images, name)


def test_an_image_that_could_not_be_stored_is_refunded_and_never_costs_a_paid_one(db, new_user):
    """One upload of four fails: that image is refunded (storage-error) and what the upload
    left is deleted. A duplicate run of the settled request (a retried task) whose upload of
    a completed image fails deletes nothing its owner paid for."""
    from dataclasses import replace

    from imagegen.generation import pipeline
    from imagegen.ledger import moves
    from imagegen.operations.wiring import studio
    from imagegen.providers.image_models import Outcome
    from imagegen.records.request_record import GenerationRequest

    uid = new_user(10)
    request = replace(
        GenerationRequest("", uid, "model-a", "anime", "neon", "512x512", "flaky", 4),
        id=pipeline.new_request_id(),
        num_images=4,
    )
    charged = moves.charge(db, request)
    real = studio()
    prefix = f"generated/{uid}/{request.id}"
    flaky = replace(real, images=FlakyStore(real.images, {f"{prefix}/2.png"}))
    settlement = pipeline.run_and_settle(
        db, flaky, request.spec(), uid, Outcome.SUCCESS, charged, num_images=4
    )
    assert settlement.status == "completed" and settlement.refunded == 1
    assert stored_paths(uid) == {f"{prefix}/{i}.png" for i in (0, 1, 3)}
    assert [e["id"] for e in entries_for(db, uid, request.id, "refund")] == [
        f"{request.id}-refund-2"
    ]
    assert request_doc(db, request.id)["images"][2]["failureKind"] == "storage-error"
    duplicate = replace(real, images=FlakyStore(real.images, {f"{prefix}/0.png"}))
    again = pipeline.run_and_settle(
        db, duplicate, request.spec(), uid, Outcome.SUCCESS, None, num_images=4
    )
    assert not again.settled_now and again.status == "completed"
    assert stored_paths(uid) == {f"{prefix}/{i}.png" for i in (0, 1, 3)}
    assert balance(db, uid) == 7 and check_books(db, [uid]) == []
