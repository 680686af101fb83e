"""Edits through each real provider's official SDK, at the local servers that speak its API
(scripts/provider_fakes.py): OpenAI `POST /images/edits` (multipart `image`), Gemini an
`inlineData` part before the instruction, Replicate an uploaded file named in the model's
image input (`editInput`). Each server records the sha256 of the image bytes it received:
they are exactly the bytes of the stored input. Failures are refunded as for a generation."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import requests
from books import balance, check_books, ledger, request_doc, stored_images

pytestmark = [pytest.mark.emulator, pytest.mark.catalog_changes]

SERVERS = {
    "replicate": "http://127.0.0.1:8191",
    "openai": "http://127.0.0.1:8192",
    "gemini": "http://127.0.0.1:8193",
}
PROVIDERS = {
    "replicate": "black-forest-labs/flux-kontext-pro",
    "openai": "gpt-image-1.5",
    "gemini": "gemini-2.5-flash-image",
}


@pytest.fixture(scope="module")
def editors(db):
    """One model per provider that can edit (Replicate's names its image input), and one
    that cannot."""
    suffix = uuid.uuid4().hex[:6]
    docs = {
        f"e-{name}-{suffix}": {"provider": name, "providerModel": pm, "edits": True}
        for name, pm in PROVIDERS.items()
    }
    docs[f"e-replicate-{suffix}"]["editInput"] = "input_image"
    docs[f"e-plain-{suffix}"] = {"provider": "openai", "providerModel": "gpt-image-1.5"}
    for model_id, fields in docs.items():
        db.collection("models").document(model_id).set(fields)
    yield {key.split("-")[1]: key for key in docs}
    for model_id in docs:
        db.collection("models").document(model_id).delete()


def source_image(api, db, uid):
    """A completed image of `uid` (model-a, 1 credit): its id and the sha256 of its bytes."""
    from imagegen.operations.wiring import images

    resp = api.generate(userId=uid, style="anime", color="neon")
    assert resp.status_code == 200, resp.text
    rid = resp.json()["generationRequestId"]
    stored = images().get(request_doc(db, rid)["imagePath"])
    assert stored is not None
    return rid, hashlib.sha256(b"".join(stored.read())).hexdigest()


def seen_by(provider, marker):
    """What the provider's local server received for prompts containing `marker`."""
    url = f"{SERVERS[provider]}/_fake/edits"
    return requests.get(url, params={"prompt": marker}, timeout=10).json()["data"]


def edit(api, uid, model, source, prompt):
    return api.post(
        "createGenerationRequest",
        json={
            "userId": uid,
            "model": model,
            "size": "1024x1024",
            "prompt": prompt,
            "input": {"generationRequestId": source},
        },
    )


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_each_provider_receives_exactly_the_input_bytes(api, db, new_user, editors, provider):
    uid, marker = new_user(10), uuid.uuid4().hex
    source, digest = source_image(api, db, uid)
    resp = edit(api, uid, editors[provider], source, f"make the sky darker {marker}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    doc = request_doc(db, body["generationRequestId"])
    assert doc["status"] == "completed" and doc["provider"] == provider
    assert doc["input"] == {"kind": "generation", "id": source, "sha256": digest}
    [seen] = seen_by(provider, marker)
    assert seen["sha256"] == digest and seen["contentType"] == "image/png"
    assert f"make the sky darker {marker}" in seen["prompt"]
    if provider == "openai":
        assert (seen["model"], seen["requestedSize"]) == ("gpt-image-1.5", "1024x1024")
        assert seen["requestId"] == doc["providerRequestId"]
    if provider == "gemini":
        assert seen["partIndex"] == 0  # the image comes before the instruction
    if provider == "replicate":
        assert seen["input"] == "input_image"
    assert body["deductedCredits"] == 3 and balance(db, uid) == 6
    assert stored_images(uid) == {source, body["generationRequestId"]}
    assert check_books(db, [uid]) == []


@pytest.mark.parametrize(
    ("provider", "marker", "kind"),
    [
        ("openai", "[nsfw]", "safety-block"),
        ("gemini", "[notimage]", "invalid-output"),
        ("replicate", "[nsfw]", "safety-block"),
    ],
)
def test_a_failed_edit_is_classified_and_refunded(
    api, db, new_user, editors, provider, marker, kind
):
    uid = new_user(10)
    source, _ = source_image(api, db, uid)
    resp = edit(api, uid, editors[provider], source, f"edit {uuid.uuid4().hex} {marker}")
    assert resp.status_code == 500, resp.text
    error = resp.json()["error"]
    assert error["code"] == "generation-failed" and error["failureKind"] == kind
    doc = request_doc(db, error["generationRequestId"])
    assert doc["status"] == "failed" and doc["refundedCredits"] == 3
    assert balance(db, uid) == 9
    assert sorted(e["type"] for e in ledger(db, uid)) == [
        "deduction",
        "deduction",
        "grant",
        "refund",
    ]
    assert stored_images(uid) == {source} and check_books(db, [uid]) == []


def test_a_provider_model_without_edits_refuses_before_anything_is_sent(api, db, new_user, editors):
    uid, marker = new_user(10), uuid.uuid4().hex
    source, _ = source_image(api, db, uid)
    resp = edit(api, uid, editors["plain"], source, f"edit {marker}")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "edit-not-supported"
    assert seen_by("openai", marker) == []
    assert balance(db, uid) == 9 and len(ledger(db, uid)) == 2
