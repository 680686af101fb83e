"""The provider interface: what an image model is given and what it returns (no I/O).

Providers implement `ImageModel.generate` (`simulator`, and `replicate_model`,
`openai_model` and `gemini_model`); `registry` picks one per `models/{modelId}` document. The money
path never needs to know which one ran. Several images of one request come from a model's
`generate_batch` when it has one (`BatchImageModel`: the provider's own batch parameter), else
from parallel `generate` calls (`batch.generate_images`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol


class Outcome(Enum):
    """A forced outcome for the simulated models (emulator only: the `X-Simulate-Outcome` header of
    `transports.http_api`, or `simulateOutcome` of a callable)."""

    SUCCESS = "success"
    FAILURE = "failure"
    PARTIAL = "partial"  # every second image of the request fails (indices 1, 3, ...)


@dataclass(frozen=True)
class InputImage:
    """The image an edit starts from: its bytes (as stored) and content type."""

    data: bytes = field(repr=False)
    content_type: str


@dataclass(frozen=True)
class ImageSpec:
    """What to draw; for an edit, `input_image` is the picture to change and `prompt` the
    instruction. In a conversation, `context` holds the earlier instructions, oldest first
    (models that take a conversation, Gemini, receive them). `index` is the image's place
    among the request's images (0 for the first or only one)."""

    request_id: str
    model: str
    style: str
    color: str
    size: str
    prompt: str
    input_image: InputImage | None = None
    context: tuple[str, ...] = ()
    index: int = 0


@dataclass(frozen=True)
class GenerationResult:
    """What a model returned: the image's bytes and content type, or a failure reason and its
    kind (a `FailureKind` value). `details` are recorded on the request either way: the
    provider's request id, usage or cost, latency, output size, a refined prompt, and for a
    failure a short sanitised `failureDetail` for operators."""

    image: bytes | None = None
    content_type: str = "image/png"
    failure_reason: str | None = None
    failure_kind: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.image is not None


class ImageModel(Protocol):
    """A provider of images. Must not raise for model errors; return a failure instead."""

    name: str

    def generate(self, spec: ImageSpec, forced: Outcome | None = None) -> GenerationResult: ...


class BatchImageModel(ImageModel, Protocol):
    """A provider that makes several images in one call (OpenAI `n`, Replicate `num_outputs`)."""

    def generate_batch(
        self, spec: ImageSpec, count: int, forced: Outcome | None = None
    ) -> list[GenerationResult]:
        """Up to `count` results in index order (fewer: the missing ones failed)."""
        ...
