"""Unit tests of weeks, statistics and anomaly rules on synthetic series."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest

from imagegen.core import weeks
from imagegen.reporting import stats
from imagegen.reporting.report_rules import WeekAggregate, detect_anomalies


def test_iso_weeks():
    assert weeks.week_id(datetime(2026, 11, 23, tzinfo=UTC)) == "2026-W48"
    assert weeks.week_id(datetime(2021, 1, 3, 23, 59, tzinfo=UTC)) == "2020-W53"
    assert weeks.previous_week(datetime(2026, 11, 23, 0, 0, tzinfo=UTC)) == "2026-W47"
    start, end = weeks.week_bounds("2026-W47")
    assert start == datetime(2026, 11, 16, tzinfo=UTC) and end == datetime(2026, 11, 23, tzinfo=UTC)
    assert weeks.weeks_before("2021-W01", 2) == ["2020-W53", "2020-W52"]
    for bad in ("2026-W54", "2026-W00", "2025-W53", "x"):
        with pytest.raises(weeks.BadWeek):
            weeks.week_bounds(bad)
    assert weeks.is_complete("2026-W47", datetime(2026, 11, 23, tzinfo=UTC))
    assert not weeks.is_complete("2026-W48", datetime(2026, 11, 29, 23, tzinfo=UTC))


def test_binomial_and_poisson_tails():
    assert stats.binom_sf(0, 10, 0.3) == 1.0
    assert stats.binom_sf(11, 10, 0.3) == 0.0
    assert stats.binom_sf(10, 10, 0.5) == pytest.approx(0.5**10)
    assert stats.binom_sf(1, 10, 0.1) == pytest.approx(1 - 0.9**10)
    assert stats.poisson_sf(1, 2.0) == pytest.approx(1 - math.exp(-2))
    assert stats.poisson_cdf(0, 3.0) == pytest.approx(math.exp(-3))
    lo, hi = stats.wilson_interval(5, 100)
    assert lo < 0.05 < hi


def test_robust_z_with_flat_history_uses_the_floor():
    assert stats.mad([60, 60, 60, 60]) == 0
    z = stats.robust_z(math.log1p(61), [math.log1p(60)] * 4, 0.1)
    assert abs(z) < 1


def week(requests_by_model: dict[str, tuple[int, int]], users: int = 30) -> dict:
    agg = WeekAggregate()
    for model, (n, failed) in requests_by_model.items():
        for i in range(n):
            agg.add(
                {
                    "status": "failed" if i < failed else "completed",
                    "cost": 1,
                    "model": model,
                    "style": "anime",
                    "size": "512x512",
                    "color": "neon",
                    "userId": f"u{i % users}",
                }
            )
    return agg.totals()


NORMAL = {"model-a": (30, 1), "model-b": (30, 2)}


def test_no_history_means_no_anomalies():
    assert detect_anomalies(week({"model-a": (500, 400)}), []) == []


def test_flat_history_tolerates_small_changes():
    history = [week(NORMAL)] * 4
    assert detect_anomalies(week({"model-a": (31, 1), "model-b": (32, 2)}), history) == []


def test_failure_rate_jump_is_flagged_with_an_actionable_message():
    history = [week({"model-a": (150, 7), "model-b": (150, 8)})] * 6
    current = week({"model-a": (150, 7), "model-b": (150, 67)})
    found = [a for a in detect_anomalies(current, history) if a["key"] == "model-b"]
    rate = next(a for a in found if a["metric"] == "failureRate")
    assert rate["message"] == "model-b failure rate 44.7% vs baseline 5.3% (n=150, p<0.001)"
    assert rate["severity"] == "critical"


def test_volume_spike_is_flagged_with_short_history():
    history = [week(NORMAL)] * 2  # Poisson tail only
    found = detect_anomalies(week({"model-a": (150, 5), "model-b": (150, 10)}), history)
    assert any(a["metric"] == "totalRequests" for a in found)


def test_volume_drop_is_flagged():
    history = [week(NORMAL)] * 5
    found = detect_anomalies(week({"model-a": (3, 0), "model-b": (3, 0)}, users=3), history)
    assert any(a["metric"] == "totalRequests" and "down" in a["message"] for a in found)


def test_normal_weeks_rarely_alarm():
    """300 simulated normal weeks (~60 requests, 5% failures): almost never an anomaly."""
    rng = random.Random(1)

    def poisson(lam: float) -> int:
        k, p, limit = 0, 1.0, math.exp(-lam)
        while p > limit:
            k += 1
            p *= rng.random()
        return k - 1

    def random_week() -> dict:
        by = {}
        for model in ("model-a", "model-b"):
            n = poisson(30)
            by[model] = (n, sum(rng.random() < 0.05 for _ in range(n)))
        return week(by, users=rng.randint(15, 25))

    series = [random_week() for _ in range(308)]
    alarms = sum(bool(detect_anomalies(series[i], series[i - 8 : i][::-1])) for i in range(8, 308))
    assert alarms <= 6, alarms  # <= 2% of weeks


def test_outcome_patch_fills_only_what_is_missing_or_wrong():
    from imagegen.records.request_record import outcome_fields, outcome_patch

    legacy = {"status": "failed", "cost": 3}
    assert outcome_patch(legacy) == {
        "isCompleted": 0,
        "isFailed": 1,
        "isCanceled": 0,
        "creditsSpent": 0,
        "creditsRefunded": 3,
    }
    assert outcome_patch({"status": "completed", "cost": 4, **outcome_fields("completed", 4)}) == {}
    stale = {"status": "completed", "cost": 4, **outcome_fields("pending", 4)}
    assert outcome_patch(stale) == {"isCompleted": 1, "creditsSpent": 4}
    assert outcome_patch({"status": "queued", "cost": "x"})["creditsRefunded"] == 0
    assert outcome_patch({"status": "completed", "cost": 2.0, "isCompleted": True})["isCompleted"]


def test_report_counts_odd_costs_as_zero_and_unsettled_as_pending():
    from imagegen.records.request_record import whole_credits

    assert [whole_credits(v) for v in (3, 2.0, "4", None, True, float("nan"))] == [3, 2, 0, 0, 0, 0]
    totals = (
        WeekAggregate()
        .add_all(
            [
                {"status": "completed", "cost": 3, "model": "model-a", "userId": "a"},
                {"status": "processing", "cost": 1, "model": "model-a", "userId": "a"},
                {"status": "queued", "cost": 1, "model": "model-b", "userId": "b"},
                {"status": "failed", "cost": "bad", "model": "model-b", "userId": "b"},
            ]
        )
        .totals()
    )
    assert (totals["completed"], totals["failed"], totals["pending"]) == (1, 1, 2)
    assert totals["successRate"] == 50.0 and totals["totalCreditsSpent"] == 3


def test_alerts_carry_the_evidence_and_severity():
    from imagegen.reporting.report_rules import incident_alerts

    history = [
        {
            "weekId": f"2020-W{w}",
            "byModel": {"model-a": {"completed": 95, "failed": 5, "total": 100}},
        }
        for w in range(10, 15)
    ]
    current = {"byModel": {"model-a": {"completed": 50, "failed": 50, "total": 100}}}
    anomalies = [a for a in detect_anomalies(current, history) if a["metric"] == "failureRate"]
    assert len(anomalies) == 1 and anomalies[0]["test"] == "binomial"
    (alert,) = incident_alerts("2020-W15", [{**anomalies[0], "explains": []}])
    assert alert["severity"] == "ERROR"  # critical: p far below alpha
    assert alert["segment"] == "byModel/model-a" and alert["value"] == 50.0
    assert alert["baseline"] == anomalies[0]["baseline"] and 0 < alert["pValue"] < 1e-10
    assert alert["event"] == "weekly-report-incident" and alert["weekId"] == "2020-W15"
    mild = {**anomalies[0], "severity": "warning", "dimension": None, "key": None}
    (warning,) = incident_alerts("2020-W15", [{**mild, "explains": [anomalies[0]]}])
    assert warning["explains"][0]["segment"] == "byModel/model-a"
    assert (warning["severity"], warning["segment"]) == ("WARNING", "overall")


def test_credit_volumes_are_judged_as_sums_of_prices_not_as_counts():
    """Steady growth in credits spent over mixed sizes is not an anomaly (a plain Poisson
    test flagged 431 vs 368 credits at p<0.001), while a 5x jump still is."""
    from imagegen.reporting.report_rules import credits_dispersion

    def week(n, requests):
        by_size = {  # half 512 (1 credit), 30% 1024 (3), 20% 1024x1792 (4)
            "512x512": {"completed": requests // 2, "credits": requests // 2},
            "1024x1024": {"completed": 3 * requests // 10, "credits": 9 * requests // 10},
            "1024x1792": {"completed": requests // 5, "credits": 4 * requests // 5},
        }
        credits = sum(b["credits"] for b in by_size.values())
        return {
            "weekId": f"2020-W{n:02d}",
            "totalRequests": requests,
            "totalCreditsSpent": credits,
            "uniqueUsers": 40,
            "bySize": by_size,
        }

    history = [week(n, r) for n, r in ((12, 208), (11, 184), (10, 172))]
    assert credits_dispersion(history) == pytest.approx(64 / 22, rel=0.02)
    grown = week(13, 210)
    grown["totalCreditsSpent"] = 431  # 1.2x the mean of 368: growth, not an incident
    metrics = {a["metric"] for a in detect_anomalies(grown, history)}
    assert "totalCreditsSpent" not in metrics
    spike = week(13, 1000)
    assert "totalCreditsSpent" in {a["metric"] for a in detect_anomalies(spike, history)}
    assert credits_dispersion([{"bySize": {"512x512": {"completed": 9, "credits": 9}}}]) == 1.0


def _week_of(rng, failing=None, volume=1.0):
    """A synthetic week's requests (model, style, size, color), 300 by default."""
    from imagegen.records.request_record import outcome_fields

    docs = []
    for model in ("model-a", "model-b"):
        for _ in range(int(150 * volume)):
            doc = {
                "userId": f"u{rng.randrange(40)}",
                "model": model,
                "style": rng.choice(["anime", "sketch", "realistic"]),
                "size": rng.choice(["512x512", "1024x1024"]),
                "color": rng.choice(["neon", "pastel"]),
                "cost": 1,
            }
            bad = failing(doc) if failing else False
            doc["status"] = "failed" if rng.random() < (0.5 if bad else 0.05) else "completed"
            doc.update(outcome_fields(doc["status"], 1))
            docs.append(doc)
    return docs


@pytest.mark.parametrize(
    ("failing", "volume", "cause"),
    [
        (lambda d: d["model"] == "model-b", 1.0, ("failureRate", "byModel", "model-b")),
        (lambda d: d["style"] == "sketch", 1.0, ("failureRate", "byStyle", "sketch")),
        (None, 4.0, ("totalRequests", None, None)),
    ],
    ids=["failing model", "failing style on both models", "even surge"],
)
def test_incidents_on_the_scan_path_name_one_cause(failing, volume, cause):
    from imagegen.reporting.incidents import find_incidents
    from imagegen.reporting.report_rules import incident_alerts

    rng = random.Random(7)
    history = [WeekAggregate().add_all(_week_of(rng)).totals() for _ in range(8)]
    week = WeekAggregate().add_all(_week_of(rng, failing, volume))
    current = week.totals()
    anomalies = detect_anomalies(current, history)
    incidents = find_incidents(current, history, anomalies, week.intersect)
    assert [(i["metric"], i["dimension"], i["key"]) for i in incidents] == [cause]
    assert len(anomalies) == 1 + len(incidents[0]["explains"]) and len(anomalies) > 1
    (alert,) = incident_alerts("2020-W15", incidents)
    assert alert["event"] == "weekly-report-incident"
    assert len(alert["explains"]) == len(anomalies) - 1
