"""The product's words, in one place: request statuses, ledger entry types, failure kinds,
collection names (pure; no I/O). The request document's fields are `request_record`'s."""

from __future__ import annotations

from enum import StrEnum


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
    """The kinds of ledger entries; a balance is the sum of the credits of those that add
    (`CREDITING`) minus those that take (`DEBITING`)."""

    DEDUCTION = "deduction"
    REFUND = "refund"
    GRANT = "grant"
    PURCHASE = "purchase"  # credits bought (Stripe)
    REVERSAL = "reversal"  # bought credits taken back: a refund or a dispute
    REINSTATEMENT = "reinstatement"  # a won dispute gives its reversal back
    FORFEIT = "forfeit"  # the balance of a deleted account


CREDITING: tuple[EntryType, ...] = (
    EntryType.GRANT,
    EntryType.REFUND,
    EntryType.PURCHASE,
    EntryType.REINSTATEMENT,
)
DEBITING: tuple[EntryType, ...] = (EntryType.DEDUCTION, EntryType.REVERSAL, EntryType.FORFEIT)


class Visibility(StrEnum):
    """`visibility` of a request its owner deleted (absent: shown)."""

    DELETED = "deleted"  # soft-deleted: hidden, restorable within SOFT_DELETE_DAYS
    PURGED = "purged"  # image and prompt erased; the accounting fields stay


class FailureKind(StrEnum):
    """Why a charged request ended without an image (`failureKind` on the request)."""

    MODEL_ERROR = "model-error"  # the simulated model failed
    SAFETY_BLOCK = "safety-block"  # the provider refused the prompt or the image
    PROVIDER_ERROR = "provider-error"  # permanent: bad input, unknown model, bad key
    PROVIDER_UNAVAILABLE = "provider-unavailable"  # 429 / 5xx / network, still at the deadline
    TIMEOUT = "timeout"  # the deadline passed while the provider worked, or the sweeper refunded
    INVALID_OUTPUT = "invalid-output"  # not a PNG/JPEG/WebP image, or too large
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
PURCHASES = "purchases"  # users/{uid}/purchases/{sessionId}
SESSIONS = "sessions"  # users/{uid}/sessions/{sessionId}: conversations
CREDIT_PACKS = "creditPacks"
CONFIG = "config"  # config/generation: the global switch and budget
GENERATION_CONFIG = "generation"
REVENUE_DAYS = "revenueDays"  # revenueDays/{YYYY-MM-DD}: purchases and reversals of the day
CATALOG_COLLECTIONS: tuple[str, ...] = ("models", "styles", "colors", "sizes")


def ledger_entry_id(request_id: str, kind: EntryType) -> str:
    """Ledger entries of a request are named after it, so each can be created only once."""
    return f"{request_id}-{kind}"
