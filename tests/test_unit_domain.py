"""Unit tests of the pure logic: validation, catalog, retries, simulator, errors."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from google.api_core import exceptions as gexc

from imagegen import errors, shapes
from imagegen.catalog import (
    DEFAULT_CATALOG,
    CatalogCache,
    catalog_documents,
    catalog_from_documents,
)
from imagegen.errors import DomainError
from imagegen.history import decode_page_token, encode_page_token
from imagegen.http_api import http_status
from imagegen.image_models import ImageSpec, Outcome
from imagegen.retry import GaveUp, RetryPolicy, retry_on_conflict
from imagegen.simulator import MODEL_NAMES, SimulatedModel
from imagegen.validation import parse_generation_input

ROOT = Path(__file__).resolve().parents[1]

VALID = {
    "userId": "u1",
    "model": "model-a",
    "style": "anime",
    "color": "neon",
    "size": "1024x1024",
    "prompt": "hi",
}


def parse(**overrides):
    return parse_generation_input({**VALID, **overrides}, DEFAULT_CATALOG, MODEL_NAMES)


def test_valid_input_is_priced_from_the_catalog():
    order = parse()
    assert order.cost == 3 and order.user_id == "u1"
    assert order.as_payload() == VALID


def test_missing_fields_are_listed_in_contract_order():
    with pytest.raises(DomainError) as exc:
        parse_generation_input({"model": "model-a"}, DEFAULT_CATALOG, MODEL_NAMES)
    assert exc.value.message == "Missing required fields: userId, style, color, size, prompt"


def test_null_and_empty_string_count_as_missing():
    with pytest.raises(DomainError) as exc:
        parse(style=None, color="")
    assert exc.value.details["missingFields"] == ["style", "color"]


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


def test_catalog_documents_round_trip():
    assert catalog_from_documents(catalog_documents(DEFAULT_CATALOG)) == DEFAULT_CATALOG


def test_catalog_skips_inactive_and_badly_priced_entries():
    docs = catalog_documents(DEFAULT_CATALOG)
    docs["styles"]["anime"]["active"] = False
    docs["sizes"]["1024x1024"]["credits"] = "3"
    docs["sizes"]["9x9"] = {"credits": 0}
    cat = catalog_from_documents(docs)
    assert "anime" not in cat.styles
    assert list(cat.sizes) == ["512x512", "1024x1792"]


def test_catalog_cache_reloads_after_ttl():
    now = [0.0]
    loads = []
    cache = CatalogCache(lambda: loads.append(1) or DEFAULT_CATALOG, ttl=30, clock=lambda: now[0])
    cache.get()
    now[0] = 29.9
    cache.get()
    assert len(loads) == 1
    now[0] = 30.0
    cache.get()
    assert len(loads) == 2


def test_retry_returns_after_conflicts():
    calls = []

    def attempt():
        calls.append(1)
        if len(calls) < 3:
            raise gexc.FailedPrecondition("changed")
        return "done"

    policy = RetryPolicy(max_attempts=5, deadline_seconds=10)
    assert retry_on_conflict(attempt, policy) == "done"
    assert len(calls) == 3


def test_retry_gives_up_and_passes_other_errors_through():
    policy = RetryPolicy(max_attempts=4, deadline_seconds=10)
    with pytest.raises(GaveUp):
        retry_on_conflict(lambda: (_ for _ in ()).throw(gexc.Aborted("x")), policy)
    with pytest.raises(ValueError):
        retry_on_conflict(lambda: (_ for _ in ()).throw(ValueError()), policy)


SPEC = ImageSpec("r1", "model-a", "anime", "neon", "1024x1792", "p")


def test_simulator_failure_rate_is_about_what_is_configured():
    model = SimulatedModel(
        "model-a", lambda: 0.05, lambda: 0, rng=random.Random(7), render=lambda spec: b"png"
    )
    failures = sum(not model.generate(SPEC).ok for _ in range(20_000))
    assert 800 < failures < 1200


def test_simulator_forced_outcomes_and_png():
    model = SimulatedModel("model-a", lambda: 1.0, lambda: 0)
    ok = model.generate(SPEC, Outcome.SUCCESS)
    assert ok.ok and ok.content_type == "image/png" and ok.image.startswith(b"\x89PNG")
    model = SimulatedModel("model-a", lambda: 0.0, lambda: 0)
    assert not model.generate(SPEC, Outcome.FAILURE).ok


def test_simulator_latency_is_applied():
    slept = []
    SimulatedModel(
        "m", lambda: 0, lambda: 250, sleep=slept.append, render=lambda spec: b""
    ).generate(SPEC)
    assert slept == [0.25]


def test_page_token_round_trip_and_rejection():
    assert decode_page_token(encode_page_token("abc-deduction")) == "abc-deduction"
    with pytest.raises(DomainError):
        decode_page_token("!!!")


def test_unauthenticated_access_only_inside_the_emulator():
    from imagegen.auth import unauthenticated_allowed

    assert unauthenticated_allowed("emulator", in_emulator=True)
    assert not unauthenticated_allowed("emulator", in_emulator=False)
    assert not unauthenticated_allowed("off", in_emulator=True)
    assert not unauthenticated_allowed("always", in_emulator=False)


def test_bearer_token_parsing():
    from imagegen.auth import bearer_token

    assert bearer_token(None) is None
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    for bad in ("Basic abc", "Bearer", "abc"):
        with pytest.raises(DomainError) as exc:
            bearer_token(bad)
        assert http_status(exc.value) == 401


def test_caller_permissions():
    from imagegen.auth import Caller

    assert Caller("a").may_act_for("a") and not Caller("a").may_act_for("b")
    assert Caller("a", admin=True).may_act_for("b")
    assert Caller(None).may_act_for("b") and not Caller(None).admin


def test_openapi_describes_every_https_function_and_the_catalog():
    import yaml

    from imagegen.catalog import DEFAULT_CATALOG
    from imagegen.simulator import MODEL_NAMES

    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    https = [name for name, ep in firebase_endpoints().items() if ep.httpsTrigger is not None]
    assert sorted(p.strip("/") for p in spec["paths"]) == sorted(https)
    props = spec["components"]["schemas"]["GenerationInput"]["properties"]
    assert props["model"]["$ref"] == "#/components/schemas/ModelId"
    assert spec["components"]["schemas"]["ModelId"]["enum"] == list(MODEL_NAMES)
    assert props["style"]["enum"] == list(DEFAULT_CATALOG.styles)
    assert props["color"]["enum"] == list(DEFAULT_CATALOG.colors)
    assert props["size"]["enum"] == list(DEFAULT_CATALOG.sizes)


def firebase_endpoints():
    """The functions main.py declares, by name, as the Firebase CLI discovers them."""
    import os

    os.environ.setdefault("GCLOUD_PROJECT", "demo-imagegen")
    import main

    return {
        name: fn.__firebase_endpoint__
        for name, fn in vars(main).items()
        if hasattr(fn, "__firebase_endpoint__")
    }


def test_runtime_options_allow_concurrency():
    """set_global_options' cpu default forces concurrency 1; ours must not."""
    endpoints = firebase_endpoints()
    create = endpoints["createGenerationRequest"]
    assert create.cpu == 1 and create.concurrency == 40 and create.timeoutSeconds == 300
    assert endpoints["getUserCredits"].concurrency == 80
    assert endpoints["scheduleWeeklyReport"].scheduleTrigger["schedule"] == "0 0 * * 1"
    assert endpoints["scheduleWeeklyReport"].scheduleTrigger["timeZone"] == "UTC"
    assert endpoints["sweepPendingRequests"].concurrency == 1


def test_webhook_signatures_and_urls():
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    from imagegen import webhooks

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    now = int(time.time())
    body, headers = webhooks.build(
        {"generationRequestId": "r1", "status": "completed"}, "completed", secret, now
    )
    assert headers["Webhook-Id"] == "r1-completed"
    sig = headers["Webhook-Signature"]
    assert sig.startswith("v1,")
    assert webhooks.verify(secret, "r1-completed", str(now), body, sig)
    assert not webhooks.verify(secret, "r1-completed", str(now + 1), body, sig)
    assert not webhooks.verify(secret, "r1-completed", str(now), body + b" ", sig)
    assert not webhooks.verify(secret, "r1-failed", str(now), body, sig)
    # The spec's own library accepts the delivery and refuses a tampered one.
    assert Webhook(secret).verify(body, headers)["deliveryId"] == "r1-completed"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(body, headers)
    assert webhooks.validate_url("https://hooks.example.com/x", False)
    assert webhooks.validate_url("http://127.0.0.1:8000/x", True)
    bad_urls = [
        ("http://127.0.0.1:8000/x", False),
        ("http://example.com", True),
        ("https://", True),
        ("x" * 3000, True),
        ("https://10.0.0.5/hook", False),
        ("https://169.254.169.254/latest", False),
        ("https://localhost/hook", False),
        ("https://[::1]/hook", False),
    ]
    for bad, loopback in bad_urls:
        with pytest.raises(DomainError):
            webhooks.validate_url(bad, loopback)


def test_settled_lines_are_structured_and_never_carry_the_prompt(capsys):
    import json

    from imagegen import request_log

    request_log.settled("r1", "u1", "model-a", "512x512", 1, "completed", 12.345)
    request_log.settled("r2", "u1", "model-b", "1024x1024", 3, "failed", 40.0, mode="async")
    request_log.left_to_sweeper("r3", "u1", "the settlement could not land")
    out = capsys.readouterr()
    lines = [json.loads(line) for line in (out.out + out.err).splitlines() if line.strip()]
    by_id = {line.get("requestId"): line for line in lines}
    assert by_id["r1"]["severity"] == "INFO" and by_id["r1"]["latencyMs"] == 12.3
    assert by_id["r1"]["outcome"] == "completed" and by_id["r1"]["cost"] == 1
    assert by_id["r2"]["severity"] == "WARNING" and by_id["r2"]["mode"] == "async"
    assert by_id["r3"]["severity"] == "ERROR" and "sweeper" in by_id["r3"]["message"]
    assert all("prompt" not in line for line in lines)


def test_renders_are_exact_in_size_deterministic_and_shaped_by_the_parameters():
    import io

    from PIL import Image, ImageStat

    from imagegen.image_render import render_png

    def spec(**kw):
        base = {"request_id": "r1", "model": "model-a", "style": "anime", "color": "neon"}
        return ImageSpec(**{**base, "size": "1024x1792", "prompt": "a cat", **kw})

    def saturation(png):
        return ImageStat.Stat(Image.open(io.BytesIO(png)).convert("RGB").convert("HSV")).mean[1]

    png = render_png(spec())
    assert Image.open(io.BytesIO(png)).size == (1024, 1792)
    assert render_png(spec()) == png  # same request, same bytes
    assert render_png(spec(request_id="r2")) != png
    assert render_png(spec(model="model-b")) != png
    assert render_png(spec(style="sketch")) != png
    assert render_png(spec(prompt="a dog")) != png  # the prompt is drawn
    assert render_png(spec(style="a style added later")).startswith(b"\x89PNG")
    assert saturation(render_png(spec(color="monochrome"))) < 5 < 60 < saturation(png)


def test_every_error_code_has_an_http_status_and_a_callable_code():
    """Both transport tables name every ErrorCode (no silent default), and the callable error
    carries the HTTP error body as details."""
    from imagegen.callable_endpoints import CALLABLE_CODE, https_error
    from imagegen.errors import ErrorCode
    from imagegen.http_api import HTTP_STATUS

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


def test_every_field_named_in_a_field_error_has_its_own_code():
    """`invalid_field("x", ...)`, `invalid_choice("x", ...)`, `validate_text("x", ...)`,
    `within("x", ...)`, `query_bool(req, "x")`, `query_int(req, "x")` and
    `validate_user_id(v, "x")` across the package all map to an ErrorCode member (a missing
    one would otherwise surface as a 500, as `deleted=maybe` once did)."""
    import re

    from imagegen.errors import field_error_code
    from imagegen.validation import REQUIRED_FIELDS

    source = "\n".join(p.read_text() for p in (ROOT / "functions" / "imagegen").rglob("*.py"))
    pattern = (
        r'(?:invalid_field|invalid_choice|validate_text|within)\(\s*"(\w+)"'
        r'|(?:validate_user_id|query_bool|query_int)\(\w+, "(\w+)"'
    )
    named = {a or b for a, b in re.findall(pattern, source)}
    assert {"prompt", "pageToken", "week", "credits", "idempotencyKey", "id", "deleted"} <= named
    assert {"pageSize", "olderThanSeconds", "maxDocuments"} <= named
    for field in named | set(REQUIRED_FIELDS) | {"status", "olderThanSeconds", "maxDocuments"}:
        assert field_error_code(field).startswith("invalid-")


def test_document_ids_are_checked_before_any_read():
    """The catalog's model lookup and user ids share one rule for what can name a document
    (a lone surrogate would otherwise reach Firestore and fail as a 500)."""
    from imagegen.validation import is_document_id

    assert is_document_id("flux") and is_document_id("a" * 128)
    for bad in ("", "a/b", ".", "..", "__x__", "a" * 129, "\ud800", "a\x00b"):
        assert not is_document_id(bad), bad
