"""API errors: one place for every status code, error code and message clients see."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any


class ApiError(Exception):
    """An error answered to the client as `{"error": {"code", "message", ...details}}`."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return {"error": {"code": self.code, "message": self.message, **self.details}}


def _listing(values: Iterable[str]) -> str:
    """Render allowed values the way the established API does: ['a', 'b']."""
    return "[" + ", ".join(repr(v) for v in values) + "]"


def missing_fields(names: list[str]) -> ApiError:
    return ApiError(
        400,
        "missing-fields",
        f"Missing required fields: {', '.join(names)}",
        missingFields=names,
    )


def invalid_choice(field: str, value: str, allowed: Iterable[str]) -> ApiError:
    allowed = list(allowed)
    return ApiError(
        400,
        f"invalid-{field}",
        f"Invalid {field} '{value}'. Please use one of {_listing(allowed)}",
        allowed=allowed,
    )


def invalid_field(field: str, message: str) -> ApiError:
    code = "invalid-" + re.sub(r"([A-Z])", r"-\1", field).lower()
    return ApiError(400, code, message, field=field)


def invalid_type(field: str, expected: str, value: Any) -> ApiError:
    return ApiError(
        400,
        "invalid-field-type",
        f"Field '{field}' must be {expected}, got {json_type_name(value)}.",
        field=field,
    )


def invalid_json(detail: str) -> ApiError:
    return ApiError(400, "invalid-json", f"Request body is not valid JSON: {detail}")


def invalid_body() -> ApiError:
    return ApiError(400, "invalid-body", "Request body must be a JSON object.")


def body_too_large(limit: int) -> ApiError:
    return ApiError(413, "body-too-large", f"Request body is larger than {limit} bytes.")


def method_not_allowed(method: str, allowed: Iterable[str]) -> ApiError:
    allowed = list(allowed)
    err = ApiError(
        405,
        "method-not-allowed",
        f"Method {method} is not allowed here; use {' or '.join(allowed)}.",
        allowed=allowed,
    )
    err.headers["Allow"] = ", ".join(allowed)
    return err


def insufficient_credits(current: int, required: int) -> ApiError:
    return ApiError(
        400,
        "insufficient-credits",
        "Insufficient credits.",
        currentCredits=current,
        requiredCredits=required,
    )


def user_not_found() -> ApiError:
    return ApiError(404, "user-not-found", "User not found.")


def request_not_found() -> ApiError:
    return ApiError(404, "not-found", "Generation request not found.")


def generation_failed(request_id: str, refunded: int) -> ApiError:
    return ApiError(
        500,
        "generation-failed",
        "AI generation failed, credits refunded.",
        generationRequestId=request_id,
        refundedCredits=refunded,
    )


def busy(what: str) -> ApiError:
    err = ApiError(
        503,
        "busy",
        f"Too many simultaneous updates to {what}; nothing was charged. Retry shortly.",
    )
    err.headers["Retry-After"] = "1"
    return err


def unauthenticated(message: str) -> ApiError:
    err = ApiError(401, "unauthenticated", message)
    err.headers["WWW-Authenticate"] = 'Bearer realm="firebase"'
    return err


def forbidden(message: str) -> ApiError:
    return ApiError(403, "permission-denied", message)


def unavailable(message: str) -> ApiError:
    return ApiError(503, "unavailable", message)


def internal() -> ApiError:
    return ApiError(500, "internal", "Internal error.")


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
