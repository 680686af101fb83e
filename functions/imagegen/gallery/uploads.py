"""Reference images a user uploads (to edit them later): checked, cleaned, stored and read.

An upload is checked the way a provider's output is (`providers.output`): the dimensions from
the header first (at most 4096 px a side and 16.8 million pixels, before anything is decoded),
then a full decode by Pillow. The pixels are then re-encoded in the same format into a fresh
image, so nothing but the pixels is kept: no EXIF (GPS, camera, orientation: the picture is
turned upright first), XMP, ICC profile or text chunk. The result is stored at
`uploads/{uid}/{uploadId}.{ext}` and described in `users/{uid}/uploads/{uploadId}`
(`contentType`, `width`, `height`, `sha256` of the stored bytes, `createdAt`).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from imagegen.core import errors
from imagegen.core.vocabulary import USERS
from imagegen.providers.base import ProviderFailure
from imagegen.providers.image_store import EXTENSIONS, ImageStore
from imagegen.providers.output import FORMATS, MAX_PIXELS, MAX_SIDE, declared_size, within_bounds

PREFIX = "uploads"  # objects: uploads/{uid}/{uploadId}.{ext}
COLLECTION = "uploads"  # documents: users/{uid}/uploads/{uploadId}
CONTENT_TYPES = tuple(EXTENSIONS)  # image/png, image/jpeg, image/webp
MAX_HTTP_BYTES = 10 * 1024 * 1024  # the raw body of uploadImage
MAX_CALLABLE_BYTES = 7 * 1024 * 1024  # decoded, in uploadReferenceImage (a 10 MB JSON body)
JPEG_QUALITY = 92
WEBP_QUALITY = 90
ERASE_BATCH = 400  # documents deleted per commit when an account is deleted


@dataclass(frozen=True)
class CleanImage:
    """An upload as it will be stored: re-encoded pixels and what describes them."""

    data: bytes
    content_type: str
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Upload:
    """A stored upload, as its document describes it."""

    upload_id: str
    user_id: str
    content_type: str
    width: int
    height: int
    sha256: str

    @property
    def path(self) -> str:
        return object_path(self.user_id, self.upload_id, self.content_type)


def object_path(user_id: str, upload_id: str, content_type: str) -> str:
    """`uploads/{uid}/{uploadId}.{ext}`, the extension from the stored content type."""
    return f"{PREFIX}/{user_id}/{upload_id}.{EXTENSIONS[content_type]}"


def check_size(size: int, limit: int) -> None:
    """413 `image-too-large` when `size` bytes are over `limit`."""
    if size > limit:
        raise errors.image_too_large(f"{size} bytes, at most {limit}.", maxBytes=limit)


def check_content_type(content_type: str | None) -> str:
    """The declared content type, lower-cased, if it is one of the accepted three (400
    `invalid-image` otherwise)."""
    value = (content_type or "").split(";")[0].strip().lower()
    if value not in CONTENT_TYPES:
        raise errors.invalid_image(
            f"content type {value or '(none)'!r} is not one of {', '.join(CONTENT_TYPES)}.",
            allowed=list(CONTENT_TYPES),
        )
    return value


def clean(data: bytes, content_type: str, max_bytes: int) -> CleanImage:
    """The upload checked and re-encoded without metadata (pure): 400 `invalid-image` when it
    is not a readable image of the declared type, 413 `image-too-large` over `max_bytes` or
    the pixel bounds (checked from the header, before decoding)."""
    declared = check_content_type(content_type)
    check_size(len(data), max_bytes)
    try:
        kind, width, height = declared_size(data)
    except ProviderFailure as failure:
        raise errors.invalid_image(f"{failure.detail}.") from None
    if FORMATS[kind] != declared:
        raise errors.invalid_image(f"the bytes are {FORMATS[kind]}, not {declared}.")
    if not within_bounds(width, height):
        raise errors.image_too_large(
            f"{width}x{height}, at most {MAX_SIDE} px a side and {MAX_PIXELS} pixels.",
            maxSide=MAX_SIDE,
            maxPixels=MAX_PIXELS,
        )
    return _reencode(data, kind, width, height)


def _reencode(data: bytes, kind: str, width: int, height: int) -> CleanImage:
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as opened:
            if (opened.width, opened.height) != (width, height):
                raise errors.invalid_image("the header and the decoder disagree on the size.")
            opened.load()  # the whole file decodes, or this raises
            upright = ImageOps.exif_transpose(opened)
            pixels = _plain_mode(upright if upright is not None else opened, kind)
    except errors.DomainError:
        raise
    except Exception as exc:  # a decoder error of any kind: not an image
        raise errors.invalid_image(f"it does not decode ({type(exc).__name__}).") from None
    # A new image from the raw pixels carries no `info`: no EXIF, XMP, ICC or text chunk
    # can follow it into the file written below.
    fresh = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    if kind == "JPEG":
        fresh.save(out, format="JPEG", quality=JPEG_QUALITY)
    elif kind == "WEBP":
        fresh.save(out, format="WEBP", quality=WEBP_QUALITY)
    else:
        fresh.save(out, format="PNG")
    return CleanImage(out.getvalue(), FORMATS[kind], fresh.width, fresh.height)


def _plain_mode(image: Any, kind: str) -> Any:
    """The image in a mode its format writes without a palette: RGB or L for JPEG; RGB, or
    RGBA when it has transparency, for PNG and WebP."""
    if kind == "JPEG":
        return image if image.mode in ("RGB", "L") else image.convert("RGB")
    alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    wanted = "RGBA" if alpha else "RGB"
    return image if image.mode == wanted else image.convert(wanted)


# --- Firestore and the bucket -----------------------------------------------------------------


def upload_ref(client: Any, user_id: str, upload_id: str) -> Any:
    return client.collection(USERS).document(user_id).collection(COLLECTION).document(upload_id)


def upload_document(image: CleanImage, created_at: Any) -> dict[str, Any]:
    """`users/{uid}/uploads/{uploadId}`."""
    return {
        "contentType": image.content_type,
        "width": image.width,
        "height": image.height,
        "sha256": image.sha256,
        "createdAt": created_at,
    }


def upload_of(user_id: str, upload_id: str, data: Mapping[str, Any]) -> Upload:
    return Upload(
        upload_id,
        user_id,
        str(data.get("contentType")),
        int(data.get("width") or 0),
        int(data.get("height") or 0),
        str(data.get("sha256")),
    )


def put_object(store: ImageStore, user_id: str, upload_id: str, image: CleanImage) -> str:
    """Store the cleaned bytes; returns the object's path."""
    path = object_path(user_id, upload_id, image.content_type)
    store.put(path, image.data, image.content_type)
    return path


def get_upload(client: Any, user_id: str, upload_id: str) -> Upload | None:
    """One of the user's uploads (None when it does not exist)."""
    snap = upload_ref(client, user_id, upload_id).get()
    return upload_of(user_id, upload_id, snap.to_dict() or {}) if snap.exists else None


def read_bytes(store: ImageStore, upload: Upload) -> bytes | None:
    """The stored bytes of an upload (None when the object is gone)."""
    found = store.get(upload.path)
    return b"".join(found.read()) if found is not None else None


def erase_all(client: Any, store: ImageStore, user_id: str) -> int:
    """Delete every upload of a user, objects first, then documents (idempotent: a second
    call finds nothing). Returns the number of documents deleted."""
    for path in store.paths(f"{PREFIX}/{user_id}/"):
        store.delete(path)
    collection = client.collection(USERS).document(user_id).collection(COLLECTION)
    erased = 0
    while True:
        refs = [snap.reference for snap in collection.limit(ERASE_BATCH).stream()]
        if not refs:
            return erased
        batch = client.batch()
        for ref in refs:
            batch.delete(ref)
        batch.commit()
        erased += len(refs)
