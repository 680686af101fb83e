"""Firebase entry points, grouped by capability. Each one hands over to the `imagegen` package
beside this file: HTTPS functions to their adapter in `imagegen.transports.http_endpoints`,
callables to `imagegen.transports.callable_endpoints`, task, scheduled and blocking Auth
functions straight to the application layer, `imagegen.operations`, where every operation is
written once.

Runtime options are chosen per function; see "Production runtime options" in docs/deploying.md.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from firebase_admin import initialize_app
from firebase_functions import https_fn, identity_fn, options, scheduler_fn, tasks_fn

from imagegen.core.settings import (
    PROVIDER_SECRETS,
    SIGNUP_BONUS_KEY,
    STRIPE_SECRET_KEY,
    STRIPE_WEBHOOK_SECRET,
    WEBHOOK_SECRET,
)
from imagegen.operations import accounts, admin, gallery, generating, notifications
from imagegen.transports import callable_endpoints as callables
from imagegen.transports import emulator_server
from imagegen.transports import http_endpoints as endpoints

initialize_app()
emulator_server.outlast_emulator_keepalive()

# Runtime options (docs/deploying.md, "Production runtime options"). set_global_options
# defaults `cpu` to "gcf_gen1" (a fraction of a CPU), which forces concurrency to 1; the
# handlers are I/O-bound and thread-safe, so one full CPU serving many requests at once is set
# explicitly.
options.set_global_options(
    region="us-central1",
    cpu=1,
    memory=options.MemoryOption.MB_256,
    concurrency=80,
    timeout_sec=30,
    max_instances=20,
)

_CORS = options.CorsOptions(cors_origins="*", cors_methods=["get", "post"])
# Admin jobs scan collections: more memory, long timeouts, one request at a time.
_batch_job = https_fn.on_request(
    cors=_CORS, memory=options.MemoryOption.GB_1, timeout_sec=540, concurrency=1, max_instances=2
)


# --- Generation: create, read, cancel and list requests; the queued step and webhooks ---------


@https_fn.on_request(
    cors=_CORS,
    timeout_sec=300,
    memory=options.MemoryOption.MB_512,
    concurrency=40,
    secrets=[*PROVIDER_SECRETS, SIGNUP_BONUS_KEY],
)
def createGenerationRequest(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """POST: charge credits, generate an image, refund on failure."""
    return endpoints.create_generation_request(req)


@https_fn.on_request(cors=_CORS)
def getGenerationRequest(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """GET ?id=: one generation request and its status."""
    return endpoints.get_generation_request(req)


@https_fn.on_request(cors=_CORS)
def getGenerationImage(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """GET ?id=: a completed request's PNG, to its owner or an admin."""
    return endpoints.get_generation_image(req)


@https_fn.on_request(cors=_CORS, secrets=PROVIDER_SECRETS)
def cancelGenerationRequest(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """POST ?id=: cancel a queued (or asynchronous processing) request and refund it."""
    return endpoints.cancel_generation_request(req)


@https_fn.on_request(cors=_CORS)
def listGenerationRequests(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """GET: the caller's requests, newest first; ?status= ?model= filter, paginated."""
    return endpoints.list_generation_requests(req)


# Callable functions (httpsCallable in the Firebase client SDKs): the same operations for a
# signed-in app user; see docs/api.md, "From a web or mobile app".
@callables.on_call(
    timeout_sec=300,
    memory=options.MemoryOption.MB_512,
    concurrency=40,
    secrets=[*PROVIDER_SECRETS, SIGNUP_BONUS_KEY],
)
def generateImage(req: https_fn.CallableRequest) -> Any:  # noqa: N802
    """Charge, generate and settle one image for the caller (or queue it with async: true)."""
    return callables.generate_image(req)


@callables.on_call()
def getGeneration(req: https_fn.CallableRequest) -> Any:  # noqa: N802
    """One of the caller's generation requests."""
    return callables.get_generation(req)


@callables.on_call()
def listGenerations(req: https_fn.CallableRequest) -> Any:  # noqa: N802
    """The caller's requests, newest first; status and model filter, paginated."""
    return callables.list_generations(req)


@callables.on_call(secrets=PROVIDER_SECRETS)
def cancelGeneration(req: https_fn.CallableRequest) -> Any:  # noqa: N802
    """Cancel one of the caller's queued (or asynchronous processing) requests; refund it."""
    return callables.cancel_generation(req)


@tasks_fn.on_task_dispatched(
    retry_config=options.RetryConfig(
        max_attempts=5, min_backoff_seconds=2, max_backoff_seconds=60, max_doublings=4
    ),
    rate_limits=options.RateLimits(max_concurrent_dispatches=50),
    timeout_sec=300,
    memory=options.MemoryOption.MB_512,
    concurrency=40,
    secrets=PROVIDER_SECRETS,
)
def processGenerationRequest(req: tasks_fn.CallableRequest) -> None:  # noqa: N802
    """Task: run a queued generation and settle it. An exception makes Cloud Tasks retry with
    backoff; settlement stays exactly once."""
    generating.process_queued_generation(str(req.data["requestId"]))


@tasks_fn.on_task_dispatched(
    retry_config=options.RetryConfig(
        max_attempts=8, min_backoff_seconds=1, max_backoff_seconds=300, max_doublings=6
    ),
    rate_limits=options.RateLimits(max_concurrent_dispatches=20),
    secrets=[WEBHOOK_SECRET],
    timeout_sec=60,
    concurrency=40,
)
def deliverWebhook(req: tasks_fn.CallableRequest) -> None:  # noqa: N802
    """Task: POST a settled request's final state, signed, to its webhookUrl; retried with
    backoff until the receiver answers 2xx."""
    notifications.deliver_webhook(str(req.data["requestId"]), WEBHOOK_SECRET.value)


# --- Credits: balances, the signup bonus, buying credits with Stripe, grants ------------------


@https_fn.on_request(cors=_CORS, secrets=[SIGNUP_BONUS_KEY])
def getUserCredits(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """GET ?userId=: balance and ledger, newest first, paginated."""
    return endpoints.get_user_credits(req)


@callables.on_call(secrets=[SIGNUP_BONUS_KEY])
def getCredits(req: https_fn.CallableRequest) -> Any:  # noqa: N802
    """The caller's balance and ledger, newest first, paginated."""
    return callables.get_credits(req)


@identity_fn.before_user_created(secrets=[SIGNUP_BONUS_KEY])
def grantSignupBonus(  # noqa: N802
    event: identity_fn.AuthBlockingEvent,
) -> identity_fn.BeforeCreateResponse | None:
    """Blocking Auth trigger (before a new user is created): the signup bonus when the email
    is verified from the start (a Google account). Never blocks the signup (a failure is
    logged; the next sign-in or call tries again)."""
    _signup_bonus(event)
    return None


@identity_fn.before_user_signed_in(secrets=[SIGNUP_BONUS_KEY])
def grantSignupBonusAtSignIn(  # noqa: N802
    event: identity_fn.AuthBlockingEvent,
) -> identity_fn.BeforeSignInResponse | None:
    """Blocking Auth trigger (before a sign-in): the signup bonus at the first sign-in with a
    verified email. Never blocks the sign-in."""
    _signup_bonus(event)
    return None


def _signup_bonus(event: identity_fn.AuthBlockingEvent) -> None:
    try:
        accounts.signup_bonus(event.data.uid, event.data.email, event.data.email_verified is True)
    except Exception:
        logging.getLogger("imagegen").exception("signup bonus failed for %s", event.data.uid)


@https_fn.on_request(cors=_CORS, secrets=[STRIPE_SECRET_KEY])
def createCheckoutSession(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """POST {packId, successUrl, cancelUrl}: a Stripe Checkout Session for a credit pack."""
    return endpoints.create_checkout_session(req)


@callables.on_call(secrets=[STRIPE_SECRET_KEY])
def buyCredits(req: https_fn.CallableRequest) -> Any:  # noqa: N802
    """A Stripe Checkout Session for a credit pack, for the signed-in user: {sessionId, url}."""
    return callables.buy_credits(req)


@https_fn.on_request(secrets=[STRIPE_WEBHOOK_SECRET], concurrency=20)
def stripeWebhook(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """Stripe's events (signed): purchases credited once, refunds and disputes reversed."""
    return endpoints.stripe_webhook(req)


@https_fn.on_request(cors=_CORS)
def grantCredits(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """POST (admin): add credits to a user with a grant ledger entry."""
    return endpoints.grant_credits(req)


# --- Gallery: delete, restore and purge images; delete an account -----------------------------


@https_fn.on_request(cors=_CORS)
def deleteGenerationRequest(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """POST {id}: soft delete one of the caller's requests (its image is no longer served)."""
    return endpoints.delete_generation_request(req)


@https_fn.on_request(cors=_CORS)
def restoreGenerationRequest(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """POST {id}: restore a deleted request within SOFT_DELETE_DAYS."""
    return endpoints.restore_generation_request(req)


@https_fn.on_request(cors=_CORS)
def purgeGenerationRequest(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """POST {id}: erase a request's image and prompt for good (the accounting stays)."""
    return endpoints.purge_generation_request(req)


@https_fn.on_request(cors=_CORS, timeout_sec=300)
def deleteUserAccount(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """POST with the account's own ID token: delete the account, keeping the books whole."""
    return endpoints.delete_user_account(req)


@callables.on_call()
def deleteGeneration(req: https_fn.CallableRequest) -> Any:  # noqa: N802
    """Soft delete one of the caller's requests ({id})."""
    return callables.delete_generation(req)


@callables.on_call()
def restoreGeneration(req: https_fn.CallableRequest) -> Any:  # noqa: N802
    """Restore one of the caller's deleted requests ({id})."""
    return callables.restore_generation(req)


@callables.on_call()
def purgeGeneration(req: https_fn.CallableRequest) -> Any:  # noqa: N802
    """Erase one of the caller's requests' image and prompt ({id})."""
    return callables.purge_generation(req)


@callables.on_call(timeout_sec=300)
def deleteAccount(req: https_fn.CallableRequest) -> Any:  # noqa: N802
    """Delete the signed-in user's account, keeping the books whole."""
    return callables.delete_account(req)


@scheduler_fn.on_schedule(
    schedule="0 3 * * *",
    timezone=scheduler_fn.Timezone("UTC"),
    timeout_sec=540,
    max_instances=1,
    concurrency=1,
)
def purgeDeletedImages(event: scheduler_fn.ScheduledEvent) -> None:  # noqa: N802
    """Daily: purge the requests deleted more than SOFT_DELETE_DAYS before the run."""
    gallery.purge_deleted(event.schedule_time or datetime.now(UTC))


# --- Edits and conversations: reference images ------------------------------------------------

# Decoding an upload of up to 16.8 MP holds a few copies of its pixels: more memory, fewer at once.
_UPLOAD_OPTIONS: dict[str, Any] = {"memory": options.MemoryOption.GB_1, "concurrency": 8}


@https_fn.on_request(cors=_CORS, **_UPLOAD_OPTIONS)
def uploadImage(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """POST the raw bytes of a PNG, JPEG or WebP (at most 10 MB): stored without metadata."""
    return endpoints.upload_image(req)


@callables.on_call(**_UPLOAD_OPTIONS)
def uploadReferenceImage(req: https_fn.CallableRequest) -> Any:  # noqa: N802
    """{data: base64, contentType} (at most 7 MB decoded): like uploadImage, for the caller."""
    return callables.upload_reference_image(req)


# --- Edits and conversations: sessions of turns, each continuing from the latest image ---------


@https_fn.on_request(cors=_CORS)
def createSession(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """POST {userId?, title?}: start a conversation."""
    return endpoints.create_session(req)


@https_fn.on_request(cors=_CORS)
def listSessions(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """GET: the caller's conversations, newest first, paginated."""
    return endpoints.list_sessions(req)


@https_fn.on_request(cors=_CORS)
def getSession(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """GET ?id=: one of the caller's conversations with its turns in order."""
    return endpoints.get_session(req)


@https_fn.on_request(cors=_CORS)
def deleteSession(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """POST {id}: hide a conversation and soft-delete its requests."""
    return endpoints.delete_session(req)


@callables.on_call()
def newConversation(req: https_fn.CallableRequest) -> Any:  # noqa: N802
    """Start a conversation for the signed-in user ({title?})."""
    return callables.new_conversation(req)


@callables.on_call()
def listConversations(req: https_fn.CallableRequest) -> Any:  # noqa: N802
    """The signed-in user's conversations, newest first, paginated."""
    return callables.list_conversations(req)


@callables.on_call()
def getConversation(req: https_fn.CallableRequest) -> Any:  # noqa: N802
    """One of the signed-in user's conversations with its turns ({id})."""
    return callables.get_conversation(req)


@callables.on_call()
def deleteConversation(req: https_fn.CallableRequest) -> Any:  # noqa: N802
    """Hide one of the signed-in user's conversations and soft-delete its requests ({id})."""
    return callables.delete_conversation(req)


# --- Operations and reports: health, the audit, crash recovery, weekly reports, the migration ---


@https_fn.on_request(cors=_CORS)
def health(req: https_fn.Request) -> https_fn.Response:
    """GET: liveness; ?deep=1 also checks Firestore."""
    return endpoints.health(req)


@_batch_job
def auditLedger(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """GET/POST (admin): check the ledger invariants and list discrepancies."""
    return endpoints.audit_ledger(req)


@_batch_job
def recoverPendingRequests(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """POST (admin): settle requests left unsettled by a crash, now (complete or refund)."""
    return endpoints.recover_pending_requests(req)


@scheduler_fn.on_schedule(
    schedule="every 10 minutes", timeout_sec=540, max_instances=1, concurrency=1
)
def sweepPendingRequests(event: scheduler_fn.ScheduledEvent) -> None:  # noqa: N802
    """Every 10 minutes: settle requests charged but never settled: complete those whose
    image was stored, refund the rest."""
    admin.sweep_stuck_requests()


@_batch_job
def generateWeeklyReport(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """POST ?week=YYYY-Www (admin): build or rebuild one week's report."""
    return endpoints.generate_weekly_report(req)


@scheduler_fn.on_schedule(
    schedule="0 0 * * 1",
    timezone=scheduler_fn.Timezone("UTC"),
    timeout_sec=540,
    memory=options.MemoryOption.GB_1,
    max_instances=1,
    concurrency=1,
)
def scheduleWeeklyReport(event: scheduler_fn.ScheduledEvent) -> None:  # noqa: N802
    """Mondays 00:00 UTC: report the ISO week that just ended (re-runs rewrite the same doc)."""
    admin.run_weekly_report(event.schedule_time or datetime.now(UTC))


@_batch_job
def migrateRequestOutcomes(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """POST (admin): add report fields to request documents written without them; resumable."""
    return endpoints.migrate_request_outcomes(req)
