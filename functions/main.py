"""Firebase entry points. The domain lives in the `imagegen` package beside this file."""

from __future__ import annotations

from firebase_admin import initialize_app
from firebase_functions import https_fn, options

from imagegen import http_api

initialize_app()

options.set_global_options(region="us-central1", max_instances=10)

_CORS = options.CorsOptions(cors_origins="*", cors_methods=["get", "post"])


@https_fn.on_request(cors=_CORS, timeout_sec=120)
def createGenerationRequest(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """POST: charge credits, generate an image, refund on failure."""
    return http_api.create_generation_request(req)


@https_fn.on_request(cors=_CORS)
def getUserCredits(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """GET ?userId=: balance and ledger, newest first, paginated."""
    return http_api.get_user_credits(req)


@https_fn.on_request(cors=_CORS)
def getGenerationRequest(req: https_fn.Request) -> https_fn.Response:  # noqa: N802
    """GET ?id=: one generation request and its status."""
    return http_api.get_generation_request(req)


@https_fn.on_request(cors=_CORS)
def health(req: https_fn.Request) -> https_fn.Response:
    """GET: liveness; ?deep=1 also checks Firestore."""
    return http_api.health(req)
