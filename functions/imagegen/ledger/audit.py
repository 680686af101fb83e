"""Ledger audit: check the invariants 1-3, 7 and 8 of docs/design.md (numbered as there) over
every user and request.

1. credits == granted + purchased + refunded + reinstated - deducted - reversed, summed over
   the user's ledger;
2. a balance is never negative;
3. every charged request is completed with a refund for each failed image only (none for a
   one-image request), or failed/canceled with its whole cost refunded (one entry; one per
   image for a request of several), and none stays unsettled past the timeout;
7. every completed image of a request is in the bucket (a purged request has none), and no
   image exists without a completed image of a completed, unpurged request;
8. every paid purchase has exactly one `purchase` entry of its credits, no other purchase has
   one, and its reversal and reinstatement entries add up to its `reversedCredits`.
`check_user`, `check_images` and `check_purchases` are pure; `audit` reads Firestore a batch of
users at a time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from imagegen.core.vocabulary import (
    CREDITING,
    DEBITING,
    PURCHASES,
    REQUESTS,
    SETTLED,
    TRANSACTIONS,
    UNSETTLED,
    USERS,
    EntryType,
    RequestStatus,
)
from imagegen.providers.image_store import PREFIX, ImageStore, request_id_of
from imagegen.records.request_record import (
    COST,
    CREATED_AT,
    IMAGES,
    PURGED_AT,
    STATUS,
    USER_ID,
    ImageStatus,
    num_images_of,
    refund_shares,
    stored_paths,
    whole_credits,
)


def check_user(
    uid: str,
    credits: Any,
    entries: Iterable[Mapping[str, Any]],
    requests: Iterable[Mapping[str, Any]],
    stuck_before: datetime | None,
) -> list[str]:
    """Every invariant violation for one user (empty when the books are clean)."""
    problems: list[str] = []
    sums: Counter[str] = Counter()
    deductions: Counter[str] = Counter()
    refunds: Counter[str] = Counter()
    refunded: Counter[str] = Counter()
    for e in entries:
        amount, kind = e.get("credits"), e.get("type")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            problems.append(f"{uid}: ledger entry {e.get('id')} has credits {amount!r}")
            continue
        if kind not in tuple(EntryType):
            problems.append(f"{uid}: ledger entry {e.get('id')} has type {kind!r}")
            continue
        sums[kind] += amount
        if kind == EntryType.DEDUCTION:
            deductions[str(e.get("generationRequestId"))] += 1
        elif kind == EntryType.REFUND:
            refunds[str(e.get("generationRequestId"))] += 1
            refunded[str(e.get("generationRequestId"))] += amount
    expected = sum(sums[k] for k in CREDITING) - sum(sums[k] for k in DEBITING)
    if not isinstance(credits, int) or isinstance(credits, bool):
        problems.append(f"{uid}: credits {credits!r} is not an integer")
    else:
        if credits != expected:
            detail = ", ".join(f"{k} {sums[k]}" for k in EntryType if sums[k])
            problems.append(f"{uid}: credits {credits} != ledger {expected} ({detail})")
        if credits < 0:
            problems.append(f"{uid}: balance {credits} is negative")
    seen: set[str] = set()
    for r in requests:
        rid, status = str(r.get("id")), r.get(STATUS)
        seen.add(rid)
        if deductions[rid] != 1:
            problems.append(f"{uid}: request {rid} has {deductions[rid]} deductions")
        if status in SETTLED:
            owed = refunds_owed(r)
            if (refunds[rid], refunded[rid]) != owed:
                problems.append(
                    f"{uid}: {status} request {rid} has {refunds[rid]} refunds of "
                    f"{refunded[rid]} credits; owed {owed[0]} of {owed[1]}"
                )
            images = r.get(IMAGES)
            settled_images = images if isinstance(images, list) else []
            if any(
                not isinstance(i, Mapping) or i.get(STATUS) == ImageStatus.PENDING
                for i in settled_images
            ) or (settled_images and len(settled_images) != num_images_of(r)):
                # e.g. settled by a version that knew nothing of several images
                problems.append(f"{uid}: {status} request {rid} has images left unsettled")
        elif status in UNSETTLED:
            created = r.get(CREATED_AT)
            if refunds[rid]:
                problems.append(f"{uid}: {status} request {rid} was already refunded")
            if stuck_before is None or (isinstance(created, datetime) and created < stuck_before):
                problems.append(f"{uid}: request {rid} is stuck {status} since {created}")
        else:
            problems.append(f"{uid}: request {rid} has status {status!r}")
    for rid in set(deductions) - seen:
        problems.append(f"{uid}: deduction for unknown request {rid}")
    return problems


def refunds_owed(request: Mapping[str, Any]) -> tuple[int, int]:
    """(refund entries, credits) a settled request's ledger must hold: none for a completed
    one-image request; a failed or canceled one its whole cost (one entry per image); a
    completed request of several the share of each image its `images` list as failed."""
    cost, n = whole_credits(request.get(COST)), num_images_of(request)
    if request.get(STATUS) == RequestStatus.COMPLETED:
        images = request.get(IMAGES)
        failed = [
            int(i.get("index", -1))
            for i in (images if isinstance(images, list) else [])
            if isinstance(i, Mapping) and i.get(STATUS) == ImageStatus.FAILED
        ]
        shares = refund_shares(cost, n, failed) if n > 1 else {}
    else:
        shares = refund_shares(cost, n, range(n))
    return len(shares), sum(shares.values())


def check_purchases(
    uid: str, entries: Iterable[Mapping[str, Any]], purchases: Iterable[Mapping[str, Any]]
) -> list[str]:
    """Invariant 8: the ledger's purchase, reversal and reinstatement entries match the
    user's purchases."""
    problems: list[str] = []
    bought: Counter[str] = Counter()
    bought_credits: Counter[str] = Counter()
    reversed_net: Counter[str] = Counter()
    for e in entries:
        pid = str(e.get("purchaseId"))
        if e.get("type") == EntryType.PURCHASE:
            bought[pid] += 1
            bought_credits[pid] += int(e.get("credits", 0))
        elif e.get("type") == EntryType.REVERSAL:
            reversed_net[pid] += int(e.get("credits", 0))
        elif e.get("type") == EntryType.REINSTATEMENT:
            reversed_net[pid] -= int(e.get("credits", 0))
    known = set()
    for p in purchases:
        pid = str(p.get("id"))
        known.add(pid)
        if p.get("status") == "paid":
            if bought[pid] != 1 or bought_credits[pid] != p.get("credits"):
                problems.append(
                    f"{uid}: paid purchase {pid} has {bought[pid]} purchase entries "
                    f"({bought_credits[pid]} credits, expected {p.get('credits')})"
                )
        elif bought[pid]:
            problems.append(f"{uid}: {p.get('status')} purchase {pid} has a purchase entry")
        if reversed_net[pid] != int(p.get("reversedCredits", 0)):
            problems.append(
                f"{uid}: purchase {pid} reversed {reversed_net[pid]} credits in the ledger, "
                f"{p.get('reversedCredits', 0)} on the purchase"
            )
    for pid in sorted((set(bought) | set(reversed_net)) - known):
        problems.append(f"{uid}: ledger entries for unknown purchase {pid}")
    return problems


def check_images(
    uid: str, requests: Iterable[Mapping[str, Any]], stored: Iterable[str]
) -> list[str]:
    """Every completed image of a completed request is stored, and every stored object
    (`stored`: object paths) belongs to a completed image of a completed request (or to a
    request still unsettled, about to settle or be swept)."""
    requests = list(requests)
    by_id = {str(r.get("id")): r for r in requests}
    stored = set(stored)
    stored_ids = {request_id_of(path) for path in stored}
    problems = []
    for rid, r in sorted(by_id.items()):
        if r.get(STATUS) != RequestStatus.COMPLETED or r.get(PURGED_AT):
            continue
        kept = stored_paths(r.get(IMAGES))
        if not kept:  # a request from before `images`: its image is named after it
            if rid not in stored_ids:
                problems.append(f"{uid}: completed request {rid} has no stored image")
            continue
        problems += [
            f"{uid}: completed image {path} of request {rid} is not stored"
            for path in kept
            if path not in stored
        ]
    for path in sorted(stored):
        rid = request_id_of(path)
        found = by_id.get(rid)
        if found is None:
            problems.append(f"{uid}: image {path} is stored for an unknown request")
            continue
        r, status = found, found.get(STATUS)
        if r.get(PURGED_AT):
            problems.append(f"{uid}: image {path} is stored for a purged request")
        elif status in UNSETTLED:
            continue
        elif status != RequestStatus.COMPLETED:
            problems.append(f"{uid}: image {path} is stored for a {status} request")
        elif (kept := stored_paths(r.get(IMAGES))) and path not in kept:
            problems.append(f"{uid}: image {path} is stored for a failed image of {rid}")
    return problems


AUDIT_BATCH = 30  # users read together: one batched get and one `in` query (30 values at most)
# In the audit of every user, users are read in id order, RANGE_BATCH at a time, with their
# requests in one range query on userId: the same documents as the `in` queries read (and any
# request of a user that does not exist), in one query instead of one per 30 users (the
# emulator scans the whole collection for each query).
RANGE_BATCH = 500
AUDIT_READERS = 8  # users whose ledger and purchases are read at once


def _documents(query: Any) -> list[dict[str, Any]]:
    return [{"id": d.id, **(d.to_dict() or {})} for d in query.stream()]


def _read_books(
    client: firestore.Client, uids: list[str], pool: ThreadPoolExecutor, by_range: bool = False
) -> list[tuple[str, Any, list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]]:
    """(uid, credits, ledger entries, requests, purchases) of each of `uids` that exists: the
    users in one batched get, their requests in one query, the ledgers and purchases of several
    users at once. The query is an `in` query (AUDIT_BATCH users at most), or with `by_range`
    (`uids` sorted, and no other user's id between the first and the last) a range query."""
    users = client.collection(USERS)
    snaps = {snap.id: snap for snap in client.get_all([users.document(uid) for uid in uids])}
    found = [uid for uid in uids if uid in snaps and snaps[uid].exists]
    if not found:
        return []
    requests: dict[str, list[dict[str, Any]]] = defaultdict(list)
    query: Any = client.collection(REQUESTS)
    if by_range:
        query = query.where(filter=FieldFilter(USER_ID, ">=", uids[0])).where(
            filter=FieldFilter(USER_ID, "<=", uids[-1])
        )
    else:
        query = query.where(filter=FieldFilter(USER_ID, "in", found))
    for r in _documents(query):
        requests[str(r.get(USER_ID))].append(r)  # those of ids that are no user's: unused
    entries = pool.map(lambda uid: _documents(users.document(uid).collection(TRANSACTIONS)), found)
    bought = pool.map(lambda uid: _documents(users.document(uid).collection(PURCHASES)), found)
    return [
        (uid, (snaps[uid].to_dict() or {}).get("credits"), e, requests[uid], p)
        for uid, e, p in zip(found, entries, bought, strict=True)
    ]


def _check_books(
    uid: str,
    credits: Any,
    entries: list[dict[str, Any]],
    requests: list[dict[str, Any]],
    purchases: list[dict[str, Any]],
    stuck_before: datetime | None,
    stored_images: Iterable[str] | None,
) -> list[str]:
    problems = check_user(uid, credits, entries, requests, stuck_before)
    problems += check_purchases(uid, entries, purchases)
    if stored_images is not None:
        problems += check_images(uid, requests, stored_images)
    return problems


def audit_user(
    client: firestore.Client,
    uid: str,
    stuck_before: datetime | None,
    stored_images: Iterable[str] | None = None,
) -> list[str]:
    """Check one user's books; with `stored_images` (object paths), their images too."""
    with ThreadPoolExecutor(1) as pool:
        books = _read_books(client, [uid], pool)
    return [
        problem
        for uid_, credits, entries, requests, purchases in books
        for problem in _check_books(
            uid_, credits, entries, requests, purchases, stuck_before, stored_images
        )
    ]


def _stored_by_user(images: ImageStore, prefix: str) -> dict[str, set[str]]:
    """The paths of the stored images under `prefix`, by user."""
    by_user: dict[str, set[str]] = defaultdict(set)
    for path in images.paths(prefix):
        parts = path.split("/")
        if len(parts) in (3, 4):
            by_user[parts[1]].add(path)
    return by_user


def audit(
    client: firestore.Client,
    now: datetime,
    pending_timeout: timedelta,
    user_ids: Iterable[str] | None = None,
    images: ImageStore | None = None,
) -> dict[str, Any]:
    """Audit the given users (default: every user); requests pending past the timeout count.
    With `images`, stored images are checked against completed requests as well (for every
    user, images stored under a user that does not exist are reported too)."""
    problems: list[str] = []
    stored: dict[str, set[str]] | None = None
    if user_ids is not None:
        uids = list(user_ids)
        if images is not None:
            stored = {uid: _stored_by_user(images, f"{PREFIX}/{uid}/")[uid] for uid in uids}
    else:
        uids = sorted(ref.id for ref in client.collection(USERS).list_documents())
        if images is not None:
            stored = _stored_by_user(images, f"{PREFIX}/")
            problems += [
                f"{uid}: {len(stored[uid])} image(s) stored for a user that does not exist"
                for uid in sorted(set(stored) - set(uids))
            ]
    by_range = user_ids is None  # every user, in id order: consecutive users share a range
    batch = RANGE_BATCH if by_range else AUDIT_BATCH
    with ThreadPoolExecutor(AUDIT_READERS) as pool:
        for start in range(0, len(uids), batch):
            for uid, credits, entries, requests, purchases in _read_books(
                client, uids[start : start + batch], pool, by_range
            ):
                user_images = None if stored is None else stored.get(uid, set())
                problems += _check_books(
                    uid, credits, entries, requests, purchases, now - pending_timeout, user_images
                )
    return {"usersChecked": len(uids), "clean": not problems, "discrepancies": problems}
