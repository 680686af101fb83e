"""Incidents, not symptoms: weekly reports over HTTP group their anomalies under the cause
that explains them (stored baseline reports, one week of request documents each)."""

from __future__ import annotations

import pytest
from reportdata import normal_week, with_baseline, write

from imagegen.reporting.outcomes import mirrors

pytestmark = [pytest.mark.emulator, pytest.mark.bulk_data]

NORMAL = {"model-a": (150, 7), "model-b": (150, 8)}


def fail(docs, rng, share, **match):
    """Turn `share` of the requests matching every field of `match` into failures."""
    for doc in docs:
        if all(doc[k] == v for k, v in match.items()) and rng.random() < share:
            doc["status"] = "failed"
            doc.update(mirrors(doc))
    return docs


def build(api, admin_headers, week):
    resp = api.post("generateWeeklyReport", params={"week": week}, headers=admin_headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def causes(report):
    return [(i["metric"], i["dimension"], i["key"]) for i in report["incidents"]]


def explained(incident):
    return {(e["metric"], e["dimension"], e["key"]) for e in incident["explains"]}


def test_a_failing_model_is_one_incident_explaining_its_symptoms(api, db, admin_headers):
    week = "2012-W20"
    rng = with_baseline(db, week, 1, NORMAL)
    write(db, normal_week(week, rng, {"model-a": (150, 7), "model-b": (150, 60)}))
    report = build(api, admin_headers, week)
    assert causes(report) == [("failureRate", "byModel", "model-b")]
    incident = report["incidents"][0]
    symptoms = explained(incident)
    assert symptoms and all(metric == "failureRate" for metric, _, _ in symptoms)
    assert {dim for _, dim, _ in symptoms} <= {"byStyle", "bySize", "byColor"}
    # every anomaly of the report is the cause or one it explains, with its own figures
    assert len(report["anomalies"]) == 1 + len(symptoms)
    assert all("current" in e and "pValue" in e for e in incident["explains"])
    assert incident["severity"] == "critical" and incident["current"] > incident["baseline"]


def test_a_failing_style_on_both_models_is_the_style(api, db, admin_headers):
    week = "2012-W40"
    rng = with_baseline(db, week, 2, NORMAL)
    write(db, fail(normal_week(week, rng, NORMAL), rng, 0.5, style="anime"))
    report = build(api, admin_headers, week)
    assert causes(report) == [("failureRate", "byStyle", "anime")]
    assert ("failureRate", "byModel", "model-a") in explained(report["incidents"][0]) or (
        "failureRate",
        "byModel",
        "model-b",
    ) in explained(report["incidents"][0])


def test_an_even_surge_is_one_volume_incident(api, db, admin_headers):
    week = "2013-W10"
    rng = with_baseline(db, week, 3, NORMAL)
    write(db, normal_week(week, rng, {"model-a": (600, 28), "model-b": (600, 32)}, users=80))
    report = build(api, admin_headers, week)
    assert causes(report) == [("totalRequests", None, None)]
    symptoms = explained(report["incidents"][0])
    assert ("requests", "byModel", "model-a") in symptoms
    assert ("totalCreditsSpent", None, None) in symptoms


def test_two_independent_causes_are_two_incidents(api, db, admin_headers):
    week = "2013-W30"
    rng = with_baseline(db, week, 4, NORMAL)
    docs = normal_week(week, rng, {"model-a": (150, 7), "model-b": (150, 60)})
    write(db, fail(docs, rng, 0.6, color="neon", model="model-a"))
    report = build(api, admin_headers, week)
    assert sorted(causes(report)) == [
        ("failureRate", "byColor", "neon"),
        ("failureRate", "byModel", "model-b"),
    ]


def test_a_quiet_week_has_no_incident(api, db, admin_headers):
    week = "2013-W45"
    rng = with_baseline(db, week, 5, NORMAL)
    write(db, normal_week(week, rng, NORMAL))
    report = build(api, admin_headers, week)
    assert report["anomalies"] == [] and report["incidents"] == []


def test_a_small_week_raises_no_failure_rate_alarm(api, db, admin_headers):
    week = "2011-W30"
    rng = with_baseline(db, week, 6, NORMAL)
    write(db, normal_week(week, rng, {"model-a": (10, 3), "model-b": (10, 2)}))
    report = build(api, admin_headers, week)
    assert not [i for i in report["incidents"] if i["metric"] == "failureRate"]
    assert len(report["incidents"]) <= 1  # at most the drop in volume, as one incident
