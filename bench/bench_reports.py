#!/usr/bin/env python3
"""Weekly report at scale: aggregation queries vs a naive full scan, same data, same run.

    ./bench/run.sh --reports           # starts the emulators, runs this, stops them
    functions/venv/bin/python bench/bench_reports.py [--sizes 10000 100000]

Inserts N generation requests (with the weekly active-user markers the charge writes) into
one ISO week of the emulator, then builds that week's report both ways and prints wall time,
peak Python memory of the report code (tracemalloc), and Firestore reads billed in production
(scan: one per document fetched; aggregation: per query, one per 1,000 index entries matched,
at least one). Not a test: it prints a table and exits.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))
os.environ.setdefault("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080")
PROJECT = os.environ.get("GCLOUD_PROJECT", "demo-imagegen")

from imagegen.core.catalog import DEFAULT_CATALOG  # noqa: E402
from imagegen.core.weeks import week_bounds  # noqa: E402
from imagegen.providers.simulator import MODEL_NAMES  # noqa: E402
from imagegen.reporting.outcomes import mirrors  # noqa: E402
from imagegen.reporting.report_queries import build_report  # noqa: E402


def client():
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    return firestore.Client(project=PROJECT, credentials=AnonymousCredentials())


def insert_week(db, week: str, n: int, seed: int) -> float:
    """Insert n requests spread over `week` (2,000 users, ~5% failures); returns seconds."""
    rng = random.Random(seed)
    start, _ = week_bounds(week)
    users = [f"bench-user-{i}" for i in range(min(2000, n))]
    sizes = list(DEFAULT_CATALOG.sizes.items())
    began = time.perf_counter()
    batch, pending = db.batch(), 0
    for i in range(n):
        size, cost = rng.choice(sizes)
        roll = rng.random()
        status = "failed" if roll < 0.05 else "pending" if roll < 0.051 else "completed"
        batch.set(
            db.collection("generationRequests").document(),
            {
                "userId": users[i % len(users)],
                "model": rng.choice(MODEL_NAMES),
                "style": rng.choice(DEFAULT_CATALOG.styles),
                "color": rng.choice(DEFAULT_CATALOG.colors),
                "size": size,
                "prompt": "bench",
                "cost": cost,
                "status": status,
                **mirrors({"status": status, "cost": cost}),
                "createdAt": start + timedelta(seconds=rng.randrange(7 * 24 * 3600)),
            },
        )
        pending += 1
        if pending == 500:
            batch.commit()
            batch, pending = db.batch(), 0
    if pending:
        batch.commit()
    markers = db.collection("weeklyActiveUsers").document(week).collection("users")
    for i in range(0, len(users), 500):
        batch = db.batch()
        for uid in users[i : i + 500]:
            batch.set(markers.document(uid), {"userId": uid, "firstRequestAt": start})
        batch.commit()
    return time.perf_counter() - began


def measure(db, week: str, method: str) -> dict:
    tracemalloc.start()
    began = time.perf_counter()
    report = build_report(db, week, method=method)
    wall = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "wall": wall,
        "peak_mb": peak / 2**20,
        "reads": report["computedWith"]["billedReads"],
        "queries": report["computedWith"]["queries"],
        "report": report,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    db = client()
    print(
        f"{'N':>8} {'method':<12}{'wall s':>8}{'peak MiB':>10}{'queries':>9}{'billed reads':>14}"
        f"{'reads vs scan':>15}{'wall vs scan':>14}"
    )
    for i, n in enumerate(args.sizes):
        week = f"2019-W{10 + i:02d}"
        took = insert_week(db, week, n, seed=i)
        scan = measure(db, week, "scan")
        agg = measure(db, week, "aggregation")
        same = {k: v for k, v in agg["report"].items() if k not in ("computedWith", "byStyle")}
        assert same == {
            k: v for k, v in scan["report"].items() if k not in ("computedWith", "byStyle")
        }, "methods disagree"
        for name, m in (("full scan", scan), ("aggregation", agg)):
            print(
                f"{n:>8} {name:<12}{m['wall']:>8.1f}{m['peak_mb']:>10.1f}{m['queries']:>9}"
                f"{m['reads']:>14}{m['reads'] / scan['reads']:>15.4f}"
                f"{m['wall'] / scan['wall']:>14.2f}"
            )
        print(
            f"{'':>8} (inserted in {took:.0f} s; totals agree: {agg['report']['totalRequests']} "
            f"requests, {agg['report']['uniqueUsers']} users)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
