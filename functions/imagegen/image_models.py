"""The provider interface: what an image model is given and what it returns (no I/O).

A real provider implements `ImageModel.generate` and is registered in `simulator.build_models`
(or beside it); the money path never needs to know which one ran.
"""

from __future__ import annotations

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
    """What a model returned: the image's bytes and content type, or a failure reason."""

    image: bytes | None = None
    content_type: str = "image/png"
    failure_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.image is not None


class ImageModel(Protocol):
    """A provider of images. Must not raise for model errors; return a failure instead."""

    name: str

    def generate(self, spec: ImageSpec, forced: Outcome | None = None) -> GenerationResult: ...
