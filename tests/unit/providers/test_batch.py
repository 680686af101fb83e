"""Several images of one request: exactly `count` results in index order, whatever the model
does (pure; no emulator)."""

from __future__ import annotations

import random
import threading

from imagegen.core.vocabulary import FailureKind
from imagegen.providers.batch import generate_images
from imagegen.providers.image_models import GenerationResult, ImageSpec, Outcome
from imagegen.providers.simulator import SimulatedModel

SPEC = ImageSpec("req1", "model-a", "anime", "neon", "512x512", "a cat")


def simulated(rate: float = 0.0, seed: int = 1) -> SimulatedModel:
    return SimulatedModel("model-a", lambda: rate, lambda: 0, random.Random(seed))


def test_partial_fails_every_second_image() -> None:
    results = generate_images(simulated(), SPEC, 4, Outcome.PARTIAL)
    assert [r.ok for r in results] == [True, False, True, False]


def test_a_one_image_request_is_not_touched_by_partial() -> None:
    assert [r.ok for r in generate_images(simulated(), SPEC, 1, Outcome.PARTIAL)] == [True]


def test_images_of_one_request_differ_and_the_first_is_the_one_image_picture() -> None:
    results = generate_images(simulated(), SPEC, 3)
    assert len({r.image for r in results}) == 3
    assert results[0].image == generate_images(simulated(), SPEC, 1)[0].image


def test_each_image_fails_on_its_own() -> None:
    results = generate_images(simulated(rate=0.5, seed=7), SPEC, 10)
    assert 0 < sum(r.ok for r in results) < 10


class Parallel:
    """A model without a batch call: records the index and thread of each call."""

    name = "p"

    def __init__(self, fail_index: int | None = None, raise_index: int | None = None) -> None:
        self.calls: list[int] = []
        self.barrier = threading.Barrier(3, timeout=5)
        self.fail_index, self.raise_index = fail_index, raise_index

    def generate(self, spec: ImageSpec, forced: Outcome | None = None) -> GenerationResult:
        self.calls.append(spec.index)
        self.barrier.wait()  # all three calls run at once, or this times out
        if spec.index == self.raise_index:
            raise RuntimeError("bug")
        if spec.index == self.fail_index:
            return GenerationResult(failure_reason="no", failure_kind="model-error")
        return GenerationResult(image=bytes([spec.index]))


def test_without_a_batch_call_the_images_are_asked_for_in_parallel_in_index_order() -> None:
    model = Parallel(fail_index=1, raise_index=2)
    results = generate_images(model, SPEC, 3)
    assert sorted(model.calls) == [0, 1, 2]
    assert results[0].image == b"\x00"
    assert results[1].failure_kind == "model-error"
    assert results[2].failure_kind == FailureKind.PROVIDER_ERROR


class ShortBatch:
    name = "s"

    def generate(self, spec: ImageSpec, forced: Outcome | None = None) -> GenerationResult:
        raise AssertionError("the batch call is used")

    def generate_batch(
        self, spec: ImageSpec, count: int, forced: Outcome | None = None
    ) -> list[GenerationResult]:
        return [GenerationResult(image=b"x")] * (count - 1)


def test_outputs_a_batch_left_out_are_failed_images() -> None:
    results = generate_images(ShortBatch(), SPEC, 4)
    assert [r.ok for r in results] == [True, True, True, False]
    assert results[3].failure_kind == FailureKind.INVALID_OUTPUT
