"""Limits and cost controls, the pure part: what a user may still spend, and the usage the
charge and the settlement keep on the user document.

Per user (params, overridden per user by `users/{uid}.limits`): requests per minute (a sliding
60 s window), requests pending at once, and credits per UTC day net of refunds; 0 means none.
The usage lives on the user document (`usage`: the admitted charges of the last minute, the
unsettled requests, the day's net credits), so the charge checks it in the same read and commit
as the balance: concurrent requests cannot exceed a limit, and nothing is charged when over one.
Globally (`config/generation`): `enabled`, and `dailyCreditBudget` over all users (counted
by the charge itself, see `budget_rules`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from imagegen.core import errors
from imagegen.core.errors import DomainError
from imagegen.ledger.budget_rules import DayBudget

WINDOW_MS = 60_000
MAX_LIMIT = 1_000_000
PENDING_RETRY_SECONDS = 5


@dataclass(frozen=True)
class Limits:
    """A user's limits; 0 means no limit."""

    per_minute: int = 0
    max_pending: int = 0
    daily_credits: int = 0


OVERRIDE_FIELDS = {
    "perMinute": "per_minute",
    "maxPending": "max_pending",
    "dailyCredits": "daily_credits",
}


def effective_limits(defaults: Limits, overrides: Any) -> Limits:
    """The defaults with a user's `limits` overrides (whole numbers 0..1,000,000; anything
    else in an override is ignored)."""
    if not isinstance(overrides, Mapping):
        return defaults
    values = {}
    for name, attr in OVERRIDE_FIELDS.items():
        value = overrides.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_LIMIT:
            values[attr] = value
    return Limits(**{**vars(defaults), **values})


def utc_day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def seconds_to_next_day(moment: datetime) -> int:
    moment = moment.astimezone(UTC)
    tomorrow = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((tomorrow - moment).total_seconds()))


@dataclass(frozen=True)
class Usage:
    """`users/{uid}.usage`: admitted charges of the last minute (ms), unsettled requests (id ->
    ms charged) and the credits of `day` net of refunds."""

    recent: tuple[int, ...] = ()
    pending: Mapping[str, int] = field(default_factory=dict)
    day: str = ""
    day_credits: int = 0

    @classmethod
    def from_document(cls, data: Any) -> Usage:
        if not isinstance(data, Mapping):
            return cls()
        recent = tuple(int(t) for t in data.get("recent") or () if isinstance(t, int))
        pending = {
            str(k): int(v) for k, v in (data.get("pending") or {}).items() if isinstance(v, int)
        }
        credits = data.get("dayCredits")
        return cls(
            recent,
            pending,
            str(data.get("day") or ""),
            credits if isinstance(credits, int) and not isinstance(credits, bool) else 0,
        )


def check(
    limits: Limits, usage: Usage, cost: int, now: datetime, pending_timeout_s: float
) -> DomainError | None:
    """Why this charge is refused (429 with `retryAfterSeconds`), or None to admit it."""
    now_ms = int(now.timestamp() * 1000)
    refusal = check_rate(limits, usage, now)
    if refusal is not None:
        return refusal
    if limits.max_pending:
        live = _live_pending(usage, now_ms, pending_timeout_s)
        if len(live) >= limits.max_pending:
            return errors.too_many_pending(limits.max_pending, PENDING_RETRY_SECONDS)
    if limits.daily_credits:
        spent = usage.day_credits if usage.day == utc_day(now) else 0
        if spent + cost > limits.daily_credits:
            return errors.daily_limit(limits.daily_credits, spent, seconds_to_next_day(now))
    return None


def check_rate(limits: Limits, usage: Usage, now: datetime) -> DomainError | None:
    """429 `rate-limited` when the last 60 s already hold `per_minute` admitted requests."""
    if not limits.per_minute:
        return None
    now_ms = int(now.timestamp() * 1000)
    window = sorted(t for t in usage.recent if t > now_ms - WINDOW_MS)
    if len(window) < limits.per_minute:
        return None
    oldest = window[-limits.per_minute]
    wait = max(1, math.ceil((oldest + WINDOW_MS - now_ms) / 1000))
    return errors.rate_limited(limits.per_minute, wait)


def recent_after(usage: Usage, now: datetime, keep: int) -> list[int]:
    """`usage.recent` once a request is admitted at `now`: the last minute's admissions, at
    most `keep` of them (none when there is no per-minute limit)."""
    if keep <= 0:
        return []
    now_ms = int(now.timestamp() * 1000)
    window = sorted(t for t in usage.recent if t > now_ms - WINDOW_MS)
    return [*window[max(0, len(window) - (keep - 1)) :], now_ms]


def _live_pending(usage: Usage, now_ms: int, pending_timeout_s: float) -> dict[str, int]:
    """Unsettled requests still within the pending timeout (older ones are the sweeper's)."""
    horizon = now_ms - int(pending_timeout_s * 1000)
    return {rid: t for rid, t in usage.pending.items() if t > horizon}


def after_charge(
    usage: Usage, request_id: str, cost: int, now: datetime, pending_timeout_s: float, keep: int
) -> dict[str, Any]:
    """The `usage` a charge writes (pruned: the last minute's charges, at most `keep` of
    them, and the pending requests still within the timeout)."""
    now_ms = int(now.timestamp() * 1000)
    pending = _live_pending(usage, now_ms, pending_timeout_s)
    pending[request_id] = now_ms
    today = utc_day(now)
    spent = usage.day_credits if usage.day == today else 0
    return {
        "recent": recent_after(usage, now, keep),
        "pending": pending,
        "day": today,
        "dayCredits": spent + cost,
    }


def day_credits_after_refund(
    usage: Usage, refunded: int, charged_at: datetime | None
) -> int | None:
    """The day's net credits after a refund, when the refunded charge was made on the usage's
    current day (a refund of an earlier day's charge leaves today alone); else None."""
    if refunded and charged_at is not None and usage.day == utc_day(charged_at):
        return max(0, usage.day_credits - refunded)
    return None


@dataclass(frozen=True)
class ChargePolicy:
    """What the charge enforces: the default per-user limits, the pending timeout (older
    unsettled requests are the sweeper's and no longer count as pending) and the day's global
    budget (None: no budget)."""

    defaults: Limits
    pending_timeout_s: float
    budget: DayBudget | None = None


# --- global controls ------------------------------------------------------------------


@dataclass(frozen=True)
class GlobalControls:
    """`config/generation`: generation on or paused, and the daily budget (0: none)."""

    enabled: bool = True
    daily_credit_budget: int = 0

    @classmethod
    def from_document(cls, data: Any) -> GlobalControls:
        if not isinstance(data, Mapping):
            return cls()
        budget = data.get("dailyCreditBudget")
        return cls(
            data.get("enabled") is not False,
            budget
            if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0
            else 0,
        )


def check_global(controls: GlobalControls) -> DomainError | None:
    """503 `generation-paused`, or None (the budget is checked by the charge)."""
    if not controls.enabled:
        return errors.generation_paused()
    return None
