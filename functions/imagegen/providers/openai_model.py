"""OpenAI Images (https://platform.openai.com/docs/api-reference/images/create) through the
official `openai` SDK: `POST /images/generations` with a GPT image model, or for an edit
`POST /images/edits` (multipart: `image` = the input's bytes, `prompt`, `model`, `size`), which
answer with `b64_json` (no `response_format` for these models) in one of 1024x1024,
1536x1024, 1024x1536. Several images of one request are one call with `n` (1 to 10), whose
`data` holds one item per image, each decoded and checked on its own.
The request id is the `x-request-id` header. A 400 with `code: moderation_blocked` is a
`safety-block`; other 4xx are `provider-error`; 429, 5xx and connection errors are retried
inside the deadline (an image call that failed produced nothing to pay for twice).
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from typing import Any

from imagegen.core.vocabulary import FailureKind
from imagegen.providers.base import (
    Deadline,
    ProviderFailure,
    Retryable,
    openai_size,
    parse_delay,
    with_retries,
)
from imagegen.providers.common import BatchProviderModel, Output, provider_prompt
from imagegen.providers.image_models import ImageSpec
from imagegen.providers.image_store import EXTENSIONS
from imagegen.providers.output import invalid


@lru_cache(maxsize=8)
def openai_client(base_url: str, api_key: str, timeout: float) -> Any:
    """One SDK client per endpoint and key for the process, with no retries of its own:
    building one costs about 15 ms (its TLS context), and a shared one keeps connections."""
    import openai

    return openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)


class OpenAIModel(BatchProviderModel):
    """A GPT image model, e.g. `gpt-image-1.5`."""

    provider = "openai"

    def _generate_many(
        self, spec: ImageSpec, count: int, deadline: Deadline
    ) -> tuple[list[Output], dict[str, Any]]:
        import openai

        client = openai_client(self._base_url, self._key, self._timeout)
        size = openai_size(spec.size)

        def call() -> Any:
            images = client.with_options(timeout=max(1.0, deadline.remaining())).images
            prompt = provider_prompt(spec)
            if spec.input_image is None:
                return images.with_raw_response.generate(
                    model=self.provider_model, prompt=prompt, size=size, n=count
                )
            source = spec.input_image
            name = f"input.{EXTENSIONS.get(source.content_type, 'png')}"
            return images.with_raw_response.edit(
                model=self.provider_model,
                image=(name, source.data, source.content_type),
                prompt=prompt,
                size=size,
                n=count,
            )

        def attempt() -> Any:
            try:
                return call()
            except openai.BadRequestError as err:
                code = getattr(err, "code", None) or _body_code(err.body)
                kind = (
                    FailureKind.SAFETY_BLOCK
                    if code in ("moderation_blocked", "content_policy_violation")
                    else FailureKind.PROVIDER_ERROR
                )
                raise ProviderFailure(
                    kind, f"400 {code or 'bad request'}", providerRequestId=err.request_id
                ) from None
            except openai.RateLimitError as err:
                delay = parse_delay(err.response.headers.get("retry-after"))
                raise Retryable("429", delay) from None
            except openai.InternalServerError as err:
                delay = parse_delay(err.response.headers.get("retry-after"))
                raise Retryable(f"{err.status_code}", delay) from None
            except openai.APITimeoutError:
                raise ProviderFailure(
                    FailureKind.TIMEOUT, "no answer before the deadline"
                ) from None
            except openai.APIConnectionError as err:
                raise Retryable(f"connection: {type(err).__name__}") from None
            except openai.APIStatusError as err:
                raise ProviderFailure(
                    FailureKind.PROVIDER_ERROR,
                    f"{err.status_code} {_body_code(err.body) or ''}",
                    providerRequestId=err.request_id,
                ) from None

        raw = with_retries(attempt, deadline)
        response = raw.parse()
        reported: dict[str, Any] = {
            "providerRequestId": raw.headers.get("x-request-id"),
            "providerSize": size,
        }
        usage = getattr(response, "usage", None)
        if usage is not None:
            reported["providerUsage"] = usage.model_dump(exclude_none=True)
        return [decode_item(item) for item in response.data or []], reported


def decode_item(item: Any) -> Output:
    """The bytes of one item of an answer's `data` (its `b64_json`), or why it has none."""
    encoded = getattr(item, "b64_json", None)
    if not encoded:
        return invalid("no b64_json in the answer")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return invalid("b64_json is not base64")


def _body_code(body: object) -> str | None:
    """`error.code` (or `code`) of an OpenAI error body."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("code"), str):
            return str(inner["code"])
    return None
