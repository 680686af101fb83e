"""Weekly reports count images beside requests, over any mix of documents from before several
images per request (one image, no image counts) and after (several, partially refunded)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from imagegen.reporting.outcomes import mirror_patch, mirrors, outcome
from imagegen.reporting.report_rules import Bucket, WeekAggregate, report_totals

MODELS = ("model-a", "model-b")
SIZES = {"512x512": 1, "1024x1024": 3}
SETTLED = ("completed", "failed", "canceled")


@st.composite
def request_doc(draw: Any) -> dict[str, Any]:
    """A request document as some version wrote it: an older one-image document (with or
    without the old outcome fields) or one of several images, settled or not."""
    size = draw(st.sampled_from(list(SIZES)))
    doc: dict[str, Any] = {"model": draw(st.sampled_from(MODELS)), "size": size, "userId": "u"}
    status = draw(st.sampled_from((*SETTLED, "pending", "queued")))
    if draw(st.booleans()):  # before several images: one image, the contract's fields
        doc.update(status=status, cost=SIZES[size])
        if status == "failed":
            doc["refundedCredits"] = SIZES[size]
        if draw(st.booleans()):
            doc.update(mirrors(doc))
            for name in ("numImages", "imagesCompleted", "imagesFailed"):
                doc.pop(name)  # the old outcome fields only
        return doc
    n = draw(st.integers(1, 4))
    unit = SIZES[size]
    doc.update(status=status, cost=n * unit, numImages=n)
    if status == "completed":
        stored = draw(st.integers(1, n))
        doc.update(imagesCompleted=stored, imagesFailed=n - stored)
        doc.update(refundedCredits=(n - stored) * unit, creditsSpent=stored * unit)
        doc.update(creditsRefunded=(n - stored) * unit, isCompleted=1, isFailed=0, isCanceled=0)
    elif status in ("failed", "canceled"):
        doc.update(imagesCompleted=0, imagesFailed=n, refundedCredits=n * unit)
        doc.update(mirrors(doc))
    else:
        doc.update(mirrors(doc))
    return doc


def aggregated(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the aggregation queries sum, per model and size, after the migration."""
    patched = [{**d, **mirror_patch(d)} for d in docs]

    def bucket(part: list[dict[str, Any]]) -> Bucket:
        b = Bucket(total=len(part))
        for d in part:
            b.completed += d["isCompleted"]
            b.failed += d["isFailed"]
            b.canceled += d["isCanceled"]
            b.credits += d["creditsSpent"]
            b.refunded += d["creditsRefunded"]
            b.images += d["numImages"]
            b.images_generated += d["imagesCompleted"]
            b.images_failed += d["imagesFailed"]
        b.pending = b.total - b.completed - b.failed - b.canceled
        return b

    by = {
        "byModel": {m: bucket([d for d in patched if d["model"] == m]) for m in MODELS},
        "bySize": {s: bucket([d for d in patched if d["size"] == s]) for s in SIZES},
    }
    return report_totals(bucket(patched), by, 1)


@settings(max_examples=60)
@given(st.lists(request_doc(), max_size=12))
def test_images_and_credits_add_up_on_both_paths(docs):
    totals = WeekAggregate().add_all(docs).totals()
    settled = [d for d in docs if d["status"] in SETTLED]
    unsettled_images = sum(d.get("numImages", 1) for d in docs if d["status"] not in SETTLED)
    assert totals["imagesRequested"] == sum(d.get("numImages", 1) for d in docs)
    assert (
        totals["imagesGenerated"] + totals["imagesFailed"]
        == totals["imagesRequested"] - unsettled_images
    )
    charged = sum(d["cost"] for d in settled)
    assert totals["totalCreditsSpent"] + totals["totalCreditsRefunded"] == charged
    for name, keys in (("byModel", MODELS), ("bySize", SIZES)):
        rows = [totals[name][k] for k in keys if k in totals[name]]
        assert sum(r["imagesRequested"] for r in rows) == totals["imagesRequested"]
        assert sum(r["imagesGenerated"] for r in rows) == totals["imagesGenerated"]
        assert sum(r["credits"] for r in rows) == totals["totalCreditsSpent"]
    fast = aggregated(docs)
    for key in ("imagesRequested", "imagesGenerated", "imagesFailed", "totalCreditsSpent"):
        assert fast[key] == totals[key], key
    assert fast["totalCreditsRefunded"] == totals["totalCreditsRefunded"]
    assert fast["byModel"] == totals["byModel"] and fast["bySize"] == totals["bySize"]


@settings(max_examples=40)
@given(request_doc())
def test_the_migration_fills_what_is_missing_and_is_idempotent(doc):
    patch = mirror_patch(doc)
    migrated = {**doc, **patch}
    assert mirror_patch(migrated) == {}
    assert outcome(migrated) == outcome(doc)
    for name in ("numImages", "imagesCompleted", "imagesFailed", "creditsSpent"):
        if name in doc:
            assert name not in patch, name  # what settlement wrote stays


def test_a_partial_request_keeps_its_credits_net_of_its_refunds():
    partial = {
        "status": "completed",
        "cost": 12,
        "numImages": 4,
        "refundedCredits": 6,
        "imagesCompleted": 2,
        "imagesFailed": 2,
        "creditsSpent": 6,
        "creditsRefunded": 6,
        "isCompleted": 1,
        "isFailed": 0,
        "isCanceled": 0,
    }
    assert mirror_patch(partial) == {}  # not put back to its full cost
    legacy = {"status": "canceled", "cost": 3}
    assert mirror_patch(legacy) == {
        "isCompleted": 0,
        "isFailed": 0,
        "isCanceled": 1,
        "creditsSpent": 0,
        "creditsRefunded": 3,
        "numImages": 1,
        "imagesCompleted": 0,
        "imagesFailed": 1,
    }
    # Without image counts, the images' statuses decide.
    listed = {"status": "completed", "cost": 2, "numImages": 2, "refundedCredits": 1}
    listed["images"] = [{"index": 0, "status": "completed"}, {"index": 1, "status": "failed"}]
    counted = outcome(listed)
    assert (counted.generated, counted.failed_images, counted.spent, counted.refunded) == (
        1,
        1,
        1,
        1,
    )
    totals = WeekAggregate().add_all([partial, legacy, {**legacy, "status": "pending"}]).totals()
    assert (totals["imagesRequested"], totals["imagesGenerated"], totals["imagesFailed"]) == (
        6,
        2,
        3,
    )
    assert (totals["totalCreditsSpent"], totals["totalCreditsRefunded"]) == (6, 9)
    assert totals["byModel"]["unknown"]["imagesRequested"] == 6
    assert "imagesRequested" not in totals["byStyle"]["unknown"]  # requests only
