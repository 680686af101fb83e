"""Incidents: one cause, one alert (pure; the cross-dimension counts come from a callback).

Anomalies of a week are grouped into incidents, each with the anomaly that causes it and the
anomalies it explains:

- **Failure rates.** Anomalous segments are taken strongest first (lowest p-value). A segment
  is explained by a cause in another dimension when it stops being anomalous once the cause's
  requests are taken out: the same binomial test, at the same level, on the remainder (its
  requests outside the cause, counted by `intersect`), against the segment's own baseline. When
  the cause is the one that stops being anomalous without the newcomer, the newcomer becomes
  the cause and takes over what the old one explained (a failing style spread over both models
  is the style, not the models).
- **Volumes.** When the week's total is anomalous, a segment volume moving with it (its share
  of the total within what chance allows, binomial test against its historical share) is part
  of the same surge; a segment whose share jumped is a cause of its own, and the total is
  explained by such causes when the total without them is not anomalous. Credits spent and
  unique users moving the same way as the request total are the same surge.

Limits: the remainder is judged against the segment's baseline rate (past weeks' reports hold
no cross-dimension counts); `other` segments (keys not in the catalog) are never attributed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Protocol

from imagegen.reporting import stats
from imagegen.reporting.report_rules import (
    BUCKET_FIELDS,
    FAILURE_RATE,
    IMAGE_FAILURE_RATE,
    OTHER,
    RATE_METRICS,
    THRESHOLDS,
    Bucket,
    Tally,
    Thresholds,
    rate_anomalous,
    volume_anomaly,
)


class Intersect(Protocol):
    """The week's requests in every one of the given segments ((dimension, key) pairs); with
    `images`, their image counts too (else they may be left 0)."""

    def __call__(self, segments: Sequence[tuple[str, str]], images: bool = False) -> Bucket: ...


MAX_JOINT_CAUSES = 4  # causes taken out together when none explains a symptom alone
DERIVED_VOLUMES = ("totalCreditsSpent", "uniqueUsers")


@dataclass
class _Node:
    anomaly: dict[str, Any]
    explains: list[dict[str, Any]] = field(default_factory=list)

    @property
    def dim(self) -> str | None:
        return self.anomaly.get("dimension")

    @property
    def key(self) -> str | None:
        return self.anomaly.get("key")

    @property
    def segment(self) -> tuple[str, str]:
        return str(self.dim), str(self.key)

    @property
    def up(self) -> bool:
        return float(self.anomaly.get("current", 0)) >= float(self.anomaly.get("baseline", 0))

    def adopt(self, other: _Node) -> None:
        self.explains += [other.anomaly, *other.explains]
        other.explains = []


def find_incidents(
    current: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    anomalies: Sequence[Mapping[str, Any]],
    intersect: Intersect,
    t: Thresholds = THRESHOLDS,
) -> list[dict[str, Any]]:
    """The week's incidents, strongest first; every anomaly is a cause or explained by one."""
    history = list(history)[: t.max_baseline_weeks]
    intersect = _remembered(intersect)
    rates = [_Node(dict(a)) for a in anomalies if a.get("metric") in RATE_METRICS]
    volumes = [_Node(dict(a)) for a in anomalies if a.get("metric") not in RATE_METRICS]
    causes = _rate_causes(current, rates, intersect, t)
    causes += _volume_causes(current, history, volumes, t)
    incidents = [_incident(node) for node in causes]
    return sorted(incidents, key=lambda i: (i["severity"] != "critical", i["pValue"]))


def _remembered(intersect: Intersect) -> Intersect:
    """`intersect` asked once per set of segments (each answer is a query or two); an answer
    with images serves a later question without."""
    seen: dict[tuple[frozenset[tuple[str, str]], bool], Bucket] = {}

    def cached(segments: Sequence[tuple[str, str]], images: bool = False) -> Bucket:
        key = frozenset(segments)
        for known in ((key, True), (key, False)) if not images else ((key, True),):
            if known in seen:
                return seen[known]
        seen[key, images] = intersect(segments, images=images)
        return seen[key, images]

    return cached


# --- failure rates ---------------------------------------------------------------------


def _rate_causes(
    current: Mapping[str, Any], nodes: list[_Node], intersect: Intersect, t: Thresholds
) -> list[_Node]:
    causes: list[_Node] = []
    for node in sorted(nodes, key=lambda n: n.anomaly.get("pValue", 1.0)):
        if _same_segment(node, causes):
            continue
        if node.key == OTHER:
            causes.append(node)
            continue
        others = [c for c in causes if c.dim != node.dim and c.key != OTHER]
        shared = {
            id(c): intersect([(str(node.dim), str(node.key)), c.segment], images=_images(node, c))
            for c in others
        }
        home = None
        for cause in others:
            if not _rate_anomalous(current, node, shared[id(cause)], t):
                home = cause  # the node without the cause's requests is ordinary
                break
            if not _rate_anomalous(current, cause, shared[id(cause)], t):
                causes.remove(cause)  # the cause without the node's requests is ordinary
                node.adopt(cause)
                break
        else:
            joint = others[:MAX_JOINT_CAUSES]
            if len(joint) > 1 and not _rate_anomalous(
                current, node, _union(node, joint, intersect), t
            ):
                # ordinary once all of them are taken out: the one sharing most failures
                home = max(joint, key=lambda c: _failures(node, shared[id(c)]))
        if home is not None:
            home.adopt(node)
        else:
            causes.append(node)
    return causes


def _same_segment(node: _Node, causes: list[_Node]) -> bool:
    """One segment anomalous in both its request and its image failure rate is one cause, the
    request rate (its failed requests' images are among the failed images): the image anomaly
    goes under it, whichever came first. True when `node` was put under an existing cause."""
    twin = next((c for c in causes if c.segment == node.segment), None)
    if twin is None or twin.anomaly["metric"] == node.anomaly["metric"]:
        return False
    if node.anomaly["metric"] == FAILURE_RATE:
        causes[causes.index(twin)] = node  # the request rate takes the image cause's place
        node.adopt(twin)
    else:
        twin.adopt(node)
    return True


def _images(*nodes: _Node) -> bool:
    """Whether testing these nodes needs the image counts of their intersections."""
    return any(n.anomaly["metric"] == IMAGE_FAILURE_RATE for n in nodes)


def _failures(node: _Node, part: Bucket) -> int:
    """The failures of `node`'s metric in `part` (requests, or images)."""
    return Tally.of_bucket(part).past(str(node.anomaly["metric"]))[0]


def _union(node: _Node, causes: Sequence[_Node], intersect: Intersect) -> Bucket:
    """`node`'s requests in any of `causes`, by inclusion-exclusion over their intersections
    (causes of one dimension are disjoint, so only one key per dimension is combined)."""
    total = Bucket()
    images = _images(node, *causes)
    for size in range(1, len(causes) + 1):
        for group in combinations(causes, size):
            if len({c.dim for c in group}) < size:
                continue  # two keys of one dimension: no request is in both
            segments = [(str(node.dim), str(node.key)), *(c.segment for c in group)]
            part = intersect(segments, images=images)
            sign = 1 if size % 2 else -1
            for name in BUCKET_FIELDS:
                setattr(total, name, getattr(total, name) + sign * getattr(part, name))
    return total


def _rate_anomalous(current: Mapping[str, Any], node: _Node, shared: Bucket, t: Thresholds) -> bool:
    """Whether `node`'s segment is still anomalous without the requests in `shared`, by the
    test of its metric (requests, or images), at its level, against its baseline."""
    bucket = current.get(str(node.dim), {}).get(str(node.key), {})
    rest = Tally.of(bucket).minus(Tally.of_bucket(shared))
    base = float(node.anomaly["baseline"]) / 100
    alpha = float(node.anomaly.get("alpha", t.rate_alpha))
    return rate_anomalous(str(node.anomaly["metric"]), rest, base, alpha, t)[0]


# --- volumes ---------------------------------------------------------------------------


def _volume_causes(
    current: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    nodes: list[_Node],
    t: Thresholds,
) -> list[_Node]:
    total = next((n for n in nodes if n.anomaly["metric"] == "totalRequests"), None)
    if total is None or not history:
        return nodes
    segments = [n for n in nodes if n.dim is not None]
    derived = [n for n in nodes if n.anomaly["metric"] in DERIVED_VOLUMES]
    own: list[_Node] = []
    for node in segments:
        if node.up == total.up and _share_steady(current, history, node, t):
            total.adopt(node)
        else:
            own.append(node)
    for node in derived:
        if node.up == total.up:
            total.adopt(node)
        else:
            own.append(node)
    # The total is explained by segment causes of one dimension when, without them, the
    # rest of the requests is ordinary.
    for dim in sorted({n.dim for n in own if n.dim}):
        in_dim = [n for n in own if n.dim == dim and n.up == total.up]
        if in_dim and not _rest_anomalous(current, history, dim, in_dim, t):
            strongest = min(in_dim, key=lambda n: n.anomaly.get("pValue", 1.0))
            strongest.adopt(total)
            return own
    return [total, *own]


def _share_steady(
    current: Mapping[str, Any], history: Sequence[Mapping[str, Any]], node: _Node, t: Thresholds
) -> bool:
    """Whether a segment's share of all requests is what its history says (two-sided)."""

    def volume(report: Mapping[str, Any]) -> int:
        return int(report.get(str(node.dim), {}).get(str(node.key), {}).get("total", 0))

    count, total = volume(current), int(current.get("totalRequests", 0))
    past = sum(volume(h) for h in history)
    past_total = sum(int(h.get("totalRequests", 0)) for h in history)
    if not total or not past_total:
        return False
    share = min(max(past / past_total, 1e-6), 1 - 1e-6)
    upper = stats.binom_sf(count, total, share)
    lower = 1 - stats.binom_sf(count + 1, total, share)
    return min(upper, lower) * 2 >= t.volume_alpha


def _rest_anomalous(
    current: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    dim: str,
    segments: Sequence[_Node],
    t: Thresholds,
) -> bool:
    def rest(report: Mapping[str, Any]) -> float:
        taken = sum(int(report.get(dim, {}).get(str(n.key), {}).get("total", 0)) for n in segments)
        return float(int(report.get("totalRequests", 0)) - taken)

    past = [rest(h) for h in history]
    return volume_anomaly("totalRequests", None, None, rest(current), past, t) is not None


# --- shape -----------------------------------------------------------------------------


def _incident(node: _Node) -> dict[str, Any]:
    a = node.anomaly
    explains = sorted(node.explains, key=lambda e: e.get("pValue", 1.0))
    count = len(explains)
    also = f"; explains {count} other anomal{'y' if count == 1 else 'ies'}" if count else ""
    return {
        "cause": {"metric": a["metric"], "dimension": a.get("dimension"), "key": a.get("key")},
        "metric": a["metric"],
        "dimension": a.get("dimension"),
        "key": a.get("key"),
        "current": a.get("current"),
        "baseline": a.get("baseline"),
        "test": a.get("test"),
        "pValue": a.get("pValue"),
        "severity": _worst([a, *explains]),
        "message": a.get("message", "") + also,
        "explains": explains,
    }


def _worst(anomalies: Sequence[Mapping[str, Any]]) -> str:
    return "critical" if any(a.get("severity") == "critical" for a in anomalies) else "warning"
