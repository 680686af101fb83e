"""Idempotency keys for generation requests, with Stripe's semantics, for every transport.

The first outcome for (user, key) is stored and replayed for the same payload; the same key
with another payload is refused (`idempotency-key-reused`); a duplicate that arrives while the
first is still running is refused as `request-in-progress`. Which outcomes are stored is the
`REPLAY_RULE` below. Records live in `idempotencyKeys/{sha256(user, key)}` and carry
`expiresAt` for a Firestore TTL policy (they are also treated as absent once expired).
Outcomes are stored as the transport-neutral JSON of `records.shapes`, so a key used over HTTP
replays the same over any other transport.

A record is claimed with a lease: if the process that claimed it dies, a retry with the same
key takes over after the lease. That is safe because the charge is idempotent per request id
and settlement happens at most once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from google.cloud import firestore

from imagegen.core import errors
from imagegen.core.errors import DomainError, ErrorCode
from imagegen.core.retry import GaveUp, RetryPolicy, retry_on_conflict
from imagegen.core.vocabulary import IDEMPOTENCY_KEYS, REQUESTS
from imagegen.generation.pipeline import new_request_id
from imagegen.records.request_record import unsettled

COLLECTION = IDEMPOTENCY_KEYS
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


class KeyFate(StrEnum):
    """What becomes of a claimed key once its request has run."""

    STORE = "store"  # the outcome is final: replay it to every duplicate
    RELEASE = "release"  # nothing happened (nothing charged): forget the key, a retry runs anew
    HOLD = "hold"  # unknown (a crash mid-request): keep the claim; after its lease, or once the
    # request is settled (by the sweeper), a retry takes over under the same request id


@dataclass(frozen=True)
class ReplayRule:
    """Which outcomes an idempotency key stores for replay: every success and every error,
    except those listed as releasing or holding the key."""

    releasing: frozenset[ErrorCode]
    holding: frozenset[ErrorCode]

    def fate(self, error: DomainError | None) -> KeyFate:
        if error is None:
            return KeyFate.STORE
        if error.code in self.releasing:
            return KeyFate.RELEASE
        if error.code in self.holding:
            return KeyFate.HOLD
        return KeyFate.STORE


REPLAY_RULE = ReplayRule(
    # Refused before anything was charged, for now only: the same key may try again later.
    releasing=frozenset(
        {
            ErrorCode.BUSY,
            ErrorCode.RATE_LIMITED,
            ErrorCode.TOO_MANY_PENDING,
            ErrorCode.DAILY_LIMIT,
            ErrorCode.GENERATION_PAUSED,
            ErrorCode.BUDGET_EXHAUSTED,
        }
    ),
    holding=frozenset({ErrorCode.SIMULATED_CRASH, ErrorCode.INTERNAL}),
)


@dataclass(frozen=True)
class StoredResult:
    """A successful outcome to store and replay: the response body, whether the request was
    only accepted (charged and queued, not settled yet), and whether this is a replay."""

    body: dict[str, Any]
    accepted: bool = False
    replayed: bool = False


def record_id(user_id: str, key: str) -> str:
    return hashlib.sha256(f"{user_id}\n{key}".encode()).hexdigest()


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    """Either the request id to run under, or a stored outcome (or error) to replay."""

    record_id: str
    request_id: str
    replay: StoredResult | DomainError | None = None


def _stored(data: dict[str, Any]) -> StoredResult | DomainError:
    """The outcome a finished record holds (also in the older HTTP-status form)."""
    if "outcome" in data:
        outcome = json.loads(data["outcome"])
        error, result, accepted = (
            outcome.get("error"),
            outcome.get("result"),
            outcome.get("accepted"),
        )
    else:
        status, body = data["response"]["status"], json.loads(data["response"]["body"])
        error, result, accepted = body.get("error") if status >= 400 else None, body, status == 202
    if error is not None:
        stored = DomainError.from_dict(error)
        stored.replayed = True
        return stored
    return StoredResult(result, bool(accepted), replayed=True)


def claim(client: firestore.Client, user_id: str, key: str, digest: str, now: datetime) -> Claim:
    """Claim (user, key) for this payload, or return what to replay; raise 409 on misuse."""
    rid = record_id(user_id, key)
    ref = client.collection(COLLECTION).document(rid)

    def attempt() -> Claim:
        snap = ref.get()
        data = snap.to_dict() if snap.exists else None
        if data is not None and data["expiresAt"] > now:
            if data["payloadHash"] != digest:
                raise errors.idempotency_key_reused()
            if data["state"] == DONE:
                return Claim(rid, data["requestId"], _stored(data))
            if data["leaseUntil"] > now and not _settled(client, data["requestId"]):
                raise errors.request_in_progress(data["requestId"])
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
                {
                    "outcome": firestore.DELETE_FIELD,
                    "response": firestore.DELETE_FIELD,
                    "finishedAt": firestore.DELETE_FIELD,
                }
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
    snap = client.collection(REQUESTS).document(request_id).get()
    return snap.exists and not unsettled(snap.to_dict() or {})


def finish(client: firestore.Client, claimed: Claim, outcome: StoredResult | DomainError) -> None:
    """Store the outcome to replay for later duplicates."""
    if isinstance(outcome, DomainError):
        stored: dict[str, Any] = {"error": outcome.as_dict()}
    else:
        stored = {"result": outcome.body, "accepted": outcome.accepted}
    client.collection(COLLECTION).document(claimed.record_id).update(
        {
            "state": DONE,
            "outcome": json.dumps(stored, separators=(",", ":")),
            "response": firestore.DELETE_FIELD,
            "finishedAt": firestore.SERVER_TIMESTAMP,
        }
    )


def release(client: firestore.Client, claimed: Claim) -> None:
    """Forget a claim whose request changed nothing (so the key can be retried)."""
    client.collection(COLLECTION).document(claimed.record_id).delete()


def run_once(
    client: firestore.Client,
    user_id: str,
    key: str,
    payload: dict[str, Any],
    now: datetime,
    run: Callable[[str], StoredResult],
) -> StoredResult:
    """Run `run(request_id)` at most once for (user, key, payload), by the `REPLAY_RULE`:
    a stored outcome is returned (a stored error raised) instead of running again."""
    claimed = claim(client, user_id, key, payload_hash(payload), now)
    if isinstance(claimed.replay, DomainError):
        raise claimed.replay
    if claimed.replay is not None:
        return claimed.replay
    try:
        outcome = run(claimed.request_id)
    except DomainError as err:
        fate = REPLAY_RULE.fate(err)
        if fate is KeyFate.RELEASE:
            release(client, claimed)
        elif fate is KeyFate.STORE:
            finish(client, claimed, err)
        raise
    finish(client, claimed, outcome)
    return outcome
