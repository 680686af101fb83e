"""A generation request from charge to settlement: the money path, synchronous and queued."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.cloud import firestore

from . import errors, ledger, request_log
from .image_models import GenerationResult, ImageModel, ImageSpec, Outcome
from .retry import GaveUp
from .validation import GenerationInput
from .vocabulary import UNSETTLED, FailureKind, RequestStatus

log = logging.getLogger(__name__)


def new_request_id() -> str:
    """A fresh, unguessable generation request id."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class GenerationOutcome:
    """What happened to a request: completed with an image, or failed and refunded."""

    request_id: str
    order: GenerationInput
    balance_after_charge: int
    settlement: ledger.Settlement


def generate(
    client: firestore.Client,
    order: GenerationInput,
    models: Mapping[str, ImageModel],
    forced: Outcome | None = None,
    request_id: str | None = None,
    crash_after_charge: bool = False,
) -> GenerationOutcome:
    """Charge for `order`, call its model outside any transaction, then settle.

    The charge and the `pending` request are one commit; the model runs afterwards; settlement
    completes the request or refunds it, and happens exactly once. Should this process die in
    between, the request stays `pending` until the sweeper refunds it. Called again with the
    same `request_id` it charges nothing more and, once settled, returns the settlement.
    `crash_after_charge` (emulator only) stops right after the charge, as a crash would.
    """
    started = time.perf_counter()
    request_id = request_id or new_request_id()
    charged = ledger.charge(client, order, request_id)
    if crash_after_charge:
        request_log.left_to_sweeper(request_id, order.user_id, "simulated crash after the charge")
        raise errors.simulated_crash(request_id)
    if charged.status not in UNSETTLED:
        settlement = ledger.current_settlement(client, request_id)
        return GenerationOutcome(request_id, order, charged.balance, settlement)
    spec = ImageSpec(request_id, order.model, order.style, order.color, order.size, order.prompt)
    try:
        settlement = run_and_settle(client, models, spec, forced, charged)
    except GaveUp:
        request_log.left_to_sweeper(request_id, order.user_id, "the settlement could not land")
        raise errors.internal() from None
    if settlement.settled_now:
        log_settled(request_id, order.as_payload(), order.cost, settlement, started)
    return GenerationOutcome(request_id, order, charged.balance, settlement)


def log_settled(
    request_id: str,
    request: Mapping[str, Any],
    cost: int,
    settlement: ledger.Settlement,
    started: float,
    **extra: Any,
) -> None:
    """The structured line for a request this process settled (see `request_log`)."""
    request_log.settled(
        request_id,
        str(request.get("userId")),
        str(request.get("model")),
        str(request.get("size")),
        cost,
        settlement.status,
        (time.perf_counter() - started) * 1000,
        **extra,
    )


def run_and_settle(
    client: firestore.Client,
    models: Mapping[str, ImageModel],
    spec: ImageSpec,
    forced: Outcome | None,
    charged: ledger.ChargeResult | None = None,
) -> ledger.Settlement:
    """Call the model (outside any transaction), then complete or refund the request."""
    try:
        result: GenerationResult | None = models[spec.model].generate(spec, forced)
    except Exception:  # a provider bug must still end in a refund
        log.exception("model %s raised for request %s", spec.model, spec.request_id)
        result = None
    if result is not None and result.ok:
        return ledger.complete(client, spec.request_id, result.image_url or "", charged)
    reason = result.failure_reason if result is not None else "model raised an exception"
    return ledger.refund(client, spec.request_id, reason or "model error", charged)


def enqueue(
    client: firestore.Client,
    order: GenerationInput,
    request_id: str,
    send_task: Callable[[str], None],
    forced: Outcome | None = None,
) -> ledger.ChargeResult:
    """Asynchronous mode: charge and create the request as `queued`, then hand it to the task
    queue. If it cannot be queued, it is refunded at once and the caller gets a 503."""
    extra: dict[str, Any] = {"mode": "async"}
    if forced is not None:  # emulator-only test header, remembered for the task
        extra["simulateOutcome"] = forced.value
    charged = ledger.charge(client, order, request_id, RequestStatus.QUEUED, extra)
    if charged.status != RequestStatus.QUEUED:
        return charged  # charged earlier (a retry): already queued or further along
    try:
        send_task(request_id)
    except Exception:
        log.exception("could not enqueue request %s; refunding", request_id)
        ledger.refund(client, request_id, "could not be queued", kind=FailureKind.ENQUEUE_FAILED)
        raise errors.unavailable(
            "The request could not be queued; its credits were refunded. Retry shortly."
        ) from None
    return charged


def process_queued(
    client: firestore.Client,
    request_id: str,
    models: Mapping[str, ImageModel],
    on_settled: Callable[[str], None] | None = None,
) -> ledger.Settlement | None:
    """The task: take a queued request to processing, run the model, settle. Safe to run
    again for the same request (task retries): a settled or canceled request is left alone.
    `on_settled(request_id)` runs after a settlement this call made (e.g. queue a webhook)."""
    started = time.perf_counter()
    data = ledger.start_processing(client, request_id)
    if data is None:
        return None
    spec = ImageSpec(
        request_id, data["model"], data["style"], data["color"], data["size"], data["prompt"]
    )
    raw = data.get("simulateOutcome")
    settlement = run_and_settle(client, models, spec, Outcome(raw) if raw else None)
    if settlement.settled_now:
        log_settled(request_id, data, int(data.get("cost", 0)), settlement, started, mode="async")
        if on_settled is not None:
            on_settled(request_id)
    return settlement
