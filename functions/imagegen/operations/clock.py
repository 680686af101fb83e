"""The application's clock (one place, so that every operation reads the same time)."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
