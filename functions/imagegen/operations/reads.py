"""Reads: a user's balance and ledger, requests and images, and the health check."""

from __future__ import annotations

import logging
import time
from typing import Any

from imagegen.core import auth, errors
from imagegen.core.auth import Caller
from imagegen.core.settings import IMAGES_PER_REQUEST_CAP, running_in_emulator
from imagegen.core.vocabulary import RequestStatus, Visibility
from imagegen.operations.wiring import current_catalog, db, images
from imagegen.providers.image_store import ImageObject
from imagegen.records import history
from imagegen.records.history import Page, Record
from imagegen.records.request_record import (
    PURGED_AT,
    STATUS,
    USER_ID,
    VISIBILITY,
    image_path_of,
)
from imagegen.records.validation import validate_user_id

log = logging.getLogger(__name__)

LISTABLE_STATUSES: tuple[str, ...] = tuple(RequestStatus)


def subject_user(caller: Caller, user_id: str | None) -> str:
    """The user a read is about: `user_id`, else the caller; the caller must be allowed."""
    user_id = user_id or caller.uid
    if not user_id:
        raise errors.missing_fields(["userId"])
    validate_user_id(user_id)
    auth.require_user(caller, user_id)
    return user_id


def get_credits(caller: Caller, user_id: str | None, page: Page) -> history.LedgerPage:
    """A user's balance and one page of the ledger, newest first."""
    return history.read_ledger(db(), subject_user(caller, user_id), page)


def owned_request(caller: Caller, request_id: str) -> Record:
    validate_user_id(request_id, "id")
    record = history.read_request(db(), request_id)
    if record is None or not caller.may_act_for(str(record.data.get(USER_ID))):
        raise errors.request_not_found()  # another user's request is not revealed
    return record


def get_generation(caller: Caller, request_id: str) -> Record:
    """One generation request with its status (the owner's or, for admins, anyone's)."""
    return owned_request(caller, request_id)


def get_generation_image(caller: Caller, request_id: str, index: int | None = None) -> ImageObject:
    """A completed request's image (`index`: which of its images; default the first
    stored), for its owner or an admin: `not-found` for an unknown request,
    `permission-denied` for another user's, `image-not-found` without that image (one that
    failed, or an index the request does not have)."""
    if index is not None and not 0 <= index < IMAGES_PER_REQUEST_CAP:
        raise errors.invalid_field(
            "index", f"index must be an integer from 0 to {IMAGES_PER_REQUEST_CAP - 1}."
        )
    validate_user_id(request_id, "id")
    record = history.read_request(db(), request_id)
    if record is None:
        raise errors.request_not_found()
    if not caller.may_act_for(str(record.data.get(USER_ID))):
        raise errors.forbidden("This image belongs to another user.")
    if record.data.get(PURGED_AT) or record.data.get(VISIBILITY) == Visibility.PURGED:
        raise errors.image_purged(request_id)
    if record.data.get(VISIBILITY) == Visibility.DELETED:
        raise errors.image_deleted(request_id)
    path = image_path_of(record.data, index)
    if record.data.get(STATUS) != RequestStatus.COMPLETED or path is None:
        raise errors.image_not_found()
    image = images().get(path)
    if image is None:
        raise errors.image_not_found()
    return image


def list_generations(
    caller: Caller,
    user_id: str | None,
    status: str | None,
    model: str | None,
    page: Page,
    deleted: bool = False,
) -> history.RequestsPage:
    """A user's requests, newest first, optionally filtered by status and model; the deleted
    ones only with `deleted` (and then only those)."""
    user_id = subject_user(caller, user_id)
    if status is not None and status not in LISTABLE_STATUSES:
        raise errors.invalid_choice("status", status, LISTABLE_STATUSES)
    if model is not None:
        known_models = tuple(current_catalog().models)
        if model not in known_models:
            raise errors.invalid_choice("model", model, known_models)
    return history.list_requests(db(), user_id, status, model, page, deleted)


def check_health(deep: bool) -> dict[str, Any]:
    """Liveness without I/O; `deep` also reads from Firestore."""
    body: dict[str, Any] = {"status": "ok", "emulator": running_in_emulator()}
    if deep:
        started = time.perf_counter()
        try:
            list(db().collection("sizes").limit(1).stream())
        except Exception as exc:
            log.warning("deep health check failed: %s", exc)
            raise errors.unavailable("Firestore is not reachable.") from None
        latency = round((time.perf_counter() - started) * 1000, 1)
        body["firestore"] = {"status": "ok", "latencyMs": latency}
    return body
