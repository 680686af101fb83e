"""Build and store the weekly report `reports/{YYYY-Www}` from the generation requests
(Firestore queries; the arithmetic and the anomaly rules are in `report_rules`).

Totals come from Firestore aggregation queries (count and sums over the numeric mirrors each
request carries, see `outcomes.MIRRORS`): three queries for the week (the outcome sums, the
refunded credits with the image counts, and a plain count that finds documents without the
mirrors), one per model, style, size and color, and one more per model and size for their
image counts, each billed one read per 1,000 index entries instead of one read per request.
Unique users are counted from the week's `weeklyActiveUsers` markers. Memory stays flat in
the number of requests. `build_report(method="scan")` computes the same report by streaming
every request (`outcomes.outcome` counts each); it is the baseline in `bench/bench_reports.py`,
a cross-check in the tests, and the exact fallback for weeks holding documents without the
outcome fields.
Re-running for a week rewrites the same document with the same totals.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from firebase_functions import logger
from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from imagegen.billing.purchase_rules import week_revenue
from imagegen.core import weeks
from imagegen.core.vocabulary import REPORTS, REQUESTS, REVENUE_DAYS
from imagegen.records.request_record import (
    COLOR,
    CREATED_AT,
    MODEL,
    SIZE,
    STYLE,
    USER_ID,
    weekly_users,
)
from imagegen.reporting.incidents import Intersect, find_incidents
from imagegen.reporting.outcomes import (
    CREDITS_REFUNDED,
    CREDITS_SPENT,
    IMAGES_COMPLETED,
    IMAGES_FAILED,
    IS_CANCELED,
    IS_COMPLETED,
    IS_FAILED,
    NUM_IMAGES,
    READ_FIELDS,
)
from imagegen.reporting.report_rules import (
    DIMENSIONS,
    IMAGE_DIMENSIONS,
    OTHER,
    THRESHOLDS,
    Bucket,
    WeekAggregate,
    assemble_report,
    incident_alerts,
    remainder,
    report_totals,
)

PAGE = 1000
SCAN_FIELDS = [*READ_FIELDS, MODEL, STYLE, SIZE, COLOR, USER_ID, CREATED_AT]
# Summed per segment (with the count, the five aggregations one query allows); refunded
# credits are only reported for the whole week, by one more query, which also sums the
# images, as one more query does per model and per size.
SEGMENT_SUMS = (IS_COMPLETED, IS_FAILED, IS_CANCELED, CREDITS_SPENT)
IMAGE_SUMS = (NUM_IMAGES, IMAGES_COMPLETED, IMAGES_FAILED)
CATALOG_OF = {"byModel": "models", "byStyle": "styles", "bySize": "sizes", "byColor": "colors"}


@dataclass
class Cost:
    """What building a report cost: queries run and Firestore reads billed."""

    method: str
    queries: int = 0
    billed_reads: int = 0
    documents: int | None = None  # request documents in the week (plain count)
    without_outcome_fields: int = 0  # of those, unseen by the aggregations: counted by a scan

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "queries": self.queries,
            "billedReads": self.billed_reads,
        }
        if self.documents is not None:
            out["documents"] = self.documents
        if self.without_outcome_fields:
            out["documentsWithoutOutcomeFields"] = self.without_outcome_fields
            out["note"] = (
                f"{self.without_outcome_fields} of {self.documents} request documents lack the "
                "outcome fields the aggregation queries sum (image counts included, which "
                "documents from before several images per request lack), so every request of "
                "the week was "
                "read to count them exactly. Run the migration (migrateRequestOutcomes or "
                "scripts/migrate_requests.py) to make the fast path whole again."
            )
        return out


@dataclass(frozen=True)
class Visibility:
    """How many of a week's requests the fast path sees: aggregation queries that sum fields
    leave out every document lacking one of them (even from their count), so a plain count of
    the week is compared with the aggregated counts."""

    documents: int  # every request created in the week (plain count)
    visible: int  # those carrying every outcome field the aggregations sum

    @property
    def hidden(self) -> int:
        return self.documents - self.visible


def _week_query(client: firestore.Client, start: datetime, end: datetime) -> Any:
    return (
        client.collection(REQUESTS)
        .where(filter=FieldFilter(CREATED_AT, ">=", start))
        .where(filter=FieldFilter(CREATED_AT, "<", end))
    )


def _run(agg: Any, cost: Cost) -> dict[str, float]:
    values = {result.alias: result.value for result in agg.get()[0]}
    cost.queries += 1
    cost.billed_reads += max(1, math.ceil(int(values.get("total", 0)) / 1000))
    return values


def _aggregate(query: Any, cost: Cost) -> Bucket:
    """Count and outcome sums of the matching requests, in one aggregation query (at most
    five aggregations each); `refunded` is left 0."""
    agg = query.count(alias="total")
    for field in SEGMENT_SUMS:
        agg = agg.sum(field, alias=field)
    values = _run(agg, cost)
    total = int(values["total"])
    completed, failed = int(values[IS_COMPLETED]), int(values[IS_FAILED])
    canceled = int(values[IS_CANCELED])
    return Bucket(
        total=total,
        completed=completed,
        failed=failed,
        canceled=canceled,
        pending=total - completed - failed - canceled,
        credits=int(values[CREDITS_SPENT]),
    )


def _image_sums(query: Any, cost: Cost, refunded: bool = False) -> dict[str, float]:
    """Count, image sums (and refunded credits) of the matching requests, in one query."""
    agg = query.count(alias="total")
    for field in IMAGE_SUMS + ((CREDITS_REFUNDED,) if refunded else ()):
        agg = agg.sum(field, alias=field)
    return _run(agg, cost)


def _add_images(bucket: Bucket, values: Mapping[str, float]) -> None:
    bucket.images = int(values[NUM_IMAGES])
    bucket.images_generated = int(values[IMAGES_COMPLETED])
    bucket.images_failed = int(values[IMAGES_FAILED])


def _week_overall(query: Any, cost: Cost) -> tuple[Bucket, Visibility]:
    """The whole week: the segment aggregation, the refunded credits and the images, and a
    plain count to tell how many documents those two could not see."""
    overall = _aggregate(query, cost)
    second = _image_sums(query, cost, refunded=True)
    overall.refunded = int(second[CREDITS_REFUNDED])
    _add_images(overall, second)
    documents = int(_run(query.count(alias="total"), cost)["total"])
    return overall, Visibility(documents, min(overall.total, int(second["total"])))


def dimension_keys(client: firestore.Client, history: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Keys to ask about per dimension: every document of the catalog's collections (models,
    styles, sizes, colors; inactive ones included) and keys seen in past reports."""
    keys: dict[str, set[str]] = {name: set() for name in DIMENSIONS}
    for dim, collection in CATALOG_OF.items():
        keys[dim].update(ref.id for ref in client.collection(collection).list_documents())
    for past in history:
        for dim in DIMENSIONS:
            keys[dim].update(k for k in past.get(dim, {}) if k != OTHER)
    return {dim: sorted(values) for dim, values in keys.items()}


def unique_users(client: firestore.Client, week: str, base: Any, cost: Cost) -> int:
    """Users active in `week`, from the markers the charge writes (a scan for old data)."""
    markers = weekly_users(client, week)
    count = int(markers.count().get()[0][0].value)
    cost.queries += 1
    cost.billed_reads += max(1, math.ceil(count / 1000))
    if count:
        return count
    users: set[str] = set()  # requests written without markers: count their users directly
    for doc in _pages(base.select([USER_ID])):
        cost.billed_reads += 1
        users.add(str((doc.to_dict() or {}).get(USER_ID)))
    return len(users)


def _pages(query: Any) -> Iterator[Any]:
    """Every document of `query` (ordered by createdAt), PAGE at a time."""
    ordered = query.order_by(CREATED_AT).order_by("__name__")
    cursor = None
    while True:
        page = ordered.start_after(cursor) if cursor is not None else ordered
        docs = list(page.limit(PAGE).stream())
        yield from docs
        if len(docs) < PAGE:
            return
        cursor = docs[-1]


def totals_by_aggregation(
    client: firestore.Client, week: str, history: list[dict[str, Any]], cost: Cost
) -> tuple[dict[str, Any] | None, Visibility]:
    """The week's totals from aggregation queries, and how many requests those could see;
    None instead of totals when some could not be seen (they would be incomplete)."""
    start, end = weeks.week_bounds(week)
    base = _week_query(client, start, end)
    overall, visibility = _week_overall(base, cost)
    if visibility.hidden:
        return None, visibility
    by: dict[str, dict[str, Bucket]] = {name: {} for name in DIMENSIONS}
    if overall.total:
        for dim, keys in dimension_keys(client, history).items():
            attr = DIMENSIONS[dim]
            for key in keys:
                segment = base.where(filter=FieldFilter(attr, "==", key))
                by[dim][key] = _aggregate(segment, cost)
                if dim in IMAGE_DIMENSIONS and by[dim][key].total:
                    _add_images(by[dim][key], _image_sums(segment, cost))
            rest = remainder(overall, by[dim].values())
            if rest.total:
                by[dim][OTHER] = rest
    users = unique_users(client, week, base, cost) if overall.total else 0
    return report_totals(overall, by, users), visibility


def requests_between(
    client: firestore.Client, start: datetime, end: datetime
) -> Iterator[dict[str, Any]]:
    """Requests created in [start, end), page by page, with the report's fields only."""
    for doc in _pages(_week_query(client, start, end).select(SCAN_FIELDS)):
        yield doc.to_dict() or {}


def scan_week(client: firestore.Client, week: str, cost: Cost) -> WeekAggregate:
    """Every request of the week read and counted (with the cross-dimension buckets)."""
    start, end = weeks.week_bounds(week)
    aggregate = WeekAggregate()
    for request in requests_between(client, start, end):
        cost.billed_reads += 1
        aggregate.add(request)
    cost.queries += 1
    return aggregate


def intersect_by_aggregation(client: firestore.Client, week: str, cost: Cost) -> Intersect:
    """Cross-dimension counts of the week, one aggregation query each (asked only for pairs
    of anomalous segments), and one more for the images when an image failure rate is
    judged."""
    start, end = weeks.week_bounds(week)
    base = _week_query(client, start, end)

    def intersect(segments: Sequence[tuple[str, str]], images: bool = False) -> Bucket:
        query = base
        for dim, key in segments:
            query = query.where(filter=FieldFilter(DIMENSIONS[dim], "==", key))
        bucket = _aggregate(query, cost)
        if images and bucket.total:
            _add_images(bucket, _image_sums(query, cost))
        return bucket

    return intersect


def baseline_reports(client: firestore.Client, week: str) -> list[dict[str, Any]]:
    """Stored reports of the weeks before `week`, nearest first (missing weeks skipped)."""
    refs = [
        client.collection(REPORTS).document(w)
        for w in weeks.weeks_before(week, THRESHOLDS.max_baseline_weeks)
    ]
    by_id = {snap.id: snap.to_dict() or {} for snap in client.get_all(refs) if snap.exists}
    return [by_id[ref.id] for ref in refs if ref.id in by_id]


def build_report(
    client: firestore.Client, week: str, method: str = "aggregation"
) -> dict[str, Any]:
    """The report for `week` (not stored); `method` is "aggregation" or "scan".

    Aggregation is the fast path. When the week holds request documents it cannot see (written
    without the outcome fields: by an older version, an import or another tool), the totals are
    computed again by reading every request of the week, and `computedWith` says so: a report
    is exact, never a silent undercount. `migrate_outcome_fields` makes the fast path whole.
    """
    start, end = weeks.week_bounds(week)
    history = baseline_reports(client, week)
    cost = Cost(method)
    intersect: Intersect = intersect_by_aggregation(client, week, cost)
    if method == "scan":
        scanned = scan_week(client, week, cost)
        totals, intersect = scanned.totals(), scanned.intersect
    else:
        fast, visibility = totals_by_aggregation(client, week, history, cost)
        cost.documents = visibility.documents
        totals = fast if fast is not None else {}
        if fast is None:
            cost.method = "aggregation+scan"
            cost.without_outcome_fields = visibility.hidden
            scanned = scan_week(client, week, cost)
            totals, intersect = scanned.totals(), scanned.intersect
    report = assemble_report(week, (start, end), totals, history, {})
    try:
        report["incidents"] = find_incidents(report, history, report["anomalies"], intersect)
    except gexc.FailedPrecondition:  # a composite index not deployed yet: count by a scan
        logging.getLogger(__name__).warning(
            "cross-dimension aggregation needs an index (firebase deploy --only "
            "firestore:indexes); attributing %s's anomalies from a scan",
            week,
        )
        scanned = scan_week(client, week, cost)
        report["incidents"] = find_incidents(
            report, history, report["anomalies"], scanned.intersect
        )
    report["computedWith"] = cost.as_dict()  # after the attribution's queries
    report["revenue"] = revenue(client, start, end)
    return report


def revenue(client: firestore.Client, start: datetime, end: datetime) -> dict[str, Any]:
    """The week's purchases and reversals (`revenueDays/{YYYY-MM-DD}`, 7 reads), beside the
    credits spent."""
    days = []
    day = start
    while day < end:
        days.append(client.collection(REVENUE_DAYS).document(day.strftime("%Y-%m-%d")))
        day += timedelta(days=1)
    return week_revenue([snap.to_dict() or {} for snap in client.get_all(days) if snap.exists])


def write_report(client: firestore.Client, week: str) -> dict[str, Any]:
    """Build the report for `week` and store it as `reports/{week}` (overwriting)."""
    report = build_report(client, week)
    client.collection(REPORTS).document(week).set(
        {**report, "generatedAt": firestore.SERVER_TIMESTAMP}
    )
    return report


def log_alerts(report: dict[str, Any]) -> None:
    """Log one structured line per incident (WARNING, or ERROR when critical), the anomalies
    it explains inside, for log-based alerting; see "Alerts" in docs/reports.md."""
    for entry in incident_alerts(report["weekId"], report.get("incidents", [])):
        logger.write(cast(logger.LogEntry, entry))
