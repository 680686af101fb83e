"""The domain's errors: one place for every error code and message clients see.

Every code is a member of `ErrorCode`; errors carry no transport: each adapter maps the code
to its own terms in one table keyed by `ErrorCode` (`http_api.HTTP_STATUS` for HTTP,
`callable_endpoints.CALLABLE_CODE` for callables), and a unit test checks that both tables
name every code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Every error code a client can see (the `code` of the JSON error body)."""

    # 400: the request is malformed; nothing was changed.
    MISSING_FIELDS = "missing-fields"
    INVALID_FIELD_TYPE = "invalid-field-type"
    INVALID_JSON = "invalid-json"
    INVALID_BODY = "invalid-body"
    INVALID_HEADER = "invalid-header"
    INVALID_MODEL = "invalid-model"
    INVALID_STYLE = "invalid-style"
    INVALID_COLOR = "invalid-color"
    INVALID_SIZE = "invalid-size"
    INVALID_PROMPT = "invalid-prompt"
    INVALID_USER_ID = "invalid-user-id"
    INVALID_ID = "invalid-id"
    INVALID_STATUS = "invalid-status"
    INVALID_DELETED = "invalid-deleted"
    INVALID_REASON = "invalid-reason"
    INVALID_CREDITS = "invalid-credits"
    INVALID_WEEK = "invalid-week"
    INVALID_PAGE_SIZE = "invalid-page-size"
    INVALID_PAGE_TOKEN = "invalid-page-token"
    INVALID_IDEMPOTENCY_KEY = "invalid-idempotency-key"
    INVALID_WEBHOOK_URL = "invalid-webhook-url"
    INVALID_SIMULATE_OUTCOME = "invalid-simulate-outcome"
    INVALID_OLDER_THAN_SECONDS = "invalid-older-than-seconds"
    INVALID_MAX_DOCUMENTS = "invalid-max-documents"
    INVALID_PACK_ID = "invalid-pack-id"
    INVALID_SUCCESS_URL = "invalid-success-url"
    INVALID_CANCEL_URL = "invalid-cancel-url"
    INVALID_SIGNATURE = "invalid-signature"
    INVALID_INPUT = "invalid-input"
    INVALID_SESSION_ID = "invalid-session-id"
    INVALID_NUM_IMAGES = "invalid-num-images"
    INVALID_INDEX = "invalid-index"
    INVALID_MODE = "invalid-mode"
    INVALID_TITLE = "invalid-title"
    EDIT_NOT_SUPPORTED = "edit-not-supported"
    INVALID_IMAGE = "invalid-image"
    INSUFFICIENT_CREDITS = "insufficient-credits"
    # 401 / 403 / 404 / 405
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission-denied"
    USER_NOT_FOUND = "user-not-found"
    NOT_FOUND = "not-found"
    IMAGE_NOT_FOUND = "image-not-found"
    METHOD_NOT_ALLOWED = "method-not-allowed"
    # 409 / 413: a conflict with the current state, an oversized body or image.
    IDEMPOTENCY_KEY_REUSED = "idempotency-key-reused"
    REQUEST_IN_PROGRESS = "request-in-progress"
    NOT_CANCELABLE = "not-cancelable"
    BODY_TOO_LARGE = "body-too-large"
    IMAGE_TOO_LARGE = "image-too-large"
    # 410: the image was deleted by its owner (restorable) or purged (gone for good); the
    # account is closed (being deleted, or deleted).
    IMAGE_DELETED = "image-deleted"
    ACCOUNT_CLOSED = "account-closed"
    IMAGE_PURGED = "image-purged"
    # 429: a limit; nothing was charged. `retryAfterSeconds` says when to try again.
    RATE_LIMITED = "rate-limited"
    TOO_MANY_PENDING = "too-many-pending"
    DAILY_LIMIT = "daily-limit"
    # 5xx: the request was valid; credits are safe (refunded, or never charged).
    GENERATION_FAILED = "generation-failed"
    SIMULATED_CRASH = "simulated-crash"
    INTERNAL = "internal"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"
    PAYMENTS_UNAVAILABLE = "payments-unavailable"
    GENERATION_PAUSED = "generation-paused"
    BUDGET_EXHAUSTED = "budget-exhausted"


def field_error_code(field: str) -> ErrorCode:
    """The `invalid-<field>` code of a field name (camelCase becomes kebab-case); a field
    without its own code is a programming error, caught by the unit tests."""
    return ErrorCode("invalid-" + re.sub(r"([A-Z])", r"-\1", field).lower())


class DomainError(Exception):
    """An error the caller is told about: a kebab-case `code`, a human `message`, details."""

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.details = details
        self.replayed = False  # set when an idempotency key replays a stored error

    def as_dict(self) -> dict[str, Any]:
        """`{"code", "message", ...details}`: the error object of every transport."""
        return {"code": self.code, "message": self.message, **self.details}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DomainError:
        """The inverse of `as_dict` (for stored outcomes that are replayed)."""
        details = {k: v for k, v in data.items() if k not in ("code", "message")}
        return cls(ErrorCode(str(data["code"])), str(data["message"]), **details)


def _listing(values: Iterable[str]) -> str:
    """Render allowed values the way the established API does: ['a', 'b']."""
    return "[" + ", ".join(repr(v) for v in values) + "]"


def missing_fields(names: list[str]) -> DomainError:
    return DomainError(
        ErrorCode.MISSING_FIELDS,
        f"Missing required fields: {', '.join(names)}",
        missingFields=names,
    )


def invalid_choice(field: str, value: str, allowed: Iterable[str]) -> DomainError:
    allowed = list(allowed)
    return DomainError(
        field_error_code(field),
        f"Invalid {field} '{value}'. Please use one of {_listing(allowed)}",
        allowed=allowed,
    )


def invalid_field(field: str, message: str) -> DomainError:
    return DomainError(field_error_code(field), message, field=field)


def invalid_type(field: str, expected: str, value: Any) -> DomainError:
    return DomainError(
        ErrorCode.INVALID_FIELD_TYPE,
        f"Field '{field}' must be {expected}, got {json_type_name(value)}.",
        field=field,
    )


def invalid_json(detail: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_JSON, f"Request body is not valid JSON: {detail}")


def invalid_body() -> DomainError:
    return DomainError(ErrorCode.INVALID_BODY, "Request body must be a JSON object.")


def body_too_large(limit: int) -> DomainError:
    return DomainError(ErrorCode.BODY_TOO_LARGE, f"Request body is larger than {limit} bytes.")


def invalid_image(detail: str, **details: Any) -> DomainError:
    return DomainError(ErrorCode.INVALID_IMAGE, f"Not a usable image: {detail}", **details)


def image_too_large(detail: str, **details: Any) -> DomainError:
    return DomainError(ErrorCode.IMAGE_TOO_LARGE, f"The image is too large: {detail}", **details)


def method_not_allowed(method: str, allowed: Iterable[str]) -> DomainError:
    allowed = list(allowed)
    return DomainError(
        ErrorCode.METHOD_NOT_ALLOWED,
        f"Method {method} is not allowed here; use {' or '.join(allowed)}.",
        allowed=allowed,
    )


def insufficient_credits(current: int, required: int) -> DomainError:
    return DomainError(
        ErrorCode.INSUFFICIENT_CREDITS,
        "Insufficient credits.",
        currentCredits=current,
        requiredCredits=required,
    )


def user_not_found() -> DomainError:
    return DomainError(ErrorCode.USER_NOT_FOUND, "User not found.")


def upload_not_found() -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "Upload not found.")


def edit_not_supported(model: str) -> DomainError:
    return DomainError(
        ErrorCode.EDIT_NOT_SUPPORTED,
        f"Model '{model}' cannot edit an image; nothing was charged.",
        model=model,
    )


def request_not_found() -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "Generation request not found.")


def session_not_found() -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "Session not found.")


def generation_failed(request_id: str, refunded: int, kind: str | None = None) -> DomainError:
    return DomainError(
        ErrorCode.GENERATION_FAILED,
        "AI generation failed, credits refunded.",
        generationRequestId=request_id,
        refundedCredits=refunded,
        **({"failureKind": kind} if kind else {}),
    )


def busy(what: str) -> DomainError:
    return DomainError(
        ErrorCode.BUSY,
        f"Too many simultaneous updates to {what}; nothing was charged. Retry shortly.",
    )


def unauthenticated(message: str) -> DomainError:
    return DomainError(ErrorCode.UNAUTHENTICATED, message)


def forbidden(message: str) -> DomainError:
    return DomainError(ErrorCode.PERMISSION_DENIED, message)


def unavailable(message: str) -> DomainError:
    return DomainError(ErrorCode.UNAVAILABLE, message)


def simulated_account_crash(user_id: str, point: str) -> DomainError:
    return DomainError(
        ErrorCode.SIMULATED_CRASH,
        f"Simulated crash {point} (emulator only); calling deleteUserAccount again finishes "
        "the deletion.",
        userId=user_id,
        crashPoint=point,
    )


def image_deleted(request_id: str) -> DomainError:
    return DomainError(
        ErrorCode.IMAGE_DELETED,
        "This image was deleted by its owner (it can be restored for a while).",
        generationRequestId=request_id,
    )


def image_purged(request_id: str) -> DomainError:
    return DomainError(
        ErrorCode.IMAGE_PURGED,
        "This image and its prompt were erased for good; it cannot be restored.",
        generationRequestId=request_id,
    )


def account_closed(user_id: str) -> DomainError:
    return DomainError(
        ErrorCode.ACCOUNT_CLOSED,
        "This account is closed (being deleted, or deleted): it can no longer buy or receive "
        "credits. Nothing was created.",
        userId=user_id,
    )


def still_in_progress(request_id: str, status: str) -> DomainError:
    return DomainError(
        ErrorCode.REQUEST_IN_PROGRESS,
        f"The request is still {status}; it can be deleted once it has finished.",
        generationRequestId=request_id,
        currentStatus=status,
    )


def account_deletion_waits(request_id: str, status: str) -> DomainError:
    return DomainError(
        ErrorCode.REQUEST_IN_PROGRESS,
        f"The account is closed (no new request, purchase or grant), but request {request_id} "
        f"is still {status} at its provider. Call again once it has finished to finish "
        "deleting the account.",
        generationRequestId=request_id,
        currentStatus=status,
    )


def rate_limited(per_minute: int, retry_after: int) -> DomainError:
    return DomainError(
        ErrorCode.RATE_LIMITED,
        f"Too many requests: at most {per_minute} per minute. Nothing was charged; "
        f"retry in {retry_after} s.",
        limit=per_minute,
        retryAfterSeconds=retry_after,
    )


def too_many_pending(max_pending: int, retry_after: int) -> DomainError:
    return DomainError(
        ErrorCode.TOO_MANY_PENDING,
        f"Too many requests in progress: at most {max_pending} at once. Nothing was charged; "
        "retry when one has finished.",
        limit=max_pending,
        retryAfterSeconds=retry_after,
    )


def daily_limit(limit: int, spent: int, retry_after: int) -> DomainError:
    return DomainError(
        ErrorCode.DAILY_LIMIT,
        f"Daily credit limit reached: {spent} of {limit} credits spent today (UTC). "
        "Nothing was charged.",
        limit=limit,
        spentToday=spent,
        retryAfterSeconds=retry_after,
    )


def generation_paused() -> DomainError:
    return DomainError(
        ErrorCode.GENERATION_PAUSED,
        "Image generation is paused by the operators. Nothing was charged; retry later.",
        retryAfterSeconds=60,
    )


def budget_exhausted(retry_after: int) -> DomainError:
    return DomainError(
        ErrorCode.BUDGET_EXHAUSTED,
        "Today's generation budget is used up. Nothing was charged; retry tomorrow (UTC).",
        retryAfterSeconds=retry_after,
    )


def payments_unavailable() -> DomainError:
    return DomainError(
        ErrorCode.PAYMENTS_UNAVAILABLE,
        "The payment provider could not start a checkout; nothing was charged. Retry shortly.",
    )


def invalid_signature() -> DomainError:
    return DomainError(
        ErrorCode.INVALID_SIGNATURE,
        "The Stripe-Signature header does not verify for this body (or is older than 300 s).",
    )


def internal() -> DomainError:
    return DomainError(ErrorCode.INTERNAL, "Internal error.")


def json_type_name(value: Any) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def invalid_header(name: str, expected: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_HEADER, f"{name} must be {expected}.", header=name)


def not_cancelable(request_id: str, status: str) -> DomainError:
    return DomainError(
        ErrorCode.NOT_CANCELABLE,
        f"The request is already {status}; only queued requests can be canceled. Nothing was "
        "changed.",
        generationRequestId=request_id,
        currentStatus=status,
    )


def running_at_provider(request_id: str, status: str) -> DomainError:
    return DomainError(
        ErrorCode.REQUEST_IN_PROGRESS,
        f"The request is already {status}: a provider is working on it and bills for it, so it "
        "can no longer be canceled. It ends as it ends, within its deadline (a failure is "
        "refunded). Nothing was changed.",
        generationRequestId=request_id,
        currentStatus=status,
    )


def simulated_crash(request_id: str, point: str) -> DomainError:
    return DomainError(
        ErrorCode.SIMULATED_CRASH,
        f"Simulated crash {point} (emulator only); the request stays pending until the "
        "sweeper settles it.",
        generationRequestId=request_id,
        crashPoint=point,
    )


def image_not_found() -> DomainError:
    return DomainError(ErrorCode.IMAGE_NOT_FOUND, "This generation request has no image.")


def idempotency_key_reused() -> DomainError:
    return DomainError(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        "This Idempotency-Key was already used with a different request body.",
    )


def request_in_progress(request_id: str) -> DomainError:
    return DomainError(
        ErrorCode.REQUEST_IN_PROGRESS,
        "A request with this Idempotency-Key is still in progress; retry shortly.",
        generationRequestId=request_id,
    )
