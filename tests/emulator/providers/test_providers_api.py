"""Real image providers over HTTP: models as data in `models/{id}`, each provider reached
through its official SDK at a local server that speaks its API (scripts/provider_fakes.py,
started by ./run-tests.sh); outcomes, failure kinds and refunds checked in Firestore."""

from __future__ import annotations

import io
import time
import uuid

import pytest
import requests
from books import balance, check_books, ledger, request_doc, stored_images
from conftest import assert_cancel_refused_while_processing
from PIL import Image

pytestmark = [pytest.mark.emulator, pytest.mark.catalog_changes]

REPLICATE = "http://127.0.0.1:8191"
PROVIDERS = {
    "replicate": "black-forest-labs/flux-schnell",
    "openai": "gpt-image-1.5",
    "gemini": "gemini-2.5-flash-image",
}


@pytest.fixture(scope="module")
def models(db):
    """One model per provider (plus a Replicate version, a priced and a refining one)."""
    suffix = uuid.uuid4().hex[:6]
    docs = {
        f"t-{name}-{suffix}": {"provider": name, "providerModel": pm, "enabled": True}
        for name, pm in PROVIDERS.items()
    }
    docs[f"t-version-{suffix}"] = {"provider": "replicate", "providerModel": "owner/sdxl:abc123"}
    docs[f"t-priced-{suffix}"] = {
        "provider": "openai",
        "providerModel": "gpt-image-1.5",
        "credits": {"1024x1024": 7},
    }
    docs[f"t-refine-{suffix}"] = {
        "provider": "replicate",
        "providerModel": "a/b",
        "refinePrompt": True,
    }
    docs[f"t-off-{suffix}"] = {"provider": "openai", "providerModel": "x", "enabled": False}
    for model_id, fields in docs.items():
        db.collection("models").document(model_id).set(fields)
    yield {key.split("-")[1]: key for key in docs}
    for model_id in docs:
        db.collection("models").document(model_id).delete()


def order(api, uid, model, prompt="a lighthouse", size="1024x1792"):
    return api.post(
        "createGenerationRequest",
        json={
            "userId": uid,
            "model": model,
            "style": "anime",
            "color": "neon",
            "size": size,
            "prompt": prompt,
        },
    )


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_each_provider_makes_an_image_that_is_stored_and_served(
    api, db, new_user, models, provider
):
    uid = new_user(10)
    resp = order(api, uid, models[provider])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["deductedCredits"] == 4 and balance(db, uid) == 6
    doc = request_doc(db, body["generationRequestId"])
    assert doc["status"] == "completed" and doc["provider"] == provider
    assert doc["contentType"] == "image/png" and doc["providerRequestId"]
    assert isinstance(doc["providerLatencyMs"], int)
    # 1024x1792 maps to the provider's nearest: 9:16 (Replicate, Gemini) or 1024x1536 (OpenAI)
    expected = (1024, 1536) if provider == "openai" else (576, 1024)
    assert (doc["outputWidth"], doc["outputHeight"]) == expected
    assert doc["imagePath"] == f"generated/{uid}/{body['generationRequestId']}.png"
    image = api.session.get(body["imageUrl"], timeout=60)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == expected
    assert stored_images(uid) == {body["generationRequestId"]}


def test_replicate_webp_output_is_stored_as_webp_and_versions_work(api, db, new_user, models):
    uid = new_user(10)
    resp = order(api, uid, models["version"], prompt="a fox [webp]")
    assert resp.status_code == 200, resp.text
    rid = resp.json()["generationRequestId"]
    doc = request_doc(db, rid)
    assert doc["contentType"] == "image/webp"
    assert doc["imagePath"] == f"generated/{uid}/{rid}.webp"
    image = api.session.get(resp.json()["imageUrl"], timeout=60)
    assert image.headers["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(image.content)).format == "WEBP"


@pytest.mark.parametrize(
    ("provider", "marker", "kind"),
    [
        ("replicate", "[nsfw]", "safety-block"),
        ("openai", "[nsfw]", "safety-block"),
        ("gemini", "[nsfw]", "safety-block"),
        ("gemini", "[nsfw] [image-safety]", "safety-block"),
        ("replicate", "[500]", "provider-unavailable"),
        ("openai", "[notimage]", "invalid-output"),
        ("gemini", "[notimage]", "invalid-output"),
    ],
)
def test_failures_are_classified_and_refunded_exactly_once(
    api, db, new_user, models, provider, marker, kind
):
    uid = new_user(10)
    resp = order(api, uid, models[provider], prompt=f"a cat {marker}")
    assert resp.status_code == 500, resp.text
    error = resp.json()["error"]
    assert error["code"] == "generation-failed" and error["failureKind"] == kind
    assert error["message"] == "AI generation failed, credits refunded."
    assert "nsfw" not in resp.text.lower() and "moderation" not in resp.text.lower()
    doc = request_doc(db, error["generationRequestId"])
    assert doc["status"] == "failed" and doc["failureKind"] == kind and doc["refundedCredits"] == 4
    assert "dev-local" not in str(doc)  # no key in the document
    assert balance(db, uid) == 10
    kinds = sorted(e["type"] for e in ledger(db, uid))
    assert kinds == ["deduction", "grant", "refund"]
    assert stored_images(uid) == set()
    shown = api.get("getGenerationRequest", params={"id": error["generationRequestId"]}).json()
    assert shown["failureKind"] == kind and "failureDetail" not in shown
    assert "failureDetail" not in doc  # the owner reads (and listens to) this document
    assert operator_details(db, error["generationRequestId"])["failureDetail"]


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_a_144_megapixel_output_is_refused_before_decoding(api, db, new_user, models, provider):
    # The provider answers with a complete 12000x12000 PNG of about 20 KB.
    uid = new_user(10)
    resp = order(api, uid, models[provider], prompt="a vast field [huge]")
    assert resp.status_code == 500, resp.text
    error = resp.json()["error"]
    assert error["code"] == "generation-failed" and error["failureKind"] == "invalid-output"
    doc = request_doc(db, error["generationRequestId"])
    assert doc["status"] == "failed" and doc["refundedCredits"] == 4
    assert "outputWidth" not in doc and "imagePath" not in doc
    assert balance(db, uid) == 10
    assert sorted(e["type"] for e in ledger(db, uid)) == ["deduction", "grant", "refund"]
    assert stored_images(uid) == set()
    assert check_books(db, [uid]) == []


def operator_details(db, request_id):
    snap = db.document(f"generationRequests/{request_id}/operator/details").get()
    return snap.to_dict() if snap.exists else None


def test_a_purge_erases_the_failure_detail_and_the_webhook_url(api, db, new_user, models):
    from test_webhooks_api import Receiver

    hook = Receiver()
    try:
        uid = new_user(10)
        resp = api.post(
            "createGenerationRequest",
            json={
                "userId": uid,
                "model": models["openai"],
                "style": "anime",
                "color": "neon",
                "size": "1024x1024",
                "prompt": "my private words [nsfw]",
                "webhookUrl": hook.url,
            },
        )
        assert resp.status_code == 500, resp.text
        rid = resp.json()["error"]["generationRequestId"]
        doc = request_doc(db, rid)
        assert doc["webhookUrl"] == hook.url and "failureDetail" not in doc
        assert operator_details(db, rid)["failureDetail"] == "400 moderation_blocked"
        hook.wait_for_success()
        purge = api.post("purgeGenerationRequest", json={"userId": uid, "id": rid})
        assert purge.status_code == 200 and purge.json()["purged"] is True
        doc = request_doc(db, rid)
        assert doc["prompt"] == "" and doc["purgedAt"]
        assert "webhookUrl" not in doc and "failureDetail" not in doc
        assert operator_details(db, rid) is None
        assert "private words" not in str(doc) and hook.url not in str(doc)
        assert (doc["status"], doc["refundedCredits"], doc["failureKind"]) == (
            "failed",
            3,
            "safety-block",
        )
        assert balance(db, uid) == 10 and check_books(db, [uid]) == []
    finally:
        hook.close()


def test_a_429_is_retried_after_its_delay_and_charged_once(api, db, new_user, models):
    uid = new_user(10)
    resp = order(api, uid, models["gemini"], prompt=f"busy {uuid.uuid4().hex} [429]")
    assert resp.status_code == 200, resp.text
    assert request_doc(db, resp.json()["generationRequestId"])["providerLatencyMs"] >= 900
    assert balance(db, uid) == 6 and len(ledger(db, uid)) == 2


def test_models_are_data_prices_and_the_invalid_model_message(api, db, new_user, models):
    uid = new_user(20)
    priced = order(api, uid, models["priced"], size="1024x1024")
    assert priced.status_code == 200, priced.text
    assert priced.json()["deductedCredits"] == 7  # the model's own price for the size
    default = order(api, uid, models["priced"], size="512x512")
    assert default.json()["deductedCredits"] == 1  # a size it does not list: the size's
    off = order(api, uid, models["off"])
    assert off.status_code == 400 and off.json()["error"]["code"] == "invalid-model"
    allowed = off.json()["error"]["allowed"]
    assert models["off"] not in allowed and {"model-a", "model-b", models["openai"]} <= set(allowed)
    assert balance(db, uid) == 12


def test_refined_prompts_are_recorded_beside_the_original(api, db, new_user, models):
    uid = new_user(10)
    resp = order(api, uid, models["refine"], prompt="a red barn")
    assert resp.status_code == 200, resp.text
    doc = request_doc(db, resp.json()["generationRequestId"])
    assert doc["prompt"] == "a red barn"
    assert doc["refinedPrompt"].startswith("Refined:") and "a red barn" in doc["refinedPrompt"]


def fake_prediction(prediction_id):
    """What the local Replicate server knows about a prediction (its status, headers seen)."""
    return requests.get(f"{REPLICATE}/_fake/predictions/{prediction_id}", timeout=10).json()


def slow_predictions(marker):
    """The local Replicate server's predictions whose prompt contains `marker`."""
    found = requests.get(f"{REPLICATE}/_fake/predictions", params={"prompt": marker}, timeout=10)
    return found.json()["data"]


def test_a_request_at_replicate_cannot_be_canceled_and_ends_as_it_ends(
    api, db, new_user, models, token_for
):
    """Once the prediction runs, a cancel is 409 `request-in-progress` (HTTP and callable) and
    changes nothing: the prediction is not canceled, and the request completes, charged once."""
    uid, marker = new_user(10), uuid.uuid4().hex
    resp = api.post(
        "createGenerationRequest",
        json={
            "userId": uid,
            "model": models["replicate"],
            "style": "anime",
            "color": "neon",
            "size": "1024x1024",
            "prompt": f"a slow harbour [slow] {marker}",
        },
        headers={"Prefer": "respond-async"},
    )
    assert resp.status_code == 202, resp.text
    rid = resp.json()["generationRequestId"]
    deadline = time.monotonic() + 60
    while not (running := slow_predictions(marker)):
        assert time.monotonic() < deadline, f"no prediction started: {request_doc(db, rid)}"
        time.sleep(0.2)
    assert request_doc(db, rid)["status"] == "processing"
    assert_cancel_refused_while_processing(api, token_for(uid), rid)
    [prediction] = running
    assert fake_prediction(prediction["id"])["status"] == "processing"  # still running there
    assert request_doc(db, rid)["status"] == "processing" and balance(db, uid) == 7

    requests.post(f"{REPLICATE}/_fake/predictions/{prediction['id']}/release", timeout=10)
    while (doc := request_doc(db, rid))["status"] == "processing":
        assert time.monotonic() < deadline + 60, "the request did not settle"
        time.sleep(0.2)
    assert doc["status"] == "completed" and doc["providerRequestId"] == prediction["id"]
    assert balance(db, uid) == 7
    assert sorted(e["type"] for e in ledger(db, uid)) == ["deduction", "grant"]
    assert len(stored_images(uid)) == 1


def test_a_synchronous_request_still_running_cannot_be_canceled(api, db, new_user):
    """A synchronous request is at its provider from the start: 409 `request-in-progress`."""
    uid = new_user(10)
    ref = db.collection("generationRequests").document(f"sync-{uuid.uuid4().hex}")
    ref.set({"userId": uid, "status": "pending", "cost": 1, "model": "model-a"})
    cancel = api.post("cancelGenerationRequest", params={"id": ref.id})
    assert cancel.status_code == 409 and cancel.json()["error"]["code"] == "request-in-progress"
    assert request_doc(db, ref.id)["status"] == "pending" and balance(db, uid) == 10
    ref.delete()
