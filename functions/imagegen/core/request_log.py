"""Structured log lines about requests and money, through `firebase_functions.logger` (JSON
with a severity in Cloud Logging, shown in the Emulator UI's logs). One line per settled
request; WARNING for refunds and `busy`; ERROR for what is left to the sweeper (which
completes it when its image was stored, else refunds it). Prompts and
tokens are never logged."""

from __future__ import annotations

from typing import Any

from firebase_functions import logger

from imagegen.core.vocabulary import RequestStatus

EVENT_SETTLED = "generation-settled"
EVENT_BUSY = "credits-busy"
EVENT_LEFT_TO_SWEEPER = "generation-left-to-sweeper"


def settled(
    request_id: str,
    user_id: str,
    model: str,
    size: str,
    cost: int,
    status: str,
    latency_ms: float,
    **extra: Any,
) -> None:
    """One line per request this process settled: INFO when completed, WARNING when refunded."""
    fields = {
        "event": EVENT_SETTLED,
        "requestId": request_id,
        "userId": user_id,
        "model": model,
        "size": size,
        "cost": cost,
        "outcome": status,
        "latencyMs": round(latency_ms, 1),
        **extra,
    }
    message = f"request {request_id} {status}"
    if status == RequestStatus.COMPLETED:
        logger.info(message, **fields)
    else:
        logger.warn(f"{message}, {cost} credit(s) refunded", **fields)


def busy(user_id: str, what: str) -> None:
    logger.warn(f"busy: {what}", event=EVENT_BUSY, userId=user_id)


def left_to_sweeper(request_id: str, user_id: str, why: str) -> None:
    logger.error(
        f"request {request_id} left unsettled: {why}; the sweeper will settle it",
        event=EVENT_LEFT_TO_SWEEPER,
        requestId=request_id,
        userId=user_id,
    )
