"""Crash recovery: a request charged but never settled is refunded exactly once."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from books import balance, entries_for, request_doc, stored_images

pytestmark = [pytest.mark.emulator, pytest.mark.serial]  # the sweeps settle every user's requests

CRASH = {"X-Simulate-Crash": "after-charge"}


def crash_body(uid):
    return {
        "userId": uid,
        "model": "model-b",
        "style": "anime",
        "color": "neon",
        "size": "1024x1024",
        "prompt": "crash me",
    }


def crash(api, uid, **headers):
    r = api.post("createGenerationRequest", json=crash_body(uid), headers={**CRASH, **headers})
    assert r.status_code == 500, r.text
    assert r.json()["error"]["code"] == "simulated-crash"
    return r.json()["error"]["generationRequestId"]


def sweep(api, admin_headers, older_than=0):
    resp = api.post(
        "recoverPendingRequests", params={"olderThanSeconds": older_than}, headers=admin_headers
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_crash_leaves_pending_and_the_sweeper_refunds_once(api, db, new_user, admin_headers):
    uid = new_user(20)
    rid = crash(api, uid)
    assert request_doc(db, rid)["status"] == "pending"
    assert balance(db, uid) == 17

    assert rid not in sweep(api, admin_headers, older_than=3600)["refunded"]  # too young
    assert request_doc(db, rid)["status"] == "pending"

    result = sweep(api, admin_headers)
    assert rid in result["refunded"]
    assert request_doc(db, rid)["status"] == "failed"
    assert "sweeper" in request_doc(db, rid)["failureReason"]
    assert balance(db, uid) == 20
    assert len(entries_for(db, uid, rid)) == 1

    assert rid not in sweep(api, admin_headers)["refunded"]
    assert balance(db, uid) == 20 and len(entries_for(db, uid, rid)) == 1


def test_sweeper_races_a_late_settlement(api, db, new_user, admin_headers):
    """The sweeper and a late worker (storing the image, then completing) run at once: exactly
    one settlement wins each time, and only a completed request keeps an image."""
    from imagegen.generation.pipeline import settle_images
    from imagegen.operations.wiring import studio
    from imagegen.providers.image_store import object_path
    from imagegen.records.request_record import ImageOutcome

    uid = new_user(60)

    def late_worker(rid):
        path = object_path(uid, rid)
        studio().images.put(path, b"\x89PNG late", "image/png")
        stored = ImageOutcome(0, path, studio().url_for(rid, None))
        return settle_images(db, studio(), rid, [stored])

    for _ in range(4):
        rid = crash(api, uid)
        with ThreadPoolExecutor(2) as pool:
            late = pool.submit(late_worker, rid)
            swept = pool.submit(sweep, api, admin_headers)
            late_result, sweep_result = late.result(), swept.result()
        doc = request_doc(db, rid)
        refunds = entries_for(db, uid, rid)
        if doc["status"] == "completed":
            assert refunds == [] and rid not in sweep_result["refunded"]
            # the worker's commit or the sweeper's (which found the image): exactly one
            assert late_result.settled_now != (rid in sweep_result["completed"])
            assert rid in stored_images(uid)
        else:
            assert doc["status"] == "failed" and len(refunds) == 1
            assert not late_result.settled_now
            assert rid in sweep_result["refunded"]
            assert rid not in stored_images(uid)


def test_retry_with_the_same_key_after_a_crash(api, db, new_user, admin_headers):
    """A crashed idempotent request is 'in progress' until the sweeper settles it; then a retry
    gets the settled outcome."""
    uid, key = new_user(10), uuid.uuid4().hex
    rid = crash(api, uid, **{"Idempotency-Key": key})
    body = crash_body(uid)
    again = api.post("createGenerationRequest", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 409
    assert again.json()["error"]["generationRequestId"] == rid
    sweep(api, admin_headers)
    assert balance(db, uid) == 10
    assert len(entries_for(db, uid, rid)) == 1
    replay = api.post("createGenerationRequest", json=body, headers={"Idempotency-Key": key})
    assert replay.status_code == 500, replay.text  # the settled outcome, nothing charged
    assert replay.json()["error"]["code"] == "generation-failed"
    assert replay.json()["error"]["generationRequestId"] == rid
    assert balance(db, uid) == 10


def test_scheduled_sweeper_runs_through_the_trigger_route(api, db, new_user, admin_headers):
    """The scheduled function itself runs (fresh requests are left alone by its timeout)."""
    import requests
    from conftest import PROJECT_ID

    uid = new_user(10)
    rid = crash(api, uid)
    url = (
        f"http://127.0.0.1:5001/functions/projects/{PROJECT_ID}"
        "/triggers/us-central1-sweepPendingRequests-0"
    )
    resp = requests.post(url, json={"data": {}}, timeout=60)
    assert resp.status_code == 200, resp.text
    assert request_doc(db, rid)["status"] == "pending"
    sweep(api, admin_headers)
    assert balance(db, uid) == 10
