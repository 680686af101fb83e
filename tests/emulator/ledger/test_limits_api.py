"""Limits over HTTP and the callable protocol: per-user requests per minute, pending requests
and daily credits (overrides in users/{uid}.limits), the global switch and budget
(config/generation); nothing is ever charged when refused, and replays count once."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from books import balance, check_books, ledger, request_doc
from conftest import call

REPLICATE = "http://127.0.0.1:8191"  # the local Replicate server

pytestmark = pytest.mark.emulator

ORDER = {"model": "model-a", "style": "anime", "color": "neon", "size": "512x512", "prompt": "x"}
SUCCESS = {"X-Simulate-Outcome": "success"}


def limited_user(db, new_user, credits=100, **limits):
    uid = new_user(credits)
    db.collection("users").document(uid).update({"limits": limits})
    return uid


def create(api, uid, **extra):
    headers = {**SUCCESS, **extra.pop("headers", {})}
    return api.post(
        "createGenerationRequest", json={"userId": uid, **ORDER, **extra}, headers=headers
    )


def create_until_decided(api, uid):
    """A client that backs off on `busy` (contention on one user), as the API asks."""
    for _ in range(20):
        resp = create(api, uid)
        if resp.status_code != 503 or resp.json()["error"]["code"] != "busy":
            return resp
        time.sleep(0.2)
    return resp


def deductions(db, uid):
    return [e for e in ledger(db, uid) if e["type"] == "deduction"]


def test_twenty_simultaneous_requests_against_five_per_minute_admit_exactly_five(api, db, new_user):
    uid = limited_user(db, new_user, perMinute=5)
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: create_until_decided(api, uid), range(20)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 5 + [429] * 15, [r.text for r in answers if r.status_code != 200][:3]
    for resp in answers:
        if resp.status_code == 429:
            error = resp.json()["error"]
            assert error["code"] == "rate-limited" and error["limit"] == 5
            assert 1 <= error["retryAfterSeconds"] <= 60
            assert resp.headers["Retry-After"] == str(error["retryAfterSeconds"])
    assert balance(db, uid) == 95 and len(deductions(db, uid)) == 5
    assert check_books(db, [uid]) == []


def test_replays_of_one_idempotency_key_count_once(api, db, new_user):
    uid = limited_user(db, new_user, perMinute=2)
    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    first = create(api, uid, headers=key)
    for _ in range(5):
        again = create(api, uid, headers=key)
        assert again.status_code == 200 and again.json() == first.json()
    assert create(api, uid).status_code == 200  # the second request of the minute
    refused = create(api, uid)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate-limited"
    assert balance(db, uid) == 98


def test_a_refused_key_can_be_used_again_once_the_limit_allows(api, db, new_user):
    uid = limited_user(db, new_user, perMinute=1)
    assert create(api, uid).status_code == 200
    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    assert create(api, uid, headers=key).status_code == 429
    db.collection("users").document(uid).update({"limits.perMinute": 0})  # lifted
    assert create(api, uid, headers=key).status_code == 200  # not a stored 429 replay
    assert balance(db, uid) == 98


def test_daily_credits_are_net_of_refunds(api, db, new_user):
    uid = limited_user(db, new_user, dailyCredits=5)
    big = {"size": "1024x1024"}  # 3 credits
    failed = create(api, uid, headers={"X-Simulate-Outcome": "failure"}, **big)
    assert failed.status_code == 500  # charged 3, refunded 3: nothing spent today
    assert create(api, uid, **big).status_code == 200
    refused = create(api, uid, **big)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "daily-limit" and error["spentToday"] == 3 and error["limit"] == 5
    assert 1 <= error["retryAfterSeconds"] <= 86400
    assert create(api, uid, size="512x512").status_code == 200  # 4 of 5
    assert balance(db, uid) == 96 and check_books(db, [uid]) == []


@pytest.fixture(scope="module")
def slow_model(db):
    """A Replicate model at the local server; `[slow]` keeps its prediction running."""
    model_id = f"t-slow-{uuid.uuid4().hex[:6]}"
    ref = db.collection("models").document(model_id)
    ref.set({"provider": "replicate", "providerModel": "owner/slow", "enabled": True})
    yield model_id
    ref.delete()


@pytest.mark.catalog_changes
def test_pending_requests_are_limited_and_a_settled_one_frees_its_place(
    api, db, new_user, slow_model
):
    uid = limited_user(db, new_user, maxPending=2)
    markers = [uuid.uuid4().hex for _ in range(3)]
    running = []
    for marker in markers[:2]:
        body = {"model": slow_model, "prompt": f"a slow boat {marker} [slow]"}
        resp = create(api, uid, headers={"Prefer": "respond-async"}, **body)
        assert resp.status_code == 202, resp.text
        running.append(resp.json()["generationRequestId"])
    body = {"model": slow_model, "prompt": f"a slow boat {markers[2]} [slow]"}
    refused = create(api, uid, headers={"Prefer": "respond-async"}, **body)
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "too-many-pending" and error["limit"] == 2
    assert refused.headers["Retry-After"] == str(error["retryAfterSeconds"])
    charged = balance(db, uid)

    def finish(rid: str, marker: str) -> None:
        """Let the request's prediction finish at the local Replicate server (a running
        request cannot be canceled) and wait for the request to complete."""
        deadline = time.monotonic() + 60
        while (doc := request_doc(db, rid)).get("status") != "completed":
            assert time.monotonic() < deadline, f"{rid} did not complete: {doc.get('status')}"
            found = requests.get(
                f"{REPLICATE}/_fake/predictions", params={"prompt": marker}, timeout=10
            ).json()["data"]
            for prediction in found:
                url = f"{REPLICATE}/_fake/predictions/{prediction['id']}/release"
                requests.post(url, timeout=10)
            time.sleep(0.2)

    finish(running[0], markers[0])
    assert create(api, uid).status_code == 200  # a place is free again
    finish(running[1], markers[1])
    assert balance(db, uid) == charged - 1  # both slow ones completed, charged once each
    assert check_books(db, [uid]) == []


def test_the_callable_answers_resource_exhausted_with_the_same_body(db, new_user, token_for):
    uid = limited_user(db, new_user, credits=5, perMinute=1)
    token = token_for(uid)
    data = {**ORDER, "simulateOutcome": "success"}
    assert call("generateImage", token, data).status_code == 200
    refused = call("generateImage", token, data)
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["details"]["code"] == "rate-limited"
    assert error["details"]["retryAfterSeconds"] >= 1
    assert balance(db, uid) == 4


# --- global controls (config/generation, cached 5 s by each instance) ------------------

CONFIG = "config/generation"


def refused_within(api, uid, code, seconds=12.0):
    """The first answer carrying `code` within the controls' cache time."""
    deadline = time.monotonic() + seconds
    while True:
        resp = create(api, uid)
        if resp.status_code != 200 and resp.json()["error"]["code"] == code:
            return resp
        assert time.monotonic() < deadline, f"still {resp.status_code}: {resp.text}"
        time.sleep(0.5)


@pytest.mark.global_changes
@pytest.mark.serial
def test_pausing_generation_takes_effect_within_its_cache_time(api, db, new_user, token_for):
    uid = new_user(100)
    ref = db.document(CONFIG)
    ref.set({"enabled": False, "dailyCreditBudget": 0})
    try:
        resp = refused_within(api, uid, "generation-paused")
        assert resp.status_code == 503 and int(resp.headers["Retry-After"]) >= 1
        before = balance(db, uid)
        assert create(api, uid).status_code == 503 and balance(db, uid) == before
        token = token_for(new_user(5))
        deadline = time.monotonic() + 12  # its own instances, with their own 5 s cache
        while (
            refused := call("generateImage", token, {**ORDER, "simulateOutcome": "success"})
        ).status_code == 200:
            assert time.monotonic() < deadline, "the callable still generates"
            time.sleep(0.5)
        assert refused.status_code == 503
        assert refused.json()["error"]["status"] == "UNAVAILABLE"
        assert refused.json()["error"]["details"]["code"] == "generation-paused"
    finally:
        ref.set({"enabled": True, "dailyCreditBudget": 0})
    deadline = time.monotonic() + 12
    while create(api, uid).status_code != 200:
        assert time.monotonic() < deadline, "generation did not resume"
        time.sleep(0.5)
    assert check_books(db, [uid]) == []


def today():
    return time.strftime("%Y-%m-%d", time.gmtime())


def day_total(db):
    """What the budget counts today (budgetDays/{day}: the base and the shards)."""
    from imagegen.ledger.budget import day_total as total

    return total(db, today())


def budget_books_agree(db):
    """The day's shards hold exactly what the requests counted on the day were charged, net
    of refunds (the base aside)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    from imagegen.ledger.budget import day_total

    requests_ = db.collection("generationRequests")
    counted = requests_.where(filter=FieldFilter("budgetDay", "==", today()))
    net = sum(
        int(r.get("cost") or 0) - int(r.get("refundedCredits") or 0)
        for r in (doc.to_dict() for doc in counted.stream())
    )
    base = db.document(f"budgetDays/{today()}").get().to_dict()["base"]
    return day_total(db, today()) == base + net


def set_budget(db, budget):
    """Set the budget and wait out the instances' cache of config/generation (5 s): from then
    on, every instance checks this budget."""
    from imagegen.operations.wiring import CONTROLS_TTL_SECONDS

    db.document(CONFIG).set({"enabled": True, "dailyCreditBudget": budget})
    time.sleep(CONTROLS_TTL_SECONDS + 0.5)


def counted_request(api, db, uid):
    """With a budget just set, a request counted by it (the day's document exists after it)."""
    deadline = time.monotonic() + 30
    while True:
        resp = create(api, uid)
        if resp.status_code == 200:
            if request_doc(db, resp.json()["generationRequestId"]).get("budgetDay") == today():
                return resp
        else:  # an instance that still sees an earlier test's pause
            assert resp.json()["error"]["code"] == "generation-paused", resp.text
        assert time.monotonic() < deadline, "no instance counted a request on the budget"
        time.sleep(0.2)


def start_counting(api, db, new_user):
    """A budget set, a request counted on it: today's total as the budget counts it."""
    db.document(CONFIG).set({"enabled": True, "dailyCreditBudget": 10**9})
    uid = new_user(100)
    counted_request(api, db, uid)
    total = day_total(db)
    assert total is not None
    return uid, total


@pytest.mark.global_changes
@pytest.mark.serial
def test_the_budget_counts_charges_net_of_refunds_and_off_counts_nothing(api, db, new_user):
    uid, total = start_counting(api, db, new_user)
    try:
        set_budget(db, total + 3)
        big = {"size": "1024x1024"}  # 3 credits
        failed = create(api, uid, headers={"X-Simulate-Outcome": "failure"}, **big)
        assert failed.status_code == 500  # charged 3, refunded 3: counted 0
        assert day_total(db) == total
        queued = create(
            api, uid, headers={"X-Simulate-Outcome": "failure", "Prefer": "respond-async"}, **big
        )
        assert queued.status_code == 202, queued.text  # refunded later, by the queued task
        rid, deadline = queued.json()["generationRequestId"], time.monotonic() + 30
        while request_doc(db, rid)["status"] != "failed":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert day_total(db) == total
        assert [create(api, uid).status_code for _ in range(3)] == [200] * 3
        assert day_total(db) == total + 3
        before = balance(db, uid)
        refused = create(api, uid)
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert error["code"] == "budget-exhausted" and 1 <= error["retryAfterSeconds"] <= 86400
        assert refused.headers["Retry-After"] == str(error["retryAfterSeconds"])
        assert balance(db, uid) == before  # nothing charged
        db.document(CONFIG).set({"enabled": True, "dailyCreditBudget": 0})
        free = create_until_decided(api, uid)
        deadline = time.monotonic() + 12
        while free.status_code == 503:  # instances still see the budget, within 5 s
            assert free.json()["error"]["code"] == "budget-exhausted"
            assert time.monotonic() < deadline
            time.sleep(0.5)
            free = create(api, uid)
        assert free.status_code == 200, free.text
        assert "budgetDay" not in request_doc(db, free.json()["generationRequestId"])
        assert day_total(db) == total + 3  # no budget: nothing counted, nothing written
    finally:
        db.document(CONFIG).delete()
    assert budget_books_agree(db)
    assert check_books(db, [uid]) == []


@pytest.mark.global_changes
@pytest.mark.serial
def test_a_burst_against_a_small_budget_is_charged_exactly_the_budget(api, db, new_user):
    warm, total = start_counting(api, db, new_user)
    uids = [new_user(5) for _ in range(25)]
    try:
        set_budget(db, total + 10)

        def one(uid):  # a key each, so that a retry (busy, emulator) cannot charge twice
            key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
            for _ in range(20):
                resp = create(api, uid, headers=key)
                if resp.status_code != 503 or resp.json()["error"]["code"] != "busy":
                    return resp
                time.sleep(0.2)
            return resp

        with ThreadPoolExecutor(25) as pool:
            answers = list(pool.map(one, uids))
    finally:
        db.document(CONFIG).delete()
    admitted = [uid for uid, resp in zip(uids, answers, strict=True) if resp.status_code == 200]
    refused = [resp for resp in answers if resp.status_code != 200]
    for resp in refused:
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "budget-exhausted"
    # Overshoot 0 (never past the budget) and nothing left unused (no refusal while room was
    # left): exactly the budget's 10 credits, one per admitted request.
    assert len(admitted) == 10, [r.text for r in refused][:3]
    assert sum(5 - balance(db, uid) for uid in uids) == 10
    for uid in uids:
        entries = deductions(db, uid)
        assert len(entries) == (1 if uid in admitted else 0)
        assert balance(db, uid) == (4 if uid in admitted else 5)
    assert day_total(db) == total + 10
    assert budget_books_agree(db)
    assert check_books(db, [warm, *uids]) == []
