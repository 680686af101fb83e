"""Crash recovery: settle requests that were charged but never settled.

A function instance can die between the charge and the settlement. Such a request stays
unsettled; the sweeper settles every request unsettled for longer than the timeout: the images
stored before the crash are completed (the user gets what they paid for), the others refunded,
each by its share (none stored: the whole request refunded). Each exactly once: it races
safely with a late settlement, whichever commits first wins and the other sees a settled
request (and an image the winner did not keep is deleted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from imagegen.core import request_log
from imagegen.core.retry import GaveUp
from imagegen.core.vocabulary import REQUESTS, UNSETTLED, FailureKind, RequestStatus
from imagegen.generation import pipeline
from imagegen.generation.pipeline import Studio
from imagegen.ledger import moves
from imagegen.providers.image_store import EXTENSIONS, candidate_paths
from imagegen.records.request_record import CREATED_AT, STATUS, GenerationRequest, ImageOutcome

COMPLETED = RequestStatus.COMPLETED

SWEEP_BATCH = 200


@dataclass
class SweepResult:
    refunded: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)  # their image was stored before a crash
    already_settled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "refunded": self.refunded,
            "completed": self.completed,
            "alreadySettled": self.already_settled,
            "failed": self.failed,
        }


def _settle_stuck(
    client: firestore.Client, studio: Studio, request: GenerationRequest, reason: str
) -> moves.Settlement:
    """Settle a request a crash left unsettled from what its bucket holds: each image stored
    before the crash is completed, each other one refunded (its share; all of them: the
    whole cost)."""
    n = request.num_images
    outcomes = []
    for index in range(n):
        for path in candidate_paths(request.user_id, request.id, index, n):
            if studio.images.exists(path):
                content_type = next(t for t, ext in EXTENSIONS.items() if path.endswith(ext))
                url = studio.url_for(request.id, index if n > 1 else None)
                outcomes.append(ImageOutcome(index, path, url, content_type))
                break
    if not outcomes:
        return moves.refund(client, request.id, reason, kind=FailureKind.TIMEOUT)
    return pipeline.settle_images(
        client,
        studio,
        request.id,
        outcomes,
        details={"contentType": outcomes[0].content_type},
        failure=moves.Failure(reason, FailureKind.TIMEOUT),
    )


def sweep_pending(
    client: firestore.Client,
    studio: Studio,
    older_than: timedelta,
    now: datetime,
    max_requests: int = 2000,
    on_settled: Callable[[str], None] | None = None,
) -> SweepResult:
    """Settle every request still unsettled that was created before `now - older_than`:
    complete it when its image is stored, else refund it."""
    cutoff = now - older_than
    result = SweepResult()
    seen = 0
    while seen < max_requests:
        query = (
            client.collection(REQUESTS)
            .where(filter=FieldFilter(STATUS, "in", list(UNSETTLED)))
            .where(filter=FieldFilter(CREATED_AT, "<", cutoff))
            .order_by(CREATED_AT)
            .limit(SWEEP_BATCH)
        )
        docs = list(query.stream())
        if not docs:
            break
        for doc in docs:
            seen += 1
            request = GenerationRequest.from_document(doc.id, doc.to_dict() or {})
            minutes = older_than.total_seconds() / 60
            reason = f"not settled within {minutes:g} min; refunded by the sweeper"
            try:
                settlement = _settle_stuck(client, studio, request, reason)
            except GaveUp:
                request_log.left_to_sweeper(
                    request.id, request.user_id, "the sweeper could not settle it this run"
                )
                result.failed.append(doc.id)
                continue
            if settlement.settled_now:
                request_log.settled(
                    request.id,
                    request.user_id,
                    request.model,
                    request.size,
                    request.cost,
                    settlement.status,
                    (now - request.created_at).total_seconds() * 1000
                    if request.created_at is not None
                    else 0.0,
                    settledBy="sweeper",
                )
                done = result.completed if settlement.status == COMPLETED else result.refunded
                done.append(doc.id)
                if on_settled is not None:
                    on_settled(doc.id)
            else:
                result.already_settled.append(doc.id)
        if len(docs) < SWEEP_BATCH or result.failed:
            break
    return result
