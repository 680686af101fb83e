"""Replicate (https://replicate.com/docs/reference/http) through the official `replicate` SDK.

Create a prediction (`POST /v1/models/{owner}/{name}/predictions`, or `POST /v1/predictions`
with a version for `owner/name:version`) with `Prefer: wait=n` (n below the time left, at most
60) and `Cancel-After`; poll `GET /v1/predictions/{id}` until it is `succeeded`, `failed`,
`canceled` or `aborted`; download the output URL at once (Replicate deletes it after an hour);
`POST /v1/predictions/{id}/cancel` when the deadline passes (a user can no longer cancel a
request once it is at a provider). An edit uploads its input image first (`POST /v1/files`,
as the SDK does for a file given as input; retried like a poll, it starts no paid run) and
names the file's URL in the model's image input (`editInput` of the model, e.g.
`input_image` for Kontext models). Several images of one request are one prediction with the
model's image count input (`batchInput` of the model, `num_outputs` by default) whose output
is a list of URLs, each downloaded (in parallel) and checked on its own; a model without one
(`batchInput: false`) runs parallel predictions instead. A create is
retried only on 429 (Replicate started nothing) or a connection that never reached it; a 5xx or
a lost response on create is not retried (it may have started a paid run). Polls are retried on
429/5xx/network.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import lru_cache, partial
from typing import Any

from imagegen.core.vocabulary import FailureKind
from imagegen.providers.base import (
    Deadline,
    ProviderFailure,
    Retryable,
    aspect_ratio,
    parse_delay,
    with_retries,
)
from imagegen.providers.batch import MISSING, generate_parallel
from imagegen.providers.common import BatchProviderModel, Output, provider_prompt
from imagegen.providers.image_models import GenerationResult, ImageSpec, InputImage, Outcome
from imagegen.providers.image_store import EXTENSIONS
from imagegen.providers.output import MAX_IMAGE_BYTES, invalid, read_capped

TERMINAL = ("succeeded", "failed", "canceled", "aborted")
SAFETY_WORDS = ("nsfw", "sensitive", "safety", "flagged")
POLL_INTERVAL = 0.5
MAX_WAIT = 60
DOWNLOAD_TIMEOUT = 30.0  # per read, and never past the generation's deadline
MIN_ATTEMPT = 1.0  # seconds an HTTP call gets even when the deadline is (nearly) spent


# The call running on this thread: its deadline (for `Cancel-After`) and the last Retry-After.
_CALL = threading.local()


def _remember_retry_after(response: Any) -> None:
    _CALL.retry_after = parse_delay(response.headers.get("retry-after"))


def _within_deadline(request: Any) -> None:
    """Every call of this generation waits at most what is left of its deadline (so a stalled
    Replicate answers `timeout` at the deadline, not after the client's own read timeout), and
    a create carries `Cancel-After`."""
    deadline = getattr(_CALL, "deadline", None)
    if deadline is None:
        return
    left = max(MIN_ATTEMPT, deadline.remaining())
    limits = request.extensions.get("timeout", {})
    request.extensions["timeout"] = {
        name: left if value is None else min(value, left) for name, value in limits.items()
    }
    if request.method == "POST" and request.url.path.endswith("/predictions"):
        request.headers["Cancel-After"] = f"{max(1, int(deadline.remaining()))}s"


def _deadline_spent() -> bool:
    """Whether the current generation's deadline is (all but) over: a timeout then is the
    deadline's, not a slow moment worth another try."""
    deadline = getattr(_CALL, "deadline", None)
    return deadline is not None and deadline.remaining() <= POLL_INTERVAL


@lru_cache(maxsize=8)
def replicate_client(base_url: str, api_token: str) -> Any:
    """One SDK client per endpoint and token for the process (building one costs a TLS
    context; a shared one keeps connections). The SDK's own transport retries GETs for up to
    minutes; this one does not retry, so that ours stay inside the deadline."""
    import httpx
    import replicate

    client = replicate.Client(api_token=api_token, base_url=base_url)
    client._Client__client = httpx.Client(  # type: ignore[attr-defined]
        base_url=base_url,
        headers={
            "Authorization": f"Bearer {api_token}",
            "User-Agent": "imagegen (replicate-python)",
        },
        timeout=httpx.Timeout(10.0, read=MAX_WAIT + 5.0),
        event_hooks={"request": [_within_deadline], "response": [_remember_retry_after]},
    )
    return client


# Flux models accept at most 4 outputs per prediction (`num_outputs`).
MAX_OUTPUTS_PER_PREDICTION = 4


class ReplicateModel(BatchProviderModel):
    """A Replicate model or version, e.g. `black-forest-labs/flux-schnell`."""

    provider = "replicate"

    def generate_batch(
        self, spec: ImageSpec, count: int, forced: Outcome | None = None
    ) -> list[GenerationResult]:
        """One prediction for `count` images (several in parallel, of at most
        `MAX_OUTPUTS_PER_PREDICTION` each, when `count` is more), or `count` parallel
        predictions for a model without an image count input."""
        if self.batch_input is None:
            return generate_parallel(self, spec, count, forced)
        if count <= MAX_OUTPUTS_PER_PREDICTION:
            return super().generate_batch(spec, count, forced)
        starts = range(0, count, MAX_OUTPUTS_PER_PREDICTION)

        def chunk(start: int) -> list[GenerationResult]:
            size = min(MAX_OUTPUTS_PER_PREDICTION, count - start)
            results = super(ReplicateModel, self).generate_batch(
                replace(spec, index=start), size, forced
            )
            return (list(results) + [MISSING] * size)[:size]

        with ThreadPoolExecutor(len(starts)) as pool:
            return [result for part in pool.map(chunk, starts) for result in part]

    # --- the SDK, on an HTTP client whose retries are ours (bounded by the deadline) ----

    def _client(self, deadline: Deadline) -> Any:
        _CALL.deadline = deadline
        _CALL.retry_after = None
        return replicate_client(self._base_url, self._key)

    def _generate_many(
        self, spec: ImageSpec, count: int, deadline: Deadline
    ) -> tuple[list[Output], dict[str, Any]]:
        client = self._client(deadline)
        source = spec.input_image
        image_url = with_retries(lambda: self._upload(client, source), deadline) if source else None
        prediction = with_retries(
            lambda: self._create(client, spec, deadline, image_url, count), deadline
        )
        reported: dict[str, Any] = {"providerRequestId": prediction.id}
        while prediction.status not in TERMINAL:
            if deadline.remaining() <= POLL_INTERVAL:
                self._cancel(client, prediction.id)
                raise ProviderFailure(
                    FailureKind.TIMEOUT, "prediction still running at the deadline", **reported
                )
            time.sleep(POLL_INTERVAL)
            try:
                prediction = with_retries(partial(self._get, client, prediction.id), deadline)
            except ProviderFailure as failure:
                if failure.kind is FailureKind.TIMEOUT:
                    self._cancel(client, prediction.id)
                raise ProviderFailure(failure.kind, failure.detail, **reported) from None
        metrics = getattr(prediction, "metrics", None) or {}
        if metrics:
            reported["providerUsage"] = {
                k: v for k, v in metrics.items() if isinstance(v, (int, float))
            }
        if prediction.status == "failed":
            error = str(prediction.error or "prediction failed")
            kind = (
                FailureKind.SAFETY_BLOCK
                if any(word in error.lower() for word in SAFETY_WORDS)
                else FailureKind.PROVIDER_ERROR
            )
            raise ProviderFailure(kind, error, **reported)
        if prediction.status == "canceled":
            raise ProviderFailure(FailureKind.TIMEOUT, "prediction canceled", **reported)
        if prediction.status == "aborted":
            raise ProviderFailure(FailureKind.PROVIDER_UNAVAILABLE, "aborted", **reported)
        urls = output_urls(prediction.output)[:count]
        if len(urls) <= 1:
            return [self._fetch(url, deadline) for url in urls], reported
        with ThreadPoolExecutor(len(urls)) as pool:
            return list(pool.map(lambda url: self._fetch(url, deadline), urls)), reported

    def _fetch(self, url: str | None, deadline: Deadline) -> Output:
        """One output file's bytes, or why there are none (retried inside the deadline)."""
        if url is None:
            return invalid("no output URL")
        try:
            return with_retries(lambda: self._download(url, deadline), deadline)
        except ProviderFailure as failure:
            return failure

    def _upload(self, client: Any, image: InputImage) -> str:
        """Upload an edit's input image; the URL that names it in a model's input."""
        name = f"input.{EXTENSIONS.get(image.content_type, 'png')}"
        uploaded = self._safe_call(
            "upload",
            lambda: client.files.create(
                io.BytesIO(image.data), filename=name, content_type=image.content_type
            ),
        )
        return str(uploaded.urls["get"])

    def _create(
        self,
        client: Any,
        spec: ImageSpec,
        deadline: Deadline,
        image_url: str | None = None,
        count: int = 1,
    ) -> Any:
        import httpx
        from replicate.exceptions import ReplicateError

        wait = max(1, min(MAX_WAIT, int(deadline.remaining()) - 2))
        inputs: dict[str, Any] = {
            "prompt": provider_prompt(spec),
            "aspect_ratio": aspect_ratio(spec.size),
        }
        if image_url is not None:
            inputs[self.edit_input] = image_url
        if count > 1 and self.batch_input is not None:
            inputs[self.batch_input] = count
        try:
            if ":" in self.provider_model:
                version = self.provider_model.split(":", 1)[1]
                return client.predictions.create(version=version, input=inputs, wait=wait)
            return client.models.predictions.create(
                model=self.provider_model, input=inputs, wait=wait
            )
        except ReplicateError as err:
            if err.status == 429:
                raise Retryable("rate limited (429)", self._retry_after()) from None
            if err.status is not None and err.status >= 500:
                # It may have started a paid prediction: never create a second one.
                raise ProviderFailure(
                    FailureKind.PROVIDER_UNAVAILABLE, f"create answered {err.status}"
                ) from None
            raise ProviderFailure(
                FailureKind.PROVIDER_ERROR, f"create answered {err.status}: {err.title}"
            ) from None
        except httpx.ConnectError as err:  # never reached Replicate: nothing started
            raise Retryable(f"connect error: {type(err).__name__}") from None
        except httpx.TimeoutException:  # it may have started: do not create again
            raise ProviderFailure(FailureKind.TIMEOUT, "create: no answer in time") from None
        except httpx.HTTPError as err:  # the request may have arrived: do not create again
            raise ProviderFailure(
                FailureKind.PROVIDER_UNAVAILABLE, f"create failed: {type(err).__name__}"
            ) from None

    def _get(self, client: Any, prediction_id: str) -> Any:
        return self._safe_call(
            "poll",
            lambda: client.predictions.get(prediction_id),
            providerRequestId=prediction_id,
        )

    def _safe_call(self, step: str, call: Callable[[], Any], **details: Any) -> Any:
        """A call that starts nothing paid (a poll, an upload): 429, 5xx, network errors and
        timeouts before the deadline are retried; other answers are `provider-error`."""
        import httpx
        from replicate.exceptions import ReplicateError

        try:
            return call()
        except ReplicateError as err:
            if err.status == 429 or (err.status or 0) >= 500:
                raise Retryable(f"{step} answered {err.status}", self._retry_after()) from None
            raise ProviderFailure(
                FailureKind.PROVIDER_ERROR, f"{step} answered {err.status}: {err.title}", **details
            ) from None
        except httpx.TimeoutException:
            if _deadline_spent():
                raise ProviderFailure(
                    FailureKind.TIMEOUT, f"{step}: no answer before the deadline"
                ) from None
            raise Retryable(f"{step} timed out") from None
        except httpx.HTTPError as err:
            raise Retryable(f"{step} failed: {type(err).__name__}") from None

    def _cancel(self, client: Any, prediction_id: str) -> None:
        try:
            client.predictions.cancel(prediction_id)
        except Exception as exc:  # best effort: Cancel-After stops it at the provider too
            _CALL.cancel_error = type(exc).__name__

    def _download(self, url: str, deadline: Deadline) -> bytes:
        """The output file, streamed inside the deadline and cut off past 20 MB: a stall that
        outlives the deadline is a `timeout`, a file too large `invalid-output`."""
        import httpx

        left = deadline.remaining()
        if left <= 0:
            raise ProviderFailure(FailureKind.TIMEOUT, "no time left to download the output")
        bounded_by_deadline = left < DOWNLOAD_TIMEOUT
        try:
            with httpx.stream(
                "GET",
                url,
                timeout=httpx.Timeout(min(DOWNLOAD_TIMEOUT, left)),
                follow_redirects=True,
            ) as response:
                if response.status_code == 429 or response.status_code >= 500:
                    raise Retryable(f"output download answered {response.status_code}")
                if response.status_code >= 400:
                    raise ProviderFailure(
                        FailureKind.INVALID_OUTPUT, f"output answered {response.status_code}"
                    )
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_IMAGE_BYTES:
                    raise ProviderFailure(
                        FailureKind.INVALID_OUTPUT, f"the output declares {declared} bytes"
                    )
                return read_capped(response.iter_bytes(), deadline)
        except httpx.TimeoutException as err:
            if bounded_by_deadline or deadline.expired():
                raise ProviderFailure(
                    FailureKind.TIMEOUT, "output download stalled past the deadline"
                ) from None
            raise Retryable(f"output download timed out: {type(err).__name__}") from None
        except httpx.HTTPError as err:
            raise Retryable(f"output download failed: {type(err).__name__}") from None

    def _retry_after(self) -> float | None:
        return getattr(_CALL, "retry_after", None)


def output_urls(output: Any) -> list[str | None]:
    """A prediction's output as a list: one URL, or a list of them in order (an item that is
    not a URL is None: that image has no output)."""
    if isinstance(output, str) and output:
        return [output]
    if isinstance(output, list):
        return [item if isinstance(item, str) and item else None for item in output]
    return []
