"""The global daily credit budget's documents (the rules are in `budget_rules`):
`budgetDays/{day}` (`base`: the day's net charges made before the budget counted them; `owed`:
what the shards held beyond a lowered budget, paid by refunds first) and
`budgetDays/{day}/shards/{k}` (`cap`, `spent`, `version`). The charge and the refund write
`spent` in their own commits (see `moves`); this module reads the day and sets the caps."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from imagegen.core.firestore_client import get_many
from imagegen.core.vocabulary import REQUESTS
from imagegen.ledger.budget_rules import (
    SHARDS,
    DayBudget,
    Shard,
    capacity,
    outdated,
    owed,
    rebalance,
)
from imagegen.records.request_record import COST, CREATED_AT, REFUNDED_CREDITS

BUDGET_DAYS = "budgetDays"
SHARDS_COLLECTION = "shards"


def owed_of(snapshot: Any) -> int:
    """What refunds still owe the day's budget (0 for a day not written yet)."""
    return max(0, _int((snapshot.to_dict() or {}).get("owed"))) if snapshot.exists else 0


def day_ref(client: firestore.Client, day: str) -> Any:
    return client.collection(BUDGET_DAYS).document(day)


def shard_ref(client: firestore.Client, day: str, shard: int) -> Any:
    return day_ref(client, day).collection(SHARDS_COLLECTION).document(str(shard))


def shard_refs(client: firestore.Client, day: str) -> list[Any]:
    return [shard_ref(client, day, k) for k in range(SHARDS)]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def shard_of(snapshot: Any) -> Shard:
    """A shard as read (no cap, nothing spent, for one not written yet)."""
    data = (snapshot.to_dict() or {}) if snapshot.exists else {}
    version = data.get("version") if isinstance(data.get("version"), datetime) else None
    return Shard(_int(data.get("cap")), _int(data.get("spent")), version)


def set_caps(client: firestore.Client, day_budget: DayBudget) -> list[Any]:
    """Make the day's shards' caps those of `day_budget`'s version (`budget_rules.rebalance`),
    unless they already are (or newer); every shard written on the condition that it is
    unchanged since read (a conflict propagates: the caller retries). Returns the shards as
    read after."""
    refs = shard_refs(client, day_budget.day)
    day_snap, *snapshots = get_many(client, day_ref(client, day_budget.day), *refs)
    shards = [shard_of(snap) for snap in snapshots]
    if not any(outdated(shard, day_budget.version) for shard in shards):
        return snapshots
    spent = [shard.spent for shard in shards]
    caps = rebalance(day_budget.capacity, spent)
    batch = client.batch()
    excess = {"owed": owed(day_budget.capacity, spent)}
    if day_snap.exists:  # (the day's first counted charge created it, with its base)
        option = client.write_option(last_update_time=day_snap.update_time)
        batch.update(day_snap.reference, excess, option=option)
    for snap, cap in zip(snapshots, caps, strict=True):
        fields = {"cap": cap, "version": day_budget.version}
        if snap.exists:
            option = client.write_option(last_update_time=snap.update_time)
            batch.update(snap.reference, fields, option=option)
        else:
            batch.create(snap.reference, {**fields, "spent": 0})
    batch.commit()
    return get_many(client, *refs)


def net_charged_on(client: firestore.Client, day: str) -> int:
    """What the requests created on `day` (YYYY-MM-DD, UTC) were charged, net of refunds: the
    sum of `cost` less the sum of `refundedCredits` (two aggregation queries, each on one
    field: an aggregation leaves out documents that lack any field it sums)."""
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    query = (
        client.collection(REQUESTS)
        .where(filter=FieldFilter(CREATED_AT, ">=", start))
        .where(filter=FieldFilter(CREATED_AT, "<", start + timedelta(days=1)))
    )

    def total(name: str) -> int:
        aggregation: Any = query.sum(name, alias="total")
        return int(aggregation.get()[0][0].value or 0)

    return max(0, total(COST) - total(REFUNDED_CREDITS))


_BASES: dict[str, int] = {}  # day -> base; written once per day, so cached for good
_BASES_LOCK = threading.Lock()


def base_of(client: firestore.Client, day: str) -> int:
    """The day's base, creating `budgetDays/{day}` on the day's first counted charge: what was
    charged that day before (net of refunds, from the requests). Read once per instance."""
    with _BASES_LOCK:
        if day in _BASES:
            return _BASES[day]
    ref = day_ref(client, day)
    snap = ref.get()
    if not snap.exists:
        try:
            base = net_charged_on(client, day)
            ref.create({"base": base, "createdAt": firestore.SERVER_TIMESTAMP})
        except (gexc.AlreadyExists, gexc.Conflict):
            pass  # another instance created it first: its base is the day's
        snap = ref.get()
    stored = (snap.to_dict() or {}).get("base")
    value = stored if isinstance(stored, int) and not isinstance(stored, bool) else 0
    with _BASES_LOCK:
        if len(_BASES) > 3:
            _BASES.clear()
        _BASES[day] = value
    return value


def day_budget(client: firestore.Client, day: str, budget: int, version: Any) -> DayBudget:
    """What today's charges are checked against under `budget` (> 0) at `version`."""
    return DayBudget(day, capacity(budget, base_of(client, day)), version)


def day_total(client: firestore.Client, day: str) -> int | None:
    """What the budget counts on `day`: the base and the shards' net (None before the day's
    first counted charge)."""
    day_doc, *shards = get_many(client, day_ref(client, day), *shard_refs(client, day))
    if not day_doc.exists:
        return None
    base = (day_doc.to_dict() or {}).get("base")
    return (base if isinstance(base, int) else 0) + sum(shard_of(s).spent for s in shards)
