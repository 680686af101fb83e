"""Weekly report rules: aggregation of generation requests and anomaly detection (pure; no
I/O; the queries are in `report_queries`).

Thresholds live in `Thresholds`; docs/reports.md explains each one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from imagegen.core.vocabulary import RequestStatus
from imagegen.records.request_record import COLOR, MODEL, SIZE, STYLE, USER_ID
from imagegen.reporting import stats
from imagegen.reporting.outcomes import Outcome, outcome

DIMENSIONS: dict[str, str] = {
    "byModel": MODEL,
    "byStyle": STYLE,
    "bySize": SIZE,
    "byColor": COLOR,
}
# Volumes judged for anomalies: (metric name, dimension or None, key or None).
VOLUME_METRICS: tuple[str, ...] = ("totalRequests", "totalCreditsSpent", "uniqueUsers")
VOLUME_DIMENSIONS: tuple[str, ...] = ("byModel", "bySize")
RATE_DIMENSIONS: tuple[str, ...] = ("byModel", "byStyle", "bySize", "byColor")
# Breakdowns that count images beside requests (the others count requests only).
IMAGE_DIMENSIONS: tuple[str, ...] = ("byModel", "bySize")
# Failure rates judged per segment: of settled requests, and of their images.
FAILURE_RATE = "failureRate"
IMAGE_FAILURE_RATE = "imageFailureRate"
RATE_METRICS: tuple[str, ...] = (FAILURE_RATE, IMAGE_FAILURE_RATE)


@dataclass(frozen=True)
class Thresholds:
    """Every knob of anomaly detection, in one place."""

    min_baseline_weeks: int = 1  # no anomalies at all without one earlier week
    max_baseline_weeks: int = 8  # weeks of history used as the baseline
    robust_from_weeks: int = 4  # from this many weeks on, volumes use median/MAD
    robust_z: float = 3.5  # |robust z| above this is anomalous
    log_mad_floor: float = 0.1  # MAD of log volumes never taken below this (flat histories)
    volume_alpha: float = 0.001  # Poisson tail probability that counts as anomalous
    rate_alpha: float = 0.01  # family-wise level for failure rates (Bonferroni over segments)
    rate_min_requests: int = 20  # segments with fewer settled requests are not judged
    rate_min_increase: float = 0.05  # and the rate must exceed the baseline by 5 points
    rate_min_images: int = 40  # and image failure rates need this many settled images
    default_failure_rate: float = 0.05  # prior failure rate (all that counts without history)
    prior_weight: float = 50.0  # the prior counts as this many requests (or images) in a baseline
    critical_factor: float = 100.0  # p below alpha / this (or |z| > 2x threshold): critical


THRESHOLDS = Thresholds()


OTHER = "other"  # the bucket of keys a report did not ask about (not in the catalog)
BUCKET_FIELDS = (
    "total",
    "completed",
    "failed",
    "canceled",
    "pending",
    "credits",
    "refunded",
    "images",
    "images_generated",
    "images_failed",
)


@dataclass
class Bucket:
    total: int = 0
    completed: int = 0
    failed: int = 0
    canceled: int = 0
    pending: int = 0  # still unsettled (pending, queued or processing)
    credits: int = 0  # spent: net of the refunds of partially completed requests
    refunded: int = 0  # every refund: failed and canceled requests, and failed images
    images: int = 0  # images asked for (a request without `numImages` asked for one)
    images_generated: int = 0
    images_failed: int = 0

    def add(self, o: Outcome) -> None:
        self.total += 1
        if o.status == RequestStatus.COMPLETED:
            self.completed += 1
        elif o.status == RequestStatus.FAILED:
            self.failed += 1
        elif o.status == RequestStatus.CANCELED:
            self.canceled += 1
        else:  # pending, queued, processing (or unknown): not settled when counted
            self.pending += 1
        self.credits += o.spent
        self.refunded += o.refunded
        self.images += o.images
        self.images_generated += o.generated
        self.images_failed += o.failed_images

    def merge(self, other: Bucket) -> None:
        for name in BUCKET_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def failure_rate(self) -> float:
        settled = self.completed + self.failed
        return round(100 * self.failed / settled, 2) if settled else 0.0

    def image_counts(self) -> dict[str, int]:
        return {
            "imagesRequested": self.images,
            "imagesGenerated": self.images_generated,
            "imagesFailed": self.images_failed,
        }

    def as_dict(self, images: bool = False) -> dict[str, Any]:
        return {
            "total": self.total,
            "completed": self.completed,
            "failed": self.failed,
            "canceled": self.canceled,
            "pending": self.pending,
            "failureRate": self.failure_rate(),
            "credits": self.credits,
            **(self.image_counts() if images else {}),
        }


@dataclass
class WeekAggregate:
    """Running totals for one week; memory grows with distinct users and keys, not requests."""

    overall: Bucket = field(default_factory=Bucket)
    by: dict[str, dict[str, Bucket]] = field(
        default_factory=lambda: {name: {} for name in DIMENSIONS}
    )
    users: set[str] = field(default_factory=set)
    # One bucket per combination of keys (model, style, size, color): any cross-dimension
    # count, for attributing anomalies to incidents (a few hundred combinations at most).
    combos: dict[tuple[str, ...], Bucket] = field(default_factory=dict)

    def add(self, request: Mapping[str, Any]) -> None:
        counted = outcome(request)
        self.overall.add(counted)
        keys = {name: str(request.get(attr, "unknown")) for name, attr in DIMENSIONS.items()}
        for name, key in keys.items():
            self.by[name].setdefault(key, Bucket()).add(counted)
        self.combos.setdefault(tuple(keys.values()), Bucket()).add(counted)
        if request.get(USER_ID):
            self.users.add(str(request[USER_ID]))

    def add_all(self, requests: Iterable[Mapping[str, Any]]) -> WeekAggregate:
        for request in requests:
            self.add(request)
        return self

    def totals(self) -> dict[str, Any]:
        """The report's totals and breakdowns (without period, anomalies, timestamps)."""
        return report_totals(self.overall, self.by, len(self.users))

    def intersect(self, segments: Sequence[tuple[str, str]], images: bool = False) -> Bucket:
        """The requests in every one of `segments` ((dimension, key) pairs), images counted
        (whatever `images` says: a scan counts them anyway)."""
        names = list(DIMENSIONS)
        out = Bucket()
        for combo, bucket in self.combos.items():
            if all(combo[names.index(dim)] == key for dim, key in segments):
                out.merge(bucket)
        return out


def report_totals(
    overall: Bucket, by: Mapping[str, Mapping[str, Bucket]], unique_users: int
) -> dict[str, Any]:
    """The report's totals and breakdowns from buckets, however they were counted."""
    o = overall
    settled = o.completed + o.failed
    return {
        "totalRequests": o.total,
        "completed": o.completed,
        "failed": o.failed,
        "canceled": o.canceled,
        "pending": o.pending,
        "totalCreditsSpent": o.credits,
        "totalCreditsRefunded": o.refunded,
        "successRate": round(100 * o.completed / settled, 2) if settled else 0.0,
        **o.image_counts(),
        **{
            name: {
                k: b.as_dict(images=name in IMAGE_DIMENSIONS)
                for k, b in sorted(by.get(name, {}).items())
                if b.total
            }
            for name in DIMENSIONS
        },
        "uniqueUsers": unique_users,
    }


def assemble_report(
    week: str,
    period: tuple[Any, Any],
    totals: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    computed_with: Mapping[str, Any],
) -> dict[str, Any]:
    """A weekly report from its totals and the earlier reports (nearest first)."""
    return {
        "weekId": week,
        "period": {"start": period[0], "end": period[1]},
        **totals,
        "anomalies": detect_anomalies(totals, history),
        "baselineWeeks": [h.get("weekId") for h in history],
        "computedWith": dict(computed_with),
    }


def remainder(overall: Bucket, parts: Iterable[Bucket]) -> Bucket:
    """What `overall` has beyond the sum of `parts` (requests under keys not asked about)."""
    rest = Bucket(**vars(overall))
    for part in parts:
        for name in BUCKET_FIELDS:
            setattr(rest, name, getattr(rest, name) - getattr(part, name))
    return rest


def _metric_value(report: Mapping[str, Any], metric: str, dim: str | None, key: str | None):
    if dim is None:
        return report.get(metric)
    bucket = report.get(dim, {}).get(key)
    if bucket is None:
        return 0
    return bucket.get("total") if metric == "requests" else bucket.get("credits")


def _severity(p_or_none: float | None, z: float | None, alpha: float, t: Thresholds) -> str:
    if p_or_none is not None and p_or_none < alpha / t.critical_factor:
        return "critical"
    if z is not None and abs(z) > 2 * t.robust_z:
        return "critical"
    return "warning"


def _label(metric: str, dim: str | None, key: str | None) -> str:
    return f"{key} {metric}" if key else metric


def credits_dispersion(reports: Iterable[Mapping[str, Any]]) -> float:
    """How much more a week's credits vary than a count: credits are a sum of per-request
    prices c, so their variance is about E[c^2]/E[c] times the mean (a compound Poisson).
    Estimated from the completed requests and credits per size; 1 for a single price."""
    weighted = total = 0.0
    for report in reports:
        for bucket in report.get("bySize", {}).values():
            credits, completed = bucket.get("credits", 0), bucket.get("completed", 0)
            if credits and completed:
                weighted += credits * (credits / completed)
                total += credits
    return max(1.0, weighted / total) if total else 1.0


def volume_anomaly(
    metric: str,
    dim: str | None,
    key: str | None,
    current: float,
    history: Sequence[float],
    t: Thresholds,
    dispersion: float = 1.0,
) -> dict[str, Any] | None:
    """Volumes against their history; `dispersion` > 1 scales a sum of prices down to the
    count-like units the Poisson tail assumes."""
    lam = sum(history) / len(history)
    up = current >= lam
    scaled, scaled_lam = current / dispersion, lam / dispersion
    p = (
        stats.poisson_sf(int(scaled), scaled_lam)
        if up
        else stats.poisson_cdf(int(scaled), scaled_lam)
    )
    z: float | None = None
    if len(history) >= t.robust_from_weeks:
        z = stats.robust_z(math.log1p(current), [math.log1p(h) for h in history], t.log_mad_floor)
        anomalous = abs(z) > t.robust_z and p < t.volume_alpha
        baseline = math.expm1(stats.median([math.log1p(h) for h in history]))
    else:
        anomalous = p < t.volume_alpha
        baseline = lam
    if not anomalous:
        return None
    ratio = current / baseline if baseline else math.inf
    how = f"{ratio:.1f}x" if baseline else "from zero"
    detail = f"robust z={z:.1f}, " if z is not None else ""
    return {
        "metric": metric,
        "dimension": dim,
        "key": key,
        "current": current,
        "baseline": round(baseline, 2),
        "test": "robust-z+poisson" if z is not None else "poisson",
        "pValue": _p_value(p),
        **({"robustZ": round(z, 2)} if z is not None else {}),
        "baselineWeeks": len(history),
        "severity": _severity(p, z, t.volume_alpha, t),
        "message": (
            f"{_label(metric, dim, key)} {'up' if up else 'down'} {how}: {current:g} vs "
            f"baseline {baseline:.1f} over {len(history)} week(s) ({detail}{_p(p)})"
        ),
    }


def _p_value(p: float) -> float:
    """A p-value rounded to four significant digits for storage (tiny values stay > 0)."""
    return float(f"{p:.4g}")


def _p(p: float) -> str:
    """A p-value for messages: 'p<0.001' or 'p=0.012'."""
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def detect_anomalies(
    current: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    t: Thresholds = THRESHOLDS,
) -> list[dict[str, Any]]:
    """Anomalies of `current` against earlier reports (`history`, nearest first)."""
    history = list(history)[: t.max_baseline_weeks]
    if len(history) < t.min_baseline_weeks:
        return []
    found: list[dict[str, Any]] = []
    series: list[tuple[str, str | None, str | None]] = [(m, None, None) for m in VOLUME_METRICS]
    for volume_dim in VOLUME_DIMENSIONS:
        keys = set(current.get(volume_dim, {})) | {
            k for h in history for k in h.get(volume_dim, {})
        }
        series += [("requests", volume_dim, key) for key in sorted(keys)]
    dispersion = credits_dispersion([current, *history])
    for metric, dim, key in series:
        cur = _metric_value(current, metric, dim, key) or 0
        past = [float(_metric_value(h, metric, dim, key) or 0) for h in history]
        scale = dispersion if metric == "totalCreditsSpent" else 1.0
        anomaly = volume_anomaly(metric, dim, key, float(cur), past, t, scale)
        if anomaly:
            found.append(anomaly)
    found += _rate_anomalies(current, history, t)
    return found


@dataclass(frozen=True)
class Tally:
    """What the failure-rate tests count in a segment (a report bucket, or a remainder of
    one): settled requests, and the images of the settled requests that were not canceled.

    A bucket without image counts (a report from before several images per request) holds one
    image per request. Canceled requests (refunded before any image was made, so no failure)
    are left out of the image share as they are of the request rate; how many images they
    asked for is known exactly when the segment has no canceled request or only one-image
    requests, and otherwise estimated at the segment's mean images per request.
    """

    completed: int
    failed: int
    failed_images: int
    settled_images: int

    @classmethod
    def of(cls, bucket: Mapping[str, Any]) -> Tally:
        completed, failed = int(bucket.get("completed", 0)), int(bucket.get("failed", 0))
        if "imagesRequested" not in bucket:  # one image per request
            return cls(completed, failed, failed, completed + failed)
        total, canceled = int(bucket.get("total", 0)), int(bucket.get("canceled", 0))
        requested = int(bucket.get("imagesRequested", 0))
        images_failed = int(bucket.get("imagesFailed", 0))
        canceled_images = round(canceled * requested / total) if total else 0
        failed_images = max(0, images_failed - canceled_images)
        return cls(
            completed, failed, failed_images, int(bucket.get("imagesGenerated", 0)) + failed_images
        )

    @classmethod
    def of_bucket(cls, bucket: Bucket) -> Tally:
        return cls.of(bucket.as_dict(images=True))

    def minus(self, other: Tally) -> Tally:
        return Tally(
            self.completed - other.completed,
            self.failed - other.failed,
            self.failed_images - other.failed_images,
            self.settled_images - other.settled_images,
        )

    @property
    def settled(self) -> int:
        return self.completed + self.failed

    def judged(self, metric: str, t: Thresholds) -> bool:
        """Whether the segment is large enough for `metric` to be judged."""
        if self.settled < t.rate_min_requests:
            return False
        return metric == FAILURE_RATE or self.settled_images >= t.rate_min_images

    def failures(self, metric: str) -> tuple[int, int]:
        """(k, n) of the binomial test. For images, the failed share of the images weighed as
        the segment's settled requests: the images of one request fail together when a batch
        call fails, so they are not independent trials (exact for a constant number of images
        per request; conservative when images fail independently)."""
        if metric == FAILURE_RATE:
            return self.failed, self.settled
        if not self.settled_images:
            return 0, self.settled
        return round(self.failed_images * self.settled / self.settled_images), self.settled

    def rate(self, metric: str) -> float:
        if metric == FAILURE_RATE:
            return self.failed / self.settled if self.settled else 0.0
        return self.failed_images / self.settled_images if self.settled_images else 0.0

    def past(self, metric: str) -> tuple[int, int]:
        """(failures, trials) this segment adds to a baseline: requests, or images."""
        if metric == FAILURE_RATE:
            return self.failed, self.settled
        return self.failed_images, self.settled_images


def rate_baseline(
    metric: str, dim: str, key: str, history: Sequence[Mapping[str, Any]], t: Thresholds
) -> float:
    """A segment's past failure rate (of requests or of images), shrunk towards the prior so
    that a short, failure-free history is no 0% baseline."""
    past = [Tally.of(h.get(dim, {}).get(key, {})).past(metric) for h in history]
    failed, n = sum(f for f, _ in past), sum(m for _, m in past)
    return (failed + t.prior_weight * t.default_failure_rate) / (n + t.prior_weight)


def rate_anomalous(
    metric: str, tally: Tally, base: float, alpha: float, t: Thresholds
) -> tuple[bool, float]:
    """The failure-rate test of a segment (or a remainder): (anomalous, p-value)."""
    if not tally.judged(metric, t):
        return False, 1.0
    k, n = tally.failures(metric)
    p = stats.binom_sf(k, n, max(base, 1e-6))
    return p < alpha and tally.rate(metric) - base >= t.rate_min_increase, p


def _rate_anomalies(
    current: Mapping[str, Any], history: Sequence[Mapping[str, Any]], t: Thresholds
) -> list[dict[str, Any]]:
    """Failure rates of requests per model, style, size and color, and of images per model and
    size. A segment's image rate is judged only when it holds requests of several images (else
    it is its request rate). Both kinds are one family for the Bonferroni correction, so weeks
    of one-image requests are judged as before. An image anomaly of a segment whose request
    rate is anomalous too is the same cause (incidents put it under the request anomaly)."""
    candidates = []
    for dim in RATE_DIMENSIONS:
        for key, bucket in sorted(current.get(dim, {}).items()):
            tally = Tally.of(bucket)
            metrics = [FAILURE_RATE]
            if dim in IMAGE_DIMENSIONS and tally.settled_images > tally.settled:
                metrics.append(IMAGE_FAILURE_RATE)
            for metric in metrics:
                if tally.judged(metric, t):
                    base = rate_baseline(metric, dim, key, history, t)
                    candidates.append((metric, dim, key, tally, base))
    if not candidates:
        return []
    alpha = t.rate_alpha / len(candidates)  # Bonferroni over the segments tested
    found = []
    for metric, dim, key, tally, base in candidates:
        anomalous, p = rate_anomalous(metric, tally, base, alpha, t)
        if anomalous:
            found.append(_rate_anomaly(metric, dim, key, tally, base, p, alpha, t))
    return found


def _rate_anomaly(
    metric: str,
    dim: str,
    key: str,
    tally: Tally,
    base: float,
    p: float,
    alpha: float,
    t: Thresholds,
) -> dict[str, Any]:
    rate, n = tally.rate(metric), tally.settled
    if metric == FAILURE_RATE:
        what, sample = "failure rate", f"n={n}"
    else:
        what, sample = "image failure rate", f"{tally.settled_images} images of {n} requests"
    return {
        "metric": metric,
        "dimension": dim,
        "key": key,
        "current": round(100 * rate, 2),
        "baseline": round(100 * base, 2),
        "test": "binomial",
        "pValue": _p_value(p),
        "alpha": _p_value(alpha),
        "settledRequests": n,
        **({"settledImages": tally.settled_images} if metric == IMAGE_FAILURE_RATE else {}),
        "severity": _severity(p, None, alpha, t),
        "message": (
            f"{key} {what} {100 * rate:.1f}% vs baseline {100 * base:.1f}% ({sample}, {_p(p)})"
        ),
    }


INCIDENT_LOG_EVENT = "weekly-report-incident"


def _evidence(a: Mapping[str, Any]) -> dict[str, Any]:
    """What an alert line says of an anomaly: metric, segment, value, baseline, test, p."""
    return {
        "metric": a.get("metric"),
        "segment": f"{a['dimension']}/{a['key']}" if a.get("dimension") else "overall",
        "value": a.get("current"),
        "baseline": a.get("baseline"),
        "test": a.get("test"),
        "pValue": a.get("pValue"),
        "message": a.get("message"),
    }


def incident_alerts(week: str, incidents: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One structured log entry per incident, for log-based alerting (one cause, one alert):
    `severity` ERROR when critical, else WARNING; the anomalies it explains ride inside, each
    with its own evidence."""
    return [
        {
            "severity": "ERROR" if i.get("severity") == "critical" else "WARNING",
            "event": INCIDENT_LOG_EVENT,
            "weekId": week,
            **_evidence(i),
            "explains": [_evidence(e) for e in i.get("explains", [])],
        }
        for i in incidents
    ]
