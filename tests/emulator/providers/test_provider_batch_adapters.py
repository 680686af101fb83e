"""Several images from one call, the adapters called directly (no Firestore) against the local
servers that speak each provider's API (scripts/provider_fakes.py, started by ./run-tests.sh):
OpenAI's `n` for generations and edits, Replicate's `num_outputs` (or parallel predictions for
a model without it), Gemini's parallel calls; one bad output fails only its image, a failure
of the whole call fails them all."""

from __future__ import annotations

import io
import uuid

import pytest
import requests
from PIL import Image

from imagegen.providers.batch import generate_images
from imagegen.providers.gemini_model import GeminiModel
from imagegen.providers.image_models import ImageSpec, InputImage
from imagegen.providers.openai_model import OpenAIModel
from imagegen.providers.replicate_model import ReplicateModel

pytestmark = pytest.mark.emulator

REPLICATE = "http://127.0.0.1:8191"
OPENAI = "http://127.0.0.1:8192"
GEMINI = "http://127.0.0.1:8193"


def spec(prompt: str, input_image: InputImage | None = None) -> ImageSpec:
    tag = uuid.uuid4().hex  # each test's prompt is its own, so the calls seen are its own
    return ImageSpec(
        f"batch-{tag}", "m", "anime", "neon", "1024x1024", f"{prompt} {tag}", input_image
    )


def calls(server: str, prompt: str) -> list[dict]:
    """What the local server answered for this prompt (its `/_fake/calls`)."""
    return requests.get(f"{server}/_fake/calls", params={"prompt": prompt}, timeout=10).json()[
        "data"
    ]


def openai() -> OpenAIModel:
    return OpenAIModel("m", "gpt-image-1.5", f"{OPENAI}/v1", "sk-local", timeout=30)


def replicate(batch_input: str | None = "num_outputs") -> ReplicateModel:
    return ReplicateModel(
        "m",
        "black-forest-labs/flux-schnell",
        REPLICATE,
        "r8_local-token",
        timeout=30,
        batch_input=batch_input,
    )


def input_png() -> InputImage:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 10)).save(buffer, format="PNG")
    return InputImage(buffer.getvalue(), "image/png")


@pytest.mark.parametrize("edit", [False, True], ids=["generation", "edit"])
def test_openai_makes_four_images_in_one_call_with_n(edit):
    s = spec("four lighthouses", input_png() if edit else None)
    results = generate_images(openai(), s, 4)
    assert [r.ok for r in results] == [True] * 4
    assert len({r.image for r in results}) == 4  # four outputs, not one four times
    seen = calls(OPENAI, s.prompt)
    assert [(c["path"], c["count"]) for c in seen] == [
        ("/v1/images/edits" if edit else "/v1/images/generations", 4)
    ]
    assert {r.details["providerRequestId"] for r in results} == {seen[0]["requestId"]}


@pytest.mark.parametrize("edit", [False, True], ids=["generation", "edit"])
def test_openai_one_bad_output_fails_only_its_image(edit):
    s = spec("lighthouses [notimage:2]", input_png() if edit else None)
    results = generate_images(openai(), s, 4)
    assert [r.ok for r in results] == [True, True, False, True]
    assert results[2].failure_kind == "invalid-output"
    assert len(calls(OPENAI, s.prompt)) == 1


def test_replicate_makes_four_images_in_one_prediction_with_num_outputs():
    s = spec("four ships [notimage:1]")
    results = generate_images(replicate(), s, 4)
    assert [r.ok for r in results] == [True, False, True, True]
    assert results[1].failure_kind == "invalid-output"
    (seen,) = calls(REPLICATE, s.prompt)
    assert seen["count"] == 4
    prediction = requests.get(
        f"{REPLICATE}/_fake/predictions/{seen['predictionId']}", timeout=10
    ).json()
    assert prediction["input"]["num_outputs"] == 4 and len(prediction["output"]) == 4
    assert {r.details["providerRequestId"] for r in results} == {seen["predictionId"]}


def test_a_replicate_model_without_an_image_count_input_runs_parallel_predictions():
    s = spec("four boats")
    results = generate_images(replicate(batch_input=None), s, 4)
    assert [r.ok for r in results] == [True] * 4
    seen = calls(REPLICATE, s.prompt)
    assert [c["count"] for c in seen] == [1] * 4
    assert len({r.details["providerRequestId"] for r in results}) == 4


def test_gemini_makes_four_images_in_four_parallel_calls():
    model = GeminiModel("m", "gemini-2.5-flash-image", GEMINI, "local-key", timeout=30)
    s = spec("four gardens")
    results = generate_images(model, s, 4)
    assert [r.ok for r in results] == [True] * 4
    assert len(calls(GEMINI, s.prompt)) == 4


@pytest.mark.parametrize("provider", ["openai", "replicate"])
def test_a_refusal_of_the_whole_call_fails_every_image(provider):
    s = spec("four storms [nsfw]")
    results = generate_images(openai() if provider == "openai" else replicate(), s, 4)
    assert [r.failure_kind for r in results] == ["safety-block"] * 4
    assert len(calls(OPENAI if provider == "openai" else REPLICATE, s.prompt)) == 1
