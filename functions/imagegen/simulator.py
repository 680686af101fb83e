"""Image models behind a small provider interface, and the simulated `model-a`/`model-b`.

A real provider is added by implementing `ImageModel.generate` and registering it in
`build_models`. The simulated models sleep for a configurable latency, then fail with a
configurable probability, or return a placeholder image URL of the requested size.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class Outcome(Enum):
    """A forced outcome for the simulated models (emulator only; see `http_api`)."""

    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True)
class ImageSpec:
    """What to draw."""

    request_id: str
    model: str
    style: str
    color: str
    size: str
    prompt: str


@dataclass(frozen=True)
class GenerationResult:
    """What a model returned: an image URL, or a failure reason."""

    image_url: str | None = None
    failure_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.image_url is not None


class ImageModel(Protocol):
    """A provider of images. Must not raise for model errors; return a failure instead."""

    name: str

    def generate(self, spec: ImageSpec, forced: Outcome | None = None) -> GenerationResult: ...


class SimulatedModel:
    """A stand-in for a real image model: fixed latency, random failures, placeholder images."""

    def __init__(
        self,
        name: str,
        failure_rate: Callable[[], float],
        latency_ms: Callable[[], int],
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self._failure_rate = failure_rate
        self._latency_ms = latency_ms
        self._rng = rng or random.Random()
        self._sleep = sleep

    def generate(self, spec: ImageSpec, forced: Outcome | None = None) -> GenerationResult:
        latency = max(0, self._latency_ms())
        if latency:
            self._sleep(latency / 1000)
        if forced is None:
            fails = self._rng.random() < min(1.0, max(0.0, self._failure_rate()))
        else:
            fails = forced is Outcome.FAILURE
        if fails:
            return GenerationResult(failure_reason=f"{self.name} returned an error (simulated)")
        return GenerationResult(image_url=placeholder_image_url(spec))


def placeholder_image_url(spec: ImageSpec) -> str:
    """A stable placeholder image of the requested size, unique per request."""
    width, height = spec.size.split("x")
    return f"https://picsum.photos/seed/{spec.request_id}/{width}/{height}"


MODEL_NAMES: tuple[str, ...] = ("model-a", "model-b")


def build_models(
    failure_rate: Callable[[], float], latency_ms: Callable[[], int]
) -> Mapping[str, ImageModel]:
    """The models this deployment offers, by name."""
    return {name: SimulatedModel(name, failure_rate, latency_ms) for name in MODEL_NAMES}
