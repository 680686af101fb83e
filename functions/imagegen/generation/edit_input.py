"""The input image of an edit, read before anything is charged.

An order's `input` names one of its user's uploads (`users/{uid}/uploads/{uploadId}`, the
bytes at `uploads/{uid}/{uploadId}.{ext}`) or one of their completed generations (its stored
image; `index` picks one image of a generation of several, else its first stored image).
Another user's input, or one that does not exist, is 404 `not-found` (nothing about
it is revealed); a deleted generation is 410 `image-deleted`, a purged one 410 `image-purged`;
a generation without an image is 404 `image-not-found`. The bytes read are the bytes the model
gets, and their sha256 is recorded on the request.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from imagegen.core import errors
from imagegen.core.vocabulary import REQUESTS, USERS, RequestStatus, Visibility
from imagegen.providers.image_models import InputImage
from imagegen.providers.image_store import EXTENSIONS, ImageStore
from imagegen.records.request_record import (
    COLOR,
    PURGED_AT,
    STATUS,
    STYLE,
    USER_ID,
    VISIBILITY,
    image_path_of,
)
from imagegen.records.validation import GenerationInput, InputRef

UPLOADS = "uploads"  # users/{uid}/uploads/{uploadId}, and the bucket's uploads/{uid}/


def upload_paths(user_id: str, upload_id: str, content_type: str) -> list[str]:
    """Where an upload's bytes may be: `uploads/{uid}/{uploadId}.{ext}`, the extension from
    its content type (`.jpg` or `.jpeg` for a JPEG)."""
    ext = EXTENSIONS.get(content_type, "png")
    names = [ext, "jpeg"] if ext == "jpg" else [ext]
    return [f"{UPLOADS}/{user_id}/{upload_id}.{name}" for name in names]


@dataclass(frozen=True)
class SourceImage:
    """An edit's input as read: the image, the sha256 of its bytes, and for a generation the
    style and color it was made with."""

    image: InputImage
    sha256: str
    style: str = ""
    color: str = ""


def read_input(client: Any, images: ImageStore, user_id: str, ref: InputRef) -> SourceImage:
    """Read `ref` for `user_id`, or raise the error the caller is told."""
    if ref.kind == "upload":
        return _read_upload(client, images, user_id, ref.id)
    return _read_generation(client, images, user_id, ref.id, ref.index)


def _read_upload(client: Any, images: ImageStore, user_id: str, upload_id: str) -> SourceImage:
    snap = client.collection(USERS).document(user_id).collection(UPLOADS).document(upload_id).get()
    if not snap.exists:
        raise errors.upload_not_found()
    content_type = str((snap.to_dict() or {}).get("contentType") or "image/png")
    for path in upload_paths(user_id, upload_id, content_type):
        image = _read(images, path)
        if image is not None:
            return _source(image)
    raise errors.upload_not_found()


def _read_generation(
    client: Any, images: ImageStore, user_id: str, request_id: str, index: int | None = None
) -> SourceImage:
    snap = client.collection(REQUESTS).document(request_id).get()
    data = snap.to_dict() if snap.exists else None
    if data is None or data.get(USER_ID) != user_id:
        raise errors.request_not_found()  # another user's request is not revealed
    if data.get(PURGED_AT) or data.get(VISIBILITY) == Visibility.PURGED:
        raise errors.image_purged(request_id)
    if data.get(VISIBILITY) == Visibility.DELETED:
        raise errors.image_deleted(request_id)
    path = image_path_of(data, index)  # None: that image failed, or there is no such image
    image = _read(images, path) if path is not None else None
    if data.get(STATUS) != RequestStatus.COMPLETED or image is None:
        raise errors.image_not_found()
    style, color = str(data.get(STYLE) or ""), str(data.get(COLOR) or "")
    return replace(_source(image), style=style, color=color)


def _read(images: ImageStore, path: str) -> InputImage | None:
    stored = images.get(path)
    if stored is None:
        return None
    return InputImage(b"".join(stored.read()), stored.content_type)


def _source(image: InputImage) -> SourceImage:
    return SourceImage(image, hashlib.sha256(image.data).hexdigest())


def with_input(order: GenerationInput, source: SourceImage) -> GenerationInput:
    """The order with its input read: the bytes, their digest, and the style and color of the
    generation it edits where the order left them out."""
    return replace(
        order,
        style=order.style or source.style,
        color=order.color or source.color,
        input_image=source.image,
        input_sha256=source.sha256,
    )


def reread(client: Any, images: ImageStore, user_id: str, record: Any) -> InputImage:
    """The input of a queued edit (`input` of its request), read again when it runs; the bytes
    must be those charged for (the same sha256), else the edit fails (and is refunded)."""
    kind, ident, digest = (str(record.get(k) or "") for k in ("kind", "id", "sha256"))
    index = record.get("index")
    ref = InputRef(kind, ident, index if isinstance(index, int) else None)
    source = read_input(client, images, user_id, ref)
    if digest and source.sha256 != digest:
        raise errors.image_not_found()
    return source.image
