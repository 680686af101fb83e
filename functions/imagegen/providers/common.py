"""Glue shared by the real adapters: the prompt sent, and turning a run into a result."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from imagegen.core.catalog import DEFAULT_EDIT_INPUT
from imagegen.core.vocabulary import FailureKind
from imagegen.providers.base import Deadline, ProviderFailure, is_timeout, sanitize
from imagegen.providers.image_models import GenerationResult, ImageSpec, Outcome
from imagegen.providers.output import check_image

log = logging.getLogger(__name__)

FAILURE_MESSAGES = {
    FailureKind.SAFETY_BLOCK: "the provider refused the prompt or the image (safety)",
    FailureKind.PROVIDER_ERROR: "the provider rejected the request",
    FailureKind.PROVIDER_UNAVAILABLE: "the provider was unavailable",
    FailureKind.TIMEOUT: "the provider did not finish in time",
    FailureKind.INVALID_OUTPUT: "the provider returned no usable image",
}


class ProviderModel:
    """What every real adapter shares: its catalog name, the provider's model, where and with
    which key to reach it, and one generation under a deadline (PROVIDER_TIMEOUT_SECONDS).
    A subclass names its `provider` and implements `_generate` (image bytes and what the
    provider reported, or a `ProviderFailure`)."""

    provider = ""

    def __init__(
        self,
        name: str,
        provider_model: str,
        base_url: str,
        key: str,
        timeout: float,
        edit_input: str = DEFAULT_EDIT_INPUT,
    ) -> None:
        self.name = name
        self.provider_model = provider_model
        self.edit_input = edit_input  # Replicate: the model's image input, for an edit
        self._base_url = base_url.rstrip("/")
        self._key = key
        self._timeout = timeout

    def generate(self, spec: ImageSpec, forced: Outcome | None = None) -> GenerationResult:
        deadline = Deadline(self._timeout)
        return run(self.provider, spec, deadline, lambda: self._generate(spec, deadline))

    def _generate(self, spec: ImageSpec, deadline: Deadline) -> tuple[bytes, dict[str, Any]]:
        raise NotImplementedError


def provider_prompt(spec: ImageSpec) -> str:
    """The text sent to a provider: the user's prompt with the chosen style and palette."""
    return f"{spec.prompt}\n\nStyle: {spec.style}. Color palette: {spec.color}."


def run(
    provider: str,
    spec: ImageSpec,
    deadline: Deadline,
    generate: Callable[[], tuple[bytes, dict[str, Any]]],
) -> GenerationResult:
    """Call `generate` (bytes and what the provider reported), check the bytes, and turn every
    way it can fail into a classified failure. Never raises for provider errors; never puts a
    key or a raw provider body in the result."""
    details: dict[str, Any] = {"provider": provider}
    try:
        data, reported = generate()
        details.update(reported)
        image = check_image(data)
    except ProviderFailure as failure:
        details.update(failure.details)
        details.update(failureDetail=failure.detail, providerLatencyMs=deadline.elapsed_ms())
        log.warning(
            "provider %s failed for request %s: %s (%s)",
            provider,
            spec.request_id,
            failure.kind,
            failure.detail,
        )
        return GenerationResult(
            failure_reason=FAILURE_MESSAGES.get(failure.kind, "generation failed"),
            failure_kind=failure.kind.value,
            details=details,
        )
    except Exception as exc:  # an SDK surprise: a permanent error, reported without its text
        # (a timeout its adapter did not expect is still a timeout)
        kind = FailureKind.TIMEOUT if is_timeout(exc) else FailureKind.PROVIDER_ERROR
        log.exception("provider %s raised for request %s", provider, spec.request_id)
        details.update(
            failureDetail=sanitize(type(exc).__name__), providerLatencyMs=deadline.elapsed_ms()
        )
        return GenerationResult(
            failure_reason=FAILURE_MESSAGES[kind], failure_kind=kind.value, details=details
        )
    details.update(
        providerLatencyMs=deadline.elapsed_ms(),
        outputWidth=image.width,
        outputHeight=image.height,
        contentType=image.content_type,
    )
    return GenerationResult(image=image.data, content_type=image.content_type, details=details)
