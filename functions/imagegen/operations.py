"""The application layer: every operation of the product, written once, for every transport.

Each function takes typed inputs (the verified `Caller`, a validated order, page parameters),
decides what the caller may do, runs the domain, and returns a typed result or raises a
`DomainError`. Transports are thin adapters around it: the HTTP endpoints (`http_endpoints`)
parse a request, call one function here and shape the answer (`shapes`); the scheduled and
task functions in `main.py` call it directly. Nothing here knows about HTTP.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import (
    audit,
    auth,
    errors,
    generation,
    history,
    idempotency,
    ledger,
    migration,
    recovery,
    report_queries,
    shapes,
    webhooks,
    weeks,
)
from .auth import Caller
from .history import Page, Record
from .image_models import Outcome
from .image_store import ImageObject
from .settings import running_in_emulator
from .simulator import MODEL_NAMES
from .validation import GenerationInput, parse_generation_input, validate_text, validate_user_id
from .vocabulary import UNSETTLED, RequestStatus
from .wiring import (
    GENERATION_TASKS,
    WEBHOOK_TASKS,
    current_catalog,
    db,
    enqueue_task,
    images,
    pending_timeout,
    studio,
)

log = logging.getLogger(__name__)

LISTABLE_STATUSES: tuple[str, ...] = tuple(RequestStatus)
MAX_REASON_LENGTH = 500


def now() -> datetime:
    return datetime.now(UTC)


# --- Generation -------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationOptions:
    """How to run a generation: an idempotency key, the asynchronous mode, and the
    emulator-only fault injection used by tests (ignored outside the emulator)."""

    idempotency_key: str | None = None
    asynchronous: bool = False
    forced: Outcome | None = None
    crash: generation.CrashPoint | None = None


def order_for(caller: Caller, data: Mapping[str, Any]) -> GenerationInput:
    """Validate a generation order against the catalog; `userId` defaults to the caller."""
    if caller.uid is not None and data.get("userId") in (None, ""):
        data = {**data, "userId": caller.uid}
    order = parse_generation_input(data, current_catalog(), MODEL_NAMES, running_in_emulator())
    auth.require_user(caller, order.user_id)
    return order


def create_generation(
    caller: Caller, order: GenerationInput, options: GenerationOptions = GenerationOptions()
) -> idempotency.Outcome:
    """Charge for `order`, generate and settle it (or, asynchronously, charge and queue it).

    Returns the completed request (or the accepted one); raises `generation-failed` after the
    refund is committed, and the charge's errors (insufficient credits, unknown user, busy)
    having charged nothing. With an idempotency key, it runs at most once per key and payload.
    """
    auth.require_user(caller, order.user_id)
    client = db()

    def run(request_id: str | None) -> idempotency.Outcome:
        if options.asynchronous:
            charged = generation.enqueue(
                client,
                order,
                request_id or generation.new_request_id(),
                _send_generation_task,
                options.forced,
            )
            body = shapes.accepted_json(
                charged.request_id, charged.status, charged.cost, charged.balance
            )
            return idempotency.Outcome(body, accepted=charged.status in UNSETTLED)
        outcome = generation.generate(
            client, order, studio(), options.forced, request_id, options.crash
        )
        settlement = outcome.settlement
        if order.webhook_url and settlement.settled_now:
            notify_settled(outcome.request_id)
        if settlement.status != RequestStatus.COMPLETED:
            raise errors.generation_failed(outcome.request_id, settlement.refunded)
        body = shapes.completed_json(
            outcome.request_id, order, outcome.balance_after_charge, settlement.image_url
        )
        return idempotency.Outcome(body)

    if options.idempotency_key is None:
        return run(None)
    return idempotency.run_once(
        client, order.user_id, options.idempotency_key, order.as_payload(), now(), run
    )


def _send_generation_task(request_id: str) -> None:
    enqueue_task(GENERATION_TASKS, {"requestId": request_id}, request_id)


def process_queued_generation(request_id: str) -> None:
    """The task-queue step of the asynchronous mode: generate and settle a queued request.
    Raises on a transient failure so that the queue retries; settlement stays exactly once."""
    generation.process_queued(db(), request_id, studio(), notify_settled)


def cancel_generation(caller: Caller, request_id: str) -> ledger.Settlement:
    """Cancel a queued request and refund it; `not-cancelable` once it is processing or
    settled (nothing changed)."""
    _owned_request(caller, request_id)
    settlement = ledger.cancel(db(), request_id)
    if not settlement.settled_now:
        raise errors.not_cancelable(request_id, settlement.status)
    notify_settled(request_id)
    return settlement


# --- Reads ------------------------------------------------------------------------------


def subject_user(caller: Caller, user_id: str | None) -> str:
    """The user a read is about: `user_id`, else the caller; the caller must be allowed."""
    user_id = user_id or caller.uid
    if not user_id:
        raise errors.missing_fields(["userId"])
    validate_user_id(user_id)
    auth.require_user(caller, user_id)
    return user_id


def get_credits(caller: Caller, user_id: str | None, page: Page) -> history.LedgerPage:
    """A user's balance and one page of the ledger, newest first."""
    return history.read_ledger(db(), subject_user(caller, user_id), page)


def _owned_request(caller: Caller, request_id: str) -> Record:
    validate_user_id(request_id, "id")
    record = history.read_request(db(), request_id)
    if record is None or not caller.may_act_for(str(record.data.get("userId"))):
        raise errors.request_not_found()  # another user's request is not revealed
    return record


def get_generation(caller: Caller, request_id: str) -> Record:
    """One generation request with its status (the owner's or, for admins, anyone's)."""
    return _owned_request(caller, request_id)


def get_generation_image(caller: Caller, request_id: str) -> ImageObject:
    """A completed request's image, for its owner or an admin: `not-found` for an unknown
    request, `permission-denied` for another user's, `image-not-found` without an image."""
    validate_user_id(request_id, "id")
    record = history.read_request(db(), request_id)
    if record is None:
        raise errors.request_not_found()
    if not caller.may_act_for(str(record.data.get("userId"))):
        raise errors.forbidden("This image belongs to another user.")
    path = record.data.get("imagePath")
    if record.data.get("status") != RequestStatus.COMPLETED or not isinstance(path, str):
        raise errors.image_not_found()
    image = images().get(path)
    if image is None:
        raise errors.image_not_found()
    return image


def list_generations(
    caller: Caller, user_id: str | None, status: str | None, model: str | None, page: Page
) -> history.RequestsPage:
    """A user's requests, newest first, optionally filtered by status and model."""
    user_id = subject_user(caller, user_id)
    if status is not None and status not in LISTABLE_STATUSES:
        raise errors.invalid_choice("status", status, LISTABLE_STATUSES)
    if model is not None and model not in MODEL_NAMES:
        raise errors.invalid_choice("model", model, MODEL_NAMES)
    return history.list_requests(db(), user_id, status, model, page)


def check_health(deep: bool) -> dict[str, Any]:
    """Liveness without I/O; `deep` also reads from Firestore."""
    body: dict[str, Any] = {"status": "ok", "emulator": running_in_emulator()}
    if deep:
        started = time.perf_counter()
        try:
            list(db().collection("sizes").limit(1).stream())
        except Exception as exc:
            log.warning("deep health check failed: %s", exc)
            raise errors.unavailable("Firestore is not reachable.") from None
        latency = round((time.perf_counter() - started) * 1000, 1)
        body["firestore"] = {"status": "ok", "latencyMs": latency}
    return body


# --- Administration ---------------------------------------------------------------------


@dataclass(frozen=True)
class GrantResult:
    user_id: str
    granted: int  # 0 when this was a replay of an earlier grant
    balance: int
    entry_id: str


def grant_credits(
    caller: Caller, user_id: Any, credits: Any, reason: Any, idempotency_key: str | None
) -> GrantResult:
    """Admin: add credits to a user (created if missing) with a `grant` ledger entry; with an
    idempotency key, once only."""
    auth.require_admin(caller)
    missing = [name for name, v in (("userId", user_id), ("credits", credits)) if v in (None, "")]
    if missing:
        raise errors.missing_fields(missing)
    user_id = validate_user_id(user_id)
    if not isinstance(credits, int) or isinstance(credits, bool):
        raise errors.invalid_type("credits", "an integer", credits)
    if not 1 <= credits <= ledger.MAX_GRANT:
        raise errors.invalid_field(
            "credits", f"credits must be an integer from 1 to {ledger.MAX_GRANT}."
        )
    reason = "grant" if reason is None else reason
    if not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH:
        raise errors.invalid_field(
            "reason", f"reason must be a string of at most {MAX_REASON_LENGTH} characters."
        )
    validate_text("reason", reason)
    entry_id = (
        "grant-" + idempotency.record_id(user_id, idempotency.validate_key(idempotency_key))[:40]
        if idempotency_key
        else f"grant-{uuid.uuid4().hex}"
    )
    balance, granted = ledger.grant(db(), user_id, credits, reason, entry_id)
    return GrantResult(user_id, credits if granted else 0, balance, entry_id)


def audit_ledger(caller: Caller, user_id: str | None) -> dict[str, Any]:
    """Admin: check the ledger invariants for every user (or one)."""
    auth.require_admin(caller)
    users = [validate_user_id(user_id)] if user_id else None
    return audit.audit(db(), now(), pending_timeout(), users, images())


def sweep_stuck_requests(older_than: timedelta | None = None) -> recovery.SweepResult:
    """Refund every request left unsettled longer than `older_than` (default: the setting)."""
    age = pending_timeout() if older_than is None else older_than
    return recovery.sweep_pending(db(), studio(), age, now(), on_settled=notify_settled)


def recover_pending(caller: Caller, older_than: timedelta | None) -> recovery.SweepResult:
    """Admin: run the sweeper now."""
    auth.require_admin(caller)
    return sweep_stuck_requests(older_than)


def min_recovery_age() -> timedelta:
    """The youngest requests an admin may have swept: any age in the emulator (for tests),
    one minute in production (a younger request may still be generating)."""
    return timedelta(0) if running_in_emulator() else timedelta(seconds=60)


def build_weekly_report(caller: Caller, week: Any) -> dict[str, Any]:
    """Admin: build (or rebuild) and store the report of one ISO week that has ended."""
    auth.require_admin(caller)
    if not week:
        raise errors.missing_fields(["week"])
    if not isinstance(week, str):
        raise errors.invalid_type("week", "a string", week)
    try:
        complete = weeks.is_complete(week, now())
    except weeks.BadWeek as bad:
        raise errors.invalid_field("week", str(bad)) from None
    if not complete:
        raise errors.invalid_field("week", f"{week} has not ended yet; reports cover whole weeks.")
    return report_queries.write_report(db(), week)


def run_weekly_report(moment: datetime) -> dict[str, Any]:
    """The scheduled job: report the ISO week before `moment` and log its anomalies as
    alerts. Re-runs rewrite the same report."""
    report = report_queries.write_report(db(), weeks.previous_week(moment))
    report_queries.log_alerts(report)
    return report


def migrate_request_outcomes(
    caller: Caller, page_token: str | None, max_documents: int
) -> migration.MigrationProgress:
    """Admin: add the report fields to request documents written without them."""
    auth.require_admin(caller)
    return migration.migrate_outcome_fields(db(), page_token, max_documents)


# --- Webhooks ---------------------------------------------------------------------------


def notify_settled(request_id: str) -> None:
    """Queue the webhook delivery of a settled request that asked for one. Never raises:
    settlement is done, and the final state can always be polled."""
    try:
        record = history.read_request(db(), request_id)
        data = record.data if record is not None else {}
        if data.get("webhookUrl") and data.get("status") not in UNSETTLED:
            enqueue_task(WEBHOOK_TASKS, {"requestId": request_id}, f"{request_id}-{data['status']}")
    except Exception:
        log.exception("could not queue the webhook of request %s", request_id)


def deliver_webhook(request_id: str, secret: str) -> None:
    """The delivery task: POST the final state of the request to its webhookUrl (raises on
    failure so that the queue retries it)."""
    record = history.read_request(db(), request_id)
    data = record.data if record is not None else {}
    if not data.get("webhookUrl") or data.get("status") in UNSETTLED:
        return
    webhooks.deliver(shapes.request_json(request_id, data), data["webhookUrl"], secret)
