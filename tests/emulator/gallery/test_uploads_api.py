"""Reference-image uploads over HTTP (`uploadImage`, raw bytes) and the callable protocol
(`uploadReferenceImage`, base64): what is stored is the cleaned image its document describes;
bad, oversized and mistyped uploads, another user's, a rate-limited one and one for a closed
account store nothing; account deletion erases every upload, even those racing it."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import bearer, call, touch
from PIL import Image

pytestmark = pytest.mark.emulator

GPS = 0x8825


def png(size=(64, 40), color=(200, 90, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif.get_ifd(GPS).update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)})
    out = io.BytesIO()
    Image.new("RGB", (80, 60), (20, 120, 220)).save(out, format="JPEG", exif=exif)
    data = out.getvalue()
    with Image.open(io.BytesIO(data)) as sent:
        assert sent.getexif().get_ifd(GPS)  # the location is really in what is sent
    return data


def png_declaring(width: int, height: int) -> bytes:
    """A PNG header declaring a size with no pixels behind it (a few bytes)."""
    body = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + body))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + body + crc


def upload(api, data: bytes, content_type="image/png", uid=None, headers=None):
    params = {"userId": uid} if uid else {}
    return api.post(
        "uploadImage",
        data=data,
        params=params,
        headers={"Content-Type": content_type, **(headers or {})},
    )


def upload_docs(db, uid) -> dict[str, dict]:
    ref = db.collection("users").document(uid).collection("uploads")
    return {snap.id: snap.to_dict() for snap in ref.stream()}


def stored_objects(uid) -> list[str]:
    from imagegen.operations.wiring import images

    return images().paths(f"uploads/{uid}/")


def object_bytes(path: str) -> bytes:
    from imagegen.operations.wiring import images

    found = images().get(path)
    assert found is not None, path
    return b"".join(found.read())


def assert_nothing_stored(db, uid):
    assert upload_docs(db, uid) == {}
    assert stored_objects(uid) == []


def assert_error(resp, status: int, code: str):
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code, resp.text


def callable_error(resp) -> tuple[str, str]:
    error = resp.json()["error"]
    return error["status"], error["details"]["code"]


# --- round trips -----------------------------------------------------------------------------


def test_a_png_round_trip_over_http(api, db, new_user):
    uid = new_user(0)
    resp = upload(api, png(), uid=uid)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body.keys() == {"uploadId", "width", "height", "contentType"}
    assert (body["width"], body["height"], body["contentType"]) == (64, 40, "image/png")
    doc = upload_docs(db, uid)[body["uploadId"]]
    assert {k: doc[k] for k in ("contentType", "width", "height")} == {
        "contentType": "image/png",
        "width": 64,
        "height": 40,
    }
    assert doc["createdAt"] is not None
    path = f"uploads/{uid}/{body['uploadId']}.png"
    assert stored_objects(uid) == [path]
    stored = object_bytes(path)
    assert doc["sha256"] == hashlib.sha256(stored).hexdigest()
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "PNG" and image.size == (64, 40)
        assert image.getpixel((10, 10)) == (200, 90, 30)
    assert db.collection("users").document(uid).get().to_dict()["credits"] == 0  # free


def test_a_jpeg_with_gps_exif_comes_out_without_it_through_the_callable(db, token_for):
    uid = f"up-{time.time_ns()}"
    touch(uid)
    data = jpeg_with_gps()
    resp = call(
        "uploadReferenceImage",
        token_for(uid),
        {"data": base64.b64encode(data).decode(), "contentType": "image/jpeg"},
    )
    assert resp.status_code == 200, resp.text
    result = resp.json()["result"]
    assert (result["width"], result["height"], result["contentType"]) == (80, 60, "image/jpeg")
    doc = upload_docs(db, uid)[result["uploadId"]]
    stored = object_bytes(f"uploads/{uid}/{result['uploadId']}.jpg")
    assert doc["sha256"] == hashlib.sha256(stored).hexdigest() != hashlib.sha256(data).hexdigest()
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "JPEG" and image.size == (80, 60)
        assert not image.getexif() and not image.getexif().get_ifd(GPS)
        assert "exif" not in image.info
    assert b"Exif" not in stored and b"CameraMaker" not in stored


def test_a_user_with_a_token_uploads_for_themself_over_http(api, db, token_for):
    uid = f"up-{time.time_ns()}"
    touch(uid)
    resp = upload(api, png(), headers=bearer(token_for(uid)))
    assert resp.status_code == 200, resp.text
    assert list(upload_docs(db, uid)) == [resp.json()["uploadId"]]


def test_an_uploaded_image_is_the_input_of_an_edit(api, db, new_user):
    """The contract edits read: the request records the sha256 of the bytes the model got,
    which are the stored bytes the upload's document describes."""
    uid = new_user(10)
    upload_id = upload(api, jpeg_with_gps(), "image/jpeg", uid).json()["uploadId"]
    edit = api.generate(
        userId=uid, prompt="make the sky darker", input={"uploadId": upload_id}, style="sketch"
    )
    assert edit.status_code == 200, edit.text
    request = db.collection("generationRequests").document(edit.json()["generationRequestId"])
    recorded = request.get().to_dict()["input"]
    digest = upload_docs(db, uid)[upload_id]["sha256"]
    assert recorded == {"kind": "upload", "id": upload_id, "sha256": digest}
    assert digest == hashlib.sha256(object_bytes(f"uploads/{uid}/{upload_id}.jpg")).hexdigest()


# --- refusals: nothing stored ------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [b"definitely not an image", png()[:-30], b"\x89PNG\r\n\x1a\n" + b"\x00" * 40]
)
def test_bad_bytes_are_invalid_image_and_store_nothing(api, db, new_user, data):
    uid = new_user(0)
    assert_error(upload(api, data, uid=uid), 400, "invalid-image")
    assert_nothing_stored(db, uid)


@pytest.mark.parametrize("content_type", ["image/gif", "application/octet-stream", "text/plain"])
def test_a_wrong_content_type_is_invalid_image(api, db, new_user, content_type):
    uid = new_user(0)
    resp = upload(api, png(), content_type=content_type, uid=uid)
    assert_error(resp, 400, "invalid-image")
    assert resp.json()["error"]["allowed"] == ["image/png", "image/jpeg", "image/webp"]
    assert_error(upload(api, jpeg_with_gps(), "image/png", uid), 400, "invalid-image")
    assert_nothing_stored(db, uid)


def test_over_the_dimension_bounds_is_image_too_large(api, db, new_user):
    uid = new_user(0)
    for width, height in ((4097, 16), (16, 4097), (4096, 4097)):
        assert_error(upload(api, png_declaring(width, height), uid=uid), 413, "image-too-large")
    assert_nothing_stored(db, uid)


def test_over_the_byte_limits_is_image_too_large(api, db, new_user, token_for):
    uid = new_user(0)
    big = png() + b"\x00" * (10 * 1024 * 1024)  # a valid PNG with trailing bytes: 10 MB + a bit
    resp = upload(api, big, uid=uid)
    assert_error(resp, 413, "image-too-large")
    assert resp.json()["error"]["maxBytes"] == 10 * 1024 * 1024
    encoded = base64.b64encode(png() + b"\x00" * (7 * 1024 * 1024)).decode()
    called = call(
        "uploadReferenceImage", token_for(uid), {"data": encoded, "contentType": "image/png"}
    )
    assert callable_error(called) == ("INVALID_ARGUMENT", "image-too-large")
    assert_nothing_stored(db, uid)


def test_callable_refusals(db, token_for):
    uid = f"up-{time.time_ns()}"
    token = token_for(uid)
    missing = call("uploadReferenceImage", token, {"contentType": "image/png"})
    assert callable_error(missing) == ("INVALID_ARGUMENT", "missing-fields")
    not_base64 = call("uploadReferenceImage", token, {"data": "@@@", "contentType": "image/png"})
    assert callable_error(not_base64) == ("INVALID_ARGUMENT", "invalid-image")
    data = base64.b64encode(png()).decode()
    wrong_type = call("uploadReferenceImage", token, {"data": data, "contentType": "image/gif"})
    assert callable_error(wrong_type) == ("INVALID_ARGUMENT", "invalid-image")
    assert_nothing_stored(db, uid)


def test_a_token_cannot_upload_for_another_user(api, db, new_user, token_for):
    victim, other = new_user(0), f"up-{time.time_ns()}"
    resp = upload(api, png(), uid=victim, headers=bearer(token_for(other)))
    assert_error(resp, 403, "permission-denied")
    bad_token = upload(api, png(), uid=victim, headers=bearer("not-a-token"))
    assert_error(bad_token, 401, "unauthenticated")
    assert_nothing_stored(db, victim)
    assert_nothing_stored(db, other)


# --- the per-minute limit ----------------------------------------------------------------------


def set_per_minute(db, uid, per_minute):
    db.collection("users").document(uid).update({"limits": {"perMinute": per_minute}})


def test_uploads_count_against_the_per_minute_limit_with_generations(api, db, new_user):
    uid = new_user(10)
    set_per_minute(db, uid, 3)
    assert api.generate(userId=uid).status_code == 200
    assert upload(api, png(), uid=uid).status_code == 200
    assert upload(api, png(), uid=uid).status_code == 200
    refused = upload(api, png(), uid=uid)
    assert_error(refused, 429, "rate-limited")
    assert refused.json()["error"]["retryAfterSeconds"] >= 1
    assert_error(api.generate(userId=uid), 429, "rate-limited")  # the uploads counted
    assert len(upload_docs(db, uid)) == 2 and len(stored_objects(uid)) == 2
    assert db.collection("users").document(uid).get().to_dict()["credits"] == 10 - 1


def test_concurrent_uploads_never_pass_the_per_minute_limit(api, db, new_user):
    uid = new_user(0)
    set_per_minute(db, uid, 3)
    data = png()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: upload(api, data, uid=uid), range(8)))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(200) == 3, [r.text for r in answers]
    for resp in answers:
        if resp.status_code != 200:
            assert_error(resp, 429, "rate-limited")
    docs = upload_docs(db, uid)
    assert sorted(docs) == sorted(r.json()["uploadId"] for r in answers if r.status_code == 200)
    assert len(stored_objects(uid)) == 3


# --- closed accounts and account deletion -----------------------------------------------------


def test_account_deletion_erases_the_uploads_and_a_closed_account_uploads_nothing(
    api, db, token_for
):
    uid = f"up-{time.time_ns()}"
    touch(uid)
    token = token_for(uid)
    data = base64.b64encode(png()).decode()
    for _ in range(2):
        assert call("uploadReferenceImage", token, {"data": data, "contentType": "image/png"}).ok
    assert upload(api, jpeg_with_gps(), "image/jpeg", headers=bearer(token)).status_code == 200
    assert len(upload_docs(db, uid)) == 3 and len(stored_objects(uid)) == 3
    assert api.post("deleteUserAccount", headers=bearer(token)).status_code == 200
    assert_nothing_stored(db, uid)
    assert_error(upload(api, png(), uid=uid), 410, "account-closed")  # the emulator's form
    assert_nothing_stored(db, uid)


def test_uploads_racing_an_account_deletion_leave_nothing(api, db, token_for):
    uid = f"up-{time.time_ns()}"
    touch(uid)
    headers = bearer(token_for(uid))
    data = png()
    gate = threading.Barrier(2)
    answers = []

    def burst():
        gate.wait()
        for _ in range(12):
            answers.append(upload(api, data, uid=uid))

    def delete():
        gate.wait()
        time.sleep(0.2)  # a few uploads land first, the rest race the closing
        return api.post("deleteUserAccount", headers=headers)

    with ThreadPoolExecutor(2) as pool:
        uploading, deleting = pool.submit(burst), pool.submit(delete)
        uploading.result()
        assert deleting.result().status_code == 200
    for resp in answers:
        assert resp.status_code == 200 or resp.json()["error"]["code"] == "account-closed"
    assert_nothing_stored(db, uid)
