"""Crash recovery: refund requests that were charged but never settled.

A function instance can die between the charge and the settlement. Such a request stays
`pending`; the sweeper refunds every request pending for longer than the timeout. It races
safely with a late settlement: whichever commits first wins, the other sees a settled request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from . import ledger, request_log
from .retry import GaveUp
from .vocabulary import REQUESTS, UNSETTLED, FailureKind

log = logging.getLogger(__name__)

SWEEP_BATCH = 200


@dataclass
class SweepResult:
    refunded: list[str] = field(default_factory=list)
    already_settled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "refunded": self.refunded,
            "alreadySettled": self.already_settled,
            "failed": self.failed,
        }


def sweep_pending(
    client: firestore.Client,
    older_than: timedelta,
    now: datetime,
    max_requests: int = 2000,
    on_settled: Callable[[str], None] | None = None,
) -> SweepResult:
    """Refund every request still pending that was created before `now - older_than`."""
    cutoff = now - older_than
    result = SweepResult()
    seen = 0
    while seen < max_requests:
        query = (
            client.collection(REQUESTS)
            .where(filter=FieldFilter("status", "in", list(UNSETTLED)))
            .where(filter=FieldFilter("createdAt", "<", cutoff))
            .order_by("createdAt")
            .limit(SWEEP_BATCH)
        )
        docs = list(query.stream())
        if not docs:
            break
        for doc in docs:
            seen += 1
            data = doc.to_dict() or {}
            minutes = older_than.total_seconds() / 60
            try:
                settlement = ledger.refund(
                    client,
                    doc.id,
                    f"not settled within {minutes:g} min; refunded by the sweeper",
                    kind=FailureKind.TIMEOUT,
                )
            except GaveUp:
                request_log.left_to_sweeper(
                    doc.id, str(data.get("userId")), "the sweeper could not refund it this run"
                )
                result.failed.append(doc.id)
                continue
            if settlement.settled_now:
                request_log.settled(
                    doc.id,
                    str(data.get("userId")),
                    str(data.get("model")),
                    str(data.get("size")),
                    settlement.refunded,
                    settlement.status,
                    (now - data["createdAt"]).total_seconds() * 1000
                    if isinstance(data.get("createdAt"), datetime)
                    else 0.0,
                    refundedBy="sweeper",
                )
                result.refunded.append(doc.id)
                if on_settled is not None:
                    on_settled(doc.id)
            else:
                result.already_settled.append(doc.id)
        if len(docs) < SWEEP_BATCH or result.failed:
            break
    if result.refunded:
        log.warning(
            "sweeper refunded %d stuck request(s): %s", len(result.refunded), result.refunded
        )
    return result
