"""The credit ledger: charge, settle (complete or refund), grant, and read the history.

Every balance change is one atomic Firestore commit that updates `users/{uid}.credits` and
creates the matching `users/{uid}/transactions/{id}` entry, on the condition that the user
document is unchanged since it was read (its `update_time`). That is an optimistic
transaction: under contention it re-reads and retries instead of holding locks, which keeps a
hot user responsive in the emulator and in production alike.

Ledger entry ids are derived from what they pay for (`<requestId>-deduction`,
`<requestId>-refund`), and are written with `create`, so a second refund for the same request
cannot be committed even by a buggy caller.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from . import errors
from .retry import CONFLICTS, GaveUp, RetryPolicy, retry_on_conflict
from .validation import GenerationInput
from .weeks import week_id

USERS = "users"
TRANSACTIONS = "transactions"
REQUESTS = "generationRequests"

PENDING, COMPLETED, FAILED = "pending", "completed", "failed"
QUEUED, PROCESSING, CANCELED = "queued", "processing", "canceled"  # the asynchronous stages
UNSETTLED = (PENDING, QUEUED, PROCESSING)  # charged, not yet completed, failed or canceled
DEDUCTION, REFUND, GRANT = "deduction", "refund", "grant"

CHARGE_POLICY = RetryPolicy(max_attempts=30, deadline_seconds=10.0)
# Settlement must land: a charged request left pending is only repaired by the sweeper.
SETTLE_POLICY = RetryPolicy(max_attempts=200, deadline_seconds=60.0, max_delay=0.5)

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


def ledger_entry_id(request_id: str, kind: str) -> str:
    return f"{request_id}-{kind}"


def _user_ref(client: firestore.Client, user_id: str) -> Any:
    return client.collection(USERS).document(user_id)


def _credits_of(snapshot: Any) -> int:
    credits = (snapshot.to_dict() or {}).get("credits")
    if not isinstance(credits, int) or isinstance(credits, bool):
        raise RuntimeError(f"user {snapshot.id} has no integer credits field")
    return credits


def _unchanged(client: firestore.Client, snapshot: Any) -> Any:
    return client.write_option(last_update_time=snapshot.update_time)


@dataclass(frozen=True)
class ChargeResult:
    request_id: str
    user_id: str
    cost: int
    balance: int
    status: str = PENDING  # the request's status; not pending when it was charged earlier
    request_version: Any = None  # update_time of the request and user written by this charge
    user_version: Any = None


WEEKLY_ACTIVE_USERS = "weeklyActiveUsers"


def outcome_fields(status: str, cost: int) -> dict[str, int]:
    """Numeric mirrors of a request's status, kept in the same writes as the status, so weekly
    reports can use count/sum aggregation queries instead of reading every request."""
    return {
        "isCompleted": int(status == COMPLETED),
        "isFailed": int(status == FAILED),
        "isCanceled": int(status == CANCELED),
        "creditsSpent": cost if status == COMPLETED else 0,
        "creditsRefunded": cost if status in (FAILED, CANCELED) else 0,
    }


OUTCOME_FIELDS: tuple[str, ...] = tuple(outcome_fields(PENDING, 0))


def outcome_patch(data: dict[str, Any]) -> dict[str, int]:
    """The outcome fields a stored request lacks or holds wrongly for its status and cost
    (empty when it is consistent): what a migration writes to documents from elsewhere."""
    cost = data.get("cost")
    if isinstance(cost, bool) or not isinstance(cost, int):
        cost = int(cost) if isinstance(cost, float) and cost == cost else 0
    expected = outcome_fields(str(data.get("status", PENDING)), cost)
    return {k: v for k, v in expected.items() if data.get(k) != v or type(data.get(k)) is not int}


def charge(
    client: firestore.Client,
    order: GenerationInput,
    request_id: str,
    status: str = PENDING,
    extra: dict[str, Any] | None = None,
) -> ChargeResult:
    """Deduct the price of `order` and create its request (`pending`, or `queued` for the
    asynchronous mode, with `extra` fields), atomically.

    Safe to call again with the same `request_id`: once the request exists it charges nothing.
    Raises user_not_found, insufficient_credits, or busy (nothing charged). The same commit
    marks the user active in the request's ISO week (for the report's unique users) when that
    marker does not exist yet; it is read in the same round trip as the user.
    """
    user_ref = _user_ref(client, order.user_id)
    request_ref = client.collection(REQUESTS).document(request_id)
    entry_ref = user_ref.collection(TRANSACTIONS).document(ledger_entry_id(request_id, DEDUCTION))

    def attempt() -> ChargeResult:
        created = datetime.now(UTC)
        marker_ref = (
            client.collection(WEEKLY_ACTIVE_USERS)
            .document(week_id(created))
            .collection("users")
            .document(order.user_id)
        )
        user, existing, marker = _get_many(client, user_ref, request_ref, marker_ref)
        if existing.exists:
            data = existing.to_dict() or {}
            return ChargeResult(
                request_id,
                order.user_id,
                int(data["cost"]),
                _credits_of(user),
                str(data.get("status")),
            )
        if not user.exists:
            raise errors.user_not_found()
        balance = _credits_of(user)
        if balance < order.cost:
            raise errors.insufficient_credits(balance, order.cost)
        new_balance = balance - order.cost
        batch = client.batch()
        batch.update(
            user_ref,
            {"credits": new_balance, "updatedAt": firestore.SERVER_TIMESTAMP},
            option=_unchanged(client, user),
        )
        batch.create(
            request_ref,
            {
                **order.as_payload(),
                "cost": order.cost,
                "status": status,
                **outcome_fields(status, order.cost),
                "createdAt": created,
                **({"queuedAt": created} if status == QUEUED else {}),
                **(extra or {}),
                "updatedAt": firestore.SERVER_TIMESTAMP,
            },
        )
        batch.create(
            entry_ref,
            {
                "type": DEDUCTION,
                "credits": order.cost,
                "generationRequestId": request_id,
                "balanceAfter": new_balance,
                "timestamp": firestore.SERVER_TIMESTAMP,
            },
        )
        if not marker.exists:  # once per user and week: read, not write
            batch.set(marker_ref, {"userId": order.user_id, "firstRequestAt": created})
        user_written, request_written, *_ = batch.commit()
        return ChargeResult(
            request_id,
            order.user_id,
            order.cost,
            new_balance,
            status,
            request_written.update_time,
            user_written.update_time,
        )

    try:
        return retry_on_conflict(attempt, CHARGE_POLICY)
    except GaveUp:
        raise errors.busy("this user's credits") from None


def _get_many(client: firestore.Client, *refs: Any) -> list[Any]:
    """Read documents in one round trip, returned in the order asked."""
    by_path = {snap.reference.path: snap for snap in client.get_all(list(refs))}
    return [by_path[ref.path] for ref in refs]


@dataclass(frozen=True)
class Settlement:
    """The final state of a request; `settled_now` is False when someone else settled it."""

    status: str
    refunded: int
    settled_now: bool
    image_url: str | None = None


@dataclass(frozen=True)
class Failure:
    """Why a charged request ends without an image: its final status, a classified kind
    (model-error, timeout, canceled, enqueue-failed) and a message."""

    reason: str
    kind: str = "model-error"
    status: str = FAILED


def complete(
    client: firestore.Client, request_id: str, image_url: str, charged: ChargeResult | None = None
) -> Settlement:
    """Mark an unsettled request completed with its image. No effect on a settled request."""
    return _settle(client, request_id, image_url, None, charged)


def refund(
    client: firestore.Client,
    request_id: str,
    reason: str,
    charged: ChargeResult | None = None,
    kind: str = "model-error",
) -> Settlement:
    """Mark an unsettled request failed and give its credits back, exactly once."""
    return _settle(client, request_id, None, Failure(reason, kind), charged)


def cancel(client: firestore.Client, request_id: str) -> Settlement:
    """Cancel a request that is still queued and refund it, exactly once; a request that is
    processing or finished is left as it is (`settled_now` False, its current status)."""
    failure = Failure("canceled by the user", "canceled", CANCELED)
    return _settle(client, request_id, None, failure, None, only_from=(QUEUED,))


def start_processing(client: firestore.Client, request_id: str) -> dict[str, Any] | None:
    """Move a queued request to `processing` and return it; a request already processing
    (a retried task) is returned as it is; a settled or canceled one gives None."""
    ref = client.collection(REQUESTS).document(request_id)

    def attempt() -> dict[str, Any] | None:
        snap = ref.get()
        data = snap.to_dict() if snap.exists else None
        if data is None or data.get("status") not in (QUEUED, PROCESSING):
            return None
        if data["status"] == QUEUED:
            ref.update(
                {
                    "status": PROCESSING,
                    "processingAt": firestore.SERVER_TIMESTAMP,
                    "updatedAt": firestore.SERVER_TIMESTAMP,
                },
                option=_unchanged(client, snap),
            )
        return data

    return retry_on_conflict(attempt, SETTLE_POLICY)


def _settled(data: dict[str, Any]) -> Settlement:
    return Settlement(
        str(data.get("status", "")),
        int(data.get("refundedCredits", 0)),
        False,
        data.get("imageUrl"),
    )


def current_settlement(client: firestore.Client, request_id: str) -> Settlement:
    """How an already settled request ended."""
    snap = client.collection(REQUESTS).document(request_id).get()
    if not snap.exists:
        raise errors.request_not_found()
    return _settled(snap.to_dict() or {})


@dataclass(frozen=True)
class _Pending:
    """What settling needs to know about an unsettled request, and the versions it was read at."""

    request_id: str
    user_id: str
    cost: int
    stage: str
    request_version: Any
    balance: int | None = None
    user_version: Any = None


def _commit_settlement(
    client: firestore.Client, p: _Pending, image_url: str | None, failure: Failure | None
) -> Settlement:
    """One atomic commit, valid only if the request (and for a refund, the user) is unchanged."""
    request_ref = client.collection(REQUESTS).document(p.request_id)
    unchanged_request = client.write_option(last_update_time=p.request_version)
    batch = client.batch()
    if failure is None:
        fields = {
            "status": COMPLETED,
            **outcome_fields(COMPLETED, p.cost),
            "imageUrl": image_url,
            "completedAt": firestore.SERVER_TIMESTAMP,
        }
        batch.update(
            request_ref,
            {**fields, "updatedAt": firestore.SERVER_TIMESTAMP},
            option=unchanged_request,
        )
        batch.commit()
        return Settlement(COMPLETED, 0, True, image_url)
    if p.balance is None:
        raise RuntimeError("a refund needs the user's balance")
    user_ref = _user_ref(client, p.user_id)
    new_balance = p.balance + p.cost
    batch.update(
        request_ref,
        {
            "status": failure.status,
            **outcome_fields(failure.status, p.cost),
            "failureReason": failure.reason,
            "failureKind": failure.kind,
            "failureStage": p.stage,
            "refundedCredits": p.cost,
            f"{failure.status}At": firestore.SERVER_TIMESTAMP,
            "updatedAt": firestore.SERVER_TIMESTAMP,
        },
        option=unchanged_request,
    )
    batch.update(
        user_ref,
        {"credits": new_balance, "updatedAt": firestore.SERVER_TIMESTAMP},
        option=client.write_option(last_update_time=p.user_version),
    )
    batch.create(
        user_ref.collection(TRANSACTIONS).document(ledger_entry_id(p.request_id, REFUND)),
        {
            "type": REFUND,
            "credits": p.cost,
            "generationRequestId": p.request_id,
            "balanceAfter": new_balance,
            "timestamp": firestore.SERVER_TIMESTAMP,
        },
    )
    batch.commit()
    return Settlement(failure.status, p.cost, True)


def _settle(
    client: firestore.Client,
    request_id: str,
    image_url: str | None,
    failure: Failure | None,
    charged: ChargeResult | None,
    only_from: tuple[str, ...] = UNSETTLED,
) -> Settlement:
    # Fast path: right after our own charge, the versions that commit produced are still
    # current unless someone else wrote since; then the settlement needs no read at all.
    if charged is not None and charged.request_version is not None:
        known = _Pending(
            request_id,
            charged.user_id,
            charged.cost,
            charged.status,
            charged.request_version,
            charged.balance,
            charged.user_version,
        )
        try:
            return _commit_settlement(client, known, image_url, failure)
        except CONFLICTS:
            pass  # someone else wrote first: read the current state below
    request_ref = client.collection(REQUESTS).document(request_id)

    def attempt() -> Settlement:
        request = request_ref.get()
        if not request.exists:
            raise errors.request_not_found()
        data = request.to_dict() or {}
        if data.get("status") not in only_from:
            return _settled(data)
        pending = _Pending(
            request_id, str(data["userId"]), int(data["cost"]), data["status"], request.update_time
        )
        if failure is not None:
            user = _user_ref(client, pending.user_id).get()
            pending = _Pending(
                request_id,
                pending.user_id,
                pending.cost,
                pending.stage,
                request.update_time,
                _credits_of(user),
                user.update_time,
            )
        return _commit_settlement(client, pending, image_url, failure)

    return retry_on_conflict(attempt, SETTLE_POLICY)


@dataclass(frozen=True)
class LedgerPage:
    balance: int
    entries: list[dict[str, Any]]
    next_page_token: str | None


def encode_page_token(entry_id: str) -> str:
    return base64.urlsafe_b64encode(entry_id.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> str:
    try:
        entry_id = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        entry_id = ""
    if not entry_id or "/" in entry_id:
        raise errors.invalid_field("pageToken", "Invalid pageToken.")
    return entry_id


def read_ledger(
    client: firestore.Client, user_id: str, page_size: int, page_token: str | None
) -> LedgerPage:
    """The balance and one page of the ledger, newest first."""
    user_ref = _user_ref(client, user_id)
    user = user_ref.get()
    if not user.exists:
        raise errors.user_not_found()
    entries_ref = user_ref.collection(TRANSACTIONS)
    query = entries_ref.order_by("timestamp", direction=firestore.Query.DESCENDING).order_by(
        "__name__", direction=firestore.Query.DESCENDING
    )
    docs, token = _page(query, entries_ref, page_size, page_token, lambda data: True)
    entries = [ledger_entry_json(doc.id, doc.to_dict() or {}) for doc in docs]
    return LedgerPage(_credits_of(user), entries, token)


def _page(
    query: Any,
    collection: Any,
    page_size: int,
    page_token: str | None,
    belongs: Callable[[dict[str, Any]], bool],
) -> tuple[list[Any], str | None]:
    """One page of `query` after the document named by `page_token` (which must exist in
    `collection` and satisfy `belongs`), and the token of the next page (None at the end)."""
    if page_token:
        cursor = collection.document(decode_page_token(page_token)).get()
        if not cursor.exists or not belongs(cursor.to_dict() or {}):
            raise errors.invalid_field("pageToken", "Invalid pageToken.")
        query = query.start_after(cursor)
    docs = list(query.limit(page_size + 1).stream())
    token = encode_page_token(docs[page_size - 1].id) if len(docs) > page_size else None
    return docs[:page_size], token


def list_requests(
    client: firestore.Client,
    user_id: str,
    status: str | None,
    model: str | None,
    page_size: int,
    page_token: str | None,
) -> tuple[list[Any], str | None]:
    """One page of a user's generation requests, newest first, optionally filtered."""
    requests = client.collection(REQUESTS)
    query = requests.where(filter=FieldFilter("userId", "==", user_id))
    if status:
        query = query.where(filter=FieldFilter("status", "==", status))
    if model:
        query = query.where(filter=FieldFilter("model", "==", model))
    query = query.order_by("createdAt", direction=firestore.Query.DESCENDING).order_by(
        "__name__", direction=firestore.Query.DESCENDING
    )
    return _page(query, requests, page_size, page_token, lambda data: data.get("userId") == user_id)


def ledger_entry_json(entry_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """A ledger entry as the API shows it."""
    return {
        "id": entry_id,
        "type": data.get("type"),
        "credits": data.get("credits"),
        "generationRequestId": data.get("generationRequestId"),
        "timestamp": iso(data.get("timestamp")),
        **({"balanceAfter": data["balanceAfter"]} if "balanceAfter" in data else {}),
        **({"reason": data["reason"]} if "reason" in data else {}),
    }


def iso(value: Any) -> str | None:
    """A Firestore timestamp as ISO 8601 UTC text (None stays None)."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return None


MAX_GRANT = 1_000_000


def grant(
    client: firestore.Client, user_id: str, credits: int, reason: str, entry_id: str
) -> tuple[int, bool]:
    """Add `credits` to a user (created if missing) with a `grant` ledger entry, atomically.

    `entry_id` makes the grant idempotent: a second grant with the same id changes nothing.
    Returns (balance after, whether this call granted).
    """
    user_ref = _user_ref(client, user_id)
    entry_ref = user_ref.collection(TRANSACTIONS).document(entry_id)

    def attempt() -> tuple[int, bool]:
        user, existing = _get_many(client, user_ref, entry_ref)
        if existing.exists:
            return (_credits_of(user) if user.exists else 0), False
        balance = _credits_of(user) if user.exists else 0
        new_balance = balance + credits
        batch = client.batch()
        if user.exists:
            batch.update(
                user_ref,
                {"credits": new_balance, "updatedAt": firestore.SERVER_TIMESTAMP},
                option=_unchanged(client, user),
            )
        else:
            batch.create(
                user_ref,
                {
                    "credits": new_balance,
                    "createdAt": firestore.SERVER_TIMESTAMP,
                    "updatedAt": firestore.SERVER_TIMESTAMP,
                },
            )
        batch.create(
            entry_ref,
            {
                "type": GRANT,
                "credits": credits,
                "reason": reason,
                "balanceAfter": new_balance,
                "timestamp": firestore.SERVER_TIMESTAMP,
            },
        )
        batch.commit()
        return new_balance, True

    try:
        return retry_on_conflict(attempt, CHARGE_POLICY)
    except GaveUp:
        raise errors.busy("this user's credits") from None
