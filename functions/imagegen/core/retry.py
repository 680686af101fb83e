"""Bounded retries of optimistic commits, on `google.api_core.retry` (exponential backoff with
full jitter, a deadline), with an attempt cap that the library leaves to its callers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from google.api_core import exceptions as gexc
from google.api_core.retry import (
    RetryFailureReason,
    exponential_sleep_generator,
    if_exception_type,
    retry_target,
)

T = TypeVar("T")

# A commit whose precondition no longer holds (someone else wrote first), or that Firestore
# aborted because of contention: re-read and try again.
CONFLICTS: tuple[type[Exception], ...] = (
    gexc.FailedPrecondition,
    gexc.Aborted,
    gexc.Conflict,
)


class GaveUp(Exception):
    """Every attempt conflicted; nothing was written by this caller."""


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep retrying a conflicting commit."""

    max_attempts: int
    deadline_seconds: float
    base_delay: float = 0.01
    max_delay: float = 0.25


def _gave_up(
    errors: list[Exception], reason: RetryFailureReason, _timeout: float | None
) -> tuple[Exception, Exception | None]:
    if reason is RetryFailureReason.TIMEOUT:
        return GaveUp(), errors[-1] if errors else None
    return errors[-1], None  # not a conflict: passed through unchanged


def retry_on_conflict(attempt: Callable[[], T], policy: RetryPolicy) -> T:
    """Run `attempt` until it returns without a conflict; raise GaveUp when the policy is spent
    (attempts or deadline). Any other exception passes through at once."""
    failures = 0

    def count(_exc: Exception) -> None:
        nonlocal failures
        failures += 1
        if failures >= policy.max_attempts:
            raise GaveUp()

    return retry_target(
        attempt,
        if_exception_type(*CONFLICTS),
        exponential_sleep_generator(policy.base_delay, policy.max_delay, 2.0),
        timeout=policy.deadline_seconds,
        on_error=count,
        exception_factory=_gave_up,
    )
