"""Bounded load on loopback: never overdraw, finish in time, and the books balance."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from books import balance, ledger, requests_of

pytestmark = pytest.mark.emulator


def generate_with_retries(api, **fields):
    """What a careful client does: an Idempotency-Key per order, retried on network errors
    (the Functions emulator occasionally resets connections while it starts workers)."""
    headers = {"Idempotency-Key": uuid.uuid4().hex, "X-Simulate-Outcome": "success"}
    body = {
        "model": "model-a",
        "style": "anime",
        "color": "neon",
        "size": "512x512",
        "prompt": "load",
        **fields,
    }
    for attempt in range(4):
        try:
            resp = api.post("createGenerationRequest", json=body, headers=headers)
        except requests.ConnectionError:
            if attempt == 3:
                raise
            time.sleep(0.5)
            continue
        if resp.status_code != 409:  # 409: the first attempt is still running
            return resp
        time.sleep(0.5)
    return resp


def test_40_parallel_requests_on_a_user_with_10_credits(api, db, new_user):
    uid = new_user(10)
    started = time.monotonic()
    with ThreadPoolExecutor(40) as pool:
        responses = list(pool.map(lambda _: generate_with_retries(api, userId=uid), range(40)))
    elapsed = time.monotonic() - started
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 10, [r.text for r in responses if r.status_code != 200][:5]
    for r in responses:
        if r.status_code != 200:
            assert r.status_code in (400, 503), r.text
            assert r.json()["error"]["code"] in ("insufficient-credits", "busy")
    assert elapsed < 60
    assert balance(db, uid) == 0
    assert len(requests_of(db, uid)) == 10
    assert sum(e["credits"] for e in ledger(db, uid) if e["type"] == "deduction") == 10


def test_64_requests_over_8_users_in_parallel(api, db, new_user):
    users = [new_user(100) for _ in range(8)]
    jobs = [users[i % 8] for i in range(64)]
    with ThreadPoolExecutor(16) as pool:
        responses = list(
            pool.map(lambda uid: generate_with_retries(api, userId=uid, size="1024x1024"), jobs)
        )
    assert [r.status_code for r in responses].count(200) == 64, [r.text for r in responses][:3]
    for uid in users:
        assert balance(db, uid) == 100 - 8 * 3
        assert len(requests_of(db, uid)) == 8
