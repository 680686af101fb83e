"""Build and store the weekly report `reports/{YYYY-Www}` from the generation requests.

The requests of the week are streamed in pages with only the fields the report needs, so
memory stays flat in the number of requests. Re-running for a week rewrites the same document
with the same totals (Cloud Scheduler retries and backfills are safe).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from . import ledger, weeks
from .reports import THRESHOLDS, WeekAggregate, detect_anomalies

REPORTS = "reports"
PAGE = 1000
FIELDS = ["status", "cost", "model", "style", "size", "color", "userId", "createdAt"]


def requests_between(
    client: firestore.Client, start: datetime, end: datetime
) -> Iterator[dict[str, Any]]:
    """Requests created in [start, end), page by page, with the report's fields only."""
    base = (
        client.collection(ledger.REQUESTS)
        .where(filter=FieldFilter("createdAt", ">=", start))
        .where(filter=FieldFilter("createdAt", "<", end))
        .order_by("createdAt")
        .order_by("__name__")
        .select(FIELDS)
    )
    cursor = None
    while True:
        query = base.start_after(cursor) if cursor is not None else base
        docs = list(query.limit(PAGE).stream())
        for doc in docs:
            yield doc.to_dict() or {}
        if len(docs) < PAGE:
            return
        cursor = docs[-1]


def baseline_reports(client: firestore.Client, week: str) -> list[dict[str, Any]]:
    """Stored reports of the weeks before `week`, nearest first (missing weeks skipped)."""
    refs = [
        client.collection(REPORTS).document(w)
        for w in weeks.weeks_before(week, THRESHOLDS.max_baseline_weeks)
    ]
    by_id = {snap.id: snap.to_dict() for snap in client.get_all(refs) if snap.exists}
    return [by_id[ref.id] for ref in refs if ref.id in by_id]


def build_report(client: firestore.Client, week: str) -> dict[str, Any]:
    """The report for `week` (not stored)."""
    start, end = weeks.week_bounds(week)
    totals = WeekAggregate().add_all(requests_between(client, start, end)).totals()
    history = baseline_reports(client, week)
    return {
        "weekId": week,
        "period": {"start": start, "end": end},
        **totals,
        "anomalies": detect_anomalies(totals, history),
        "baselineWeeks": [h.get("weekId") for h in history],
    }


def write_report(client: firestore.Client, week: str) -> dict[str, Any]:
    """Build the report for `week` and store it as `reports/{week}` (overwriting)."""
    report = build_report(client, week)
    client.collection(REPORTS).document(week).set(
        {**report, "generatedAt": firestore.SERVER_TIMESTAMP}
    )
    return report


def report_json(report: dict[str, Any]) -> dict[str, Any]:
    """A report with its timestamps as ISO text, for HTTP responses."""
    out = dict(report)
    out["period"] = {k: ledger.iso(v) for k, v in report["period"].items()}
    if "generatedAt" in out:
        out["generatedAt"] = ledger.iso(out["generatedAt"])
    return out
