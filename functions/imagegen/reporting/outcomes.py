"""What one request document counts for in a weekly report: its status, its credits and its
images, read the same way from every document (pure; no I/O).

A request may ask for several images (`numImages`) and settle partially: `completed` with some
images failed and refunded (`refundedCredits`, the unit price times the failed images). A
document written before requests had several images lacks `numImages`, `imagesCompleted` and
`imagesFailed`: it counts as one image, generated if the request completed, failed if it
failed or was canceled. The numeric mirrors the aggregation queries sum (`mirrors`) follow the
same rules, so both ways of counting a week agree, and `mirror_patch` (the migration) only adds
what is missing or wrong: a partial request's mirrors stay net of its refunds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from imagegen.core.vocabulary import REFUNDED, RequestStatus
from imagegen.records.request_record import (
    COST,
    IMAGES,
    IMAGES_COMPLETED,
    IMAGES_FAILED,
    NUM_IMAGES,
    REFUNDED_CREDITS,
    STATUS,
    ImageStatus,
    num_images_of,
    whole_credits,
)

# The status mirrors (`request_record.outcome_fields`), by name.
IS_COMPLETED = "isCompleted"
IS_FAILED = "isFailed"
IS_CANCELED = "isCanceled"
CREDITS_SPENT = "creditsSpent"
CREDITS_REFUNDED = "creditsRefunded"
# Every numeric mirror a document needs to be seen by the aggregation queries.
MIRRORS: tuple[str, ...] = (
    IS_COMPLETED,
    IS_FAILED,
    IS_CANCELED,
    CREDITS_SPENT,
    CREDITS_REFUNDED,
    NUM_IMAGES,
    IMAGES_COMPLETED,
    IMAGES_FAILED,
)
# What a scan reads of each request to count it (besides the segment keys).
READ_FIELDS: tuple[str, ...] = (STATUS, COST, REFUNDED_CREDITS, NUM_IMAGES, IMAGES, *MIRRORS)


@dataclass(frozen=True)
class Outcome:
    """A request as a report counts it."""

    status: str  # completed, failed, canceled, or anything else (not settled yet)
    spent: int  # credits kept: the cost net of refunds, for a completed request
    refunded: int  # credits given back: the whole cost of a failed or canceled request
    images: int  # images asked for
    generated: int  # images stored
    failed_images: int  # images failed (all of a failed or canceled request)

    @property
    def completed(self) -> bool:
        return self.status == RequestStatus.COMPLETED

    @property
    def refunded_in_full(self) -> bool:
        return self.status in REFUNDED


def count(value: Any) -> int | None:
    """A stored count: a non-negative integer (not a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _credits(status: str, cost: int, refunded: Any) -> tuple[int, int]:
    """(spent, refunded) of a request: a completed one keeps its cost net of its refunds
    (taken between 0 and the cost), a failed or canceled one is refunded in full."""
    if status == RequestStatus.COMPLETED:
        back = min(max(whole_credits(refunded), 0), cost)
        return cost - back, back
    if status in REFUNDED:
        return 0, cost
    return 0, 0


def _images(status: str, n: int, data: Mapping[str, Any]) -> tuple[int, int]:
    """(generated, failed) images: the mirrors when both are stored; else the statuses of
    `images`; else from the request's status (an older one-image document)."""
    done, failed = count(data.get(IMAGES_COMPLETED)), count(data.get(IMAGES_FAILED))
    if done is not None and failed is not None:
        return done, failed
    images = data.get(IMAGES)
    if isinstance(images, list) and images:
        statuses = [i.get(STATUS) for i in images if isinstance(i, Mapping)]
        return statuses.count(ImageStatus.COMPLETED), statuses.count(ImageStatus.FAILED)
    if status == RequestStatus.COMPLETED:
        return n, 0
    if status in REFUNDED:
        return 0, n
    return 0, 0


def outcome(data: Mapping[str, Any]) -> Outcome:
    """How a request document counts (whatever version or tool wrote it)."""
    status = str(data.get(STATUS, RequestStatus.PENDING))
    cost = whole_credits(data.get(COST))
    spent, refunded = _credits(status, cost, data.get(REFUNDED_CREDITS))
    n = num_images_of(data)
    generated, failed = _images(status, n, data)
    return Outcome(status, spent, refunded, n, generated, failed)


def mirrors(data: Mapping[str, Any]) -> dict[str, int]:
    """The numeric mirrors a request document should carry for its status, cost, refunds and
    images (what the aggregation queries sum)."""
    o = outcome(data)
    return {
        IS_COMPLETED: int(o.completed),
        IS_FAILED: int(o.status == RequestStatus.FAILED),
        IS_CANCELED: int(o.status == RequestStatus.CANCELED),
        CREDITS_SPENT: o.spent,
        CREDITS_REFUNDED: o.refunded,
        NUM_IMAGES: o.images,
        IMAGES_COMPLETED: o.generated,
        IMAGES_FAILED: o.failed_images,
    }


def mirror_patch(data: Mapping[str, Any]) -> dict[str, int]:
    """The mirrors a stored request lacks or holds wrongly (empty when consistent): what the
    migration writes. Stored image counts are kept; credits follow `refundedCredits`, so a
    partially refunded request is never put back to its full cost."""
    expected = mirrors(data)
    return {k: v for k, v in expected.items() if data.get(k) != v or type(data.get(k)) is not int}
