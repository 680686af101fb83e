"""Idempotency keys for createGenerationRequest, with Stripe's semantics.

The first outcome for (user, key) is stored and replayed for the same payload; the same key
with another payload is a 409; a duplicate that arrives while the first is still running is a
409 "in progress". Records live in `idempotencyKeys/{sha256(user, key)}` and carry
`expiresAt` for a Firestore TTL policy (they are also treated as absent once expired).

A record is claimed with a lease: if the process that claimed it dies, a retry with the same
key takes over after the lease. That is safe because the charge is idempotent per request id
and settlement happens at most once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from google.cloud import firestore

from . import errors, ledger
from .generation import new_request_id
from .retry import GaveUp, RetryPolicy, retry_on_conflict

COLLECTION = "idempotencyKeys"
HEADER = "Idempotency-Key"
TTL = timedelta(hours=48)
LEASE = timedelta(minutes=5)
MAX_KEY_LENGTH = 255
IN_PROGRESS, DONE = "in-progress", "done"
_POLICY = RetryPolicy(max_attempts=10, deadline_seconds=5.0)


def validate_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise errors.invalid_field(
            "idempotencyKey",
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable ASCII characters.",
        )
    return key


def record_id(user_id: str, key: str) -> str:
    return hashlib.sha256(f"{user_id}\n{key}".encode()).hexdigest()


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    """Either the request id to run under, or a stored response to replay."""

    record_id: str
    request_id: str
    replay: tuple[int, dict[str, Any]] | None = None


def claim(client: firestore.Client, user_id: str, key: str, digest: str, now: datetime) -> Claim:
    """Claim (user, key) for this payload, or return what to replay; raise 409 on misuse."""
    rid = record_id(user_id, key)
    ref = client.collection(COLLECTION).document(rid)

    def attempt() -> Claim:
        snap = ref.get()
        data = snap.to_dict() if snap.exists else None
        if data is not None and data["expiresAt"] > now:
            if data["payloadHash"] != digest:
                raise errors.ApiError(
                    409,
                    "idempotency-key-reused",
                    "This Idempotency-Key was already used with a different request body.",
                )
            if data["state"] == DONE:
                response = data["response"]
                return Claim(
                    rid, data["requestId"], (response["status"], json.loads(response["body"]))
                )
            if data["leaseUntil"] > now and not _settled(client, data["requestId"]):
                err = errors.ApiError(
                    409,
                    "request-in-progress",
                    "A request with this Idempotency-Key is still in progress; retry shortly.",
                    generationRequestId=data["requestId"],
                )
                err.headers["Retry-After"] = "1"
                raise err
            ref.update(
                {"leaseUntil": now + LEASE},
                option=client.write_option(last_update_time=snap.update_time),
            )
            return Claim(rid, data["requestId"])
        request_id = new_request_id()
        fields = {
            "userId": user_id,
            "payloadHash": digest,
            "state": IN_PROGRESS,
            "requestId": request_id,
            "createdAt": now,
            "leaseUntil": now + LEASE,
            "expiresAt": now + TTL,
        }
        if snap.exists:  # expired, not yet removed by the TTL policy: replace it
            fields.update(
                {"response": firestore.DELETE_FIELD, "finishedAt": firestore.DELETE_FIELD}
            )
            ref.update(fields, option=client.write_option(last_update_time=snap.update_time))
        else:
            ref.create(fields)
        return Claim(rid, request_id)

    try:
        return retry_on_conflict(attempt, _POLICY)
    except GaveUp:
        raise errors.busy("this Idempotency-Key") from None


def _settled(client: firestore.Client, request_id: str) -> bool:
    """Whether the claimed request already ended (e.g. refunded by the sweeper after a crash);
    its outcome can then be recomputed and stored without waiting for the lease."""
    snap = client.collection(ledger.REQUESTS).document(request_id).get()
    return snap.exists and (snap.to_dict() or {}).get("status") not in ledger.UNSETTLED


def finish(client: firestore.Client, claimed: Claim, status: int, body: dict[str, Any]) -> None:
    """Store the outcome to replay for later duplicates."""
    client.collection(COLLECTION).document(claimed.record_id).update(
        {
            "state": DONE,
            "response": {"status": status, "body": json.dumps(body, separators=(",", ":"))},
            "finishedAt": firestore.SERVER_TIMESTAMP,
        }
    )


def release(client: firestore.Client, claimed: Claim) -> None:
    """Forget a claim whose request changed nothing (so the key can be retried)."""
    client.collection(COLLECTION).document(claimed.record_id).delete()
