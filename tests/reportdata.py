"""Synthetic generation requests for report tests, written straight to Firestore."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from imagegen.core.vocabulary import RequestStatus
from imagegen.core.weeks import week_bounds, week_id
from imagegen.reporting.outcomes import mirrors

STYLES = ["realistic", "anime", "oil painting", "sketch", "cyberpunk", "watercolor"]
COLORS = ["vibrant", "monochrome", "pastel", "neon", "vintage"]
SIZES = {"512x512": 1, "1024x1024": 3, "1024x1792": 4}


def request(
    created: datetime,
    status: str,
    model: str = "model-a",
    size: str = "512x512",
    user: str = "r-user",
    style: str = "anime",
    color: str = "neon",
) -> dict[str, Any]:
    return {
        "userId": user,
        "model": model,
        "style": style,
        "color": color,
        "size": size,
        "prompt": "synthetic",
        "cost": SIZES[size],
        "status": status,
        "createdAt": created,
        **mirrors({"status": status, "cost": SIZES[size]}),
    }


CONTRACT_FIELDS = (
    *("userId", "model", "style", "color", "size", "prompt", "cost", "status", "createdAt"),
)


def contract_only(doc: dict[str, Any]) -> dict[str, Any]:
    """A request as an older version, an import or another tool writes it: no outcome fields."""
    return {k: doc[k] for k in CONTRACT_FIELDS}


# The request documents `write` stored in the current test: tests/conftest.py deletes them
# after the test (report data belongs to no user; left in place it would make every later
# query, and every write under a console page's listener, scan thousands more documents).
WRITTEN: list[tuple[Any, Any]] = []


def write(db: Any, docs: list[dict[str, Any]], markers: bool = True) -> None:
    """Store requests as the charge does, with the weekly active-user markers (unless told)."""
    for i in range(0, len(docs), 200):
        batch = db.batch()
        for doc in docs[i : i + 200]:
            ref = db.collection("generationRequests").document()
            WRITTEN.append((db, ref))
            batch.set(ref, doc)
            if markers:
                marker = (
                    db.collection("weeklyActiveUsers")
                    .document(week_id(doc["createdAt"]))
                    .collection("users")
                    .document(doc["userId"])
                )
                batch.set(marker, {"userId": doc["userId"], "firstRequestAt": doc["createdAt"]})
        batch.commit()


def normal_week(
    week: str, rng: random.Random, per_model: dict[str, tuple[int, int]], users: int = 20
) -> list[dict[str, Any]]:
    """Requests spread over `week`; per_model maps model -> (requests, failures)."""
    start, _ = week_bounds(week)
    docs = []
    for model, (n, failures) in per_model.items():
        statuses = [RequestStatus.FAILED] * failures + [RequestStatus.COMPLETED] * (n - failures)
        rng.shuffle(statuses)
        for status in statuses:
            docs.append(
                request(
                    start + timedelta(seconds=rng.randrange(7 * 24 * 3600)),
                    status,
                    model,
                    rng.choice(list(SIZES)),
                    f"r-user-{rng.randrange(users)}",
                    rng.choice(STYLES),
                    rng.choice(COLORS),
                )
            )
    return docs


def with_baseline(
    db: Any, week: str, seed: int, models: dict[str, tuple[int, int]]
) -> random.Random:
    """Eight ordinary weeks of `models` (see `normal_week`) before `week`, stored as their
    reports (the baseline), and no request in `week` yet (a rerun against the same emulator
    starts clean). Returns the random source to draw the week itself from."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    from imagegen.core.weeks import weeks_before
    from imagegen.reporting.report_rules import WeekAggregate

    start, end = week_bounds(week)
    query = (
        db.collection("generationRequests")
        .where(filter=FieldFilter("createdAt", ">=", start))
        .where(filter=FieldFilter("createdAt", "<", end))
    )
    for snap in query.stream():
        snap.reference.delete()
    rng = random.Random(seed)
    for past in weeks_before(week, 8):
        totals = WeekAggregate().add_all(normal_week(past, rng, models)).totals()
        db.collection("reports").document(past).set({"weekId": past, **totals})
    return rng


def delete_written() -> None:
    """Delete the request documents `write` stored (see WRITTEN)."""
    while WRITTEN:
        chunk, WRITTEN[:] = WRITTEN[:400], WRITTEN[400:]
        batch = chunk[0][0].batch()
        for _, ref in chunk:
            batch.delete(ref)
        batch.commit()
