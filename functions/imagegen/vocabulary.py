"""The product's words, in one place: request statuses, ledger entry types, failure kinds,
collection names, and the numeric form of a status that reports sum (pure; no I/O)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class RequestStatus(StrEnum):
    """Where a generation request is in its life (see docs/design.md, "State machine")."""

    PENDING = "pending"  # charged, generating (synchronous mode)
    QUEUED = "queued"  # charged, waiting for the task queue (asynchronous mode)
    PROCESSING = "processing"  # charged, generating (asynchronous mode)
    COMPLETED = "completed"
    FAILED = "failed"  # refunded
    CANCELED = "canceled"  # refunded


UNSETTLED: tuple[RequestStatus, ...] = (
    RequestStatus.PENDING,
    RequestStatus.QUEUED,
    RequestStatus.PROCESSING,
)
REFUNDED: tuple[RequestStatus, ...] = (RequestStatus.FAILED, RequestStatus.CANCELED)
SETTLED: tuple[RequestStatus, ...] = (RequestStatus.COMPLETED, *REFUNDED)


class EntryType(StrEnum):
    """The kinds of ledger entries; a balance is granted - deducted + refunded."""

    DEDUCTION = "deduction"
    REFUND = "refund"
    GRANT = "grant"


class FailureKind(StrEnum):
    """Why a charged request ended without an image."""

    MODEL_ERROR = "model-error"
    TIMEOUT = "timeout"  # left unsettled, refunded by the sweeper
    CANCELED = "canceled"
    ENQUEUE_FAILED = "enqueue-failed"
    STORAGE_ERROR = "storage-error"  # the image could not be stored


# Collections (Firestore).
USERS = "users"
TRANSACTIONS = "transactions"  # users/{uid}/transactions: the ledger
REQUESTS = "generationRequests"
REPORTS = "reports"
WEEKLY_ACTIVE_USERS = "weeklyActiveUsers"  # weeklyActiveUsers/{week}/users/{uid}
IDEMPOTENCY_KEYS = "idempotencyKeys"
CATALOG_COLLECTIONS: tuple[str, ...] = ("styles", "colors", "sizes")


def outcome_fields(status: str, cost: int) -> dict[str, int]:
    """Numeric mirrors of a request's status, kept in the same writes as the status, so weekly
    reports can use count/sum aggregation queries instead of reading every request."""
    return {
        "isCompleted": int(status == RequestStatus.COMPLETED),
        "isFailed": int(status == RequestStatus.FAILED),
        "isCanceled": int(status == RequestStatus.CANCELED),
        "creditsSpent": cost if status == RequestStatus.COMPLETED else 0,
        "creditsRefunded": cost if status in REFUNDED else 0,
    }


def whole_credits(value: Any) -> int:
    """A stored cost as an integer; anything that is not a number counts as 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return 0
    return int(value)


def outcome_patch(data: dict[str, Any]) -> dict[str, int]:
    """The outcome fields a stored request lacks or holds wrongly for its status and cost
    (empty when it is consistent): what the migration writes to documents from elsewhere."""
    cost = whole_credits(data.get("cost"))
    expected = outcome_fields(str(data.get("status", RequestStatus.PENDING)), cost)
    return {k: v for k, v in expected.items() if data.get(k) != v or type(data.get(k)) is not int}


def ledger_entry_id(request_id: str, kind: EntryType) -> str:
    """Ledger entries of a request are named after it, so each can be created only once."""
    return f"{request_id}-{kind}"
