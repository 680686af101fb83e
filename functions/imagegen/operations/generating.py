"""Generating: charge for an order, run its model and settle it (or queue it), and cancel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from imagegen.core import auth, errors
from imagegen.core.auth import Caller
from imagegen.core.settings import max_images_per_request, running_in_emulator
from imagegen.core.vocabulary import UNSETTLED, RequestStatus
from imagegen.generation import edit_input, idempotency, pipeline
from imagegen.ledger import moves
from imagegen.ledger.limits import check_global
from imagegen.operations import sessions
from imagegen.operations.clock import now
from imagegen.operations.notifications import notify_settled
from imagegen.operations.reads import owned_request
from imagegen.operations.wiring import (
    GENERATION_TASKS,
    charge_policy,
    current_catalog,
    db,
    enqueue_task,
    global_controls,
    images,
    studio,
)
from imagegen.providers.image_models import Outcome
from imagegen.records import shapes
from imagegen.records.validation import GenerationInput, parse_generation_input


@dataclass(frozen=True)
class GenerationOptions:
    """How to run a generation: an idempotency key, the asynchronous mode, and the
    emulator-only fault injection used by tests (ignored outside the emulator)."""

    idempotency_key: str | None = None
    asynchronous: bool = False
    forced: Outcome | None = None
    crash: pipeline.CrashPoint | None = None


def order_for(caller: Caller, data: Mapping[str, Any]) -> GenerationInput:
    """Validate a generation order against the catalog; `userId` defaults to the caller."""
    if caller.uid is not None and data.get("userId") in (None, ""):
        data = {**data, "userId": caller.uid}
    model = data.get("model") if isinstance(data.get("model"), str) else None
    order = parse_generation_input(
        data, current_catalog(model), None, running_in_emulator(), max_images_per_request()
    )
    auth.require_user(caller, order.user_id)
    return order


def _with_input_read(order: GenerationInput) -> GenerationInput:
    """An edit's order with its image read (or refused: 404, 410) before any charge; a turn
    of a session first takes the session's latest image as its input (`sessions.turn_of`,
    404 for a session that is not the caller's); other orders as they are."""
    if order.session_id is not None:
        order = sessions.turn_of(order, current_catalog(order.model))
    if order.input is None:
        return order
    source = edit_input.read_input(db(), images(), order.user_id, order.input)
    return edit_input.with_input(order, source)


def create_generation(
    caller: Caller, order: GenerationInput, options: GenerationOptions = GenerationOptions()
) -> idempotency.StoredResult:
    """Charge for `order`, generate and settle it (or, asynchronously, charge and queue it).

    Returns the completed request (or the accepted one); raises `generation-failed` after the
    refund is committed, and the charge's errors (insufficient credits, unknown user, a limit,
    budget-exhausted, busy) having charged nothing. With an idempotency key, it runs at most
    once per key and payload, and a replay answers what the first call answered even when an
    edit's input has since been deleted (the input is read inside the first run only).
    """
    auth.require_user(caller, order.user_id)
    client = db()
    payload = order.as_payload()

    def run(request_id: str | None) -> idempotency.StoredResult:
        order_ = _with_input_read(order)
        return _charge_and_run(client, order_, options, request_id)

    if options.idempotency_key is None:
        return run(None)
    return idempotency.run_once(client, order.user_id, options.idempotency_key, payload, now(), run)


def _charge_and_run(
    client: Any, order: GenerationInput, options: GenerationOptions, request_id: str | None
) -> idempotency.StoredResult:
    """The body of one generation: charge, then generate and settle (or queue)."""
    view = global_controls()
    refusal = check_global(view.controls)
    if refusal is not None:
        raise refusal
    policy = charge_policy(view)  # with the day's budget, counted by the charge itself
    if options.asynchronous:
        charged = pipeline.enqueue(
            client,
            order,
            request_id or pipeline.new_request_id(),
            _send_generation_task,
            options.forced,
            policy,
        )
        body = shapes.accepted_json(
            charged.request_id, charged.status, charged.cost, charged.balance
        )
        return idempotency.StoredResult(body, accepted=charged.status in UNSETTLED)
    outcome = pipeline.generate(
        client, order, studio(), options.forced, request_id, options.crash, policy
    )
    settlement = outcome.settlement
    if order.webhook_url and settlement.settled_now:
        notify_settled(outcome.request_id)
    if settlement.status != RequestStatus.COMPLETED:
        raise errors.generation_failed(
            outcome.request_id, settlement.refunded, settlement.failure_kind
        )
    body = shapes.completed_json(
        outcome.request_id,
        order,
        outcome.balance_after_charge,
        settlement.image_url,
        settlement.image_urls,
        settlement.images,
        settlement.refunded,
    )
    return idempotency.StoredResult(body)


def _send_generation_task(request_id: str) -> None:
    enqueue_task(GENERATION_TASKS, {"requestId": request_id}, request_id)


def process_queued_generation(request_id: str) -> None:
    """The task-queue step of the asynchronous mode: generate and settle a queued request.
    Raises on a transient failure so that the queue retries; settlement stays exactly once."""
    pipeline.process_queued(db(), request_id, studio(), notify_settled)


def cancel_generation(caller: Caller, request_id: str) -> moves.Settlement:
    """Cancel a queued request (no provider has it yet) and refund it. A request already
    running (`processing`, or a synchronous one `pending`) is 409 `request-in-progress`, a
    finished one `not-cancelable`; nothing changes then."""
    owned_request(caller, request_id)
    settlement = moves.cancel(db(), request_id)
    if not settlement.settled_now:
        if settlement.status in UNSETTLED:
            raise errors.running_at_provider(request_id, settlement.status)
        raise errors.not_cancelable(request_id, settlement.status)
    notify_settled(request_id)
    return settlement
