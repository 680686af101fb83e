"""The provider adapters called directly (no Firestore) against the local servers that speak
each provider's API (scripts/provider_fakes.py, started by ./run-tests.sh): the deadline
cancels a Replicate prediction, an output download is bounded in size and time, and a key
never reaches a result or a log line."""

from __future__ import annotations

import logging
import uuid

import pytest
import requests

from imagegen.providers.gemini_model import GeminiModel
from imagegen.providers.image_models import ImageSpec
from imagegen.providers.openai_model import OpenAIModel
from imagegen.providers.replicate_model import ReplicateModel

pytestmark = pytest.mark.emulator

REPLICATE = "http://127.0.0.1:8191"
OPENAI = "http://127.0.0.1:8192/v1"
GEMINI = "http://127.0.0.1:8193"


def spec(prompt: str) -> ImageSpec:
    return ImageSpec(f"adapter-{uuid.uuid4().hex}", "m", "anime", "neon", "1024x1024", prompt)


def test_the_deadline_cancels_a_running_prediction(caplog):
    model = ReplicateModel("m", "owner/name", REPLICATE, "r8_local-token", timeout=3)
    result = model.generate(spec("a slow ship [slow]"))
    assert not result.ok and result.failure_kind == "timeout"
    assert 2500 <= result.details["providerLatencyMs"] <= 8000
    seen = requests.get(
        f"{REPLICATE}/_fake/predictions/{result.details['providerRequestId']}", timeout=10
    ).json()
    assert seen["status"] == "canceled"  # POST /v1/predictions/{id}/cancel was sent
    assert seen["_cancel_after"] in ("1s", "2s", "3s")  # and Cancel-After bounded it
    assert seen["_prefer"].startswith("wait=")


def test_a_replicate_output_over_20_mb_is_cut_off_as_invalid_output():
    model = ReplicateModel("m", "owner/name", REPLICATE, "r8_local-token", timeout=30)
    result = model.generate(spec("a big file [big]"))  # 21 MB, chunked, no Content-Length
    assert not result.ok and result.failure_kind == "invalid-output"
    assert "20 MB" in result.details["failureDetail"]
    assert result.details["providerRequestId"]


def test_a_replicate_output_download_that_stalls_is_a_timeout_within_the_deadline():
    model = ReplicateModel("m", "owner/name", REPLICATE, "r8_local-token", timeout=4)
    result = model.generate(spec("a stalled file [stall]"))  # 1 KB, then 60 s of nothing
    assert not result.ok and result.failure_kind == "timeout"
    assert result.details["providerLatencyMs"] <= 10_000  # the deadline, not the stall


SECRET = "sk-invalid-0123456789abcdef"


@pytest.mark.parametrize(
    "model",
    [
        ReplicateModel("m", "owner/name", REPLICATE, f"r8_{SECRET}", timeout=10),
        OpenAIModel("m", "gpt-image-1.5", OPENAI, SECRET, timeout=10),
        GeminiModel("m", "gemini-2.5-flash-image", GEMINI, SECRET, timeout=10),
    ],
    ids=["replicate", "openai", "gemini"],
)
def test_a_bad_key_is_a_provider_error_and_never_leaks(model, caplog):
    caplog.set_level(logging.DEBUG)
    result = model.generate(spec("a lighthouse"))
    assert not result.ok and result.failure_kind == "provider-error"
    assert SECRET not in repr(result)
    assert SECRET not in caplog.text
    assert SECRET[3:] not in caplog.text
