"""The image failure rate: a model that fails many of its images while every request stores at
least one is an anomaly (its requests all complete), judged like the request failure rate and
never reported twice for one cause; weeks of one-image requests are judged as before."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from imagegen.records.request_record import outcome_fields
from imagegen.reporting.incidents import find_incidents
from imagegen.reporting.report_rules import (
    IMAGE_DIMENSIONS,
    RATE_METRICS,
    Tally,
    WeekAggregate,
    detect_anomalies,
)

SIZES = ("512x512", "1024x1024")
STYLES = ("anime", "sketch", "realistic")
COLORS = ("neon", "pastel")


def doc(i: int, model: str, num_images: int, failed_images: int, **extra: Any) -> dict[str, Any]:
    """A settled request of `num_images` at one credit each, `failed_images` of them failed
    (all failed: the request failed)."""
    status = "completed" if failed_images < num_images else "failed"
    rng = random.Random(f"{model}-{i}")  # segments drawn apart from the failures
    data = {
        "userId": f"u{i % 25}",
        "model": model,
        "style": rng.choice(STYLES),
        "size": rng.choice(SIZES),
        "color": rng.choice(COLORS),
        "cost": num_images,
        "numImages": num_images,
        "status": status,
        "refundedCredits": failed_images,
    }
    data.update(
        outcome_fields(status, num_images, failed_images, num_images - failed_images, num_images)
    )
    return {**data, **extra}


def spread(model: str, counts: list[int], every: int = 20, offset: int = 0) -> list[dict]:
    """Requests of `counts` images each, every `every`-th image failed (5% by default)."""
    docs, seen = [], offset
    for i, n in enumerate(counts):
        failed = sum((seen + j) % every == every - 1 for j in range(n))
        seen += n
        docs.append(doc(i, model, n, failed))
    return docs


MIX = [1, 2, 4, 4, 1, 2, 4, 1] * 19  # 152 requests, 437 images
HISTORY = [
    WeekAggregate().add_all(spread("model-a", MIX, offset=w) + spread("model-b", MIX)).totals()
    for w in range(6)
]


def rates(anomalies: list[dict]) -> list[tuple[str, str, str]]:
    return [
        (a["metric"], a["dimension"], a["key"]) for a in anomalies if a["metric"] in RATE_METRICS
    ]


@settings(max_examples=25, deadline=None)
@given(
    counts=st.lists(st.sampled_from([1, 2, 4]), min_size=120, max_size=180),
    offset=st.integers(0, 19),
)
def test_images_failing_at_the_baseline_rate_are_no_anomaly(counts, offset):
    """Whatever the mix of images per request, 5% of images failing is no image anomaly. (The
    request rate is another matter: a one-image request fails whenever its image does, so a
    week of mostly one-image requests may fail more requests than its baseline.)"""
    week = WeekAggregate().add_all(
        spread("model-a", counts, offset=offset) + spread("model-b", counts[::-1])
    )
    found = rates(detect_anomalies(week.totals(), HISTORY))
    assert [r for r in found if r[0] == "imageFailureRate"] == []


@settings(max_examples=20, deadline=None)
@given(counts=st.lists(st.sampled_from([2, 3, 4]), min_size=25, max_size=80))
def test_a_model_failing_half_its_images_with_every_request_completed_is_an_anomaly(counts):
    failing = [doc(i, "model-b", n, n // 2) for i, n in enumerate(counts)]  # >= 1 stored each
    week = WeekAggregate().add_all(spread("model-a", MIX) + failing)
    current = week.totals()
    assert current["byModel"]["model-b"]["failed"] == 0  # every request completed
    anomalies = detect_anomalies(current, HISTORY)
    found = {(a["metric"], a["dimension"], a["key"]): a for a in anomalies}
    image = found[("imageFailureRate", "byModel", "model-b")]
    assert ("failureRate", "byModel", "model-b") not in found
    assert image["current"] >= 40 and image["baseline"] < 10
    assert image["settledRequests"] == len(counts) and image["settledImages"] == sum(counts)
    assert image["message"].startswith("model-b image failure rate ")
    # One cause: the sizes whose images fail only because model-b's are in them are explained.
    incidents = find_incidents(current, HISTORY, anomalies, week.intersect)
    rate_causes = [(i["metric"], i["dimension"], i["key"]) for i in incidents]
    assert ("imageFailureRate", "byModel", "model-b") in rate_causes
    assert not [c for c in rate_causes if c[0] in RATE_METRICS and c[2] != "model-b"]


@settings(max_examples=25, deadline=None)
@given(
    docs=st.lists(
        st.tuples(
            st.sampled_from(["model-a", "model-b"]), st.integers(1, 4), st.integers(0, 4)
        ).map(lambda t: (t[0], t[1], min(t[1], t[2]))),
        min_size=40,
        max_size=120,
    ),
    data=st.data(),
)
def test_anomalies_and_incidents_do_not_depend_on_the_order_of_requests(docs, data):
    requests = [doc(i, m, n, f) for i, (m, n, f) in enumerate(docs)]
    shuffled = data.draw(st.permutations(requests))
    one, two = WeekAggregate().add_all(requests), WeekAggregate().add_all(shuffled)
    assert one.totals() == two.totals()
    first, second = detect_anomalies(one.totals(), HISTORY), detect_anomalies(two.totals(), HISTORY)
    assert first == second
    assert find_incidents(one.totals(), HISTORY, first, one.intersect) == find_incidents(
        two.totals(), HISTORY, second, two.intersect
    )


def _without_images(report: dict[str, Any]) -> dict[str, Any]:
    """A report as written before several images per request (no image counts)."""
    images = ("imagesRequested", "imagesGenerated", "imagesFailed")
    out = {k: v for k, v in report.items() if k not in images}
    for dim in IMAGE_DIMENSIONS:
        out[dim] = {
            k: {f: v for f, v in b.items() if f not in images} for k, b in report[dim].items()
        }
    return out


def test_weeks_of_one_image_requests_are_judged_as_before():
    """With one image per request the image rate is the request rate: no image anomaly, and the
    same request anomalies, at the same level, whether the reports carry image counts or not."""
    ones = [1] * 150
    history = [
        WeekAggregate()
        .add_all(spread("model-a", ones, offset=w) + spread("model-b", ones))
        .totals()
        for w in range(6)
    ]
    failing = [doc(i, "model-b", 1, int(i % 3 == 0)) for i in range(150)]
    current = WeekAggregate().add_all(spread("model-a", ones) + failing).totals()
    found = detect_anomalies(current, history)
    assert not [a for a in found if a["metric"] == "imageFailureRate"]
    assert ("failureRate", "byModel", "model-b") in rates(found)
    old = detect_anomalies(_without_images(current), [_without_images(h) for h in history])
    assert old == found
    # A week of several images judged against reports from before them: ordinary stays ordinary.
    mixed = WeekAggregate().add_all(spread("model-a", MIX) + spread("model-b", MIX)).totals()
    assert rates(detect_anomalies(mixed, [_without_images(h) for h in history])) == []


def test_a_model_failing_whole_requests_is_one_incident_not_two():
    """Whole 4-image requests failing: the request rate and the image rate of model-b are both
    anomalous, for one cause; the request rate is the incident, the image rate explained."""
    failing = [doc(i, "model-b", 4, 4 if i % 5 < 2 else 0) for i in range(120)]
    week = WeekAggregate().add_all(spread("model-a", MIX) + failing)
    current = week.totals()
    anomalies = detect_anomalies(current, HISTORY)
    assert {
        ("failureRate", "byModel", "model-b"),
        ("imageFailureRate", "byModel", "model-b"),
    } <= set(rates(anomalies))
    incidents = find_incidents(current, HISTORY, anomalies, week.intersect)
    causes = [(i["metric"], i["dimension"], i["key"]) for i in incidents]
    assert causes == [("failureRate", "byModel", "model-b")]
    explained = {(e["metric"], e["dimension"], e["key"]) for e in incidents[0]["explains"]}
    assert ("imageFailureRate", "byModel", "model-b") in explained
    assert len(anomalies) == 1 + len(explained)


def test_canceled_requests_images_are_not_failures():
    """Canceled requests were refunded before any image was made: their images are in
    `imagesFailed` but not in the image failure rate (estimated at the segment's mean images
    per request, exact here)."""
    canceled = []
    for n in MIX[:40]:
        request = {"status": "canceled", "cost": n, "numImages": n, "model": "model-b"}
        canceled.append({**request, **outcome_fields("canceled", n, num_images=n)})
    week = WeekAggregate().add_all(spread("model-b", MIX) + canceled)
    bucket = week.totals()["byModel"]["model-b"]
    assert bucket["imagesFailed"] == sum(MIX) // 20 + sum(MIX[:40])
    tally = Tally.of(bucket)
    assert (tally.failed_images, tally.settled_images) == (sum(MIX) // 20, sum(MIX))
    assert rates(detect_anomalies(week.totals(), HISTORY)) == []
