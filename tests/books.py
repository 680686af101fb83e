"""Test helpers that read the books straight from Firestore."""

from __future__ import annotations

from collections import Counter
from typing import Any


def balance(db: Any, uid: str) -> int:
    return db.collection("users").document(uid).get().to_dict()["credits"]


def ledger(db: Any, uid: str) -> list[dict[str, Any]]:
    docs = db.collection("users").document(uid).collection("transactions").stream()
    return [{"id": d.id, **d.to_dict()} for d in docs]


def entries_for(db: Any, uid: str, rid: str, kind: str = "refund") -> list[dict[str, Any]]:
    """The ledger entries of `kind` that name request `rid`, by id."""
    found = (e for e in ledger(db, uid) if e["type"] == kind and e["generationRequestId"] == rid)
    return sorted(found, key=lambda e: e["id"])


def requests_of(db: Any, uid: str) -> list[dict[str, Any]]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = db.collection("generationRequests").where(filter=FieldFilter("userId", "==", uid))
    docs = query.stream()
    return [{"id": d.id, **d.to_dict()} for d in docs]


def stored_images(uid: str) -> set[str]:
    """Request ids of the images stored for `uid` in the bucket (through the emulator)."""
    from imagegen.providers.image_store import request_id_of

    return {request_id_of(path) for path in stored_paths(uid)}


def stored_paths(uid: str) -> set[str]:
    """Object paths of the images stored for `uid` in the bucket (through the emulator)."""
    from imagegen.operations.wiring import images
    from imagegen.providers.image_store import PREFIX

    return set(images().paths(f"{PREFIX}/{uid}/"))


def request_doc(db: Any, request_id: str) -> dict[str, Any] | None:
    snap = db.collection("generationRequests").document(request_id).get()
    return snap.to_dict() if snap.exists else None


BATCH = 500  # users read together: one batched get, one query for their requests


def check_books(db: Any, uids: list[str]) -> list[str]:
    """Every violation of invariants 1-3 (docs/design.md) for these users (empty when clean).
    Reads BATCH users at a time, in id order: their documents in one get, their requests in
    one range query on userId (the emulator scans the whole collection for each query, so one
    query rather than one `in` query per 30 users; other users' requests are left aside)."""
    from concurrent.futures import ThreadPoolExecutor

    from google.cloud.firestore_v1.base_query import FieldFilter

    problems: list[str] = []
    uids = sorted(set(uids))
    with ThreadPoolExecutor(8) as pool:
        for start in range(0, len(uids), BATCH):
            batch = uids[start : start + BATCH]
            refs = [db.collection("users").document(uid) for uid in batch]
            snaps = {snap.id: snap for snap in db.get_all(refs) if snap.exists}
            found = [uid for uid in batch if uid in snaps]
            if not found:
                continue
            query = (
                db.collection("generationRequests")
                .where(filter=FieldFilter("userId", ">=", found[0]))
                .where(filter=FieldFilter("userId", "<=", found[-1]))
            )
            requests: dict[str, list[dict[str, Any]]] = {uid: [] for uid in found}
            for d in query.stream():
                if d.get("userId") in requests:
                    requests[d.get("userId")].append({"id": d.id, **d.to_dict()})
            ledgers = pool.map(lambda uid: ledger(db, uid), found)
            for uid, entries in zip(found, ledgers, strict=True):
                credits = snaps[uid].to_dict().get("credits")
                problems += _user_problems(uid, credits, entries, requests[uid])
    return problems


def _user_problems(
    uid: str, credits: Any, entries: list[dict[str, Any]], requests: list[dict[str, Any]]
) -> list[str]:
    problems: list[str] = []
    sums: Counter[str] = Counter()
    for e in entries:
        sums[e["type"]] += e["credits"]
        if not isinstance(e["credits"], int) or e["credits"] <= 0:
            problems.append(f"{uid}: ledger entry {e['id']} has credits {e['credits']!r}")
    expected = (
        sums["grant"]
        + sums["purchase"]
        + sums["refund"]
        + sums["reinstatement"]
        - sums["deduction"]
        - sums["reversal"]
        - sums["forfeit"]
    )
    if credits != expected:
        problems.append(f"{uid}: credits {credits} != ledger {expected} ({dict(sums)})")
    if not isinstance(credits, int) or credits < 0:
        problems.append(f"{uid}: balance {credits!r} is negative or not an integer")
    deductions = Counter(e.get("generationRequestId") for e in entries if e["type"] == "deduction")
    refunds = Counter(e.get("generationRequestId") for e in entries if e["type"] == "refund")
    refunded: Counter[str] = Counter()
    for e in entries:
        if e["type"] == "refund":
            refunded[e.get("generationRequestId")] += e["credits"]
    for req in requests:
        rid, status = req["id"], req.get("status")
        n = req.get("numImages", 1)
        failed_images = [i for i in req.get("images", []) if i.get("status") == "failed"]
        if deductions[rid] != 1:
            problems.append(f"{uid}: request {rid} has {deductions[rid]} deductions")
        if status == "completed" and n == 1 and refunds[rid]:
            problems.append(f"{uid}: completed request {rid} was refunded")
        if status == "completed" and n > 1:
            # one refund per failed image, of an equal share of the cost (the last takes the rest)
            shares = [
                req["cost"] // n + (req["cost"] % n if i["index"] == n - 1 else 0)
                for i in failed_images
            ]
            if refunds[rid] != len(failed_images) or refunded[rid] != sum(shares):
                problems.append(
                    f"{uid}: completed request {rid} with {len(failed_images)} failed images "
                    f"has {refunds[rid]} refunds of {refunded[rid]} credits"
                )
        if status in ("failed", "canceled") and (refunds[rid], refunded[rid]) != (n, req["cost"]):
            problems.append(
                f"{uid}: {status} request {rid} has {refunds[rid]} refunds of {refunded[rid]}"
            )
        if status not in ("completed", "failed", "canceled"):
            problems.append(f"{uid}: request {rid} is still {status}")
    return problems
