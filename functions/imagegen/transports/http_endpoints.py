"""The HTTPS endpoints: adapters that parse a request, call one operation of the application
layer (`operations`) and shape its result (`records.shapes`). No business rules live here."""

from __future__ import annotations

from firebase_functions import https_fn
from werkzeug.http import is_resource_modified, quote_etag

from imagegen.core import auth, errors
from imagegen.generation import idempotency
from imagegen.operations import (
    accounts,
    admin,
    buying,
    gallery,
    generating,
    reads,
    sessions,
    uploads,
)
from imagegen.records import shapes
from imagegen.records.history import Page
from imagegen.transports.http_api import (
    endpoint,
    forced_outcome,
    json_response,
    query_bool,
    query_int,
    read_json_object,
    simulated_crash,
)

ASYNC_PREFERENCE = "respond-async"


def caller_of(req: https_fn.Request, check_revoked: bool = False) -> auth.Caller:
    """The caller; `check_revoked` (endpoints that move money) also refuses the token of a
    deleted or disabled user, or a revoked one, at the cost of one Auth API call."""
    return auth.verify(req.headers.get("Authorization"), check_revoked)


def wants_async(req: https_fn.Request) -> bool:
    """`Prefer: respond-async` (RFC 7240) asks for the asynchronous mode."""
    prefer = req.headers.get("Prefer", "")
    return any(p.strip().lower() == ASYNC_PREFERENCE for p in prefer.replace(";", ",").split(","))


def page_of(req: https_fn.Request) -> Page:
    size = query_int(req, "pageSize")
    return Page.of(Page().size if size is None else size, req.args.get("pageToken") or None)


def user_id_of(req: https_fn.Request) -> str | None:
    """`userId` from the query or (POST) the JSON body: the emulator's no-token form."""
    value = req.args.get("userId") or (
        read_json_object(req).get("userId") if req.method == "POST" else None
    )
    return value if value not in (None, "") else None


def request_id_of(req: https_fn.Request) -> str:
    request_id = req.args.get("id") or (
        read_json_object(req).get("id") if req.method == "POST" else None
    )
    if not request_id:
        raise errors.missing_fields(["id"])
    return request_id


@endpoint("POST")
def create_generation_request(req: https_fn.Request) -> https_fn.Response:
    """Charge, generate and settle one image: 200 with the image or 500 after a refund; with
    `Prefer: respond-async`, 202 once charged and queued."""
    caller = caller_of(req)
    accounts.signup_bonus_for(caller)
    body = read_json_object(req)
    key = req.headers.get(idempotency.HEADER)
    options = generating.GenerationOptions(
        idempotency_key=idempotency.validate_key(key) if key is not None else None,
        asynchronous=wants_async(req),
        forced=forced_outcome(req),
        crash=simulated_crash(req),
    )
    outcome = generating.create_generation(caller, generating.order_for(caller, body), options)
    headers = {"Preference-Applied": ASYNC_PREFERENCE} if options.asynchronous else {}
    if outcome.replayed:
        headers = {"Idempotent-Replayed": "true"}
    return json_response(202 if outcome.accepted else 200, outcome.body, headers)


@endpoint("GET")
def get_user_credits(req: https_fn.Request) -> https_fn.Response:
    """The user's balance and ledger, newest first, one page at a time."""
    caller = caller_of(req)
    accounts.signup_bonus_for(caller)
    page = reads.get_credits(caller, req.args.get("userId"), page_of(req))
    return json_response(200, shapes.credits_json(page))


@endpoint("POST")
def cancel_generation_request(req: https_fn.Request) -> https_fn.Response:
    """Cancel a queued or asynchronous processing request and refund it; a finished one (or a
    synchronous one still running) is left alone."""
    caller = caller_of(req)
    request_id = request_id_of(req)
    settlement = generating.cancel_generation(caller, request_id)
    return json_response(200, shapes.canceled_json(request_id, settlement.refunded))


@endpoint("GET")
def get_generation_request(req: https_fn.Request) -> https_fn.Response:
    """One generation request with its status, for polling."""
    record = reads.get_generation(caller_of(req), request_id_of(req))
    return json_response(200, shapes.record_json(record))


# Private to its owner; an hour at most, so an image its owner deletes leaves caches soon.
IMAGE_CACHE_CONTROL = "private, max-age=3600"


@endpoint("GET")
def get_generation_image(req: https_fn.Request) -> https_fn.Response:
    """A completed request's image, for its owner or an admin, streamed from the bucket in
    chunks (never whole in memory); `If-None-Match` (strong, weak or `*`) gives a 304 without
    reading the object."""
    image = reads.get_generation_image(caller_of(req), request_id_of(req), query_int(req, "index"))
    headers = {"Cache-Control": IMAGE_CACHE_CONTROL, "ETag": quote_etag(image.etag)}
    if not is_resource_modified(req.environ, etag=image.etag):
        return https_fn.Response(status=304, headers=headers)
    headers["Content-Length"] = str(image.size)
    return https_fn.Response(image.read(), status=200, mimetype=image.content_type, headers=headers)


@endpoint("GET")
def list_generation_requests(req: https_fn.Request) -> https_fn.Response:
    """The caller's requests, newest first, one page at a time; `status` and `model` filter;
    `deleted=true` lists only the deleted ones (purged included)."""
    page = reads.list_generations(
        caller_of(req),
        req.args.get("userId"),
        req.args.get("status"),
        req.args.get("model"),
        page_of(req),
        query_bool(req, "deleted"),
    )
    return json_response(200, shapes.requests_page_json(page))


@endpoint("GET")
def health(req: https_fn.Request) -> https_fn.Response:
    """Liveness without I/O; `?deep=1` also reads from Firestore."""
    return json_response(200, reads.check_health(req.args.get("deep") in ("1", "true")))


@endpoint("POST")
def grant_credits(req: https_fn.Request) -> https_fn.Response:
    """Admin: add credits to a user (created if missing) with a `grant` ledger entry (the
    admin's token is checked for revocation: it mints money)."""
    caller = caller_of(req, check_revoked=True)
    auth.require_admin(caller)  # before reading the body: nothing about it is revealed
    body = read_json_object(req)
    result = admin.grant_credits(
        caller,
        body.get("userId"),
        body.get("credits"),
        body.get("reason"),
        req.headers.get(idempotency.HEADER),
    )
    return json_response(
        200,
        shapes.grant_json(
            result.user_id, result.granted, result.balance, result.entry_id, not result.granted
        ),
    )


@endpoint("POST")
def recover_pending_requests(req: https_fn.Request) -> https_fn.Response:
    """Admin: run the sweeper now: settle requests unsettled longer than `olderThanSeconds`."""
    caller = caller_of(req, check_revoked=True)
    auth.require_admin(caller)
    result = admin.recover_pending(caller, query_int(req, "olderThanSeconds"))
    return json_response(200, result.as_dict())


@endpoint("GET", "POST")
def audit_ledger(req: https_fn.Request) -> https_fn.Response:
    """Admin: check the ledger invariants; `?userId=` limits the audit to one user."""
    return json_response(200, admin.audit_ledger(caller_of(req), req.args.get("userId")))


@endpoint("POST")
def generate_weekly_report(req: https_fn.Request) -> https_fn.Response:
    """Admin: build (or rebuild) the report of one complete ISO week, `?week=YYYY-Www`."""
    caller = caller_of(req)
    auth.require_admin(caller)
    week = req.args.get("week") or read_json_object(req).get("week")
    report = admin.build_weekly_report(caller, week)
    return json_response(200, shapes.report_json(report))


@endpoint("POST")
def migrate_request_outcomes(req: https_fn.Request) -> https_fn.Response:
    """Admin: add the outcome fields and weekly markers to request documents written without
    them; `?pageToken=` resumes, `?maxDocuments=` bounds one call."""
    caller = caller_of(req)
    auth.require_admin(caller)
    limit = query_int(req, "maxDocuments")
    progress = admin.migrate_request_outcomes(caller, req.args.get("pageToken") or None, limit)
    return json_response(200, progress.as_dict())


@endpoint("POST")
def create_checkout_session(req: https_fn.Request) -> https_fn.Response:
    """Start buying a credit pack: a Stripe Checkout Session, the purchase recorded `open`."""
    caller = caller_of(req, check_revoked=True)
    body = read_json_object(req)
    checkout = buying.buy_credits(caller, body, req.headers.get(idempotency.HEADER))
    return json_response(200, shapes.checkout_json(checkout))


STRIPE_MAX_BODY = 512 * 1024


@endpoint("POST")
def stripe_webhook(req: https_fn.Request) -> https_fn.Response:
    """Stripe's events: verified over the raw body, applied once; 400 for a bad signature,
    2xx once applied (or ignored), 5xx when applying failed (Stripe retries)."""
    if (req.content_length or 0) > STRIPE_MAX_BODY:
        raise errors.body_too_large(STRIPE_MAX_BODY)
    payload = req.get_data(cache=True)
    applied = buying.handle_stripe_webhook(payload, req.headers.get("Stripe-Signature"))
    return json_response(200, {"received": True, "outcome": applied.outcome})


@endpoint("POST")
def delete_generation_request(req: https_fn.Request) -> https_fn.Response:
    """Soft delete one of the caller's requests (`id` in the JSON body or the query)."""
    change = gallery.delete_generation(caller_of(req), request_id_of(req), user_id_of(req))
    return json_response(200, shapes.gallery_json(change))


@endpoint("POST")
def restore_generation_request(req: https_fn.Request) -> https_fn.Response:
    """Restore one of the caller's deleted requests."""
    change = gallery.restore_generation(caller_of(req), request_id_of(req), user_id_of(req))
    return json_response(200, shapes.gallery_json(change))


@endpoint("POST")
def purge_generation_request(req: https_fn.Request) -> https_fn.Response:
    """Erase one of the caller's requests' image and prompt for good."""
    change = gallery.purge_generation(caller_of(req), request_id_of(req), user_id_of(req))
    return json_response(200, shapes.gallery_json(change))


@endpoint("POST")
def delete_user_account(req: https_fn.Request) -> https_fn.Response:
    """Delete the caller's account (a real ID token only), keeping the books whole."""
    deletion = gallery.delete_account(caller_of(req, check_revoked=True), simulated_crash(req))
    return json_response(200, shapes.account_deletion_json(deletion))


@endpoint("POST")
def upload_image(req: https_fn.Request) -> https_fn.Response:
    """Upload a reference image: the raw PNG, JPEG or WebP bytes as the body, its type as the
    `Content-Type` (at most 10 MB; 413 from the declared length before anything is read)."""
    caller = caller_of(req)
    limit = uploads.MAX_HTTP_BYTES
    if (req.content_length or 0) > limit:
        raise errors.image_too_large(
            f"{req.content_length} bytes, at most {limit}.", maxBytes=limit
        )
    data = req.get_data(cache=False)
    result = uploads.upload_image(
        caller, req.args.get("userId") or None, data, req.headers.get("Content-Type"), limit
    )
    return json_response(200, result.as_dict())


@endpoint("POST")
def create_session(req: https_fn.Request) -> https_fn.Response:
    """Start a conversation: {userId?, title?} -> {sessionId, title, createdAt, ...}."""
    body = read_json_object(req)
    record = sessions.create_session(caller_of(req), user_id_of(req), body.get("title"))
    return json_response(200, shapes.session_json(record))


@endpoint("GET")
def list_sessions(req: https_fn.Request) -> https_fn.Response:
    """The caller's conversations, newest first, one page at a time."""
    page = sessions.list_sessions(caller_of(req), req.args.get("userId"), page_of(req))
    return json_response(
        200, shapes.sessions_page_json(page.user_id, page.sessions, page.next_page_token)
    )


@endpoint("GET")
def get_session(req: https_fn.Request) -> https_fn.Response:
    """One of the caller's conversations with its turns in order."""
    view = sessions.get_session(caller_of(req), req.args.get("userId"), req.args.get("id"))
    return json_response(200, shapes.session_detail_json(view.session, view.turns))


@endpoint("POST")
def delete_session(req: https_fn.Request) -> https_fn.Response:
    """Hide one of the caller's conversations and soft-delete its requests."""
    deletion = sessions.delete_session(caller_of(req), user_id_of(req), request_id_of(req))
    return json_response(200, shapes.session_deletion_json(deletion))
