"""HTTP glue: JSON in, JSON out, errors as `{"error": {...}}`, one handler per endpoint.

Handlers take a Flask/werkzeug request and return a Flask response, so they can be called
by the Firebase entry points in main.py and by unit tests alike.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from firebase_functions import https_fn

from . import errors, ledger
from .catalog import Catalog, CatalogCache, catalog_from_documents
from .firestore_client import db
from .generation import generate
from .settings import failure_rate, latency_ms, running_in_emulator
from .simulator import MODEL_NAMES, ImageModel, Outcome, build_models
from .validation import parse_generation_input, validate_user_id

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
SIMULATE_OUTCOME_HEADER = "X-Simulate-Outcome"

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


def _load_catalog() -> Catalog:
    client = db()
    docs = {
        name: {doc.id: doc.to_dict() or {} for doc in client.collection(name).stream()}
        for name in ("styles", "colors", "sizes")
    }
    return catalog_from_documents(docs)


CATALOG = CatalogCache(_load_catalog)
_MODELS: Mapping[str, ImageModel] = build_models(failure_rate, latency_ms)


def current_catalog() -> Catalog:
    catalog = CATALOG.get()
    if not catalog.sizes:
        CATALOG.invalidate()
        raise errors.unavailable(
            "The catalog is empty: seed Firestore with `python seed_config.py`."
        )
    return catalog


@endpoint("POST")
def create_generation_request(req: https_fn.Request) -> https_fn.Response:
    """Charge, generate and settle one image; 200 with the image or 500 after a refund."""
    body = read_json_object(req)
    forced = forced_outcome(req)
    order = parse_generation_input(body, current_catalog(), MODEL_NAMES)
    outcome = generate(db(), order, _MODELS, forced)
    status, payload = outcome.response()
    return json_response(status, payload)


@endpoint("GET")
def get_user_credits(req: https_fn.Request) -> https_fn.Response:
    """The user's balance and ledger, newest first, one page at a time."""
    user_id = req.args.get("userId")
    if not user_id:
        raise errors.missing_fields(["userId"])
    validate_user_id(user_id)
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
    "refundedCredits",
)
REQUEST_TIMES: tuple[str, ...] = ("createdAt", "updatedAt", "completedAt", "failedAt")


def request_json(request_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A generation request document as the API shows it."""
    out: dict[str, Any] = {"generationRequestId": request_id}
    out.update({k: data[k] for k in REQUEST_FIELDS if k in data})
    out.update({k: ledger.iso(data[k]) for k in REQUEST_TIMES if k in data})
    return out


@endpoint("GET")
def get_generation_request(req: https_fn.Request) -> https_fn.Response:
    """One generation request with its status, for polling."""
    request_id = req.args.get("id")
    if not request_id:
        raise errors.missing_fields(["id"])
    validate_user_id(request_id, "id")
    snap = db().collection(ledger.REQUESTS).document(request_id).get()
    if not snap.exists:
        raise errors.request_not_found()
    return json_response(200, request_json(snap.id, snap.to_dict() or {}))


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
        body["firestore"] = {
            "status": "ok",
            "latencyMs": round((time.perf_counter() - started) * 1000, 1),
        }
    return json_response(200, body)
