"""A generation request from charge to settlement: the money path, synchronous and queued.

charge -> model -> store the images -> complete, or -> refund. Images are stored in the bucket
before the request is marked completed, so a completed image always exists; an image that
failed, or a request that ends failed or canceled, keeps none. A request of several images
(`numImages`) asks the model for all of them at once (`providers.batch`), stores them in
parallel and settles them in one commit: completed with the stored ones, each failed one
refunded by its share. A crash between an upload and the settlement leaves the request
unsettled with some images stored: the sweeper then completes those (the images the user paid
for exist) and refunds the others, exactly once; with no image it refunds the request."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from google.cloud import firestore

from imagegen.core import errors, request_log
from imagegen.core.retry import GaveUp, retry_on_conflict
from imagegen.core.vocabulary import REQUESTS, UNSETTLED, FailureKind, RequestStatus
from imagegen.generation import edit_input
from imagegen.ledger import moves
from imagegen.ledger.limits import ChargePolicy
from imagegen.providers import batch
from imagegen.providers.image_models import GenerationResult, ImageModel, ImageSpec, Outcome
from imagegen.providers.image_store import ImageStore, object_path
from imagegen.records.request_record import (
    PROCESSING_AT,
    STATUS,
    UPDATED_AT,
    GenerationRequest,
    ImageOutcome,
)
from imagegen.records.validation import GenerationInput

log = logging.getLogger(__name__)


class CrashPoint(StrEnum):
    """Where the emulator-only fault injection stops a request, as a crash would."""

    AFTER_CHARGE = "after-charge"  # charged, nothing generated
    AFTER_UPLOAD = "after-upload"  # charged, images stored, not marked completed
    AFTER_FIRST_IMAGE = "after-first-image"  # charged, the first image stored, not the others
    AFTER_CLOSE = "after-close"  # account deletion: closed (no new money), nothing else done
    AFTER_PURGE = "after-purge"  # account deletion: images purged, balance not yet forfeited


@dataclass(frozen=True)
class Studio:
    """What generating needs besides Firestore: the models, and where images go."""

    model_for: Callable[[str], ImageModel]  # model id -> its adapter (from the catalog)
    images: ImageStore
    # (request id, index of one of several images or None) -> the URL that serves the image
    url_for: Callable[[str, int | None], str]
    # A queued turn of a conversation: its session's earlier instructions, oldest first.
    context_for: Callable[[GenerationRequest], tuple[str, ...]] | None = None


def new_request_id() -> str:
    """A fresh, unguessable generation request id."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class GenerationOutcome:
    """What happened to a request: completed with an image, or failed and refunded."""

    request_id: str
    balance_after_charge: int
    settlement: moves.Settlement


def generate(
    client: firestore.Client,
    order: GenerationInput,
    studio: Studio,
    forced: Outcome | None = None,
    request_id: str | None = None,
    crash: CrashPoint | None = None,
    policy: ChargePolicy | None = None,
) -> GenerationOutcome:
    """Charge for `order`, call its model outside any transaction, then settle.

    The charge and the `pending` request are one commit; the model runs afterwards; settlement
    completes the request or refunds it, and happens exactly once. Should this process die in
    between, the request stays `pending` until the sweeper settles it (completes it when its
    image was stored, refunds it otherwise). Called again with the
    same `request_id` it charges nothing more and, once settled, returns the settlement.
    `crash` (emulator only) stops at that point, as a crash would. `policy`: the per-user
    limits the charge enforces.
    """
    started = time.perf_counter()
    request = GenerationRequest.from_order(order, request_id or new_request_id())
    request_id = request.id
    charged = moves.charge(client, request, policy)
    if crash is CrashPoint.AFTER_CHARGE:
        _crash(request_id, order.user_id, crash)
    if charged.status not in UNSETTLED:
        settlement = moves.current_settlement(client, request_id)
        # the balance read now holds the refunds already: as after the charge, before them
        return GenerationOutcome(request_id, charged.balance - settlement.refunded, settlement)
    try:
        settlement = run_and_settle(
            client,
            studio,
            request.spec(order.input_image, order.context),
            order.user_id,
            forced,
            charged,
            crash,
            request.num_images,
        )
    except GaveUp:
        request_log.left_to_sweeper(request_id, order.user_id, "the settlement could not land")
        raise errors.internal() from None
    if settlement.settled_now:
        log_settled(request, settlement, started)
    return GenerationOutcome(request_id, charged.balance, settlement)


def log_settled(
    request: GenerationRequest, settlement: moves.Settlement, started: float, **extra: Any
) -> None:
    """The structured line for a request this process settled (see `request_log`)."""
    request_log.settled(
        request.id,
        request.user_id,
        request.model,
        request.size,
        request.cost,
        settlement.status,
        (time.perf_counter() - started) * 1000,
        **extra,
    )


def _crash(request_id: str, user_id: str, point: CrashPoint) -> None:
    request_log.left_to_sweeper(request_id, user_id, f"simulated crash {point}")
    raise errors.simulated_crash(request_id, point)


def run_and_settle(
    client: firestore.Client,
    studio: Studio,
    spec: ImageSpec,
    user_id: str,
    forced: Outcome | None,
    charged: moves.ChargeResult | None = None,
    crash: CrashPoint | None = None,
    num_images: int = 1,
) -> moves.Settlement:
    """Call the model (outside any transaction) for every image of the request, store the
    images it returned (in parallel), then settle: completed with the stored ones (each
    failed image refunded by its share), or refunded in full when none could be stored."""
    try:
        model = studio.model_for(spec.model)
    except Exception:  # a provider bug must still end in a refund
        log.exception("no model %s for request %s", spec.model, spec.request_id)
        results = [batch.RAISED] * max(1, num_images)
    else:
        results = batch.generate_images(model, spec, num_images, forced)
    outcomes = store_images(studio, spec.request_id, user_id, results, num_images, crash)
    stored = [(o, r) for o, r in zip(outcomes, results, strict=True) if o.stored]
    if stored:
        first_outcome, first = stored[0]
        details: dict[str, Any] = {**first.details, "contentType": first_outcome.content_type}
        return settle_images(client, studio, spec.request_id, outcomes, charged, details)
    failed = results[0]
    failure = moves.Failure(
        failed.failure_reason or "model error",
        FailureKind(failed.failure_kind or FailureKind.MODEL_ERROR),
        details=dict(failed.details),
    )
    settlement = moves.settle(client, spec.request_id, outcomes, charged, failure, failure.details)
    _clean_up(studio, outcomes, settlement)
    return settlement


def store_images(
    studio: Studio,
    request_id: str,
    user_id: str,
    results: list[GenerationResult],
    num_images: int,
    crash: CrashPoint | None = None,
) -> list[ImageOutcome]:
    """Store each image a model returned, in parallel (an image that cannot be stored is a
    failed image, its path kept as `attempted_path`); the outcome of every image, in index
    order.
    `crash` AFTER_FIRST_IMAGE stores the first image only, then stops as a crash would;
    AFTER_UPLOAD stops once all are stored."""
    count = max(1, num_images)

    def store(index: int) -> ImageOutcome:
        result = results[index]
        if result.image is None:
            kind = result.failure_kind or FailureKind.MODEL_ERROR
            return ImageOutcome(index, failure_kind=str(kind), failure_reason=result.failure_reason)
        path = object_path(user_id, request_id, result.content_type, index, count)
        try:
            studio.images.put(path, result.image, result.content_type)
        except Exception:
            log.exception("could not store image %d of request %s", index, request_id)
            return ImageOutcome(  # a partial write is deleted once settled (`_clean_up`)
                index,
                failure_kind=FailureKind.STORAGE_ERROR.value,
                failure_reason="the image could not be stored",
                attempted_path=path,
            )
        width, height = result.details.get("outputWidth"), result.details.get("outputHeight")
        return ImageOutcome(
            index,
            path,
            studio.url_for(request_id, index if count > 1 else None),
            result.content_type,
            width if isinstance(width, int) else None,
            height if isinstance(height, int) else None,
        )

    indices = list(range(count))
    if crash is CrashPoint.AFTER_FIRST_IMAGE:
        first = next((i for i in indices if results[i].image is not None), None)
        if first is not None:
            store(first)
        _crash(request_id, user_id, crash)
    if count == 1:
        outcomes = [store(0)]
    else:
        with ThreadPoolExecutor(count) as pool:
            outcomes = list(pool.map(store, indices))
    if crash is CrashPoint.AFTER_UPLOAD:
        _crash(request_id, user_id, crash)
    return outcomes


def settle_images(
    client: firestore.Client,
    studio: Studio,
    request_id: str,
    outcomes: list[ImageOutcome],
    charged: moves.ChargeResult | None = None,
    details: Mapping[str, Any] | None = None,
    failure: moves.Failure | None = None,
) -> moves.Settlement:
    """Settle a request whose images are stored (those of `outcomes` with a path; an image
    without an outcome failed as `failure` says). Should someone else have settled it first
    (the sweeper), every image this run stored that the settlement did not keep is deleted:
    an image is kept only by a completed image of its request."""
    settlement = moves.settle(client, request_id, outcomes, charged, failure, details)
    _clean_up(studio, outcomes, settlement)
    return settlement


def _clean_up(studio: Studio, outcomes: list[ImageOutcome], settlement: moves.Settlement) -> None:
    """Delete what this run wrote that the request's settlement does not keep: its images
    when another settlement won, and what an upload that failed may have left. Never an
    object the settlement kept: a duplicate run of a settled request (a retried task) whose
    upload failed must not delete the image its owner paid for."""
    kept = set(settlement.kept_paths)
    for outcome in outcomes:
        written = outcome.path or outcome.attempted_path
        if written is not None and written not in kept:
            studio.images.delete(written)


def enqueue(
    client: firestore.Client,
    order: GenerationInput,
    request_id: str,
    send_task: Callable[[str], None],
    forced: Outcome | None = None,
    policy: ChargePolicy | None = None,
) -> moves.ChargeResult:
    """Asynchronous mode: charge and create the request as `queued`, then hand it to the task
    queue. If it cannot be queued, it is refunded at once and the caller gets a 503."""
    request = GenerationRequest.from_order(
        order,
        request_id,
        RequestStatus.QUEUED,
        mode="async",
        # the emulator-only forced outcome, remembered for the task
        simulate_outcome=forced.value if forced is not None else None,
    )
    charged = moves.charge(client, request, policy)
    if charged.status != RequestStatus.QUEUED:
        return charged  # charged earlier (a retry): already queued or further along
    try:
        send_task(request_id)
    except Exception:
        log.exception("could not enqueue request %s; refunding", request_id)
        moves.refund(client, request_id, "could not be queued", kind=FailureKind.ENQUEUE_FAILED)
        raise errors.unavailable(
            "The request could not be queued; its credits were refunded. Retry shortly."
        ) from None
    return charged


def process_queued(
    client: firestore.Client,
    request_id: str,
    studio: Studio,
    on_settled: Callable[[str], None] | None = None,
) -> moves.Settlement | None:
    """The task: take a queued request to processing, run the model, settle. Safe to run
    again for the same request (task retries): a settled or canceled request is left alone;
    a request canceled before it reached `processing` never reaches a provider.
    `on_settled(request_id)` runs after a settlement this call made (e.g. queue a webhook)."""
    started = time.perf_counter()
    request = start_processing(client, request_id)
    if request is None:
        return None
    forced = Outcome(request.simulate_outcome) if request.simulate_outcome else None
    input_image = None
    if request.input is not None:
        try:
            input_image = edit_input.reread(client, studio.images, request.user_id, request.input)
        except errors.DomainError as err:  # deleted or purged since it was queued
            settlement = moves.refund(
                client,
                request_id,
                f"the input image is gone ({err.code})",
                None,
                FailureKind.PROVIDER_ERROR,
            )
            if settlement.settled_now and on_settled is not None:
                on_settled(request_id)
            return settlement
    context: tuple[str, ...] = ()
    if request.session_id is not None and studio.context_for is not None:
        context = studio.context_for(request)
    spec = request.spec(input_image, context)
    settlement = run_and_settle(
        client, studio, spec, request.user_id, forced, num_images=request.num_images
    )
    if settlement.settled_now:
        log_settled(request, settlement, started, mode="async")
        if on_settled is not None:
            on_settled(request_id)
    return settlement


WAITING_OR_RUNNING = (RequestStatus.QUEUED, RequestStatus.PROCESSING)


def start_processing(client: firestore.Client, request_id: str) -> GenerationRequest | None:
    """Move a queued request to `processing` and return it; a request already processing
    (a retried task) is returned as it is; a settled or canceled one gives None. The move is
    conditional on the request being unchanged since read, like a cancel: exactly one of the
    two wins."""
    ref = client.collection(REQUESTS).document(request_id)

    def attempt() -> GenerationRequest | None:
        snap = ref.get()
        data = snap.to_dict() if snap.exists else None
        if data is None or data.get(STATUS) not in WAITING_OR_RUNNING:
            return None
        if data[STATUS] == RequestStatus.QUEUED:
            ref.update(
                {
                    STATUS: RequestStatus.PROCESSING.value,
                    PROCESSING_AT: firestore.SERVER_TIMESTAMP,
                    UPDATED_AT: firestore.SERVER_TIMESTAMP,
                },
                option=client.write_option(last_update_time=snap.update_time),
            )
        return GenerationRequest.from_document(request_id, data)

    return retry_on_conflict(attempt, moves.SETTLE_POLICY)
