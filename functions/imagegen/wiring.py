"""What the application is wired to, in one place: the Firestore client, the catalog cache,
the image models, the image bucket, the task queues and the settings they read. Everything is
created lazily, on first use, never at import (a deploy imports this module without
credentials)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from . import errors
from .catalog import Catalog, CatalogCache, catalog_from_documents
from .firestore_client import db
from .generation import Studio
from .image_models import ImageModel
from .image_store import ImageStore, image_url, open_default_bucket
from .settings import (
    PENDING_TIMEOUT_SECONDS,
    failure_rate,
    functions_base_url,
    latency_ms,
    project_id,
    running_in_emulator,
    storage_bucket,
)
from .simulator import build_models
from .vocabulary import CATALOG_COLLECTIONS

__all__ = [
    "db",
    "current_catalog",
    "images",
    "studio",
    "image_url_for",
    "enqueue_task",
    "pending_timeout",
]

GENERATION_TASKS = "processGenerationRequest"  # the task-queue functions in main.py
WEBHOOK_TASKS = "deliverWebhook"


def _load_catalog() -> Catalog:
    client = db()
    docs = {
        name: {doc.id: doc.to_dict() or {} for doc in client.collection(name).stream()}
        for name in CATALOG_COLLECTIONS
    }
    return catalog_from_documents(docs)


_CATALOG = CatalogCache(_load_catalog)
_MODELS: Mapping[str, ImageModel] = build_models(failure_rate, latency_ms)
_IMAGES = ImageStore(lambda: open_default_bucket(storage_bucket(), project_id()))


def current_catalog() -> Catalog:
    """The catalog from Firestore (cached for 30 s); 503 when it was never seeded."""
    catalog = _CATALOG.get()
    if not catalog.sizes:
        _CATALOG.invalidate()
        raise errors.unavailable(
            "The catalog is empty: seed Firestore with `python seed_config.py`."
        )
    return catalog


def images() -> ImageStore:
    """The generated images in the project's default bucket."""
    return _IMAGES


def image_url_for(request_id: str) -> str:
    """The URL that serves a request's image to its owner."""
    return image_url(functions_base_url(), request_id)


def studio() -> Studio:
    """The models and where their images go."""
    return Studio(_MODELS, _IMAGES, image_url_for)


def enqueue_task(function_name: str, data: dict[str, Any], task_id: str) -> None:
    """Queue a task for a task-queue function (Cloud Tasks; the emulator's in development)."""
    from firebase_admin import functions

    queue = functions.task_queue(function_name)  # in us-central1, like every function here
    # The task id deduplicates enqueues in production. In the emulator the Admin SDK cannot
    # parse the name the emulator echoes back for a task given an id (it drops one character
    # too many), so there the emulator names the task; processing is idempotent either way.
    options = None if running_in_emulator() else functions.TaskOptions(task_id=task_id)
    # A task function reads a callable-style body, {"data": ...}, which the Python Admin SDK
    # does not add by itself.
    queue.enqueue({"data": data}, options)


def pending_timeout() -> timedelta:
    """How long a request may stay unsettled before the sweeper settles it (at least 60 s)."""
    return timedelta(seconds=max(60, PENDING_TIMEOUT_SECONDS.value))
