"""Weekly reports over HTTP against the emulators: exact totals, idempotent, anomalies."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from reportdata import contract_only, normal_week, request, write

pytestmark = [pytest.mark.emulator, pytest.mark.bulk_data]


def report(api, admin_headers, week):
    resp = api.post("generateWeeklyReport", params={"week": week}, headers=admin_headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_exact_totals_for_a_closed_week_and_idempotent_rerun(api, db, admin_headers):
    monday = datetime(2015, 3, 2, tzinfo=UTC)  # 2015-W10
    at = lambda h: monday + timedelta(hours=h)  # noqa: E731
    write(
        db,
        [
            request(monday, "completed", user="ra"),  # first instant: inside
            *[request(at(10 + i), "completed", user="rb") for i in range(4)],
            request(at(50), "failed", "model-b", "1024x1024", "rc", "sketch", "vintage"),
            request(at(51), "failed", "model-b", "1024x1024", "rc", "sketch", "vintage"),
            request(at(60), "pending", "model-a", "1024x1792", "ra"),
            request(at(70), "canceled", "model-b", "512x512", "rc"),
            request(monday - timedelta(microseconds=1000), "completed", user="rz"),  # week before
            request(monday + timedelta(days=7), "completed", user="rz"),  # next Monday 00:00
        ],
    )
    first = report(api, admin_headers, "2015-W10")
    expected = {
        "weekId": "2015-W10",
        "period": {"start": "2015-03-02T00:00:00Z", "end": "2015-03-09T00:00:00Z"},
        "totalRequests": 9,
        "completed": 5,
        "failed": 2,
        "canceled": 1,
        "pending": 1,
        "totalCreditsSpent": 5,
        "totalCreditsRefunded": 7,
        "successRate": 71.43,
        "uniqueUsers": 3,
        "imagesRequested": 9,
        "imagesGenerated": 5,
        "imagesFailed": 3,
    }
    assert {k: first[k] for k in expected} == expected
    assert first["byModel"] == {
        "model-a": {
            "total": 6,
            "completed": 5,
            "failed": 0,
            "canceled": 0,
            "pending": 1,
            "failureRate": 0.0,
            "credits": 5,
            "imagesRequested": 6,
            "imagesGenerated": 5,
            "imagesFailed": 0,
        },
        "model-b": {
            "total": 3,
            "completed": 0,
            "failed": 2,
            "canceled": 1,
            "pending": 0,
            "failureRate": 100.0,
            "credits": 0,
            "imagesRequested": 3,
            "imagesGenerated": 0,
            "imagesFailed": 3,
        },
    }
    assert first["bySize"]["1024x1024"]["failed"] == 2
    assert first["byStyle"]["sketch"]["total"] == 2 and first["byColor"]["neon"]["total"] == 7
    assert first["anomalies"] == []
    assert first["computedWith"]["method"] == "aggregation"

    again = report(api, admin_headers, "2015-W10")
    assert {k: v for k, v in again.items() if k != "generatedAt"} == {
        k: v for k, v in first.items() if k != "generatedAt"
    }
    stored = db.collection("reports").document("2015-W10").get().to_dict()
    assert stored["totalRequests"] == 9 and stored["generatedAt"] is not None


def build_history(api, db, admin_headers, year, weeks, rng):
    for w in weeks:
        week = f"{year}-W{w:02d}"
        write(db, normal_week(week, rng, {"model-a": (30, 1), "model-b": (30, 2)}))
        assert report(api, admin_headers, week)["anomalies"] == [], week


def test_failure_spike_flagged_and_normal_week_not(api, db, admin_headers):
    rng = random.Random(11)
    build_history(api, db, admin_headers, 2016, range(10, 15), rng)
    write(db, normal_week("2016-W15", rng, {"model-a": (30, 2), "model-b": (30, 1)}))
    normal = report(api, admin_headers, "2016-W15")
    assert normal["anomalies"] == []
    assert len(normal["baselineWeeks"]) == 5

    write(db, normal_week("2016-W16", rng, {"model-a": (75, 4), "model-b": (75, 34)}))
    spiked = report(api, admin_headers, "2016-W16")
    rate = [a for a in spiked["anomalies"] if a["metric"] == "failureRate"]
    assert [(a["dimension"], a["key"]) for a in rate if a["dimension"] == "byModel"] == [
        ("byModel", "model-b")
    ]
    flagged = next(a for a in rate if a["key"] == "model-b")
    assert flagged["current"] == pytest.approx(45.33, abs=0.01)
    assert flagged["message"].startswith("model-b failure rate 45.3% vs baseline")
    assert "(n=75, p<0.001)" in flagged["message"]


def test_volume_spike_flagged(api, db, admin_headers):
    rng = random.Random(12)
    build_history(api, db, admin_headers, 2017, range(20, 25), rng)
    write(db, normal_week("2017-W25", rng, {"model-a": (150, 8), "model-b": (150, 7)}))
    spiked = report(api, admin_headers, "2017-W25")
    total = [a for a in spiked["anomalies"] if a["metric"] == "totalRequests"]
    assert len(total) == 1
    assert total[0]["current"] == 300 and total[0]["severity"] in ("warning", "critical")
    assert "up 5.0x" in total[0]["message"]


@pytest.mark.parametrize("week", ["2026-W99", "2026-W00", "soon", "2026W47", "2026-w47"])
def test_malformed_weeks_are_400(api, admin_headers, week):
    resp = api.post("generateWeeklyReport", params={"week": week}, headers=admin_headers)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid-week"


def test_unfinished_week_is_400(api, admin_headers):
    from imagegen.core.weeks import week_id

    this_week = week_id(datetime.now(UTC))
    resp = api.post("generateWeeklyReport", params={"week": this_week}, headers=admin_headers)
    assert resp.status_code == 400
    assert "not ended" in resp.json()["error"]["message"]


@pytest.mark.parametrize("week,markers", [("2018-W30", True), ("2018-W31", False)])
def test_aggregation_and_scan_agree(db, week, markers):
    """Both ways of counting give the same report, including a key outside the catalog and
    requests written without active-user markers (older data)."""
    from imagegen.reporting.report_queries import build_report

    rng = random.Random(13)
    docs = normal_week(week, rng, {"model-a": (40, 3), "model-b": (35, 9)})
    docs[0]["style"] = "retired-style"
    docs[1]["status"], docs[1]["isCompleted"], docs[1]["creditsSpent"] = "pending", 0, 0
    write(db, docs, markers=markers)
    by_agg = build_report(db, week)
    by_scan = build_report(db, week, method="scan")
    for key in by_scan:
        if key not in ("computedWith", "byStyle"):
            assert by_agg[key] == by_scan[key], key
    styles_agg, styles_scan = dict(by_agg["byStyle"]), dict(by_scan["byStyle"])
    assert styles_agg.pop("other") == styles_scan.pop("retired-style")  # counted apart
    assert styles_agg == styles_scan
    assert by_agg["pending"] == 1 and by_agg["totalRequests"] == 75
    assert by_agg["computedWith"]["method"] == "aggregation"


@pytest.mark.serial  # the catalog it changes is every report's list of models (and query count)
def test_a_model_added_to_the_catalog_is_its_own_row_on_both_paths(db):
    """A model of the `models` collection that no past report names (a real provider added
    this week) gets its own `byModel` row, not `other`, on the aggregation path too."""
    from imagegen.reporting.report_queries import build_report

    week, model_id = "2018-W40", f"model-new-{random.randrange(10**6)}"
    seeded = db.collection("models").document("model-a").get().to_dict()
    ref = db.collection("models").document(model_id)
    ref.set({**seeded, "active": False})  # listed, but never offered to other tests
    try:
        rng = random.Random(40)
        write(db, normal_week(week, rng, {"model-a": (10, 1), model_id: (6, 2)}))
        by_agg = build_report(db, week)
        by_scan = build_report(db, week, method="scan")
    finally:
        ref.delete()
    for by in (by_agg, by_scan):
        assert by["byModel"][model_id]["total"] == 6
        assert by["byModel"][model_id]["failed"] == 2
        assert by["byModel"].get("other", {}).get("total", 0) == 0
    assert by_agg["byModel"] == by_scan["byModel"]


def test_a_request_of_four_images_counts_its_images_on_both_paths(api, db, new_user, admin_headers):
    """Requests written by the backend over HTTP (a 4-image one with images 1 and 3 failed, a
    one-image one, a 2-image one failed entirely), moved into a week of their own, then a
    document from before several images per request added to that week."""
    from imagegen.reporting.report_queries import build_report

    week, monday = "2012-W05", datetime(2012, 1, 30, tzinfo=UTC)
    uid = new_user(20)
    sent = [
        api.generate("partial", userId=uid, numImages=4, size="1024x1024"),  # 12 charged
        api.generate("success", userId=uid),  # 1
        api.generate("failure", userId=uid, numImages=2),  # 2, refunded
    ]
    ids = [
        r.json().get("generationRequestId") or r.json()["error"]["generationRequestId"]
        for r in sent
    ]
    for hour, rid in enumerate(ids):
        moved = {"createdAt": monday + timedelta(hours=hour)}
        db.collection("generationRequests").document(rid).update(moved)
    fast = report(api, admin_headers, week)
    expected = {
        "totalRequests": 3,
        "completed": 2,
        "failed": 1,
        "imagesRequested": 7,
        "imagesGenerated": 3,
        "imagesFailed": 4,
        "totalCreditsSpent": 6 + 1,  # the 4-image request keeps 2 x 3
        "totalCreditsRefunded": 6 + 2,  # spent + refunded = 15 charged
    }
    assert {k: fast[k] for k in expected} == expected
    assert fast["computedWith"]["method"] == "aggregation"
    large = fast["bySize"]["1024x1024"]
    assert (large["imagesRequested"], large["imagesGenerated"], large["credits"]) == (4, 2, 6)
    scanned = build_report(db, week, method="scan")
    for key in (*expected, "byModel", "bySize", "byStyle"):
        assert scanned[key] == fast[key], key

    write(db, [contract_only(request(monday, "failed"))])
    mixed = report(api, admin_headers, week)
    assert mixed["computedWith"]["method"] == "aggregation+scan"  # an older document: scanned
    assert (mixed["imagesRequested"], mixed["imagesFailed"], mixed["totalCreditsRefunded"]) == (
        8,
        5,
        9,
    )
