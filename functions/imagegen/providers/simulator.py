"""The simulated `model-a`/`model-b` behind the provider interface (`image_models`).

They sleep for a configurable latency, then fail with a configurable probability, or return a
PNG of the requested size drawn by `image_render`; several images of one request come from one
call (`generate_batch`), each failing on its own. `build_models` is the registry of the models this
deployment offers.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from imagegen.providers.image_models import GenerationResult, ImageModel, ImageSpec, Outcome
from imagegen.providers.image_render import CONTENT_TYPE, render_png


class SimulatedModel:
    """A stand-in for a real image model: fixed latency, random failures, rendered PNGs."""

    def __init__(
        self,
        name: str,
        failure_rate: Callable[[], float],
        latency_ms: Callable[[], int],
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        render: Callable[[ImageSpec], bytes] = render_png,
    ) -> None:
        self.name = name
        self._failure_rate = failure_rate
        self._latency_ms = latency_ms
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._render = render

    def generate(self, spec: ImageSpec, forced: Outcome | None = None) -> GenerationResult:
        self._wait()
        return self._image(spec, forced)

    def generate_batch(
        self, spec: ImageSpec, count: int, forced: Outcome | None = None
    ) -> list[GenerationResult]:
        """`count` images after one latency, as a provider's batch parameter would: each
        fails on its own (at the failure rate, or as `forced` says)."""
        self._wait()
        return [self._image(replace(spec, index=index), forced) for index in range(count)]

    def _wait(self) -> None:
        latency = max(0, self._latency_ms())
        if latency:
            self._sleep(latency / 1000)

    def _image(self, spec: ImageSpec, forced: Outcome | None) -> GenerationResult:
        if forced is None:
            fails = self._rng.random() < min(1.0, max(0.0, self._failure_rate()))
        elif forced is Outcome.PARTIAL:
            fails = spec.index % 2 == 1  # every second image
        else:
            fails = forced is Outcome.FAILURE
        if fails:
            return GenerationResult(
                failure_reason=f"{self.name} returned an error (simulated)",
                details={"provider": "simulated"},
            )
        width, height = (int(part) for part in spec.size.split("x", 1))
        details = {"provider": "simulated", "outputWidth": width, "outputHeight": height}
        return GenerationResult(
            image=self._render(spec), content_type=CONTENT_TYPE, details=details
        )


MODEL_NAMES: tuple[str, ...] = ("model-a", "model-b")


def build_models(
    failure_rate: Callable[[], float], latency_ms: Callable[[], int]
) -> Mapping[str, ImageModel]:
    """The models this deployment offers, by name."""
    return {name: SimulatedModel(name, failure_rate, latency_ms) for name in MODEL_NAMES}
