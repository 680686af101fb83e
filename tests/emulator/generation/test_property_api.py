"""Property-based: arbitrary JSON bodies never cause a 5xx, and rejected ones write nothing."""

from __future__ import annotations

import pytest
from books import balance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.emulator

CHOICES = {
    "model": ["model-a", "model-b", "model-c", ""],
    "style": ["anime", "sketch", "pixel"],
    "color": ["neon", "gold"],
    "size": ["512x512", "1024x1792", "2x2"],
    "prompt": ["a cat", "   ", "x" * 2001],
}
PRICES = {"512x512": 1, "1024x1792": 4}
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def field(name):
    return st.one_of(st.sampled_from(CHOICES[name]), junk) if name in CHOICES else junk


@st.composite
def bodies(draw, uid):
    body = {}
    for name in ("model", "style", "color", "size", "prompt"):
        if draw(st.booleans()) or draw(st.booleans()):
            body[name] = draw(field(name))
    body["userId"] = draw(st.one_of(st.just(uid), st.just(uid), junk))
    body.update(draw(st.dictionaries(st.text(max_size=8), junk, max_size=2)))
    return body


def count_requests(db, uid):
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = db.collection("generationRequests").where(filter=FieldFilter("userId", "==", uid))
    return query.count().get()[0][0].value


def test_random_bodies(api, db, new_user):
    uid = new_user(10_000)

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(bodies(uid))
    def check(body):
        before, count = balance(db, uid), count_requests(db, uid)
        resp = api.post(
            "createGenerationRequest", json=body, headers={"X-Simulate-Outcome": "success"}
        )
        assert resp.status_code < 500, (body, resp.text)
        assert "error" in resp.json() or resp.status_code == 200
        if resp.status_code == 200:
            assert balance(db, uid) == before - PRICES[body["size"]]
            assert count_requests(db, uid) == count + 1
        else:
            assert 400 <= resp.status_code < 500
            assert balance(db, uid) == before and count_requests(db, uid) == count

    check()
