"""The HTTPS endpoints: each checks who calls, validates, and calls the domain."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from firebase_functions import https_fn

from . import (
    audit,
    auth,
    errors,
    idempotency,
    ledger,
    migration,
    recovery,
    webhooks,
    weekly_report,
    weeks,
)
from .catalog import Catalog, CatalogCache, catalog_from_documents
from .firestore_client import db
from .generation import SimulatedCrash, enqueue, generate, new_request_id
from .http_api import (
    endpoint,
    forced_outcome,
    json_response,
    query_int,
    read_json_object,
    simulated_crash,
)
from .settings import PENDING_TIMEOUT_SECONDS, failure_rate, latency_ms, running_in_emulator
from .simulator import MODEL_NAMES, ImageModel, build_models
from .validation import parse_generation_input, validate_user_id

log = logging.getLogger(__name__)


def _load_catalog() -> Catalog:
    client = db()
    docs = {
        name: {doc.id: doc.to_dict() or {} for doc in client.collection(name).stream()}
        for name in ("styles", "colors", "sizes")
    }
    return catalog_from_documents(docs)


CATALOG = CatalogCache(_load_catalog)
MODELS: Mapping[str, ImageModel] = build_models(failure_rate, latency_ms)


def current_catalog() -> Catalog:
    catalog = CATALOG.get()
    if not catalog.sizes:
        CATALOG.invalidate()
        raise errors.unavailable(
            "The catalog is empty: seed Firestore with `python seed_config.py`."
        )
    return catalog


TASK_FUNCTION = "processGenerationRequest"


def wants_async(req: https_fn.Request) -> bool:
    """`Prefer: respond-async` (RFC 7240) asks for the asynchronous mode."""
    prefer = req.headers.get("Prefer", "")
    return any(p.strip().lower() == "respond-async" for p in prefer.replace(";", ",").split(","))


WEBHOOK_FUNCTION = "deliverWebhook"


def _enqueue_task(function_name: str, request_id: str, task_id: str) -> None:
    """Queue a task for a task-queue function (Cloud Tasks; the emulator's in development)."""
    from firebase_admin import functions

    queue = functions.task_queue(function_name)  # in us-central1, like every function here
    # The task id deduplicates enqueues in production. In the emulator the Admin SDK cannot
    # parse the name the emulator echoes back for a task given an id (it drops one character
    # too many), so there the emulator names the task; processing is idempotent either way.
    options = None if running_in_emulator() else functions.TaskOptions(task_id=task_id)
    # A task function reads a callable-style body, {"data": ...}, which the Python Admin SDK
    # does not add by itself.
    queue.enqueue({"data": {"requestId": request_id}}, options)


def send_task(request_id: str) -> None:
    """Queue the generation of an asynchronous request."""
    _enqueue_task(TASK_FUNCTION, request_id, request_id)


def notify_settled(request_id: str) -> None:
    """Queue the webhook delivery of a settled request that asked for one. Never raises:
    settlement is done, and the final state can always be polled."""
    try:
        snap = db().collection(ledger.REQUESTS).document(request_id).get()
        data = snap.to_dict() or {}
        if data.get("webhookUrl") and data.get("status") not in ledger.UNSETTLED:
            _enqueue_task(WEBHOOK_FUNCTION, request_id, f"{request_id}-{data['status']}")
    except Exception:
        log.exception("could not queue the webhook of request %s", request_id)


def deliver_webhook(request_id: str, secret: str) -> None:
    """The delivery task: POST the final state of the request to its webhookUrl (raises on
    failure so that Cloud Tasks retries it)."""
    snap = db().collection(ledger.REQUESTS).document(request_id).get()
    data = snap.to_dict() if snap.exists else None
    if not data or not data.get("webhookUrl") or data.get("status") in ledger.UNSETTLED:
        return
    webhooks.deliver(request_json(request_id, data), data["webhookUrl"], secret)


def caller_of(req: https_fn.Request) -> auth.Caller:
    return auth.verify(req.headers.get("Authorization"))


def queried_user(req: https_fn.Request) -> str:
    """The user a read is about: `?userId=`, else the token's uid; the caller must be allowed."""
    caller = caller_of(req)
    user_id = req.args.get("userId") or caller.uid
    if not user_id:
        raise errors.missing_fields(["userId"])
    validate_user_id(user_id)
    auth.require_user(caller, user_id)
    return user_id


def now() -> datetime:
    return datetime.now(UTC)


@endpoint("POST")
def create_generation_request(req: https_fn.Request) -> https_fn.Response:
    """Charge, generate and settle one image: 200 with the image or 500 after a refund; with
    `Prefer: respond-async`, 202 once charged and queued."""
    caller = caller_of(req)
    body = read_json_object(req)
    if caller.uid is not None and body.get("userId") in (None, ""):
        body["userId"] = caller.uid
    forced = forced_outcome(req)
    crash = simulated_crash(req)
    key = req.headers.get(idempotency.HEADER)
    if key is not None:
        idempotency.validate_key(key)
    order = parse_generation_input(body, current_catalog(), MODEL_NAMES, running_in_emulator())
    auth.require_user(caller, order.user_id)
    client = db()

    asynchronous = wants_async(req)

    def run(request_id: str | None) -> tuple[int, dict[str, Any]]:
        if asynchronous:
            charged = enqueue(client, order, request_id or new_request_id(), send_task, forced)
            return 202, {
                "generationRequestId": charged.request_id,
                "status": charged.status,
                "deductedCredits": charged.cost,
                "remainingCredits": charged.balance,
            }
        try:
            outcome = generate(client, order, MODELS, forced, request_id, crash)
            if order.webhook_url and outcome.settlement.settled_now:
                notify_settled(outcome.request_id)
            return outcome.response()
        except SimulatedCrash as crashed:
            raise errors.ApiError(
                500,
                "simulated-crash",
                "Simulated crash after the charge (emulator only); the request stays pending.",
                generationRequestId=str(crashed),
            ) from None

    headers = {"Preference-Applied": "respond-async"} if asynchronous else {}
    if key is None:
        status, payload = run(None)
        return json_response(status, payload, headers)
    digest = idempotency.payload_hash(order.as_payload())
    claim = idempotency.claim(client, order.user_id, key, digest, now())
    if claim.replay is not None:
        status, payload = claim.replay
        return json_response(status, payload, {"Idempotent-Replayed": "true"})
    try:
        status, payload = run(claim.request_id)
    except errors.ApiError as err:
        if err.code == "busy":
            idempotency.release(client, claim)  # nothing happened: the key may be retried
        elif err.code not in ("simulated-crash", "internal"):
            idempotency.finish(client, claim, err.status, err.body())
        raise
    idempotency.finish(client, claim, status, payload)
    return json_response(status, payload, headers)


@endpoint("GET")
def get_user_credits(req: https_fn.Request) -> https_fn.Response:
    """The user's balance and ledger, newest first, one page at a time."""
    user_id = queried_user(req)
    page_size = query_int(req, "pageSize", ledger.DEFAULT_PAGE_SIZE, 1, ledger.MAX_PAGE_SIZE)
    page = ledger.read_ledger(db(), user_id, page_size, req.args.get("pageToken") or None)
    return json_response(
        200,
        {
            "userId": user_id,
            "currentCredits": page.balance,
            "transactions": page.entries,
            "nextPageToken": page.next_page_token,
        },
    )


@endpoint("POST")
def cancel_generation_request(req: https_fn.Request) -> https_fn.Response:
    """Cancel a queued request and refund it; a processing or finished one is left alone."""
    caller = caller_of(req)
    request_id = req.args.get("id") or read_json_object(req).get("id")
    if not request_id:
        raise errors.missing_fields(["id"])
    validate_user_id(request_id, "id")
    client = db()
    snap = client.collection(ledger.REQUESTS).document(request_id).get()
    data = snap.to_dict() if snap.exists else None
    if data is None or not caller.may_act_for(str(data.get("userId"))):
        raise errors.request_not_found()
    settlement = ledger.cancel(client, request_id)
    if settlement.settled_now:
        notify_settled(request_id)
    else:
        raise errors.ApiError(
            409,
            "not-cancelable",
            f"The request is already {settlement.status}; only queued requests can be "
            "canceled. Nothing was changed.",
            generationRequestId=request_id,
            currentStatus=settlement.status,
        )
    return json_response(
        200,
        {
            "generationRequestId": request_id,
            "status": ledger.CANCELED,
            "refundedCredits": settlement.refunded,
        },
    )


REQUEST_FIELDS: tuple[str, ...] = (
    "userId",
    "model",
    "style",
    "color",
    "size",
    "prompt",
    "cost",
    "status",
    "imageUrl",
    "failureReason",
    "failureKind",
    "failureStage",
    "refundedCredits",
    "mode",
    "webhookUrl",
)
REQUEST_TIMES: tuple[str, ...] = (
    "createdAt",
    "queuedAt",
    "processingAt",
    "completedAt",
    "failedAt",
    "canceledAt",
    "updatedAt",
)


def request_json(request_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A generation request document as the API shows it."""
    out: dict[str, Any] = {"generationRequestId": request_id}
    out.update({k: data[k] for k in REQUEST_FIELDS if k in data})
    out.update({k: ledger.iso(data[k]) for k in REQUEST_TIMES if k in data})
    return out


@endpoint("GET")
def get_generation_request(req: https_fn.Request) -> https_fn.Response:
    """One generation request with its status, for polling."""
    caller = caller_of(req)
    request_id = req.args.get("id")
    if not request_id:
        raise errors.missing_fields(["id"])
    validate_user_id(request_id, "id")
    snap = db().collection(ledger.REQUESTS).document(request_id).get()
    data = snap.to_dict() if snap.exists else None
    if data is None or not caller.may_act_for(str(data.get("userId"))):
        raise errors.request_not_found()  # another user's request is not revealed
    return json_response(200, request_json(snap.id, data))


LISTABLE_STATUSES = (*ledger.UNSETTLED, ledger.COMPLETED, ledger.FAILED, ledger.CANCELED)


@endpoint("GET")
def list_generation_requests(req: https_fn.Request) -> https_fn.Response:
    """The caller's requests, newest first, one page at a time; `status` and `model` filter."""
    user_id = queried_user(req)
    status, model = req.args.get("status"), req.args.get("model")
    if status is not None and status not in LISTABLE_STATUSES:
        raise errors.invalid_choice("status", status, LISTABLE_STATUSES)
    if model is not None and model not in MODEL_NAMES:
        raise errors.invalid_choice("model", model, MODEL_NAMES)
    page_size = query_int(req, "pageSize", ledger.DEFAULT_PAGE_SIZE, 1, ledger.MAX_PAGE_SIZE)
    docs, token = ledger.list_requests(
        db(), user_id, status, model, page_size, req.args.get("pageToken") or None
    )
    return json_response(
        200,
        {
            "userId": user_id,
            "generationRequests": [request_json(doc.id, doc.to_dict() or {}) for doc in docs],
            "nextPageToken": token,
        },
    )


@endpoint("GET")
def health(req: https_fn.Request) -> https_fn.Response:
    """Liveness without I/O; `?deep=1` also reads from Firestore."""
    body: dict[str, Any] = {"status": "ok", "emulator": running_in_emulator()}
    if req.args.get("deep") in ("1", "true"):
        started = time.perf_counter()
        try:
            list(db().collection("sizes").limit(1).stream())
        except Exception as exc:
            log.warning("deep health check failed: %s", exc)
            raise errors.unavailable("Firestore is not reachable.") from None
        latency = round((time.perf_counter() - started) * 1000, 1)
        body["firestore"] = {"status": "ok", "latencyMs": latency}
    return json_response(200, body)


@endpoint("POST")
def grant_credits(req: https_fn.Request) -> https_fn.Response:
    """Admin: add credits to a user (created if missing) with a `grant` ledger entry."""
    auth.require_admin(caller_of(req))
    body = read_json_object(req)
    missing = [f for f in ("userId", "credits") if body.get(f) in (None, "")]
    if missing:
        raise errors.missing_fields(missing)
    user_id = validate_user_id(body["userId"])
    credits = body["credits"]
    if not isinstance(credits, int) or isinstance(credits, bool):
        raise errors.invalid_type("credits", "an integer", credits)
    if not 1 <= credits <= ledger.MAX_GRANT:
        raise errors.invalid_field(
            "credits", f"credits must be an integer from 1 to {ledger.MAX_GRANT}."
        )
    reason = body.get("reason", "grant")
    if not isinstance(reason, str) or len(reason) > 500:
        raise errors.invalid_field("reason", "reason must be a string of at most 500 characters.")
    key = req.headers.get(idempotency.HEADER)
    entry_id = (
        "grant-" + idempotency.record_id(user_id, idempotency.validate_key(key))[:40]
        if key
        else f"grant-{uuid.uuid4().hex}"
    )
    balance, granted = ledger.grant(db(), user_id, credits, reason, entry_id)
    return json_response(
        200,
        {
            "userId": user_id,
            "grantedCredits": credits if granted else 0,
            "currentCredits": balance,
            "transactionId": entry_id,
            "replayed": not granted,
        },
    )


def pending_timeout(req: https_fn.Request | None = None) -> timedelta:
    """How old a pending request must be for the sweeper; `olderThanSeconds` may lower it."""
    default = max(60, PENDING_TIMEOUT_SECONDS.value)
    if req is None:
        return timedelta(seconds=default)
    low = 0 if running_in_emulator() else 60
    return timedelta(seconds=query_int(req, "olderThanSeconds", default, low, 7 * 24 * 3600))


@endpoint("POST")
def recover_pending_requests(req: https_fn.Request) -> https_fn.Response:
    """Admin: run the sweeper now (refund requests pending longer than the timeout)."""
    auth.require_admin(caller_of(req))
    result = recovery.sweep_pending(db(), pending_timeout(req), now(), on_settled=notify_settled)
    return json_response(200, result.as_dict())


@endpoint("GET", "POST")
def audit_ledger(req: https_fn.Request) -> https_fn.Response:
    """Admin: check the ledger invariants; `?userId=` limits the audit to one user."""
    auth.require_admin(caller_of(req))
    user_id = req.args.get("userId")
    users = [validate_user_id(user_id)] if user_id else None
    report = audit.audit(db(), now(), pending_timeout(), users)
    return json_response(200, report)


@endpoint("POST")
def generate_weekly_report(req: https_fn.Request) -> https_fn.Response:
    """Admin: build (or rebuild) the report of one complete ISO week, `?week=YYYY-Www`."""
    auth.require_admin(caller_of(req))
    week = req.args.get("week") or read_json_object(req).get("week")
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
    report = weekly_report.write_report(db(), week)
    return json_response(200, weekly_report.report_json(report))


@endpoint("POST")
def migrate_request_outcomes(req: https_fn.Request) -> https_fn.Response:
    """Admin: add the outcome fields and weekly markers to request documents written without
    them; `?pageToken=` resumes, `?maxDocuments=` bounds one call."""
    auth.require_admin(caller_of(req))
    limit = query_int(req, "maxDocuments", migration.MAX_DOCUMENTS, 1, migration.MAX_DOCUMENTS)
    token = req.args.get("pageToken") or None
    progress = migration.migrate_outcome_fields(db(), token, limit)
    return json_response(200, progress.as_dict())
