"""What the application is wired to, in one place: the Firestore client, the catalog cache,
the image models, the image bucket, the task queues, the limits and global controls of a
charge, and the settings they read. Everything is
created lazily, on first use, never at import (a deploy imports this module without
credentials)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from imagegen.conversations import sessions as conversations
from imagegen.core import errors
from imagegen.core.catalog import Catalog, CatalogCache, TtlCache, catalog_from_documents
from imagegen.core.firestore_client import db
from imagegen.core.settings import (
    DAILY_CREDIT_LIMIT,
    GEMINI_API_KEY,
    GEMINI_BASE_URL,
    MAX_PENDING_PER_USER,
    OPENAI_API_KEY,
    OPENAI_BASE_URL,
    PENDING_TIMEOUT_SECONDS,
    RATE_LIMIT_PER_MINUTE,
    REFINE_MODEL,
    REPLICATE_API_TOKEN,
    REPLICATE_BASE_URL,
    controls_cache_seconds,
    failure_rate,
    functions_base_url,
    latency_ms,
    project_id,
    provider_timeout,
    running_in_emulator,
    secret_value,
    storage_bucket,
)
from imagegen.core.vocabulary import CATALOG_COLLECTIONS, CONFIG, GENERATION_CONFIG
from imagegen.generation.pipeline import Studio
from imagegen.ledger import budget
from imagegen.ledger.limits import ChargePolicy, GlobalControls, Limits, utc_day
from imagegen.providers.image_models import ImageModel
from imagegen.providers.image_store import ImageStore, image_url, open_default_bucket
from imagegen.providers.registry import ProviderSettings, build_model
from imagegen.providers.simulator import SimulatedModel, build_models
from imagegen.records.request_record import GenerationRequest
from imagegen.records.validation import is_document_id

CONTROLS_TTL_SECONDS = controls_cache_seconds()

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


def _newly_added(catalog: Catalog, model: str) -> bool:
    """Whether `model`, unknown to the cached catalog, now has a document (one read by id)."""
    if model in catalog.models or not is_document_id(model):
        return False
    return bool(db().collection("models").document(model).get().exists)


def current_catalog(model: str | None = None) -> Catalog:
    """The catalog from Firestore (cached for 30 s); 503 when it was never seeded. An order for
    a `model` the cached copy does not know, but which now has a document, reloads it first,
    so a model an operator just added is orderable at once (repricing and disabling take
    effect within the 30 s)."""
    catalog = _CATALOG.get()
    if model is not None and _newly_added(catalog, model):
        _CATALOG.invalidate()
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


def image_url_for(request_id: str, index: int | None = None) -> str:
    """The URL that serves a request's image (`index`: one of several) to its owner."""
    return image_url(functions_base_url(), request_id, index)


def provider_settings() -> ProviderSettings:
    """The providers' params and secrets, read now (secrets only when a provider runs)."""
    return ProviderSettings(
        replicate_base_url=REPLICATE_BASE_URL.value,
        openai_base_url=OPENAI_BASE_URL.value,
        gemini_base_url=GEMINI_BASE_URL.value,
        replicate_token=lambda: secret_value(REPLICATE_API_TOKEN),
        openai_key=lambda: secret_value(OPENAI_API_KEY),
        gemini_key=lambda: secret_value(GEMINI_API_KEY),
        timeout_seconds=provider_timeout(),
        refine_model=REFINE_MODEL.value,
    )


def _simulated(name: str) -> ImageModel:
    return _MODELS.get(name) or SimulatedModel(name, failure_rate, latency_ms)


def model_for(model_id: str) -> ImageModel:
    """The model a request was charged for, as the catalog describes it now (enabled or not);
    a model no longer in the catalog runs as a simulated one only if it is one."""
    entry = current_catalog(model_id).models.get(model_id)
    if entry is None:
        if model_id in _MODELS:
            return _MODELS[model_id]
        raise LookupError(f"model {model_id!r} is not in the catalog")
    return build_model(entry, provider_settings(), _simulated)


def studio() -> Studio:
    """The models and where their images go."""
    return Studio(model_for, _IMAGES, image_url_for, _session_context)


def _session_context(request: GenerationRequest) -> tuple[str, ...]:
    """A queued turn's context: its session's instructions before it (see `sessions`)."""
    return conversations.context_before(
        db(), request.user_id, request.session_id or "", request.created_at
    )


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


@dataclass(frozen=True)
class ControlsView:
    """`config/generation` as read on `day` (UTC), and its version (update time)."""

    controls: GlobalControls
    day: str
    version: Any = None


def _load_controls() -> ControlsView:
    snap = db().collection(CONFIG).document(GENERATION_CONFIG).get()
    controls = GlobalControls.from_document(snap.to_dict() if snap.exists else None)
    return ControlsView(controls, utc_day(datetime.now(UTC)), snap.update_time)


_CONTROLS = TtlCache(_load_controls, ttl=CONTROLS_TTL_SECONDS)


def global_controls() -> ControlsView:
    """The global switch and budget, read at most every 5 s per instance (shorter in a test
    run against the emulators, see `controls_cache_seconds`): a change takes effect within
    that time."""
    view = _CONTROLS.get()
    if view.day != utc_day(datetime.now(UTC)):
        _CONTROLS.invalidate()
        view = _CONTROLS.get()
    return view


def charge_policy(view: ControlsView | None = None) -> ChargePolicy:
    """What every charge enforces: the per-user limits (params; `users/{uid}.limits`
    overrides) and, when `view` has a budget, the day's budget (no read when it has none)."""
    day_budget = None
    if view is not None and view.controls.daily_credit_budget:
        day_budget = budget.day_budget(
            db(), view.day, view.controls.daily_credit_budget, view.version
        )
    return ChargePolicy(
        Limits(
            max(0, RATE_LIMIT_PER_MINUTE.value),
            max(0, MAX_PENDING_PER_USER.value),
            max(0, DAILY_CREDIT_LIMIT.value),
        ),
        float(PENDING_TIMEOUT_SECONDS.value),
        day_budget,
    )
