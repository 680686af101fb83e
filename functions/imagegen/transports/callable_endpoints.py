"""Firebase callable functions (`httpsCallable` in the client SDKs): adapters that take the
caller from the verified `context.auth`, call one operation of the application layer
(`operations`) and return the same JSON as the HTTP endpoints. Domain errors become
`HttpsError`s with the closest canonical code (the one table below) and `details` carrying
the same `{code, message, ...}` as the HTTP error body."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from firebase_functions import https_fn
from firebase_functions.https_fn import (
    CallableRequest,
    FunctionsErrorCode,
    HttpsError,
    Request,
    Response,
)

from imagegen.core import auth, errors
from imagegen.core.auth import Caller, caller_from_claims
from imagegen.core.errors import DomainError, ErrorCode
from imagegen.core.settings import ENFORCE_APP_CHECK, running_in_emulator
from imagegen.generation import idempotency
from imagegen.operations import accounts, buying, gallery, generating, reads, sessions, uploads
from imagegen.providers.image_models import Outcome
from imagegen.records import shapes
from imagegen.records.history import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page

log = logging.getLogger(__name__)

Code = FunctionsErrorCode
# Every error code's canonical callable code (a unit test checks that none is missing).
CALLABLE_CODE: dict[ErrorCode, FunctionsErrorCode] = {
    **dict.fromkeys(
        (c for c in ErrorCode if c.startswith("invalid-") or c == ErrorCode.MISSING_FIELDS),
        Code.INVALID_ARGUMENT,
    ),
    ErrorCode.BODY_TOO_LARGE: Code.INVALID_ARGUMENT,
    ErrorCode.IMAGE_TOO_LARGE: Code.INVALID_ARGUMENT,
    ErrorCode.METHOD_NOT_ALLOWED: Code.INVALID_ARGUMENT,
    ErrorCode.UNAUTHENTICATED: Code.UNAUTHENTICATED,
    ErrorCode.PERMISSION_DENIED: Code.PERMISSION_DENIED,
    ErrorCode.USER_NOT_FOUND: Code.NOT_FOUND,
    ErrorCode.NOT_FOUND: Code.NOT_FOUND,
    ErrorCode.IMAGE_NOT_FOUND: Code.NOT_FOUND,
    ErrorCode.INSUFFICIENT_CREDITS: Code.FAILED_PRECONDITION,
    ErrorCode.NOT_CANCELABLE: Code.FAILED_PRECONDITION,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: Code.ALREADY_EXISTS,
    ErrorCode.REQUEST_IN_PROGRESS: Code.FAILED_PRECONDITION,
    ErrorCode.IMAGE_DELETED: Code.FAILED_PRECONDITION,
    ErrorCode.IMAGE_PURGED: Code.FAILED_PRECONDITION,
    ErrorCode.EDIT_NOT_SUPPORTED: Code.INVALID_ARGUMENT,
    ErrorCode.ACCOUNT_CLOSED: Code.FAILED_PRECONDITION,
    ErrorCode.GENERATION_FAILED: Code.ABORTED,
    ErrorCode.BUSY: Code.RESOURCE_EXHAUSTED,
    ErrorCode.RATE_LIMITED: Code.RESOURCE_EXHAUSTED,
    ErrorCode.TOO_MANY_PENDING: Code.RESOURCE_EXHAUSTED,
    ErrorCode.DAILY_LIMIT: Code.RESOURCE_EXHAUSTED,
    ErrorCode.GENERATION_PAUSED: Code.UNAVAILABLE,
    ErrorCode.BUDGET_EXHAUSTED: Code.UNAVAILABLE,
    ErrorCode.UNAVAILABLE: Code.UNAVAILABLE,
    ErrorCode.PAYMENTS_UNAVAILABLE: Code.UNAVAILABLE,
    ErrorCode.SIMULATED_CRASH: Code.INTERNAL,
    ErrorCode.INTERNAL: Code.INTERNAL,
}

Operation = Callable[[Caller, Mapping[str, Any]], Any]


def malformed_call(request: Request) -> str | None:
    """Why a POST cannot be a callable invocation (None when it can): the protocol's body is
    a JSON object. The SDK answers such bodies with 500 INTERNAL; they are the client's
    mistake, so `on_call` answers 400 INVALID_ARGUMENT first."""
    if request.method != "POST" or not request.is_json:
        return None  # preflight, or a content type the SDK itself refuses with a 400
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, RecursionError):
        return "Request body is not valid JSON."
    if not isinstance(body, dict):
        return "Request body must be a JSON object with a 'data' field."
    return None


def on_call(**options: Any) -> Callable[[Callable[..., Any]], Callable[[Request], Response]]:
    """`https_fn.on_call` with the same options, answering malformed bodies with a 400."""
    sdk_decorator: Any = https_fn.on_call(**options)

    def decorate(func: Callable[..., Any]) -> Callable[[Request], Response]:
        handler = sdk_decorator(func)

        @wraps(handler)  # keeps the SDK's endpoint metadata, which deploys read
        def guarded(request: Request) -> Response:
            problem = malformed_call(request)
            if problem is not None:
                body = {"error": {"status": "INVALID_ARGUMENT", "message": problem}}
                return Response(json.dumps(body), status=400, mimetype="application/json")
            return handler(request)

        return guarded

    return decorate


def https_error(err: DomainError) -> HttpsError:
    """The callable form of a domain error."""
    code = CALLABLE_CODE[err.code]
    return HttpsError(code, err.message, details=err.as_dict())


def caller_of(req: CallableRequest[Any], check_revoked: bool = False) -> Caller:
    """The signed-in user (the SDK verified the ID token); a call without one is refused, in
    the emulator too. With ENFORCE_APP_CHECK, a verified App Check token is required. The SDK
    does not check revocation; with `check_revoked` (operations that move money) the raw token
    is verified again with that check (one Auth API call), so a deleted or disabled user's
    token, or a revoked one, is `unauthenticated`."""
    if req.auth is None or not req.auth.uid:
        raise errors.unauthenticated("Sign in to call this function.")
    if ENFORCE_APP_CHECK.value and req.app is None:
        raise errors.unauthenticated("A valid App Check token is required.")
    if check_revoked:
        verified = auth.verify(req.raw_request.headers.get("Authorization"), check_revoked=True)
        if verified.uid != req.auth.uid:
            raise errors.unauthenticated("The ID token is invalid.")
    return caller_from_claims(req.auth.uid, req.auth.token)


def callable_operation(
    operation: Operation, check_revoked: bool = False
) -> Callable[[CallableRequest[Any]], Any]:
    """Turn `operation(caller, data)` into a callable handler with the error mapping;
    `check_revoked` for operations that move money (see `caller_of`)."""

    @wraps(operation)
    def run(req: CallableRequest[Any]) -> Any:
        try:
            data = {} if req.data is None else req.data
            if not isinstance(data, dict):
                raise errors.invalid_body()
            return operation(caller_of(req, check_revoked), data)
        except DomainError as err:
            raise https_error(err) from None
        except HttpsError:
            raise
        except Exception:
            log.exception("unhandled error in %s", operation.__name__)
            raise https_error(errors.internal()) from None

    return run


def money_operation(operation: Operation) -> Callable[[CallableRequest[Any]], Any]:
    """`callable_operation` for an operation that moves money: the ID token is also checked
    for revocation (a deleted or disabled user's token starts nothing)."""
    return callable_operation(operation, check_revoked=True)


def _page(data: Mapping[str, Any]) -> Page:
    size, token = data.get("pageSize", DEFAULT_PAGE_SIZE), data.get("pageToken")
    if isinstance(size, bool) or not isinstance(size, int):
        raise errors.invalid_field(
            "pageSize", f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}."
        )
    if token is not None and not isinstance(token, str):
        raise errors.invalid_type("pageToken", "a string", token)
    return Page.of(size, token or None)


def _string(data: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    value = data.get(name)
    if value in (None, ""):
        if required:
            raise errors.missing_fields([name])
        return None
    if not isinstance(value, str):
        raise errors.invalid_type(name, "a string", value)
    return value


def _options(data: Mapping[str, Any]) -> generating.GenerationOptions:
    key = _string(data, "idempotencyKey", required=False)
    asynchronous = data.get("async", False)
    if not isinstance(asynchronous, bool):
        raise errors.invalid_type("async", "a boolean", asynchronous)
    forced = None
    raw = data.get("simulateOutcome")
    if raw is not None and running_in_emulator():  # emulator only, like the HTTP header
        try:
            forced = Outcome(raw)
        except ValueError:
            raise errors.invalid_field(
                "simulateOutcome", "simulateOutcome must be 'success', 'failure' or 'partial'."
            ) from None
    return generating.GenerationOptions(
        idempotency_key=idempotency.validate_key(key) if key is not None else None,
        asynchronous=asynchronous,
        forced=forced,
    )


ORDER_FIELDS = (
    "model",
    "style",
    "color",
    "size",
    "prompt",
    "webhookUrl",
    "input",
    "sessionId",
    "mode",
    "numImages",
)


@callable_operation
def generate_image(caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    """Like POST createGenerationRequest, for the signed-in user."""
    accounts.signup_bonus_for(caller)
    order_data = {name: data[name] for name in ORDER_FIELDS if name in data}
    order = generating.order_for(caller, {**order_data, "userId": caller.uid})
    return generating.create_generation(caller, order, _options(data)).body


@callable_operation
def get_credits(caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    """Like GET getUserCredits, for the signed-in user."""
    accounts.signup_bonus_for(caller)
    return shapes.credits_json(reads.get_credits(caller, caller.uid, _page(data)))


@callable_operation
def get_generation(caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    """Like GET getGenerationRequest."""
    request_id = _string(data, "id") or ""
    return shapes.record_json(reads.get_generation(caller, request_id))


@callable_operation
def list_generations(caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    """Like GET listGenerationRequests, for the signed-in user."""
    status, model = _string(data, "status", False), _string(data, "model", False)
    deleted = data.get("deleted", False)
    if not isinstance(deleted, bool):
        raise errors.invalid_type("deleted", "a boolean", deleted)
    page = reads.list_generations(caller, caller.uid, status, model, _page(data), deleted)
    return shapes.requests_page_json(page)


@callable_operation
def cancel_generation(caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    """Like POST cancelGenerationRequest."""
    request_id = _string(data, "id") or ""
    settlement = generating.cancel_generation(caller, request_id)
    return shapes.canceled_json(request_id, settlement.refunded)


@money_operation
def buy_credits(caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    """Like POST createCheckoutSession, for the signed-in user."""
    fields = {k: data[k] for k in ("packId", "successUrl", "cancelUrl") if k in data}
    key = data.get("idempotencyKey")
    checkout = buying.buy_credits(caller, fields, key if isinstance(key, str) else None)
    return shapes.checkout_json(checkout)


@callable_operation
def delete_generation(caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    """Like POST deleteGenerationRequest."""
    return shapes.gallery_json(gallery.delete_generation(caller, _string(data, "id") or ""))


@callable_operation
def restore_generation(caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    """Like POST restoreGenerationRequest."""
    return shapes.gallery_json(gallery.restore_generation(caller, _string(data, "id") or ""))


@callable_operation
def purge_generation(caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    """Like POST purgeGenerationRequest."""
    return shapes.gallery_json(gallery.purge_generation(caller, _string(data, "id") or ""))


@money_operation
def delete_account(caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    """Like POST deleteUserAccount, for the signed-in user."""
    return shapes.account_deletion_json(gallery.delete_account(caller))


# base64 of MAX_CALLABLE_BYTES: a longer `data` is refused before it is decoded.
_MAX_BASE64_CHARS = 4 * -(-uploads.MAX_CALLABLE_BYTES // 3)


@callable_operation
def upload_reference_image(caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    """Like POST uploadImage, with the bytes in base64 (`data`, at most 7 MB decoded) and
    their `contentType`, for the signed-in user."""
    encoded = _string(data, "data") or ""
    content_type = _string(data, "contentType") or ""
    limit = uploads.MAX_CALLABLE_BYTES
    if len(encoded) > _MAX_BASE64_CHARS:
        size = len(encoded) * 3 // 4
        raise errors.image_too_large(f"about {size} bytes, at most {limit}.", maxBytes=limit)
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise errors.invalid_image("data is not valid base64.") from None
    return uploads.upload_image(caller, caller.uid, raw, content_type, limit).as_dict()


@callable_operation
def new_conversation(caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    """Like POST createSession, for the signed-in user."""
    return shapes.session_json(sessions.create_session(caller, caller.uid, data.get("title")))


@callable_operation
def list_conversations(caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    """Like GET listSessions, for the signed-in user."""
    page = sessions.list_sessions(caller, caller.uid, _page(data))
    return shapes.sessions_page_json(page.user_id, page.sessions, page.next_page_token)


@callable_operation
def get_conversation(caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    """Like GET getSession, for the signed-in user."""
    view = sessions.get_session(caller, caller.uid, data.get("id"))
    return shapes.session_detail_json(view.session, view.turns)


@callable_operation
def delete_conversation(caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    """Like POST deleteSession, for the signed-in user."""
    return shapes.session_deletion_json(sessions.delete_session(caller, caller.uid, data.get("id")))
