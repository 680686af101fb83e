"""Weekly reports are exact on request documents that carry only the contract's fields, the
scheduled function runs through the emulator's trigger route, and the migration restores the
fast path."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import timedelta

import pytest
import requests
from conftest import PROJECT_ID, ROOT
from reportdata import contract_only, normal_week, request, write

from imagegen.core.weeks import week_bounds
from imagegen.reporting.report_rules import WeekAggregate

# The migration visits every request document, other tests' included.
pytestmark = [pytest.mark.emulator, pytest.mark.bulk_data, pytest.mark.serial]

TRIGGER = (
    f"http://127.0.0.1:5001/functions/projects/{PROJECT_ID}/triggers/"
    "us-central1-scheduleWeeklyReport-0"
)
VOLATILE = ("computedWith", "generatedAt")


def run_scheduled_job(db, week):
    """Run scheduleWeeklyReport as Cloud Scheduler would on the Monday after `week`."""
    _, end = week_bounds(week)
    resp = requests.post(
        TRIGGER,
        json={"data": {}},
        headers={"X-CloudScheduler-ScheduleTime": end.isoformat().replace("+00:00", "Z")},
        timeout=120,
    )
    assert resp.status_code == 200, resp.text
    snap = db.collection("reports").document(week).get()
    assert snap.exists, f"the scheduled job wrote no report for {week}"
    return snap.to_dict()


def stable(report):
    return {k: v for k, v in report.items() if k not in VOLATILE}


def migrate_all(api, admin_headers):
    token, totals = None, {"scanned": 0, "updated": 0, "markersWritten": 0}
    for _ in range(100):
        params = {"maxDocuments": 2000, **({"pageToken": token} if token else {})}
        resp = api.post("migrateRequestOutcomes", params=params, headers=admin_headers)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        for name in totals:
            totals[name] += body[name]
        if body["done"]:
            assert body["nextPageToken"] is None
            return totals
        token = body["nextPageToken"]
    raise AssertionError("the migration did not finish")


def test_seed_schema_weeks_through_the_scheduled_job_then_migrated(api, db, admin_headers):
    rng = random.Random(21)
    for w in range(20, 24):  # four normal weeks, as contract-only documents without markers
        week = f"2019-W{w:02d}"
        docs = normal_week(week, rng, {"model-a": (30, 1), "model-b": (30, 2)})
        write(db, [contract_only(d) for d in docs], markers=False)
        assert run_scheduled_job(db, week)["totalRequests"] == 60, week
    docs = normal_week("2019-W24", rng, {"model-a": (150, 7), "model-b": (150, 68)})
    write(db, [contract_only(d) for d in docs], markers=False)

    legacy = run_scheduled_job(db, "2019-W24")
    assert legacy["totalRequests"] == 300
    assert (legacy["completed"], legacy["failed"], legacy["pending"]) == (225, 75, 0)
    assert legacy["byModel"]["model-b"]["failed"] == 68
    assert legacy["byModel"]["model-b"]["failureRate"] == pytest.approx(45.33, abs=0.01)
    assert legacy["totalCreditsSpent"] == sum(d["cost"] for d in docs if d["status"] == "completed")
    assert legacy["uniqueUsers"] == len({d["userId"] for d in docs})
    rates = [a for a in legacy["anomalies"] if a["metric"] == "failureRate"]
    flagged = [(a["dimension"], a["key"]) for a in rates]
    assert ("byModel", "model-b") in flagged and ("byModel", "model-a") not in flagged
    evidence = next(a for a in rates if a["key"] == "model-b")
    assert evidence["test"] == "binomial" and 0 < evidence["pValue"] < 1e-6
    assert legacy["computedWith"]["method"] == "aggregation+scan"
    assert legacy["computedWith"]["documentsWithoutOutcomeFields"] == 300
    assert legacy["computedWith"]["documents"] == 300

    # A request written when the operators' failure detail still lived on the request.
    older = db.collection("generationRequests").document()
    older.set({**docs[0], "createdAt": docs[0]["createdAt"] + timedelta(weeks=20)})
    older.update({"failureDetail": "400 moderation_blocked", "status": "failed"})

    migrated = migrate_all(api, admin_headers)
    assert migrated["updated"] >= 540 and migrated["markersWritten"] >= 5
    assert migrate_all(api, admin_headers)["updated"] == 0  # idempotent
    assert "failureDetail" not in older.get().to_dict()
    details = older.collection("operator").document("details").get().to_dict()
    assert details == {"failureDetail": "400 moderation_blocked", "userId": docs[0]["userId"]}

    fast = run_scheduled_job(db, "2019-W24")
    assert stable(fast) == stable(legacy)
    assert fast["computedWith"]["method"] == "aggregation"
    assert "documentsWithoutOutcomeFields" not in fast["computedWith"]
    assert fast["computedWith"]["billedReads"] < legacy["computedWith"]["billedReads"] / 5


def test_mixed_week_with_unsettled_requests_is_exact_and_the_script_migrates_it(
    api, db, admin_headers
):
    week = "2019-W30"
    start, _ = week_bounds(week)
    rng = random.Random(22)
    new = normal_week(week, rng, {"model-a": (25, 2), "model-b": (15, 1)})
    unsettled = [
        request(start + timedelta(hours=h), status, "model-b", "1024x1792", f"r-open-{h}")
        for h, status in enumerate(("pending", "queued", "processing", "pending"))
    ]
    old = [
        contract_only(d)
        for d in normal_week(week, rng, {"model-a": (12, 1), "model-b": (14, 3)}) + unsettled[:3]
    ]
    write(db, new + unsettled[3:])
    write(db, old, markers=False)
    everything = new + unsettled[3:] + old

    resp = api.post("generateWeeklyReport", params={"week": week}, headers=admin_headers)
    assert resp.status_code == 200, resp.text
    mixed = resp.json()
    expected = WeekAggregate().add_all(everything).totals()
    assert {k: mixed[k] for k in expected} == expected
    assert mixed["totalRequests"] == 70 and mixed["pending"] == 4
    assert mixed["completed"] + mixed["failed"] == 66  # unsettled: neither success nor failure
    assert mixed["byModel"]["model-b"]["pending"] == 4
    assert mixed["computedWith"]["documentsWithoutOutcomeFields"] == 29

    script = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "migrate_requests.py"), "--batch-size", "100"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert script.returncode == 0, script.stderr
    assert json.loads(script.stdout)["done"] is True
    assert "resume with --resume" in script.stderr

    resp = api.post("generateWeeklyReport", params={"week": week}, headers=admin_headers)
    fast = resp.json()
    assert fast["computedWith"]["method"] == "aggregation"
    assert {k: fast[k] for k in expected} == expected
