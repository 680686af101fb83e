"""Unit tests of the per-user limits and the global controls (ledger/limits.py): a user
driven through any sequence of charges, refunds and settlements never gets past a limit, a
refusal's retryAfterSeconds is honest, and junk in the documents never loosens a limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from imagegen.core.errors import ErrorCode
from imagegen.ledger.limits import (
    MAX_LIMIT,
    WINDOW_MS,
    GlobalControls,
    Limits,
    Usage,
    after_charge,
    check,
    check_global,
    check_rate,
    day_credits_after_refund,
    effective_limits,
    recent_after,
    seconds_to_next_day,
)

START = datetime(2026, 3, 1, 23, 58, tzinfo=UTC)  # two minutes before a UTC day ends
TIMEOUT_S = 600.0
KEEP = 50

# One step of a user's life: a charge attempt of `cost` after `gap` ms, or the settlement
# (success or refund) of the oldest pending request.
steps = st.lists(
    st.one_of(
        st.tuples(st.just("charge"), st.integers(0, 40_000), st.integers(1, 4)),
        st.tuples(st.just("complete"), st.just(0), st.just(0)),
        st.tuples(st.just("refund"), st.just(0), st.just(0)),
    ),
    max_size=40,
)
limits_strategy = st.builds(
    Limits, st.integers(0, 5), st.integers(0, 4), st.sampled_from([0, 3, 7, 20])
)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@settings(max_examples=150, deadline=None)
@given(limits=limits_strategy, history=steps)
def test_no_sequence_of_charges_and_settlements_gets_past_a_limit(limits, history):
    usage, now = Usage(), START
    admitted: list[tuple[int, int]] = []  # (ms charged, cost)
    pending: dict[str, int] = {}
    net_by_day: dict[str, int] = {}
    for n, (kind, gap, cost) in enumerate(history):
        now += timedelta(milliseconds=gap)
        if kind == "charge":
            refusal = check(limits, usage, cost, now, TIMEOUT_S)
            if refusal is not None:
                assert refusal.code in {
                    ErrorCode.RATE_LIMITED,
                    ErrorCode.TOO_MANY_PENDING,
                    ErrorCode.DAILY_LIMIT,
                }
                assert refusal.details["retryAfterSeconds"] >= 1
                continue
            rid = f"r{n}"
            usage = Usage.from_document(after_charge(usage, rid, cost, now, TIMEOUT_S, KEEP))
            admitted.append((ms(now), cost))
            pending[rid] = ms(now)
            day = now.strftime("%Y-%m-%d")
            net_by_day[day] = net_by_day.get(day, 0) + cost
        elif pending:  # settle the oldest pending request
            rid = min(pending, key=pending.__getitem__)
            charged_ms = pending.pop(rid)
            charged_at = datetime.fromtimestamp(charged_ms / 1000, UTC)
            cost = next(c for t, c in admitted if t == charged_ms)
            refunded = cost if kind == "refund" else 0
            day_credits = day_credits_after_refund(usage, refunded, charged_at)
            left = {k: v for k, v in usage.pending.items() if k != rid}
            kept = usage.day_credits if day_credits is None else day_credits
            usage = Usage(usage.recent, left, usage.day, kept)
            if day_credits is not None:
                net_by_day[usage.day] -= refunded
        # The invariants, after every step:
        if limits.per_minute:
            times = [t for t, _ in admitted]
            for t in times:
                assert sum(t <= u < t + WINDOW_MS for u in times) <= limits.per_minute
        if limits.max_pending:
            assert len(usage.pending) <= limits.max_pending
        if limits.daily_credits:
            assert all(net <= limits.daily_credits for net in net_by_day.values())
            assert usage.day_credits <= limits.daily_credits


@settings(max_examples=100, deadline=None)
@given(per_minute=st.integers(1, 5), gaps=st.lists(st.integers(0, 30_000), max_size=12))
def test_a_rate_limited_caller_who_waits_retry_after_is_admitted(per_minute, gaps):
    limits, usage, now = Limits(per_minute=per_minute), Usage(), START
    for n, gap in enumerate(gaps):
        now += timedelta(milliseconds=gap)
        refusal = check(limits, usage, 1, now, TIMEOUT_S)
        if refusal is None:
            usage = Usage.from_document(after_charge(usage, f"r{n}", 1, now, TIMEOUT_S, KEEP))
            continue
        assert refusal.code == ErrorCode.RATE_LIMITED
        later = now + timedelta(seconds=refusal.details["retryAfterSeconds"])
        assert check(limits, usage, 1, later, TIMEOUT_S) is None


def test_the_daily_limit_counts_net_credits_and_starts_again_at_utc_midnight():
    limits = Limits(daily_credits=5)
    usage = Usage.from_document(after_charge(Usage(), "a", 4, START, TIMEOUT_S, KEEP))
    refusal = check(limits, usage, 2, START, TIMEOUT_S)
    assert refusal is not None and refusal.code == ErrorCode.DAILY_LIMIT
    assert refusal.details["retryAfterSeconds"] == 120  # until 00:00 UTC
    refunded = day_credits_after_refund(usage, 4, START)
    assert refunded == 0
    # a refund of yesterday's charge leaves today's count alone
    assert day_credits_after_refund(usage, 4, START - timedelta(days=1)) is None
    tomorrow = START + timedelta(minutes=2)
    assert check(limits, usage, 5, tomorrow, TIMEOUT_S) is None


def test_requests_pending_past_the_timeout_no_longer_count():
    limits = Limits(max_pending=1)
    usage = Usage.from_document(after_charge(Usage(), "old", 1, START, TIMEOUT_S, KEEP))
    assert check(limits, usage, 1, START, TIMEOUT_S).code == ErrorCode.TOO_MANY_PENDING
    later = START + timedelta(seconds=TIMEOUT_S + 1)
    assert check(limits, usage, 1, later, TIMEOUT_S) is None
    assert after_charge(usage, "new", 1, later, TIMEOUT_S, KEEP)["pending"] == {"new": ms(later)}


def test_the_usage_written_is_pruned_to_the_window_and_keep():
    usage = Usage()
    now = START
    for n in range(10):
        now += timedelta(seconds=10)
        usage = Usage.from_document(after_charge(usage, f"r{n}", 1, now, TIMEOUT_S, keep=3))
    assert len(usage.recent) == 3 and all(t > ms(now) - WINDOW_MS for t in usage.recent)
    assert after_charge(usage, "x", 1, now, TIMEOUT_S, keep=0)["recent"] == []


@settings(max_examples=60, deadline=None)
@given(
    per_minute=st.integers(1, 5),
    events=st.lists(st.tuples(st.booleans(), st.integers(0, 30_000)), max_size=15),
)
def test_free_requests_and_charges_share_one_per_minute_window(per_minute, events):
    """Uploads (free: `recent_after` only) and charges count in the same window: no 60 s
    ever holds more than `per_minute` admissions of either kind."""
    limits, usage, now, admitted = Limits(per_minute=per_minute), Usage(), START, []
    for n, (free, gap) in enumerate(events):
        now += timedelta(milliseconds=gap)
        if free:
            if check_rate(limits, usage, now) is not None:
                continue
            usage = Usage(recent_after(usage, now, per_minute), usage.pending)
        else:
            if check(limits, usage, 1, now, TIMEOUT_S) is not None:
                continue
            usage = Usage.from_document(after_charge(usage, f"r{n}", 1, now, TIMEOUT_S, KEEP))
        admitted.append(ms(now))
        assert sum(1 for t in admitted if t > ms(now) - WINDOW_MS) <= per_minute


def test_no_per_minute_limit_keeps_no_recent_admissions():
    assert recent_after(Usage(recent=(ms(START),)), START, keep=0) == []
    assert check_rate(Limits(), Usage(recent=(ms(START),) * 9), START) is None


junk = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=3),
    st.integers(-5, MAX_LIMIT + 5),
    st.floats(allow_nan=True),
    st.lists(st.integers(), max_size=2),
)


@settings(deadline=None)  # no wall-clock deadline: the machine may be busy
@given(
    overrides=st.dictionaries(
        st.sampled_from(["perMinute", "maxPending", "dailyCredits", "x"]), junk
    )
)
def test_overrides_take_only_whole_numbers_in_range(overrides):
    defaults = Limits(10, 2, 100)
    got = effective_limits(defaults, overrides)
    for name, attr in (
        ("perMinute", "per_minute"),
        ("maxPending", "max_pending"),
        ("dailyCredits", "daily_credits"),
    ):
        value = overrides.get(name)
        valid = type(value) is int and 0 <= value <= MAX_LIMIT
        assert getattr(got, attr) == (value if valid else getattr(defaults, attr))
    assert effective_limits(defaults, "not a map") == defaults


@settings(deadline=None)  # no wall-clock deadline: the machine may be busy
@given(
    data=st.one_of(
        junk, st.dictionaries(st.sampled_from(["recent", "pending", "day", "dayCredits"]), junk)
    )
)
def test_usage_from_any_document_is_well_formed(data):
    try:
        usage = Usage.from_document(data)
    except (TypeError, AttributeError, ValueError):
        return  # a corrupt usage field fails the charge loudly; it never admits more
    assert all(isinstance(t, int) for t in usage.recent)
    assert isinstance(usage.day_credits, int) and not isinstance(usage.day_credits, bool)


@settings(deadline=None)  # no wall-clock deadline: the machine may be busy
@given(moment=st.datetimes(timezones=st.just(UTC)))
def test_seconds_to_next_day_reach_midnight(moment):
    wait = seconds_to_next_day(moment)
    assert 1 <= wait <= 86_400
    assert (moment + timedelta(seconds=wait)).date() > moment.date() or wait == 1


def test_global_controls_pause_only_when_explicitly_disabled():
    assert GlobalControls.from_document(None) == GlobalControls(True, 0)
    assert GlobalControls.from_document({"enabled": "no"}).enabled is True
    assert GlobalControls.from_document({"enabled": False}).enabled is False
    for bad in (True, -3, 0, "100", 2.5):
        assert GlobalControls.from_document({"dailyCreditBudget": bad}).daily_credit_budget == 0
    assert GlobalControls.from_document({"dailyCreditBudget": 7}).daily_credit_budget == 7
    assert check_global(GlobalControls(enabled=False)).code == ErrorCode.GENERATION_PAUSED
    assert check_global(GlobalControls()) is None
