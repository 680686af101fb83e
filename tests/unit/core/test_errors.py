"""Unit tests of the error codes: bodies, HTTP statuses and callable codes."""

from __future__ import annotations

from imagegen.core import errors
from imagegen.records import shapes
from imagegen.transports.http_api import http_status


def test_error_body_shape():
    err = errors.invalid_choice("size", "1x1", ["512x512"])
    assert http_status(err) == 400
    assert shapes.error_json(err) == {
        "error": {
            "code": "invalid-size",
            "message": "Invalid size '1x1'. Please use one of ['512x512']",
            "allowed": ["512x512"],
        }
    }


def test_every_error_code_has_an_http_status_and_a_callable_code():
    """Both transport tables name every ErrorCode (no silent default), and the callable error
    carries the HTTP error body as details."""
    from imagegen.core.errors import ErrorCode
    from imagegen.transports.callable_endpoints import CALLABLE_CODE, https_error
    from imagegen.transports.http_api import HTTP_STATUS

    assert set(HTTP_STATUS) == set(ErrorCode)
    assert set(CALLABLE_CODE) == set(ErrorCode)
    assert all(400 <= status < 600 for status in HTTP_STATUS.values())
    err = https_error(errors.insufficient_credits(2, 3))
    assert err.code.value == "failed-precondition" and err.message == "Insufficient credits."
    assert err.details == {
        "code": "insufficient-credits",
        "message": "Insufficient credits.",
        "currentCredits": 2,
        "requiredCredits": 3,
    }
    assert https_error(errors.invalid_choice("model", "x", ["model-a"])).code.value == (
        "invalid-argument"
    )
    assert https_error(errors.generation_failed("r", 1)).code.value == "aborted"
    assert https_error(errors.busy("x")).code.value == "resource-exhausted"
