"""Glue shared by the real adapters: the prompt sent, and turning a run into a result; for a
provider with a batch parameter, one call's outputs into one result per image, each output
checked on its own."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from imagegen.core.catalog import DEFAULT_BATCH_INPUT, DEFAULT_EDIT_INPUT
from imagegen.core.vocabulary import FailureKind
from imagegen.providers.base import Deadline, ProviderFailure, is_timeout, sanitize
from imagegen.providers.image_models import GenerationResult, ImageSpec, Outcome
from imagegen.providers.output import check_image, invalid

log = logging.getLogger(__name__)

# One image of a batch call: its bytes, or why that output is unusable.
Output = bytes | ProviderFailure

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
        batch_input: str | None = DEFAULT_BATCH_INPUT,
    ) -> None:
        self.name = name
        self.provider_model = provider_model
        self.edit_input = edit_input  # Replicate: the model's image input, for an edit
        self.batch_input = batch_input  # Replicate: the model's image count input, or None
        self._base_url = base_url.rstrip("/")
        self._key = key
        self._timeout = timeout

    def generate(self, spec: ImageSpec, forced: Outcome | None = None) -> GenerationResult:
        deadline = Deadline(self._timeout)
        return run(self.provider, spec, deadline, lambda: self._generate(spec, deadline))

    def _generate(self, spec: ImageSpec, deadline: Deadline) -> tuple[bytes, dict[str, Any]]:
        raise NotImplementedError


class BatchProviderModel(ProviderModel):
    """An adapter whose provider makes several images in one call (OpenAI `n`, Replicate
    `num_outputs`): a subclass implements `_generate_many` (the outputs, each bytes or a
    `ProviderFailure` of its own, and what the provider reported for the call); one image is
    the first output of a call for one."""

    def generate_batch(
        self, spec: ImageSpec, count: int, forced: Outcome | None = None
    ) -> list[GenerationResult]:
        """`count` results in index order from one call under one deadline."""
        deadline = Deadline(self._timeout)
        return run_batch(
            self.provider, spec, count, deadline, lambda: self._generate_many(spec, count, deadline)
        )

    def _generate(self, spec: ImageSpec, deadline: Deadline) -> tuple[bytes, dict[str, Any]]:
        outputs, reported = self._generate_many(spec, 1, deadline)
        return _output_or_raise(batch_output(outputs, 0, 1), reported)

    def _generate_many(
        self, spec: ImageSpec, count: int, deadline: Deadline
    ) -> tuple[list[Output], dict[str, Any]]:
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


def batch_output(outputs: Sequence[Output], index: int, count: int) -> Output:
    """Output `index` of a call asked for `count` images; one the provider did not return is
    `invalid-output`."""
    if index < len(outputs):
        return outputs[index]
    return invalid(f"the provider returned {len(outputs)} of {count} images")


def _output_or_raise(output: Output, reported: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    if isinstance(output, ProviderFailure):
        output.details.update(reported)
        raise output
    return output, reported


def _reraise(exc: BaseException) -> tuple[bytes, dict[str, Any]]:
    raise exc


def run_batch(
    provider: str,
    spec: ImageSpec,
    count: int,
    deadline: Deadline,
    generate: Callable[[], tuple[list[Output], dict[str, Any]]],
) -> list[GenerationResult]:
    """One result per image of one call, in index order: a failure of the whole call (timeout,
    5xx after retries, a refusal, a bad key) fails every image with its kind; otherwise each
    output is checked on its own, so one bad output fails only its image, and an output the
    provider did not return is `invalid-output`. Every result carries the call's details
    (providerRequestId, and providerUsage for the whole call, not a share of it)."""
    try:
        outputs, reported = generate()
    except Exception as exc:  # classified (or logged) by `run`, as for one image
        whole = run(provider, spec, deadline, partial(_reraise, exc))
        return [whole] * count
    return [
        run(
            provider,
            replace(spec, index=index),
            deadline,
            partial(_output_or_raise, batch_output(outputs, index, count), dict(reported)),
        )
        for index in range(count)
    ]
