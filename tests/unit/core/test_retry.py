"""Unit tests of bounded retries of optimistic commits."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc

from imagegen.core.retry import GaveUp, RetryPolicy, retry_on_conflict


def test_retry_returns_after_conflicts():
    calls = []

    def attempt():
        calls.append(1)
        if len(calls) < 3:
            raise gexc.FailedPrecondition("changed")
        return "done"

    policy = RetryPolicy(max_attempts=5, deadline_seconds=10)
    assert retry_on_conflict(attempt, policy) == "done"
    assert len(calls) == 3


def test_retry_gives_up_and_passes_other_errors_through():
    policy = RetryPolicy(max_attempts=4, deadline_seconds=10)
    with pytest.raises(GaveUp):
        retry_on_conflict(lambda: (_ for _ in ()).throw(gexc.Aborted("x")), policy)
    with pytest.raises(ValueError):
        retry_on_conflict(lambda: (_ for _ in ()).throw(ValueError()), policy)
