"""What all users spent on a UTC day, net of refunds, for the global daily budget: the sum of
the requests' `creditsSpent` mirror (the field the weekly reports aggregate) over the day's
requests, one aggregation query; nothing is written on the charge path for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from .vocabulary import REQUESTS


def spent_on(client: firestore.Client, day: str) -> int:
    """Credits spent by all users on `day` (YYYY-MM-DD, UTC), net of refunds."""
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    query = (
        client.collection(REQUESTS)
        .where(filter=FieldFilter("createdAt", ">=", start))
        .where(filter=FieldFilter("createdAt", "<", start + timedelta(days=1)))
    )
    aggregation: Any = query.sum("creditsSpent", alias="spent")
    values = {result.alias: result.value for result in aggregation.get()[0]}
    return int(values.get("spent") or 0)
