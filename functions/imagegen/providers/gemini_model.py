"""Gemini image generation (https://ai.google.dev/gemini-api/docs/image-generation) through
the official `google-genai` SDK: `models/{model}:generateContent` with `responseModalities`
[TEXT, IMAGE] and `imageConfig.aspectRatio`; an edit sends its input image as an `inlineData`
part before the instruction, and a turn of a conversation its session's earlier instructions
as earlier turns. The image is the `inlineData` part of the answer (text parts may
come first). A blocked prompt (`promptFeedback.blockReason`, no candidates) or a
`finishReason` of `IMAGE_SAFETY` / `IMAGE_PROHIBITED_CONTENT` (or `SAFETY`, `PROHIBITED_CONTENT`)
is a `safety-block`; a 429 waits its `retryDelay`; 5xx and connection errors are retried; a
bad key (400 `API_KEY_INVALID`) and other 4xx are `provider-error`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from imagegen.core.vocabulary import FailureKind
from imagegen.providers.base import (
    Deadline,
    ProviderFailure,
    Retryable,
    aspect_ratio,
    parse_delay,
    timeout_errors,
    transport_errors,
    with_retries,
)
from imagegen.providers.common import ProviderModel, provider_prompt
from imagegen.providers.image_models import ImageSpec

SAFETY_FINISH = {
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "SAFETY",
    "PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
}


@lru_cache(maxsize=8)
def gemini_client(base_url: str, api_key: str, timeout: float) -> Any:
    """A google-genai client for the Gemini API at `base_url`, with no retries of its own; one
    per endpoint and key for the process (building one costs a TLS context)."""
    from google import genai
    from google.genai import types

    options = types.HttpOptions(
        base_url=base_url.rstrip("/") + "/",
        timeout=int(timeout * 1000),
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    return genai.Client(api_key=api_key, http_options=options)


def deadline_options(deadline: Deadline) -> Any:
    """Per-call HTTP options: this attempt may take what is left of the deadline (at least a
    second), not the client's whole timeout again."""
    from google.genai import types

    return types.HttpOptions(timeout=max(1000, int(deadline.remaining() * 1000)))


def call_gemini(call: Any) -> Any:
    """Run one SDK call, turning its errors into Retryable / ProviderFailure. The SDK talks
    through httpx2 (or httpx when so configured): a timeout of either is `timeout`."""
    from google.genai import errors as genai_errors

    try:
        return call()
    except genai_errors.APIError as err:
        status, code = getattr(err, "status", None), int(getattr(err, "code", 0) or 0)
        if code == 429:
            raise Retryable("429 RESOURCE_EXHAUSTED", retry_delay(err.details)) from None
        if code >= 500:
            raise Retryable(f"{code} {status or ''}") from None
        reason = "API_KEY_INVALID" if "API_KEY_INVALID" in str(err.details) else status
        raise ProviderFailure(FailureKind.PROVIDER_ERROR, f"{code} {reason or ''}") from None
    except timeout_errors():
        raise ProviderFailure(FailureKind.TIMEOUT, "no answer before the deadline") from None
    except transport_errors() as err:
        raise Retryable(f"connection: {type(err).__name__}") from None


def retry_delay(details: object) -> float | None:
    """The `retryDelay` of a Google error body's RetryInfo detail ("13s" -> 13.0)."""
    error = details.get("error", details) if isinstance(details, dict) else None
    for item in (error or {}).get("details", []) if isinstance(error, dict) else []:
        if isinstance(item, dict) and "retryDelay" in item:
            return parse_delay(item["retryDelay"])
    return None


def gemini_contents(spec: ImageSpec) -> Any:
    """What `generateContent` is sent: the prompt alone; otherwise one user turn whose parts
    are, in order, the conversation's earlier instructions (`spec.context`, oldest first,
    each its own text part marked as earlier), the input image of an edit, and the current
    instruction."""
    from google.genai import types

    prompt = provider_prompt(spec)
    if spec.input_image is None and not spec.context:
        return prompt
    parts = [types.Part.from_text(text=f"{EARLIER}{text}") for text in spec.context]
    if spec.input_image is not None:  # an edit: the image, then the instruction
        image = spec.input_image
        parts.append(types.Part.from_bytes(data=image.data, mime_type=image.content_type))
    parts.append(types.Part.from_text(text=prompt))
    return types.Content(role="user", parts=parts)


EARLIER = "Earlier instruction in this conversation (already applied to the image): "


class GeminiModel(ProviderModel):
    """A Gemini image model, e.g. `gemini-2.5-flash-image`."""

    provider = "gemini"

    def _generate(self, spec: ImageSpec, deadline: Deadline) -> tuple[bytes, dict[str, Any]]:
        from google.genai import types

        client = gemini_client(self._base_url, self._key, self._timeout)
        ratio = aspect_ratio(spec.size)

        contents = gemini_contents(spec)

        def attempt() -> Any:
            config = types.GenerateContentConfig(
                response_modalities=["TEXT", "IMAGE"],
                image_config=types.ImageConfig(aspect_ratio=ratio),
                http_options=deadline_options(deadline),
            )
            return call_gemini(
                lambda: client.models.generate_content(
                    model=self.provider_model, contents=contents, config=config
                )
            )

        response = with_retries(attempt, deadline)
        reported: dict[str, Any] = {"providerAspectRatio": ratio}
        if getattr(response, "response_id", None):
            reported["providerRequestId"] = response.response_id
        usage = getattr(response, "usage_metadata", None)
        if usage is not None:
            reported["providerUsage"] = {
                k: v
                for k, v in usage.model_dump(exclude_none=True, by_alias=True).items()
                if isinstance(v, (int, float))
            }
        feedback = getattr(response, "prompt_feedback", None)
        if feedback is not None and feedback.block_reason:
            reason = getattr(feedback.block_reason, "value", feedback.block_reason)
            raise ProviderFailure(FailureKind.SAFETY_BLOCK, f"prompt blocked: {reason}", **reported)
        candidates = response.candidates or []
        if not candidates:
            raise ProviderFailure(FailureKind.INVALID_OUTPUT, "no candidates", **reported)
        candidate = candidates[0]
        finish = str(getattr(candidate.finish_reason, "value", candidate.finish_reason) or "")
        parts = candidate.content.parts if candidate.content and candidate.content.parts else []
        for part in parts:
            inline = getattr(part, "inline_data", None)
            if inline is not None and inline.data:
                return bytes(inline.data), reported
        if finish in SAFETY_FINISH:
            raise ProviderFailure(FailureKind.SAFETY_BLOCK, f"finishReason {finish}", **reported)
        raise ProviderFailure(FailureKind.INVALID_OUTPUT, f"no image part ({finish})", **reported)
