"""ISO weeks: the reporting period. A week runs [Monday 00:00 UTC, next Monday 00:00 UTC)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_WEEK_ID = re.compile(r"^(\d{4})-W(\d{2})$")


class BadWeek(ValueError):
    """A malformed or nonexistent ISO week id."""


def week_id(moment: datetime) -> str:
    """The ISO week id (`YYYY-Www`) that contains `moment`."""
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(week: str) -> tuple[datetime, datetime]:
    """[start, end) of ISO week `week` in UTC; raises BadWeek when malformed."""
    match = _WEEK_ID.match(week)
    if not match:
        raise BadWeek(f"week must look like 2026-W47, got {week!r}")
    year, number = int(match.group(1)), int(match.group(2))
    try:
        monday = date.fromisocalendar(year, number, 1)
    except ValueError:
        raise BadWeek(f"{week} does not exist") from None
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    return start, start + timedelta(days=7)


def previous_week(moment: datetime) -> str:
    """The last ISO week that ended at or before `moment`."""
    return week_id(moment.astimezone(UTC) - timedelta(days=7))


def weeks_before(week: str, count: int) -> list[str]:
    """The `count` week ids before `week`, nearest first."""
    start, _ = week_bounds(week)
    return [week_id(start - timedelta(days=7 * i)) for i in range(1, count + 1)]


def is_complete(week: str, now: datetime) -> bool:
    """True once the whole week lies in the past."""
    return week_bounds(week)[1] <= now
