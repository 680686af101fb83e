"""Several images from one provider call (OpenAI `n`, Replicate `num_outputs`): the call's
outputs become one result per image, each checked on its own; a failure of the whole call
fails every image with its kind (pure; no emulator, no network)."""

from __future__ import annotations

import base64
import io
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from imagegen.core.vocabulary import FailureKind
from imagegen.providers import registry
from imagegen.providers.base import Deadline, ProviderFailure
from imagegen.providers.common import Output, run_batch
from imagegen.providers.image_models import ImageSpec
from imagegen.providers.openai_model import decode_item
from imagegen.providers.output import invalid
from imagegen.providers.replicate_model import output_urls
from imagegen.providers.simulator import SimulatedModel

SPEC = ImageSpec("req1", "m", "anime", "neon", "1024x1024", "a cat")
CALL = {"providerRequestId": "req_abc", "providerUsage": {"total_tokens": 400}}


def png(shade: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (shade, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def batch(outputs: list[Output], count: int) -> list:
    return run_batch("openai", SPEC, count, Deadline(30), lambda: (outputs, dict(CALL)))


def test_one_bad_output_fails_only_its_image_and_every_image_has_the_call_s_details():
    results = batch([png(1), b"not an image", png(3), png(4)], 4)
    assert [r.ok for r in results] == [True, False, True, True]
    assert results[1].failure_kind == FailureKind.INVALID_OUTPUT.value
    assert results[1].details["failureDetail"] == "not a PNG, JPEG or WebP image"
    for result in results:  # the one call's id and usage (the whole call's, not a share)
        assert result.details["providerRequestId"] == "req_abc"
        assert result.details["providerUsage"] == {"total_tokens": 400}
        assert isinstance(result.details["providerLatencyMs"], int)
    assert results[0].details["outputWidth"] == 16 and results[0].content_type == "image/png"
    assert len({r.image for r in results if r.ok}) == 3  # each its own output, in order


def test_an_output_the_provider_did_not_return_is_invalid_output_and_extra_ones_are_ignored():
    short = batch([png(), invalid("no b64_json in the answer")], 4)
    assert [r.failure_kind for r in short] == [None] + ["invalid-output"] * 3
    assert short[1].details["failureDetail"] == "no b64_json in the answer"
    assert short[3].details["failureDetail"] == "the provider returned 2 of 4 images"
    assert [r.ok for r in batch([png(1), png(2), png(3)], 2)] == [True, True]


def test_a_failure_of_the_whole_call_fails_every_image_with_its_kind():
    def refused() -> tuple[list[Output], dict]:
        raise ProviderFailure(
            FailureKind.SAFETY_BLOCK, "400 moderation_blocked", providerRequestId="req_x"
        )

    results = run_batch("openai", SPEC, 3, Deadline(30), refused)
    assert [r.failure_kind for r in results] == ["safety-block"] * 3
    assert all(r.details["providerRequestId"] == "req_x" for r in results)

    def broken() -> tuple[list[Output], dict]:
        raise RuntimeError("an SDK surprise")

    results = run_batch("openai", SPEC, 2, Deadline(30), broken)
    assert [r.failure_kind for r in results] == ["provider-error"] * 2
    assert results[0].details["failureDetail"] == "RuntimeError"


@settings(max_examples=40, deadline=None)
@given(good=st.lists(st.booleans(), max_size=6), count=st.integers(1, 6))
def test_exactly_count_results_ok_where_the_output_was_a_good_image(good, count):
    outputs: list[Output] = [png(i) if ok else b"junk" for i, ok in enumerate(good)]
    results = batch(outputs, count)
    assert len(results) == count
    assert [r.ok for r in results] == [i < len(good) and good[i] for i in range(count)]
    assert all(r.ok or r.failure_kind == "invalid-output" for r in results)


def test_openai_items_are_decoded_one_by_one():
    data = png()
    assert decode_item(SimpleNamespace(b64_json=base64.b64encode(data).decode())) == data
    missing = decode_item(SimpleNamespace(b64_json=None))
    assert isinstance(missing, ProviderFailure) and missing.kind is FailureKind.INVALID_OUTPUT
    garbled = decode_item(SimpleNamespace(b64_json="@@not base64@@"))
    assert isinstance(garbled, ProviderFailure) and garbled.detail == "b64_json is not base64"


def test_replicate_outputs_are_a_list_of_urls_in_order():
    assert output_urls("https://x/out-0.png") == ["https://x/out-0.png"]
    assert output_urls(["https://x/0.webp", "", 3, "https://x/3.webp"]) == [
        "https://x/0.webp",
        None,
        None,
        "https://x/3.webp",
    ]
    assert output_urls(None) == [] and output_urls({"image": "x"}) == []


def test_a_refined_model_rewrites_the_prompt_once_for_all_images(monkeypatch):
    rewrites: list[str] = []

    def refine(prompt: str, *args: object) -> str:
        rewrites.append(prompt)
        return f"refined {prompt}"

    monkeypatch.setattr(registry, "refine_prompt", refine)
    settings_ = registry.ProviderSettings("", "", "", str, str, str, 60.0, "gemini-x")
    model = registry.RefiningModel(SimulatedModel("m", lambda: 0.0, lambda: 0), settings_)
    results = model.generate_batch(SPEC, 4)
    assert rewrites == ["a cat"]
    assert [r.ok for r in results] == [True] * 4
    assert {r.details["refinedPrompt"] for r in results} == {"refined a cat"}


def test_replicate_asks_for_more_than_four_images_in_predictions_of_at_most_four():
    from imagegen.providers.replicate_model import MAX_OUTPUTS_PER_PREDICTION, ReplicateModel

    calls: list[tuple[int, int]] = []

    class Recorded(ReplicateModel):
        def _generate_many(self, spec, count, deadline):
            calls.append((spec.index, count))
            return [png(spec.index + i) for i in range(count)], {"providerRequestId": "p"}

    model = Recorded("m", "owner/name", "http://127.0.0.1:9", "r8_test", timeout=5)
    results = model.generate_batch(SPEC, 10)
    assert sorted(calls) == [(0, 4), (4, 4), (8, 2)]
    assert all(count <= MAX_OUTPUTS_PER_PREDICTION for _, count in calls)
    assert [r.ok for r in results] == [True] * 10
    assert len({r.image for r in results}) == 10  # in index order, none repeated
    assert results[5].image == png(5)
