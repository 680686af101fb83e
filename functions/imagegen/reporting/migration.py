"""Migration: give request documents written elsewhere what the fast report path needs.

Request documents written by an older version, an import or another tool may carry only the
contract's fields (`userId, model, style, color, size, prompt, cost, status, createdAt`), and
documents from before several images per request lack the image counts. Weekly reports still
count them exactly (by a slower scan), and this migration adds to each one the numeric mirrors
(`outcomes.mirror_patch`: outcome fields and image counts, one image for an older document;
a partially refunded request keeps its credits net of its refunds) and its user's weekly
active-user marker, so that the aggregation queries alone see every request again. A document
written when operator-only fields (`failureDetail`) still lived on the request has them moved
to `operator/details`, out of what its owner can read.

- Idempotent: a document whose outcome fields already match its status is left alone.
- Safe beside live traffic: each page is one atomic batch whose updates are conditional on the
  documents being unchanged since read; a page that lost a race is read again.
- Resumable and batched: documents are visited in id order, a page at a time; the returned
  `next_page_token` continues after the last document visited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from imagegen.core import errors
from imagegen.core.retry import GaveUp, RetryPolicy, retry_on_conflict
from imagegen.core.vocabulary import REQUESTS
from imagegen.records.history import decode_page_token, encode_page_token
from imagegen.records.request_record import (
    CREATED_AT,
    OPERATOR_FIELDS,
    USER_ID,
    operator_details_ref,
    weekly_marker,
    weekly_marker_ref,
)
from imagegen.reporting.outcomes import mirror_patch

PAGE_SIZE = 150  # documents per batch; with markers and operator details, under 500 writes
MAX_DOCUMENTS = 50_000  # per call of the admin endpoint
_PAGE_POLICY = RetryPolicy(max_attempts=20, deadline_seconds=30.0)


@dataclass
class MigrationProgress:
    """What one run visited and changed; `next_page_token` is None once every document was
    visited."""

    scanned: int = 0
    updated: int = 0
    markers_written: int = 0
    next_page_token: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "updated": self.updated,
            "markersWritten": self.markers_written,
            "nextPageToken": self.next_page_token,
            "done": self.next_page_token is None,
        }


def _marker_ref(client: firestore.Client, data: dict[str, Any]) -> Any | None:
    created, user_id = data.get(CREATED_AT), data.get(USER_ID)
    if not isinstance(created, datetime) or not isinstance(user_id, str) or not user_id:
        return None
    return weekly_marker_ref(client, user_id, created)


def _migrate_page(
    client: firestore.Client, after: str | None, limit: int
) -> tuple[list[Any], int, int]:
    """Read up to `limit` requests after the id `after` and fix them in one atomic batch.
    Returns (documents read, documents updated, markers written)."""
    requests = client.collection(REQUESTS)
    query = requests.order_by("__name__")
    if after is not None:
        query = query.where(filter=FieldFilter("__name__", ">", requests.document(after)))
    docs = list(query.limit(limit).stream())
    batch = client.batch()
    updated = 0
    markers: dict[str, tuple[Any, dict[str, Any]]] = {}
    for doc in docs:
        data = doc.to_dict() or {}
        patch: dict[str, Any] = dict(mirror_patch(data))
        operator = {k: data[k] for k in OPERATOR_FIELDS if k in data}
        if not patch and not operator:
            continue
        if operator:
            patch.update(dict.fromkeys(operator, firestore.DELETE_FIELD))
            batch.set(
                operator_details_ref(client, doc.id),
                {**operator, USER_ID: data.get(USER_ID)},
                merge=True,
            )
        batch.update(
            doc.reference, patch, option=client.write_option(last_update_time=doc.update_time)
        )
        updated += 1
        marker = _marker_ref(client, data)
        if marker is not None and marker.path not in markers:
            markers[marker.path] = (marker, data)
    missing = []
    if markers:
        snaps = client.get_all([ref for ref, _ in markers.values()])
        present = {snap.reference.path for snap in snaps if snap.exists}
        missing = [pair for path, pair in markers.items() if path not in present]
    for ref, data in missing:
        batch.set(ref, weekly_marker(data[USER_ID], data[CREATED_AT]))
    if updated:
        batch.commit()  # all or nothing: a conflict leaves the page to be read again
    return docs, updated, len(missing)


def migrate_outcome_fields(
    client: firestore.Client,
    page_token: str | None = None,
    max_documents: int = MAX_DOCUMENTS,
    page_size: int = PAGE_SIZE,
    on_page: Callable[[MigrationProgress], None] | None = None,
) -> MigrationProgress:
    """Visit up to `max_documents` requests after `page_token` (from the start without one),
    adding the outcome fields and markers where missing. `on_page` sees the progress after
    every page."""
    after = decode_page_token(page_token) if page_token else None
    progress = MigrationProgress(next_page_token=page_token)
    while progress.scanned < max_documents:
        limit = min(page_size, max_documents - progress.scanned)
        try:
            docs, updated, markers = retry_on_conflict(
                partial(_migrate_page, client, after, limit), _PAGE_POLICY
            )
        except GaveUp:
            raise errors.busy("these request documents") from None
        progress.scanned += len(docs)
        progress.updated += updated
        progress.markers_written += markers
        if len(docs) < limit:
            progress.next_page_token = None
        else:
            after = docs[-1].id
            progress.next_page_token = encode_page_token(after)
        if on_page is not None:
            on_page(progress)
        if progress.next_page_token is None:
            break
    return progress
