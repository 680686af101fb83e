"""Several images per request through the real adapters, over HTTP: each provider reached at
the local server that speaks its API (scripts/provider_fakes.py, started by ./run-tests.sh).
One charge of numImages x the unit price; OpenAI makes the images in one call with `n`,
Replicate in one prediction with `num_outputs`, Gemini in parallel calls; one bad output is
refunded on its own (`<rid>-refund-<index>`); the books stay exact."""

from __future__ import annotations

import io
import uuid

import pytest
import requests
from books import balance, check_books, ledger, request_doc
from PIL import Image

pytestmark = [pytest.mark.emulator, pytest.mark.catalog_changes]

SERVERS = {
    "replicate": "http://127.0.0.1:8191",
    "openai": "http://127.0.0.1:8192",
    "gemini": "http://127.0.0.1:8193",
}
PROVIDERS = {
    "replicate": "black-forest-labs/flux-schnell",
    "openai": "gpt-image-1.5",
    "gemini": "gemini-2.5-flash-image",
}
PRICE = 3  # 1024x1024
COUNT = 4


@pytest.fixture(scope="module")
def models(db):
    """One model per provider."""
    suffix = uuid.uuid4().hex[:6]
    docs = {
        name: (f"b-{name}-{suffix}", {"provider": name, "providerModel": pm, "enabled": True})
        for name, pm in PROVIDERS.items()
    }
    for model_id, fields in docs.values():
        db.collection("models").document(model_id).set(fields)
    yield {name: model_id for name, (model_id, _) in docs.items()}
    for model_id, _ in docs.values():
        db.collection("models").document(model_id).delete()


def order(api, uid, model, prompt):
    return api.post(
        "createGenerationRequest",
        json={
            "userId": uid,
            "model": model,
            "style": "anime",
            "color": "neon",
            "size": "1024x1024",
            "prompt": prompt,
            "numImages": COUNT,
        },
    )


def calls(provider: str, prompt: str) -> list[dict]:
    """The generation calls the provider's local server answered for this prompt."""
    resp = requests.get(f"{SERVERS[provider]}/_fake/calls", params={"prompt": prompt}, timeout=10)
    return resp.json()["data"]


def stored_paths(uid: str, rid: str) -> set[str]:
    from imagegen.operations.wiring import images

    return set(images().paths(f"generated/{uid}/{rid}/"))


def image_at(api, rid: str, index: int) -> requests.Response:
    return api.get("getGenerationImage", params={"id": rid, "index": index})


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_four_images_on_each_provider_one_charge_four_stored(api, db, new_user, models, provider):
    uid = new_user(20)
    prompt = f"four lighthouses {uuid.uuid4().hex}"
    resp = order(api, uid, models[provider], prompt)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    rid = body["generationRequestId"]
    assert body["status"] == "completed" and body["numImages"] == COUNT
    assert body["deductedCredits"] == COUNT * PRICE and body["refundedCredits"] == 0
    assert balance(db, uid) == 20 - COUNT * PRICE == body["remainingCredits"]
    entries = ledger(db, uid)
    assert sorted(e["id"] for e in entries if e["type"] != "grant") == [f"{rid}-deduction"]
    assert [e["credits"] for e in entries if e["type"] == "deduction"] == [COUNT * PRICE]
    assert [i["status"] for i in body["images"]] == ["completed"] * COUNT
    assert len(body["imageUrls"]) == COUNT and body["imageUrl"] == body["imageUrls"][0]
    doc = request_doc(db, rid)
    assert doc["status"] == "completed" and doc["numImages"] == COUNT
    assert [i["status"] for i in doc["images"]] == ["completed"] * COUNT
    assert stored_paths(uid, rid) == {f"generated/{uid}/{rid}/{i}.png" for i in range(COUNT)}
    pictures = []
    for index in range(COUNT):
        image = image_at(api, rid, index)
        assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
        assert Image.open(io.BytesIO(image.content)).size == (1024, 1024)
        pictures.append(image.content)
    if provider != "gemini":  # (the local Gemini server draws one picture per prompt)
        assert len(set(pictures)) == COUNT  # four outputs, not one stored four times
    seen = calls(provider, prompt)
    if provider == "gemini":  # no batch parameter: one call per image
        assert [c["count"] for c in seen] == [1] * COUNT
    else:  # one call: OpenAI n=4, Replicate num_outputs=4
        assert [c["count"] for c in seen] == [COUNT]
    assert check_books(db, [uid]) == []


@pytest.mark.parametrize("provider", ["openai", "replicate"])
def test_one_bad_output_of_one_call_is_refunded_on_its_own(api, db, new_user, models, provider):
    uid = new_user(20)
    prompt = f"four ships [notimage:2] {uuid.uuid4().hex}"
    resp = order(api, uid, models[provider], prompt)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    rid = body["generationRequestId"]
    assert body["status"] == "completed"
    assert body["deductedCredits"] == COUNT * PRICE and body["refundedCredits"] == PRICE
    statuses = [i["status"] for i in body["images"]]
    assert statuses == ["completed", "completed", "failed", "completed"]
    assert body["images"][2]["failureKind"] == "invalid-output"
    assert body["images"][2]["imageUrl"] is None and len(body["imageUrls"]) == COUNT - 1
    assert balance(db, uid) == 20 - COUNT * PRICE + PRICE == body["remainingCredits"]
    entries = {e["id"]: e for e in ledger(db, uid) if e["type"] != "grant"}
    assert sorted(entries) == [f"{rid}-deduction", f"{rid}-refund-2"]  # charged once
    refund = entries[f"{rid}-refund-2"]
    assert (refund["credits"], refund["imageIndex"]) == (PRICE, 2)
    assert refund["generationRequestId"] == rid
    assert stored_paths(uid, rid) == {f"generated/{uid}/{rid}/{i}.png" for i in (0, 1, 3)}
    assert image_at(api, rid, 2).status_code == 404
    assert image_at(api, rid, 3).status_code == 200
    assert [c["count"] for c in calls(provider, prompt)] == [COUNT]  # one call for all four
    assert check_books(db, [uid]) == []


def test_a_refusal_of_the_one_call_refunds_every_image(api, db, new_user, models):
    uid = new_user(20)
    prompt = f"four storms [nsfw] {uuid.uuid4().hex}"
    resp = order(api, uid, models["openai"], prompt)
    assert resp.status_code == 500, resp.text
    error = resp.json()["error"]
    assert error["code"] == "generation-failed" and error["failureKind"] == "safety-block"
    rid = error["generationRequestId"]
    assert balance(db, uid) == 20
    refunds = [e for e in ledger(db, uid) if e["type"] == "refund"]
    assert sorted(e["id"] for e in refunds) == [f"{rid}-refund-{i}" for i in range(COUNT)]
    assert sum(e["credits"] for e in refunds) == COUNT * PRICE
    assert request_doc(db, rid)["status"] == "failed" and stored_paths(uid, rid) == set()
    assert [c["count"] for c in calls("openai", prompt)] == [COUNT]
    assert check_books(db, [uid]) == []
