"""The catalog: which models, styles, colors and sizes exist, and what each costs.

All of it lives in Firestore (`models/{modelId}`, `styles/{name}`, `colors/{name}`,
`sizes/{WxH}`) so it changes without a deploy; `CatalogCache` keeps a copy for at most `ttl`
seconds. A model names its `provider` (`simulated`, `replicate`, `openai`, `gemini`) and
`providerModel`, may be disabled (`enabled: false`), may price sizes itself (`credits`: size ->
credits; a size it does not list costs what `sizes` says), may have its prompt refined first
(`refinePrompt`) and may edit images (`edits: true`; a Replicate model names its image input
in `editInput`, `input_image` when absent). A Replicate model names the input that sets how
many images one prediction makes in `batchInput` (`num_outputs` when absent; `false` for a
model that has none: several images are then parallel predictions). A project whose `models`
collection is empty offers the simulated `model-a` and `model-b`, which can edit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

CATALOG_TTL_SECONDS = 30.0
T = TypeVar("T")


PROVIDERS: tuple[str, ...] = ("simulated", "replicate", "openai", "gemini")
DEFAULT_EDIT_INPUT = "input_image"  # the image input of Replicate's Kontext models
DEFAULT_BATCH_INPUT = "num_outputs"  # the image count input of Replicate's Flux and SDXL models


@dataclass(frozen=True)
class ModelEntry:
    """One model of `models/{modelId}`."""

    id: str
    provider: str = "simulated"
    provider_model: str = ""
    enabled: bool = True
    credits: Mapping[str, int] = field(default_factory=dict)  # size -> credits (overrides)
    refine_prompt: bool = False
    edits: bool = False  # takes an input image (`input` of an order)
    edit_input: str = DEFAULT_EDIT_INPUT  # Replicate: the model's image input
    batch_input: str | None = DEFAULT_BATCH_INPUT  # Replicate: its image count input, if any


SIMULATED_MODELS: tuple[ModelEntry, ...] = (
    ModelEntry("model-a", "simulated", "model-a", edits=True),
    ModelEntry("model-b", "simulated", "model-b", edits=True),
)


@dataclass(frozen=True)
class Catalog:
    """What can be ordered; `sizes` maps "WxH" to its price in credits; `models` holds every
    model, enabled or not (a disabled one can still settle what it was charged for)."""

    styles: tuple[str, ...]
    colors: tuple[str, ...]
    sizes: Mapping[str, int] = field(default_factory=dict)
    models: Mapping[str, ModelEntry] = field(
        default_factory=lambda: {m.id: m for m in SIMULATED_MODELS}
    )

    @property
    def model_names(self) -> tuple[str, ...]:
        """The models that can be ordered now (enabled), in catalog order."""
        return tuple(name for name, model in self.models.items() if model.enabled)

    def price(self, size: str, model: str | None = None) -> int:
        """Credits for one image of `size` (in the catalog) by `model`: the model's own price
        for the size when it sets one, else the size's."""
        entry = self.models.get(model or "")
        if entry is not None and size in entry.credits:
            return entry.credits[size]
        return self.sizes[size]


# The catalog the project ships with; seed_config.py writes it to Firestore.
DEFAULT_CATALOG = Catalog(
    styles=("realistic", "anime", "oil painting", "sketch", "cyberpunk", "watercolor"),
    colors=("vibrant", "monochrome", "pastel", "neon", "vintage"),
    sizes={"512x512": 1, "1024x1024": 3, "1024x1792": 4},
)


def catalog_documents(catalog: Catalog) -> dict[str, dict[str, dict[str, object]]]:
    """The Firestore documents ({collection: {doc id: fields}}) that describe `catalog`."""
    return {
        "models": {
            m.id: {
                "provider": m.provider,
                "providerModel": m.provider_model,
                "enabled": m.enabled,
                "order": i,
                **({"credits": dict(m.credits)} if m.credits else {}),
                **({"refinePrompt": True} if m.refine_prompt else {}),
                **({"edits": True} if m.edits else {}),
                **({"editInput": m.edit_input} if m.edit_input != DEFAULT_EDIT_INPUT else {}),
                **(
                    {"batchInput": m.batch_input or False}
                    if m.batch_input != DEFAULT_BATCH_INPUT
                    else {}
                ),
            }
            for i, m in enumerate(catalog.models.values())
        },
        "styles": {name: {"name": name, "order": i} for i, name in enumerate(catalog.styles)},
        "colors": {name: {"name": name, "order": i} for i, name in enumerate(catalog.colors)},
        "sizes": {
            size: {"name": size, "order": i, "credits": credits}
            for i, (size, credits) in enumerate(catalog.sizes.items())
        },
    }


def catalog_from_documents(docs: Mapping[str, Mapping[str, Mapping[str, object]]]) -> Catalog:
    """Build a Catalog from Firestore documents; documents with `active: false` are left out."""

    def ordered_all(collection: str) -> list[tuple[str, Mapping[str, object]]]:
        items = list(docs.get(collection, {}).items())
        return sorted(items, key=lambda kv: (_int_or(kv[1].get("order"), 1_000_000), kv[0]))

    def ordered(collection: str) -> list[tuple[str, Mapping[str, object]]]:
        return [(k, v) for k, v in ordered_all(collection) if v.get("active", True)]

    sizes: dict[str, int] = {}
    for name, fields in ordered("sizes"):
        credits = fields.get("credits")
        if isinstance(credits, int) and not isinstance(credits, bool) and credits > 0:
            sizes[name] = credits
    models = {
        name: entry
        for name, fields in ordered_all("models")
        if (entry := model_from_document(name, fields)) is not None
    }
    return Catalog(
        styles=tuple(name for name, _ in ordered("styles")),
        colors=tuple(name for name, _ in ordered("colors")),
        sizes=sizes,
        models=models or {m.id: m for m in SIMULATED_MODELS},
    )


def model_from_document(model_id: str, fields: Mapping[str, object]) -> ModelEntry | None:
    """A model from its document; None when its provider is unknown (logged by nobody: it is
    simply not offered). Bad per-size prices are ignored (the size's price applies)."""
    provider = str(fields.get("provider") or "simulated")
    if provider not in PROVIDERS:
        return None
    raw_credits = fields.get("credits")
    credits = {
        str(size): value
        for size, value in (raw_credits.items() if isinstance(raw_credits, Mapping) else [])
        if isinstance(value, int) and not isinstance(value, bool) and value > 0
    }
    return ModelEntry(
        id=model_id,
        provider=provider,
        provider_model=str(fields.get("providerModel") or model_id),
        enabled=fields.get("enabled", True) is not False,
        credits=credits,
        refine_prompt=fields.get("refinePrompt") is True,
        edits=fields.get("edits") is True,
        edit_input=str(fields.get("editInput") or DEFAULT_EDIT_INPUT),
        batch_input=batch_input(fields.get("batchInput")),
    )


def batch_input(value: object) -> str | None:
    """A model document's `batchInput`: the input's name; `false` (or an empty name) when the
    model has none; `num_outputs` when absent or not a name."""
    if value is False or value == "":
        return None
    return value if isinstance(value, str) else DEFAULT_BATCH_INPUT


def _int_or(value: object, fallback: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else fallback


class TtlCache(Generic[T]):
    """A thread-safe copy of what `load` returns, reloaded when older than `ttl` seconds."""

    def __init__(
        self,
        load: Callable[[], T],
        ttl: float = CATALOG_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._loaded_at = 0.0

    def get(self) -> T:
        """The cached catalog, reloaded first if it is missing or stale."""
        with self._lock:
            now = self._clock()
            if self._value is None or now - self._loaded_at >= self._ttl:
                self._value = self._load()
                self._loaded_at = now
            return self._value

    def invalidate(self) -> None:
        """Forget the cached copy; the next `get` reloads."""
        with self._lock:
            self._value = None


CatalogCache = TtlCache  # the catalog's cache (30 s)
