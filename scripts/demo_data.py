#!/usr/bin/env python3
"""Fill past weeks with realistic traffic and build their weekly reports, so the console's
operator dashboard shows something real: steady weeks, one week in which model-b fails often,
and one week with a volume spike.

    functions/venv/bin/python scripts/demo_data.py              # the last 10 complete weeks
    functions/venv/bin/python scripts/demo_data.py --weeks 16

Writes to the running emulator only. Idempotent: the same weeks get the same documents (ids
derived from the week), and their reports are rebuilt. Requests belong to demo users
(`demo-user-N`) that have no credits or ledger: they exist only as report data. Each week's
requests are removed again once its report is built (`--keep-requests` keeps them): the
Firestore emulator re-runs every listener's query over the whole collection on each write,
so thousands of leftover documents would slow every later request while a console tab is
open. The reports, which are what the dashboard shows, stay.
`seed_reports` writes only the weekly reports (computed in memory by the same rules), for tests
that need charts without thousands of request documents.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))

from imagegen.core.catalog import DEFAULT_CATALOG
from imagegen.core.vocabulary import REPORTS, REQUESTS, WEEKLY_ACTIVE_USERS, RequestStatus
from imagegen.core.weeks import previous_week, week_bounds, weeks_before
from imagegen.providers.simulator import MODEL_NAMES
from imagegen.reporting.incidents import find_incidents
from imagegen.reporting.outcomes import mirrors
from imagegen.reporting.report_queries import write_report
from imagegen.reporting.report_rules import THRESHOLDS, WeekAggregate, assemble_report


def week_plan(weeks: list[str]) -> dict[str, dict[str, Any]]:
    """Traffic per week (oldest first): steady growth, model-b failing in the third-to-last
    week, a volume spike in the last."""
    plan = {}
    for i, week in enumerate(weeks):
        volume = 160 + 12 * i
        failure = {"model-a": 0.04, "model-b": 0.05}
        if i == len(weeks) - 3:
            failure["model-b"] = 0.38
        if i == len(weeks) - 1:
            volume *= 4
        plan[week] = {"volume": volume, "failure": failure}
    return plan


def requests_for(week: str, volume: int, failure: dict[str, float]) -> list[dict[str, Any]]:
    rng = random.Random(week)
    start, _ = week_bounds(week)
    styles, colors = list(DEFAULT_CATALOG.styles), list(DEFAULT_CATALOG.colors)
    sizes = DEFAULT_CATALOG.sizes
    docs = []
    for _ in range(volume):
        model = rng.choice(MODEL_NAMES)
        size = rng.choices(list(sizes), weights=[5, 3, 2])[0]
        status = RequestStatus.FAILED if rng.random() < failure[model] else RequestStatus.COMPLETED
        cost = sizes[size]
        docs.append(
            {
                "userId": f"demo-user-{rng.randrange(40 + volume // 8)}",
                "model": model,
                "style": rng.choice(styles),
                "color": rng.choice(colors),
                "size": size,
                "prompt": "demo traffic",
                "cost": cost,
                "status": status.value,
                "createdAt": start + timedelta(seconds=rng.randrange(7 * 24 * 3600)),
                **mirrors({"status": status, "cost": cost}),
            }
        )
    return docs


def fill(client: Any, weeks: list[str], keep_requests: bool = False) -> list[dict[str, Any]]:
    """Write the demo requests of `weeks` (oldest first) and build their reports in order (by
    the same code as the scheduled job); then remove the requests unless `keep_requests`."""
    reports = []
    for week, plan in week_plan(weeks).items():
        start, _ = week_bounds(week)
        docs = requests_for(week, plan["volume"], plan["failure"])
        refs = []
        for i in range(0, len(docs), 200):
            batch = client.batch()
            for n, doc in enumerate(docs[i : i + 200], start=i):
                ref = client.collection(REQUESTS).document(f"demo-{week}-{n:05d}")
                refs.append(ref)
                batch.set(ref, doc)
                marker = (
                    client.collection(WEEKLY_ACTIVE_USERS)
                    .document(week)
                    .collection("users")
                    .document(doc["userId"])
                )
                batch.set(marker, {"userId": doc["userId"], "firstRequestAt": start})
            batch.commit()
        reports.append(write_report(client, week))
        if not keep_requests:
            for i in range(0, len(refs), 400):
                batch = client.batch()
                for ref in refs[i : i + 400]:
                    batch.delete(ref)
                batch.commit()
    return reports


def seed_reports(client: Any, weeks: list[str]) -> list[dict[str, Any]]:
    """Write only the weekly reports of `weeks` (oldest first), computed in memory from the
    same demo traffic by the report rules, without storing the requests."""
    reports: list[dict[str, Any]] = []
    for week, plan in week_plan(weeks).items():
        totals = WeekAggregate().add_all(requests_for(week, plan["volume"], plan["failure"]))
        history = list(reversed(reports))[: THRESHOLDS.max_baseline_weeks]
        report = assemble_report(
            week, week_bounds(week), totals.totals(), history, {"method": "demo"}
        )
        report["incidents"] = find_incidents(report, history, report["anomalies"], totals.intersect)
        client.collection(REPORTS).document(week).set(report)
        reports.append(report)
    return reports


def main() -> int:
    parser = argparse.ArgumentParser(description="Demo traffic and weekly reports.")
    parser.add_argument("--weeks", type=int, default=10, help="how many past weeks (4-52)")
    parser.add_argument(
        "--keep-requests",
        action="store_true",
        help="keep the demo request documents (slows the emulator while a console tab is open)",
    )
    args = parser.parse_args()
    if not 4 <= args.weeks <= 52:
        parser.error("--weeks must be from 4 to 52")
    os.environ.setdefault("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080")
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    project = os.environ.get("GCLOUD_PROJECT", "demo-imagegen")
    client = firestore.Client(project=project, credentials=AnonymousCredentials())
    last = previous_week(datetime.now(UTC))
    weeks = [*reversed(weeks_before(last, args.weeks - 1)), last]
    for report in fill(client, weeks, args.keep_requests):
        incidents = report.get("incidents", [])
        flagged = "; ".join(i["message"] for i in incidents[:2]) or "no incidents"
        print(
            f"{report['weekId']}: {report['totalRequests']} requests, "
            f"{len(report['anomalies'])} anomalies in {len(incidents)} incident(s): {flagged}"
        )
    print("Open http://127.0.0.1:5000/#operations as admin@example.com (password: password).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
