"""The domain's errors: one place for every error code and message clients see.

Errors carry no transport: each adapter maps the code to its own terms, in one table
(`http_api.HTTP_STATUS` for HTTP).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any


class DomainError(Exception):
    """An error the caller is told about: a kebab-case `code`, a human `message`, details."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
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
        return cls(str(data["code"]), str(data["message"]), **details)


def _listing(values: Iterable[str]) -> str:
    """Render allowed values the way the established API does: ['a', 'b']."""
    return "[" + ", ".join(repr(v) for v in values) + "]"


def missing_fields(names: list[str]) -> DomainError:
    return DomainError(
        "missing-fields",
        f"Missing required fields: {', '.join(names)}",
        missingFields=names,
    )


def invalid_choice(field: str, value: str, allowed: Iterable[str]) -> DomainError:
    allowed = list(allowed)
    return DomainError(
        f"invalid-{field}",
        f"Invalid {field} '{value}'. Please use one of {_listing(allowed)}",
        allowed=allowed,
    )


def invalid_field(field: str, message: str) -> DomainError:
    code = "invalid-" + re.sub(r"([A-Z])", r"-\1", field).lower()
    return DomainError(code, message, field=field)


def invalid_type(field: str, expected: str, value: Any) -> DomainError:
    return DomainError(
        "invalid-field-type",
        f"Field '{field}' must be {expected}, got {json_type_name(value)}.",
        field=field,
    )


def invalid_json(detail: str) -> DomainError:
    return DomainError("invalid-json", f"Request body is not valid JSON: {detail}")


def invalid_body() -> DomainError:
    return DomainError("invalid-body", "Request body must be a JSON object.")


def body_too_large(limit: int) -> DomainError:
    return DomainError("body-too-large", f"Request body is larger than {limit} bytes.")


def method_not_allowed(method: str, allowed: Iterable[str]) -> DomainError:
    allowed = list(allowed)
    return DomainError(
        "method-not-allowed",
        f"Method {method} is not allowed here; use {' or '.join(allowed)}.",
        allowed=allowed,
    )


def insufficient_credits(current: int, required: int) -> DomainError:
    return DomainError(
        "insufficient-credits",
        "Insufficient credits.",
        currentCredits=current,
        requiredCredits=required,
    )


def user_not_found() -> DomainError:
    return DomainError("user-not-found", "User not found.")


def request_not_found() -> DomainError:
    return DomainError("not-found", "Generation request not found.")


def generation_failed(request_id: str, refunded: int) -> DomainError:
    return DomainError(
        "generation-failed",
        "AI generation failed, credits refunded.",
        generationRequestId=request_id,
        refundedCredits=refunded,
    )


def busy(what: str) -> DomainError:
    return DomainError(
        "busy",
        f"Too many simultaneous updates to {what}; nothing was charged. Retry shortly.",
    )


def unauthenticated(message: str) -> DomainError:
    return DomainError("unauthenticated", message)


def forbidden(message: str) -> DomainError:
    return DomainError("permission-denied", message)


def unavailable(message: str) -> DomainError:
    return DomainError("unavailable", message)


def internal() -> DomainError:
    return DomainError("internal", "Internal error.")


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
    return DomainError("invalid-header", f"{name} must be {expected}.", header=name)


def not_cancelable(request_id: str, status: str) -> DomainError:
    return DomainError(
        "not-cancelable",
        f"The request is already {status}; only queued requests can be canceled. "
        "Nothing was changed.",
        generationRequestId=request_id,
        currentStatus=status,
    )


def simulated_crash(request_id: str, point: str) -> DomainError:
    return DomainError(
        "simulated-crash",
        f"Simulated crash {point} (emulator only); the request stays pending until the "
        "sweeper settles it.",
        generationRequestId=request_id,
        crashPoint=point,
    )


def image_not_found() -> DomainError:
    return DomainError("image-not-found", "This generation request has no image.")


def idempotency_key_reused() -> DomainError:
    return DomainError(
        "idempotency-key-reused",
        "This Idempotency-Key was already used with a different request body.",
    )


def request_in_progress(request_id: str) -> DomainError:
    return DomainError(
        "request-in-progress",
        "A request with this Idempotency-Key is still in progress; retry shortly.",
        generationRequestId=request_id,
    )
