"""Bounded retries with exponential backoff and full jitter, for optimistic commits."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from google.api_core import exceptions as gexc

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


def retry_on_conflict(
    attempt: Callable[[], T],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> T:
    """Run `attempt` until it returns without a conflict; raise GaveUp when the policy is spent."""
    rng = rng or random.Random()
    start = clock()
    for n in range(policy.max_attempts):
        try:
            return attempt()
        except CONFLICTS:
            delay = rng.uniform(0, min(policy.max_delay, policy.base_delay * 2**n))
            if n + 1 >= policy.max_attempts or clock() - start + delay > policy.deadline_seconds:
                break
            sleep(delay)
    raise GaveUp()
