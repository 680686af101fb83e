"""The `ImageModel` for a model of the catalog (`models/{modelId}`): the simulator or one of the
real providers, with the deployment's base URLs, keys and deadline. Adapters are built on
first use; provider SDKs are imported only when a model of theirs runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from imagegen.core.catalog import ModelEntry
from imagegen.providers.batch import generate_images
from imagegen.providers.common import ProviderModel
from imagegen.providers.image_models import GenerationResult, ImageModel, ImageSpec, Outcome
from imagegen.providers.refine import refine_prompt


@dataclass(frozen=True)
class ProviderSettings:
    """Where the providers are and how to reach them (params and secrets, read when used)."""

    replicate_base_url: str
    openai_base_url: str
    gemini_base_url: str
    replicate_token: Callable[[], str]
    openai_key: Callable[[], str]
    gemini_key: Callable[[], str]
    timeout_seconds: float
    refine_model: str


def _adapter_class(provider: str) -> type[ProviderModel] | None:
    """The adapter of a real provider, imported now (its SDK loads on first use too)."""
    if provider == "replicate":
        from imagegen.providers.replicate_model import ReplicateModel

        return ReplicateModel
    if provider == "openai":
        from imagegen.providers.openai_model import OpenAIModel

        return OpenAIModel
    if provider == "gemini":
        from imagegen.providers.gemini_model import GeminiModel

        return GeminiModel
    return None


def _endpoint(provider: str, settings: ProviderSettings) -> tuple[str, Callable[[], str]]:
    """Where a provider is and how to read its key."""
    return {
        "replicate": (settings.replicate_base_url, settings.replicate_token),
        "openai": (settings.openai_base_url, settings.openai_key),
        "gemini": (settings.gemini_base_url, settings.gemini_key),
    }[provider]


def build_model(
    entry: ModelEntry, settings: ProviderSettings, simulated: Callable[[str], ImageModel]
) -> ImageModel:
    """The adapter for one catalog model."""
    adapter = _adapter_class(entry.provider)
    model: ImageModel
    if adapter is None:
        model = simulated(entry.id)
    else:
        base_url, key = _endpoint(entry.provider, settings)
        model = adapter(
            entry.id,
            entry.provider_model,
            base_url,
            key(),
            settings.timeout_seconds,
            entry.edit_input,
            entry.batch_input,
        )
    return RefiningModel(model, settings) if entry.refine_prompt else model


class RefiningModel:
    """Rewrites the prompt with a Gemini text model, then runs the wrapped model; the request
    records both prompts (`refinedPrompt` beside the original `prompt`). Several images of
    one request share one refined prompt (one rewrite, then the wrapped model's batch call or
    parallel calls)."""

    def __init__(self, inner: ImageModel, settings: ProviderSettings) -> None:
        self.name = inner.name
        self._inner = inner
        self._settings = settings

    def generate(self, spec: ImageSpec, forced: Outcome | None = None) -> GenerationResult:
        refined = self._refine(spec.prompt)
        result = self._inner.generate(replace(spec, prompt=refined), forced)
        return _with_refined(result, refined)

    def generate_batch(
        self, spec: ImageSpec, count: int, forced: Outcome | None = None
    ) -> list[GenerationResult]:
        refined = self._refine(spec.prompt)
        results = generate_images(self._inner, replace(spec, prompt=refined), count, forced)
        return [_with_refined(result, refined) for result in results]

    def _refine(self, prompt: str) -> str:
        return refine_prompt(
            prompt,
            self._settings.refine_model,
            self._settings.gemini_base_url,
            self._settings.gemini_key(),
            min(30.0, self._settings.timeout_seconds / 4),
        )


def _with_refined(result: GenerationResult, refined: str) -> GenerationResult:
    return replace(result, details={**result.details, "refinedPrompt": refined})
