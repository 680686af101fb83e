"""Owners manage their images: soft delete, restore, purge (Firestore and the bucket).

A deleted request gets `deletedAt` and `visibility: "deleted"` (hidden from lists, its image no
longer served); restoring removes both. Purging erases the prompt, a refined prompt, the
webhook URL, the operators' failure detail (`operator/details`) and every stored image of the
request (one, or several: `generated/{uid}/{rid}/{index}.{ext}`), and sets `purgedAt` and
`visibility: "purged"`; everything the books and the reports read (user, cost, status, model,
size, timestamps, the outcome mirrors, each image's status and failure kind) stays, and ledger
entries are never touched. A request not settled yet cannot be deleted or purged.
Each change is one write conditional on the request being unchanged since read; doing it
twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from imagegen.core import errors
from imagegen.core.retry import RetryPolicy, retry_on_conflict
from imagegen.core.vocabulary import REQUESTS, UNSETTLED, Visibility
from imagegen.providers.image_store import PREFIX, ImageStore, candidate_paths
from imagegen.records.request_record import (
    DELETED_AT,
    IMAGE_PATH,
    IMAGES,
    PROMPT,
    PURGED_AT,
    STATUS,
    UPDATED_AT,
    USER_ID,
    VISIBILITY,
    WEBHOOK_URL,
    num_images_of,
    operator_details_ref,
    stored_paths,
)

POLICY = RetryPolicy(max_attempts=50, deadline_seconds=20.0)
# `failureDetail` too: documents written before it moved to `operator/details` hold it.
ERASED_FIELDS = (
    "refinedPrompt",
    "imageUrl",
    "imageUrls",
    IMAGE_PATH,
    WEBHOOK_URL,
    "failureDetail",
)
IMAGE_ERASED = ("imageUrl", IMAGE_PATH)  # of each image; its status and failure kind stay


@dataclass(frozen=True)
class Change:
    """What a gallery operation did: the request's state afterwards, and whether it changed."""

    request_id: str
    visibility: str | None
    changed: bool
    user_id: str = ""


def several_images(data: dict[str, Any]) -> bool:
    """Whether a request asked for several images (stored under a folder of its own)."""
    images = data.get(IMAGES)
    return (isinstance(images, list) and len(images) > 1) or num_images_of(data) > 1


def recorded_paths(data: dict[str, Any]) -> set[str]:
    """The object paths a request document records: `imagePath` and each stored image's."""
    paths = set(stored_paths(data.get(IMAGES)))
    if isinstance(data.get(IMAGE_PATH), str) and data[IMAGE_PATH]:
        paths.add(data[IMAGE_PATH])
    return paths


def images_folder(user_id: str, request_id: str) -> str:
    """Where the images of a request of several images are stored (each `{index}.{ext}`)."""
    return f"{PREFIX}/{user_id}/{request_id}/"


def _erased_images(images: Any) -> list[Any]:
    """`images` without where each image was (its URL and object path)."""
    return [
        {k: v for k, v in i.items() if k not in IMAGE_ERASED} if isinstance(i, dict) else i
        for i in images
    ]


def _settled_or_refuse(request_id: str, data: dict[str, Any]) -> None:
    status = str(data.get(STATUS, ""))
    if status in UNSETTLED:
        raise errors.still_in_progress(request_id, status)


def _conditional(client: firestore.Client, request_id: str, step: Any) -> Change:
    """Read the request, let `step(data)` decide the fields to write (None: nothing to do),
    write them only if the request is unchanged since read; retried on conflict."""
    ref = client.collection(REQUESTS).document(request_id)

    def attempt() -> Change:
        snap = ref.get()
        if not snap.exists:
            raise errors.request_not_found()
        data = snap.to_dict() or {}
        user_id = str(data.get(USER_ID, ""))
        fields = step(data)
        if fields is None:
            return Change(request_id, data.get(VISIBILITY), False, user_id)
        fields[UPDATED_AT] = firestore.SERVER_TIMESTAMP
        ref.update(fields, option=client.write_option(last_update_time=snap.update_time))
        visibility = fields.get(VISIBILITY, data.get(VISIBILITY))
        return Change(request_id, visibility, True, user_id)

    return retry_on_conflict(attempt, POLICY)


def soft_delete(client: firestore.Client, request_id: str) -> Change:
    """Hide a settled request and stop serving its image (restorable)."""

    def step(data: dict[str, Any]) -> dict[str, Any] | None:
        _settled_or_refuse(request_id, data)
        if data.get(VISIBILITY):  # deleted or purged already
            return None
        return {
            DELETED_AT: firestore.SERVER_TIMESTAMP,
            VISIBILITY: Visibility.DELETED.value,
        }

    return _conditional(client, request_id, step)


def restore(client: firestore.Client, request_id: str, now: datetime, keep: timedelta) -> Change:
    """Bring a deleted request back as it was; 410 `image-purged` once purged, or once its
    deletion is older than `keep` (SOFT_DELETE_DAYS: it is due to be purged)."""

    def step(data: dict[str, Any]) -> dict[str, Any] | None:
        visibility = data.get(VISIBILITY)
        if visibility == Visibility.PURGED or data.get(PURGED_AT):
            raise errors.image_purged(request_id)
        if visibility != Visibility.DELETED:
            return None
        deleted = data.get(DELETED_AT)
        if isinstance(deleted, datetime) and deleted < now - keep:
            raise errors.image_purged(request_id)
        return {DELETED_AT: firestore.DELETE_FIELD, VISIBILITY: firestore.DELETE_FIELD}

    return _conditional(client, request_id, step)


def purge(client: firestore.Client, images: ImageStore, request_id: str) -> Change:
    """Erase the request's image, prompt, webhook URL and operator details for good, keeping
    its accounting fields. The request is marked first and the object and the details deleted
    after, so a purge interrupted in between is finished by running it again (which deletes
    whatever is left)."""

    seen: dict[str, Any] = {}

    def step(data: dict[str, Any]) -> dict[str, Any] | None:
        _settled_or_refuse(request_id, data)
        seen.clear()
        seen.update(data)
        if data.get(PURGED_AT):
            return None
        fields: dict[str, Any] = {
            PROMPT: "",
            PURGED_AT: firestore.SERVER_TIMESTAMP,
            VISIBILITY: Visibility.PURGED.value,
            **dict.fromkeys(ERASED_FIELDS, firestore.DELETE_FIELD),
        }
        if isinstance(data.get(IMAGES), list):
            fields[IMAGES] = _erased_images(data[IMAGES])
        if not data.get(DELETED_AT):
            fields[DELETED_AT] = firestore.SERVER_TIMESTAMP
        return fields

    change = _conditional(client, request_id, step)
    operator_details_ref(client, request_id).delete()
    paths = recorded_paths(seen) | set(candidate_paths(change.user_id, request_id))
    if several_images(seen):  # listed: a purge run again finds what the first one left
        paths |= set(images.paths(images_folder(change.user_id, request_id)))
    for path in sorted(paths):
        images.delete(path)
    return change


def erase_user_images(images: ImageStore, user_id: str) -> int:
    """Delete every object left under `generated/{uid}/` (one-image and several-image
    requests alike); the number deleted. For a closed account whose requests are settled."""
    paths = images.paths(f"{PREFIX}/{user_id}/")
    for path in paths:
        images.delete(path)
    return len(paths)


def due_for_purge(client: firestore.Client, older_than: datetime, limit: int) -> list[str]:
    """Ids of deleted requests whose deletion is older than `older_than`, oldest first, at
    most `limit`."""
    query = (
        client.collection(REQUESTS)
        .where(filter=FieldFilter(VISIBILITY, "==", Visibility.DELETED.value))
        .where(filter=FieldFilter(DELETED_AT, "<", older_than))
        .order_by(DELETED_AT)
        .limit(limit)
    )
    return [ref.id for ref in query.select([]).stream()]


def user_requests(client: firestore.Client, user_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every request of a user (id, data)."""
    query = client.collection(REQUESTS).where(filter=FieldFilter(USER_ID, "==", user_id))
    for snap in query.stream():
        yield snap.id, snap.to_dict() or {}
