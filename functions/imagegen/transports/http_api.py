"""HTTP glue: JSON in, JSON out, the one table from error codes to HTTP statuses, method
checks, emulator-only test headers. The endpoints themselves are in `http_endpoints.py`."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from firebase_functions import https_fn

from imagegen.core import errors
from imagegen.core.errors import DomainError, ErrorCode
from imagegen.core.settings import running_in_emulator
from imagegen.generation.pipeline import CrashPoint
from imagegen.providers.image_models import Outcome
from imagegen.records import shapes

log = logging.getLogger(__name__)

# Every error code's HTTP status (a unit test checks that none is missing).
_BAD_REQUEST = frozenset(
    code
    for code in ErrorCode
    if code.startswith("invalid-")
    or code in (ErrorCode.MISSING_FIELDS, ErrorCode.INSUFFICIENT_CREDITS)
)
HTTP_STATUS: dict[ErrorCode, int] = {
    **dict.fromkeys(_BAD_REQUEST, 400),
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.USER_NOT_FOUND: 404,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.IMAGE_NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 409,
    ErrorCode.REQUEST_IN_PROGRESS: 409,
    ErrorCode.NOT_CANCELABLE: 409,
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.IMAGE_TOO_LARGE: 413,
    ErrorCode.IMAGE_DELETED: 410,
    ErrorCode.IMAGE_PURGED: 410,
    ErrorCode.EDIT_NOT_SUPPORTED: 400,
    ErrorCode.ACCOUNT_CLOSED: 410,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.TOO_MANY_PENDING: 429,
    ErrorCode.DAILY_LIMIT: 429,
    ErrorCode.GENERATION_PAUSED: 503,
    ErrorCode.BUDGET_EXHAUSTED: 503,
    ErrorCode.GENERATION_FAILED: 500,
    ErrorCode.SIMULATED_CRASH: 500,
    ErrorCode.INTERNAL: 500,
    ErrorCode.BUSY: 503,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.PAYMENTS_UNAVAILABLE: 503,
}
RETRY_AFTER_CODES = frozenset({ErrorCode.BUSY, ErrorCode.REQUEST_IN_PROGRESS})

MAX_BODY_BYTES = 64 * 1024
SIMULATE_OUTCOME_HEADER = "X-Simulate-Outcome"
SIMULATE_CRASH_HEADER = "X-Simulate-Crash"

Handler = Callable[[https_fn.Request], https_fn.Response]


def json_response(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> https_fn.Response:
    return https_fn.Response(
        json.dumps(body, separators=(",", ":")),
        status=status,
        mimetype="application/json",
        headers=dict(headers or {}),
    )


def http_status(err: DomainError) -> int:
    return HTTP_STATUS[err.code]


def error_response(err: DomainError) -> https_fn.Response:
    """The HTTP answer to a domain error: its status, `{"error": {...}}`, and the headers
    that go with it."""
    headers: dict[str, str] = {}
    if isinstance(err.details.get("retryAfterSeconds"), int):
        headers["Retry-After"] = str(err.details["retryAfterSeconds"])
    elif err.code in RETRY_AFTER_CODES:
        headers["Retry-After"] = "1"
    if err.code == ErrorCode.UNAUTHENTICATED:
        headers["WWW-Authenticate"] = 'Bearer realm="firebase"'
    if err.code == ErrorCode.METHOD_NOT_ALLOWED:
        headers["Allow"] = ", ".join(err.details.get("allowed", []))
    if err.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(http_status(err), shapes.error_json(err), headers)


def endpoint(*methods: str) -> Callable[[Handler], Handler]:
    """Allow only `methods`, and turn a DomainError (or any crash) into a JSON error
    response."""

    def wrap(handler: Handler) -> Handler:
        def run(req: https_fn.Request) -> https_fn.Response:
            try:
                if req.method not in methods:
                    raise errors.method_not_allowed(req.method, methods)
                return handler(req)
            except DomainError as err:
                return error_response(err)
            except Exception:
                log.exception("unhandled error in %s", handler.__name__)
                return error_response(errors.internal())

        run.__name__ = handler.__name__
        run.__doc__ = handler.__doc__
        return run

    return wrap


def query_bool(req: https_fn.Request, name: str) -> bool:
    """A `true`/`false` (or 1/0) query parameter; absent is false; 400 otherwise."""
    raw = req.args.get(name)
    if raw is None or raw == "":
        return False
    value = raw.strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise errors.invalid_field(name, f"{name} must be true or false.")


def read_json_object(req: https_fn.Request) -> dict[str, Any]:
    """The request body as a JSON object; an empty body counts as `{}`."""
    if (req.content_length or 0) > MAX_BODY_BYTES:
        raise errors.body_too_large(MAX_BODY_BYTES)
    raw = req.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise errors.body_too_large(MAX_BODY_BYTES)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise errors.invalid_json(str(exc)[:200]) from None
    if not isinstance(body, dict):
        raise errors.invalid_body()
    return body


def query_int(req: https_fn.Request, name: str) -> int | None:
    """An integer query parameter (None when absent); its bounds are the operation's."""
    raw = req.args.get(name)
    if raw is None or raw == "":
        return None
    try:  # plain decimal digits: int() alone also reads "0_1", "+1", " 1", other scripts'
        if not _DECIMAL.fullmatch(raw):
            raise ValueError(raw)
        return int(raw)
    except ValueError:
        raise errors.invalid_field(name, f"{name} must be an integer.") from None


_DECIMAL = re.compile(r"-?[0-9]+")


def forced_outcome(req: https_fn.Request) -> Outcome | None:
    """The emulator-only `X-Simulate-Outcome` header; ignored outside the emulator."""
    raw = req.headers.get(SIMULATE_OUTCOME_HEADER)
    if not raw or not running_in_emulator():
        return None
    try:
        return Outcome(raw.strip().lower())
    except ValueError:
        raise errors.invalid_header(
            SIMULATE_OUTCOME_HEADER, "'success', 'failure' or 'partial'"
        ) from None


def simulated_crash(req: https_fn.Request) -> CrashPoint | None:
    """The emulator-only `X-Simulate-Crash` header (a `CrashPoint`: after-charge, after-upload,
    after-close, after-purge); ignored outside the emulator."""
    raw = req.headers.get(SIMULATE_CRASH_HEADER)
    if not raw or not running_in_emulator():
        return None
    try:
        return CrashPoint(raw.strip().lower())
    except ValueError:
        allowed = " or ".join(f"'{point}'" for point in CrashPoint)
        raise errors.invalid_header(SIMULATE_CRASH_HEADER, allowed) from None
