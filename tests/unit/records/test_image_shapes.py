"""How the images of a request look to clients and webhook receivers (never their object
paths), for requests of several images and for documents from before them."""

from __future__ import annotations

import json

from imagegen.records import webhooks
from imagegen.records.shapes import request_json

URL = "http://127.0.0.1:5001/p/us-central1/getGenerationImage?id=r1"
PARTIAL = {
    "userId": "u",
    "status": "completed",
    "cost": 4,
    "numImages": 4,
    "refundedCredits": 2,
    "imageUrl": f"{URL}&index=0",
    "imagePath": "generated/u/r1/0.png",
    "imageUrls": [f"{URL}&index=0", f"{URL}&index=2"],
    "images": [
        {"index": i, "status": "completed", "imageUrl": f"{URL}&index={i}"}
        | {"imagePath": f"generated/u/r1/{i}.png", "contentType": "image/png"}
        | {"width": 512, "height": 512}
        if i % 2 == 0
        else {"index": i, "status": "failed", "failureKind": "model-error"}
        for i in range(4)
    ],
}


def test_a_partial_request_shows_its_images_without_their_paths_and_its_refund():
    shown = request_json("r1", PARTIAL)
    assert shown["numImages"] == 4 and shown["refundedCredits"] == 2
    assert shown["imageUrls"] == PARTIAL["imageUrls"]
    assert [i["status"] for i in shown["images"]] == ["completed", "failed"] * 2
    assert shown["images"][0] == {
        "index": 0,
        "status": "completed",
        "imageUrl": f"{URL}&index=0",
        "contentType": "image/png",
        "width": 512,
        "height": 512,
        "failureKind": None,
    }
    assert shown["images"][1] == {
        "index": 1,
        "status": "failed",
        "imageUrl": None,
        "failureKind": "model-error",
    }
    assert "imagePath" not in json.dumps(shown)

    body, headers = webhooks.build(shown, "completed", "whsec_" + "QUJD" * 8, 1_700_000_000)
    sent = json.loads(body)["generationRequest"]
    assert sent["images"] == shown["images"] and sent["refundedCredits"] == 2
    assert "imagePath" not in body.decode() and headers["Webhook-Id"] == "r1-completed"


def test_an_older_document_shows_its_one_image():
    old = {"status": "completed", "cost": 1, "imageUrl": URL, "imagePath": "generated/u/r1.png"}
    old |= {"contentType": "image/png", "outputWidth": 512, "outputHeight": 512}
    shown = request_json("r1", old)
    assert (shown["numImages"], shown["imageUrls"], shown["refundedCredits"]) == (1, [URL], 0)
    assert shown["images"] == [
        {"index": 0, "status": "completed", "imageUrl": URL}
        | {"contentType": "image/png", "width": 512, "height": 512, "failureKind": None}
    ]
    failed = request_json("r2", {"status": "canceled", "cost": 3, "refundedCredits": 3})
    none = {"imageUrl": None, "failureKind": None}
    assert failed["images"] == [{"index": 0, "status": "failed"} | none]
    assert failed["imageUrls"] == []
    queued = request_json("r3", {"status": "queued", "cost": 3})
    assert queued["images"] == [{"index": 0, "status": "pending"} | none]
    assert "refundedCredits" not in queued
