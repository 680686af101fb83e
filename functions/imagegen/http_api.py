"""HTTP glue: JSON in, JSON out, errors as `{"error": {...}}`, method checks, emulator-only
test headers. The endpoints themselves are in `endpoints.py`."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from firebase_functions import https_fn

from . import errors
from .settings import running_in_emulator
from .simulator import Outcome

log = logging.getLogger(__name__)

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


def error_response(err: errors.ApiError) -> https_fn.Response:
    return json_response(err.status, err.body(), err.headers)


def endpoint(*methods: str) -> Callable[[Handler], Handler]:
    """Allow only `methods`, and turn ApiError (or any crash) into a JSON error response."""

    def wrap(handler: Handler) -> Handler:
        def run(req: https_fn.Request) -> https_fn.Response:
            try:
                if req.method not in methods:
                    raise errors.method_not_allowed(req.method, methods)
                return handler(req)
            except errors.ApiError as err:
                return error_response(err)
            except Exception:
                log.exception("unhandled error in %s", handler.__name__)
                return error_response(errors.internal())

        run.__name__ = handler.__name__
        run.__doc__ = handler.__doc__
        return run

    return wrap


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


def query_int(req: https_fn.Request, name: str, default: int, low: int, high: int) -> int:
    raw = req.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise errors.invalid_field(name, f"{name} must be an integer from {low} to {high}.")
    return value


def forced_outcome(req: https_fn.Request) -> Outcome | None:
    """The emulator-only `X-Simulate-Outcome` header; ignored outside the emulator."""
    raw = req.headers.get(SIMULATE_OUTCOME_HEADER)
    if not raw or not running_in_emulator():
        return None
    try:
        return Outcome(raw.strip().lower())
    except ValueError:
        raise errors.ApiError(
            400, "invalid-header", "X-Simulate-Outcome must be 'success' or 'failure'."
        ) from None


def simulated_crash(req: https_fn.Request) -> bool:
    """The emulator-only `X-Simulate-Crash: after-charge` header; ignored outside the emulator."""
    raw = req.headers.get(SIMULATE_CRASH_HEADER)
    if not raw or not running_in_emulator():
        return False
    if raw.strip().lower() != "after-charge":
        raise errors.ApiError(400, "invalid-header", "X-Simulate-Crash must be 'after-charge'.")
    return True
