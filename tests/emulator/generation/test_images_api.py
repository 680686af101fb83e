"""Generated images over HTTP: real PNGs of the requested size in the bucket, served to their
owner only, none kept for failed or canceled requests, crashes around the upload repaired once."""

from __future__ import annotations

import io
import uuid

import pytest
from books import balance, ledger, request_doc, stored_images
from conftest import bearer
from PIL import Image, ImageStat

pytestmark = pytest.mark.emulator

SIZES = {"512x512": (512, 512), "1024x1024": (1024, 1024), "1024x1792": (1024, 1792)}


def fetch(api, url, **headers):
    resp = api.session.get(url, headers=headers, timeout=60)
    return resp


def decoded(resp):
    assert resp.status_code == 200, resp.text[:300]
    assert resp.headers["Content-Type"] == "image/png"
    return Image.open(io.BytesIO(resp.content))


def generated(api, uid, **fields):
    resp = api.generate(userId=uid, **fields)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.mark.parametrize("size", list(SIZES))
def test_each_size_is_a_png_of_exactly_that_size_stored_before_completion(api, db, new_user, size):
    uid = new_user(10)
    body = generated(api, uid, size=size)
    rid = body["generationRequestId"]
    assert body["imageUrl"] == f"{api.url('getGenerationImage')}?id={rid}"
    resp = fetch(api, body["imageUrl"])
    image = decoded(resp)
    assert image.format == "PNG" and image.size == SIZES[size]
    assert resp.headers["Cache-Control"].startswith("private")
    assert resp.headers["ETag"].startswith('"')
    doc = request_doc(db, rid)
    assert doc["imagePath"] == f"generated/{uid}/{rid}.png"
    assert doc["imageUrl"] == body["imageUrl"]
    assert stored_images(uid) == {rid}


def test_images_differ_per_request_and_are_stable_per_request(api, new_user):
    uid = new_user(10)
    first, second = (generated(api, uid) for _ in range(2))
    a, b = fetch(api, first["imageUrl"]), fetch(api, second["imageUrl"])
    assert a.status_code == b.status_code == 200
    assert a.content != b.content
    again = fetch(api, first["imageUrl"])
    assert again.content == a.content and again.headers["ETag"] == a.headers["ETag"]
    unchanged = fetch(api, first["imageUrl"], **{"If-None-Match": a.headers["ETag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["ETag"] == a.headers["ETag"]
    assert unchanged.headers["Cache-Control"].startswith("private")
    weak = fetch(api, first["imageUrl"], **{"If-None-Match": "W/" + a.headers["ETag"]})
    assert weak.status_code == 304
    assert fetch(api, first["imageUrl"], **{"If-None-Match": "*"}).status_code == 304
    assert fetch(api, first["imageUrl"], **{"If-None-Match": '"other"'}).status_code == 200


def test_an_image_of_several_read_chunks_is_served_whole(api, db, new_user):
    from imagegen.operations.wiring import images
    from imagegen.providers.image_store import READ_CHUNK

    uid = new_user(10)
    body = generated(api, uid)
    path = request_doc(db, body["generationRequestId"])["imagePath"]
    buffer = io.BytesIO()
    noise = Image.frombytes("RGB", (1024, 1024), uuid.uuid4().bytes * (3 * 1024 * 1024 // 16))
    noise.save(buffer, format="PNG", compress_level=0)  # about 3 MB: several chunks
    data = buffer.getvalue()
    assert len(data) > 2 * READ_CHUNK
    images().put(path, data, "image/png")
    resp = fetch(api, body["imageUrl"])
    assert resp.status_code == 200 and resp.content == data
    assert int(resp.headers["Content-Length"]) == len(data)
    assert resp.headers["Cache-Control"].startswith("private")


def mean_saturation(image):
    return ImageStat.Stat(image.convert("RGB").convert("HSV")).mean[1]


def test_palette_follows_the_color(api, new_user):
    uid = new_user(20)
    neon, mono = (
        mean_saturation(decoded(fetch(api, generated(api, uid, color=c)["imageUrl"])))
        for c in ("neon", "monochrome")
    )
    assert mono < 5, mono  # grey
    assert neon > 60, neon  # saturated


def test_only_the_owner_or_an_admin_gets_the_image(api, new_user, token_for, admin_headers):
    owner, other = new_user(10), new_user(10)
    url = generated(api, owner)["imageUrl"]
    assert decoded(fetch(api, url, **bearer(token_for(owner)))).size == (512, 512)
    assert decoded(fetch(api, url, **admin_headers)).size == (512, 512)
    denied = fetch(api, url, **bearer(token_for(other)))
    assert denied.status_code == 403, denied.text
    assert denied.json()["error"]["code"] == "permission-denied"
    garbage = fetch(api, url, Authorization="Bearer not-a-token")
    assert garbage.status_code == 401 and garbage.json()["error"]["code"] == "unauthenticated"
    missing = fetch(api, f"{api.url('getGenerationImage')}?id={uuid.uuid4().hex}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not-found"
    assert fetch(api, api.url("getGenerationImage")).status_code == 400  # no id


def test_failed_and_canceled_requests_keep_no_image(api, db, new_user):
    from test_async_api import queued_without_task

    uid = new_user(20)
    failed = api.generate(outcome="failure", userId=uid)
    assert failed.status_code == 500, failed.text
    failed_id = failed.json()["error"]["generationRequestId"]
    resp = fetch(api, f"{api.url('getGenerationImage')}?id={failed_id}")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "image-not-found"
    queued = queued_without_task(db, uid)
    assert api.post("cancelGenerationRequest", params={"id": queued}).status_code == 200
    assert request_doc(db, queued)["status"] == "canceled"
    assert stored_images(uid) == set()
    assert balance(db, uid) == 20


CRASH_BODY = {"model": "model-b", "style": "anime", "color": "pastel", "size": "1024x1024"}


def crash_at(api, uid, point):
    resp = api.post(
        "createGenerationRequest",
        json={**CRASH_BODY, "userId": uid, "prompt": "a crash"},
        headers={"X-Simulate-Crash": point, "X-Simulate-Outcome": "success"},
    )
    assert resp.status_code == 500 and resp.json()["error"]["code"] == "simulated-crash"
    return resp.json()["error"]["generationRequestId"]


def sweep(api, admin_headers):
    resp = api.post("recoverPendingRequests", params={"olderThanSeconds": 0}, headers=admin_headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def entries_of(db, uid, rid):
    return sorted(e["type"] for e in ledger(db, uid) if e.get("generationRequestId") == rid)


@pytest.mark.serial  # the sweep settles every user's pending requests
def test_crash_before_the_upload_is_refunded_once_without_image(api, db, new_user, admin_headers):
    uid = new_user(10)
    rid = crash_at(api, uid, "after-charge")
    assert request_doc(db, rid)["status"] == "pending" and stored_images(uid) == set()
    result = sweep(api, admin_headers)
    assert rid in result["refunded"] and rid not in result["completed"]
    assert request_doc(db, rid)["status"] == "failed"
    assert balance(db, uid) == 10 and entries_of(db, uid, rid) == ["deduction", "refund"]
    assert rid not in sweep(api, admin_headers)["refunded"]
    assert stored_images(uid) == set() and balance(db, uid) == 10


@pytest.mark.serial  # the sweep settles every user's pending requests
def test_crash_after_the_upload_is_completed_once_with_its_image(api, db, new_user, admin_headers):
    uid = new_user(10)
    rid = crash_at(api, uid, "after-upload")
    assert request_doc(db, rid)["status"] == "pending" and stored_images(uid) == {rid}
    result = sweep(api, admin_headers)
    assert rid in result["completed"] and rid not in result["refunded"]
    doc = request_doc(db, rid)
    assert doc["status"] == "completed" and doc["imagePath"] == f"generated/{uid}/{rid}.png"
    assert balance(db, uid) == 7 and entries_of(db, uid, rid) == ["deduction"]
    again = sweep(api, admin_headers)
    assert rid not in again["completed"] and rid not in again["refunded"]
    assert balance(db, uid) == 7
    assert decoded(fetch(api, doc["imageUrl"])).size == (1024, 1024)
