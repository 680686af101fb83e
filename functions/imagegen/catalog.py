"""The catalog: which models, styles, colors and sizes exist, and what each size costs.

Styles, colors and sizes live in Firestore (`styles/{name}`, `colors/{name}`, `sizes/{WxH}`)
so they change without a deploy; `CatalogCache` keeps a copy for at most `ttl` seconds.
Models are code (see `simulator.build_models`), so their list lives there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

CATALOG_TTL_SECONDS = 30.0


@dataclass(frozen=True)
class Catalog:
    """What can be ordered; `sizes` maps "WxH" to its price in credits."""

    styles: tuple[str, ...]
    colors: tuple[str, ...]
    sizes: Mapping[str, int] = field(default_factory=dict)

    def price(self, size: str) -> int:
        """Credits charged for one image of `size` (which must be in the catalog)."""
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
        "styles": {name: {"name": name, "order": i} for i, name in enumerate(catalog.styles)},
        "colors": {name: {"name": name, "order": i} for i, name in enumerate(catalog.colors)},
        "sizes": {
            size: {"name": size, "order": i, "credits": credits}
            for i, (size, credits) in enumerate(catalog.sizes.items())
        },
    }


def catalog_from_documents(docs: Mapping[str, Mapping[str, Mapping[str, object]]]) -> Catalog:
    """Build a Catalog from Firestore documents; documents with `active: false` are left out."""

    def ordered(collection: str) -> list[tuple[str, Mapping[str, object]]]:
        items = [(k, v) for k, v in docs.get(collection, {}).items() if v.get("active", True)]
        return sorted(items, key=lambda kv: (_int_or(kv[1].get("order"), 1_000_000), kv[0]))

    sizes: dict[str, int] = {}
    for name, fields in ordered("sizes"):
        credits = fields.get("credits")
        if isinstance(credits, int) and not isinstance(credits, bool) and credits > 0:
            sizes[name] = credits
    return Catalog(
        styles=tuple(name for name, _ in ordered("styles")),
        colors=tuple(name for name, _ in ordered("colors")),
        sizes=sizes,
    )


def _int_or(value: object, fallback: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else fallback


class CatalogCache:
    """A thread-safe copy of the catalog, reloaded when older than `ttl` seconds."""

    def __init__(
        self,
        load: Callable[[], Catalog],
        ttl: float = CATALOG_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: Catalog | None = None
        self._loaded_at = 0.0

    def get(self) -> Catalog:
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
