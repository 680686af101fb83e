"""Several images of one request: from the model's own batch call when it has one, else from
parallel calls, all started at once so that they share the one deadline (no Firestore I/O).

`generate_images` always returns exactly `count` results in index order: an output the
provider did not return, or a call that raised, is a failed image."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from imagegen.core.vocabulary import FailureKind
from imagegen.providers.image_models import GenerationResult, ImageModel, ImageSpec, Outcome

log = logging.getLogger(__name__)

RAISED = GenerationResult(
    failure_reason="model raised an exception", failure_kind=FailureKind.PROVIDER_ERROR
)


MISSING = GenerationResult(
    failure_reason="the provider returned fewer images than asked",
    failure_kind=FailureKind.INVALID_OUTPUT,
)


def _one(model: ImageModel, spec: ImageSpec, forced: Outcome | None) -> GenerationResult:
    try:
        return model.generate(spec, forced)
    except Exception:  # a provider bug must still end in a refund of that image
        log.exception("model %s raised for request %s", spec.model, spec.request_id)
        return RAISED


def generate_images(
    model: ImageModel, spec: ImageSpec, count: int, forced: Outcome | None = None
) -> list[GenerationResult]:
    """`count` results for `spec`, index `i` drawn with `spec.index == i`."""
    if count <= 1:
        return [_one(model, spec, forced)]
    batch = getattr(model, "generate_batch", None)
    if batch is not None:
        try:
            results = list(batch(spec, count, forced))[:count]
        except Exception:
            log.exception("model %s raised for request %s", spec.model, spec.request_id)
            return [RAISED] * count
        return results + [MISSING] * (count - len(results))
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda i: _one(model, replace(spec, index=i), forced), range(count)))
