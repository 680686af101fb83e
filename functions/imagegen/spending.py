"""What all users spent per UTC day, net of refunds, for the global daily budget: sharded
counters (`spendDays/{YYYY-MM-DD}/shards/{0..9}`) incremented in the charge and refund commits,
so no single document takes every charge's write."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from google.cloud import firestore

from .limits import utc_day

SPEND_DAYS = "spendDays"
SHARDS = 10


def _shard(client: firestore.Client, day: str, index: int) -> Any:
    return client.collection(SPEND_DAYS).document(day).collection("shards").document(str(index))


def add(client: firestore.Client, batch: Any, moment: datetime, credits: int) -> None:
    """Add `credits` (negative for a refund) to the spending of `moment`'s day, in `batch`."""
    day = utc_day(moment)
    ref = _shard(client, day, random.randrange(SHARDS))
    batch.set(ref, {"credits": firestore.Increment(credits), "day": day}, merge=True)


def spent_on(client: firestore.Client, day: str) -> int:
    """Credits spent by all users on `day`, net of refunds (one round trip)."""
    refs = [_shard(client, day, i) for i in range(SHARDS)]
    total = 0
    for snap in client.get_all(refs):
        if snap.exists:
            value = (snap.to_dict() or {}).get("credits", 0)
            total += value if isinstance(value, int) else 0
    return total
