"""The image failure rate over HTTP: a model whose 4-image requests all complete with half of
their images failed is an incident on both ways of computing a week's report."""

from __future__ import annotations

import pytest
from reportdata import normal_week, with_baseline, write

from imagegen.records.request_record import outcome_fields

pytestmark = [pytest.mark.emulator, pytest.mark.bulk_data]

NORMAL = {"model-a": (150, 7), "model-b": (150, 8)}


def half_failed(doc: dict, num_images: int = 4) -> dict:
    """`doc` as a completed request of `num_images` with every second image failed."""
    unit, failed = doc["cost"], num_images // 2
    cost = unit * num_images
    mirrors = outcome_fields("completed", cost, failed * unit, num_images - failed, num_images)
    return {
        **doc,
        "status": "completed",
        "numImages": num_images,
        "cost": cost,
        "refundedCredits": failed * unit,
        **mirrors,
    }


def test_a_model_failing_half_its_images_is_an_incident_on_both_paths(api, db, admin_headers):
    from imagegen.reporting.report_queries import build_report

    week = "2014-W30"
    rng = with_baseline(db, week, 30, NORMAL)
    docs = normal_week(week, rng, {"model-a": (150, 7), "model-b": (150, 0)})
    write(db, [half_failed(d) if d["model"] == "model-b" else d for d in docs])
    resp = api.post("generateWeeklyReport", params={"week": week}, headers=admin_headers)
    assert resp.status_code == 200, resp.text
    fast = resp.json()
    scanned = build_report(db, week, method="scan")
    assert fast["computedWith"]["method"] == "aggregation"
    for report in (fast, scanned):
        model_b = report["byModel"]["model-b"]
        assert (model_b["failed"], model_b["imagesFailed"], model_b["imagesGenerated"]) == (
            0,
            300,
            300,
        )
        found = {(a["metric"], a["dimension"], a["key"]): a for a in report["anomalies"]}
        image = found[("imageFailureRate", "byModel", "model-b")]
        assert (image["current"], image["settledRequests"], image["settledImages"]) == (
            50.0,
            150,
            600,
        )
        assert image["severity"] == "critical" and image["test"] == "binomial"
        assert ("failureRate", "byModel", "model-b") not in found  # every request completed
        # One incident: the sizes whose images fail because model-b's are in them are explained.
        causes = [(i["metric"], i["dimension"], i["key"]) for i in report["incidents"]]
        assert causes == [("imageFailureRate", "byModel", "model-b")], causes
        explained = report["incidents"][0]["explains"]
        assert len(report["anomalies"]) == 1 + len(explained)
    assert fast["anomalies"] == scanned["anomalies"]
    assert fast["incidents"] == scanned["incidents"]
