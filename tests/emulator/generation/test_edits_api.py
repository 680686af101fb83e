"""Edits over HTTP and callables: an order's `input` names one of the caller's uploads or
completed generations; the simulated models draw the edit from the input's pixels; every
refusal (malformed, another user's, deleted, purged, a model that cannot edit) charges
nothing, and a failed edit is refunded like any generation."""

from __future__ import annotations

import hashlib
import io
import uuid

import pytest
from books import balance, check_books, ledger, request_doc, stored_images
from conftest import call
from PIL import Image

pytestmark = [pytest.mark.emulator, pytest.mark.catalog_changes]


def generate(api, uid, **fields):
    """A completed 512x512 image by model-a (1 credit); its request id."""
    resp = api.generate(userId=uid, **fields)
    assert resp.status_code == 200, resp.text
    return resp.json()["generationRequestId"]


def edit(api, uid, source, outcome="success", **fields):
    body = {"userId": uid, "input": {"generationRequestId": source}, "prompt": "make it dusk"}
    body.update(fields)
    body.setdefault("model", "model-b")
    body.setdefault("size", "1024x1024")
    headers = {"X-Simulate-Outcome": outcome} if outcome else {}
    return api.post("createGenerationRequest", json=body, headers=headers)


def stored_bytes(path):
    from imagegen.operations.wiring import images

    stored = images().get(path)
    assert stored is not None, path
    return b"".join(stored.read())


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def test_an_edit_of_a_generation_is_drawn_from_it_and_records_its_input(api, db, new_user):
    uid = new_user(10)
    source = generate(api, uid, style="watercolor", color="pastel")
    source_bytes = stored_bytes(request_doc(db, source)["imagePath"])
    resp = edit(api, uid, source)  # style and color left out: the generation's
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["deductedCredits"] == 3 and body["remainingCredits"] == 6  # 1024x1024's price
    assert (body["style"], body["color"], body["model"]) == ("watercolor", "pastel", "model-b")
    doc = request_doc(db, body["generationRequestId"])
    assert doc["status"] == "completed" and doc["prompt"] == "make it dusk"
    assert doc["input"] == {"kind": "generation", "id": source, "sha256": sha256(source_bytes)}
    shown = api.get("getGenerationRequest", params={"id": body["generationRequestId"]}).json()
    assert shown["input"] == doc["input"]
    image = api.session.get(body["imageUrl"], timeout=60)
    edited = Image.open(io.BytesIO(image.content))
    assert edited.size == (1024, 1024)
    assert stored_images(uid) == {source, body["generationRequestId"]}
    assert balance(db, uid) == 6 and check_books(db, [uid]) == []


def test_an_edit_of_an_upload_reads_the_upload_document_and_object(api, db, new_user):
    from imagegen.operations.wiring import images

    uid, upload_id = new_user(10), f"up-{uuid.uuid4().hex[:8]}"
    picture = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 40, 40)).save(picture, "JPEG")
    data = picture.getvalue()
    images().put(f"uploads/{uid}/{upload_id}.jpg", data, "image/jpeg")
    db.document(f"users/{uid}/uploads/{upload_id}").set(
        {"contentType": "image/jpeg", "width": 300, "height": 200, "sha256": sha256(data)}
    )
    body = {
        "userId": uid,
        "model": "model-a",
        "style": "sketch",
        "color": "vintage",
        "size": "512x512",
        "prompt": "add a hat",
        "input": {"uploadId": upload_id},
    }
    success = {"X-Simulate-Outcome": "success"}  # not the model's random failures
    resp = api.post("createGenerationRequest", json=body, headers=success)
    assert resp.status_code == 200, resp.text
    doc = request_doc(db, resp.json()["generationRequestId"])
    assert doc["input"] == {"kind": "upload", "id": upload_id, "sha256": sha256(data)}
    # an upload brings no style or color: both are required
    del body["style"], body["color"]
    missing = api.post("createGenerationRequest", json=body)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "missing-fields"
    unknown = api.post(
        "createGenerationRequest",
        json={**body, "style": "sketch", "color": "neon"} | {"input": {"uploadId": "nope"}},
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not-found"
    assert balance(db, uid) == 9 and check_books(db, [uid]) == []


@pytest.mark.parametrize(
    "value",
    [{"uploadId": "a", "generationRequestId": "b"}, {"imageId": "x"}, "r1", {"uploadId": 7}],
)
def test_a_malformed_input_is_400_invalid_input(api, db, new_user, value):
    uid = new_user(5)
    resp = api.generate(userId=uid, input=value)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid-input"
    assert resp.json()["error"]["field"] == "input"
    assert balance(db, uid) == 5 and len(ledger(db, uid)) == 1


def test_another_user_s_image_is_not_found_and_nothing_is_charged(api, db, new_user):
    owner, other = new_user(5), new_user(5)
    source = generate(api, owner)
    resp = edit(api, other, source)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not-found"
    assert source not in resp.text
    assert balance(db, other) == 5 and len(ledger(db, other)) == 1
    assert stored_images(other) == set()


def test_deleted_and_purged_images_are_410_and_nothing_is_charged(api, db, new_user):
    uid = new_user(10)
    deleted, purged = generate(api, uid), generate(api, uid)
    gone = api.post("deleteGenerationRequest", json={"userId": uid, "id": deleted})
    assert gone.status_code == 200, gone.text
    erased = api.post("purgeGenerationRequest", json={"userId": uid, "id": purged})
    assert erased.status_code == 200, erased.text
    first = edit(api, uid, deleted)
    assert first.status_code == 410 and first.json()["error"]["code"] == "image-deleted"
    second = edit(api, uid, purged)
    assert second.status_code == 410 and second.json()["error"]["code"] == "image-purged"
    failed = api.generate("failure", userId=uid)  # a request without an image
    rid = failed.json()["error"]["generationRequestId"]
    third = edit(api, uid, rid)
    assert third.status_code == 404 and third.json()["error"]["code"] == "image-not-found"
    assert balance(db, uid) == 8 and check_books(db, [uid]) == []


def test_a_retried_edit_replays_its_answer_after_the_input_is_purged(api, db, new_user):
    """An Idempotency-Key replay answers what the first call answered, charged once, even
    when the image it edited has been purged since."""
    uid = new_user(10)
    source = generate(api, uid)
    body = {"userId": uid, "input": {"generationRequestId": source}, "prompt": "at dusk"}
    body.update(model="model-b", size="512x512")
    headers = {"X-Simulate-Outcome": "success", "Idempotency-Key": f"edit-{uuid.uuid4().hex}"}
    first = api.post("createGenerationRequest", json=body, headers=headers)
    assert first.status_code == 200, first.text
    erased = api.post("purgeGenerationRequest", json={"userId": uid, "id": source})
    assert erased.status_code == 200, erased.text
    again = api.post("createGenerationRequest", json=body, headers=headers)
    assert again.status_code == 200, again.text
    same = ("generationRequestId", "deductedCredits", "imageUrl")
    assert [again.json()[k] for k in same] == [first.json()[k] for k in same]
    fresh = api.post(
        "createGenerationRequest", json=body, headers={"X-Simulate-Outcome": "success"}
    )
    assert fresh.status_code == 410 and fresh.json()["error"]["code"] == "image-purged"
    assert balance(db, uid) == 8 and check_books(db, [uid]) == []


def test_a_model_that_cannot_edit_is_400_and_nothing_is_charged(api, db, new_user):
    model_id = f"t-noedit-{uuid.uuid4().hex[:6]}"
    db.collection("models").document(model_id).set(
        {"provider": "simulated", "providerModel": "model-a", "enabled": True}
    )
    try:
        uid = new_user(5)
        source = generate(api, uid)
        plain = api.generate(userId=uid, model=model_id)  # it still generates
        assert plain.status_code == 200, plain.text
        resp = edit(api, uid, source, model=model_id)
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["code"] == "edit-not-supported"
        assert balance(db, uid) == 3 and len(ledger(db, uid)) == 3
    finally:
        db.collection("models").document(model_id).delete()


def test_a_failed_edit_is_refunded_exactly_once(api, db, new_user):
    uid = new_user(10)
    source = generate(api, uid)
    resp = edit(api, uid, source, outcome="failure")
    assert resp.status_code == 500, resp.text
    error = resp.json()["error"]
    assert error["code"] == "generation-failed" and error["refundedCredits"] == 3
    doc = request_doc(db, error["generationRequestId"])
    assert doc["status"] == "failed" and doc["input"]["id"] == source
    assert balance(db, uid) == 9
    assert sorted(e["type"] for e in ledger(db, uid)) == [
        "deduction",
        "deduction",
        "grant",
        "refund",
    ]
    assert stored_images(uid) == {source} and check_books(db, [uid]) == []


def test_an_asynchronous_edit_reads_its_input_when_it_runs(api, db, new_user):
    import time

    uid = new_user(10)
    source = generate(api, uid)
    resp = api.post(
        "createGenerationRequest",
        json={
            "userId": uid,
            "model": "model-a",
            "size": "512x512",
            "prompt": "now at night",
            "input": {"generationRequestId": source},
        },
        headers={"Prefer": "respond-async", "X-Simulate-Outcome": "success"},
    )
    assert resp.status_code == 202, resp.text
    rid = resp.json()["generationRequestId"]
    deadline = time.monotonic() + 60
    while (doc := request_doc(db, rid))["status"] in ("queued", "processing"):
        assert time.monotonic() < deadline, doc
        time.sleep(0.2)
    assert doc["status"] == "completed" and doc["input"]["id"] == source
    assert balance(db, uid) == 8 and check_books(db, [uid]) == []


def test_the_callable_edits_the_caller_s_image(api, db, new_user, token_for):
    uid, other = new_user(10), new_user(10)
    source = generate(api, uid)
    data = {
        "model": "model-a",
        "size": "512x512",
        "prompt": "brighter",
        "input": {"generationRequestId": source},
        "simulateOutcome": "success",
    }
    resp = call("generateImage", token_for(uid), data)
    assert resp.status_code == 200, resp.text
    result = resp.json()["result"]
    doc = request_doc(db, result["generationRequestId"])
    assert doc["input"]["kind"] == "generation" and doc["input"]["id"] == source
    refused = call("generateImage", token_for(other), data)
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"]["details"]["code"] == "not-found"
    malformed = call("generateImage", token_for(uid), {**data, "input": {"uploadId": ""}})
    assert malformed.status_code == 400
    assert malformed.json()["error"]["details"]["code"] == "invalid-input"
    assert balance(db, uid) == 8 and balance(db, other) == 10
