"""Generated images in Cloud Storage: `generated/{userId}/{requestId}.png` (and
`generated/{userId}/{requestId}/{index}.png` for requests of several images) in the project's
default bucket, written and read only by the functions (clients never touch the bucket;
`storage.rules` deny everything). The same client code runs against the Firebase Storage
emulator, the GCS-API emulator and production (`STORAGE_EMULATOR_HOST` picks the emulator)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc

PREFIX = "generated"
IMAGE_ROUTE = "getGenerationImage"  # the HTTPS function that serves an image to its owner


EXTENSIONS: dict[str, str] = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def object_path(
    user_id: str,
    request_id: str,
    content_type: str = "image/png",
    index: int = 0,
    num_images: int = 1,
) -> str:
    """`generated/{userId}/{requestId}.{ext}` for a one-image request, and
    `generated/{userId}/{requestId}/{index}.{ext}` for each image of a request of several; the
    extension from the image's content type."""
    ext = EXTENSIONS.get(content_type, "png")
    if num_images > 1:
        return f"{PREFIX}/{user_id}/{request_id}/{index}.{ext}"
    return f"{PREFIX}/{user_id}/{request_id}.{ext}"


def candidate_paths(
    user_id: str, request_id: str, index: int = 0, num_images: int = 1
) -> list[str]:
    """Every path an image of a request may have (one per content type)."""
    return [
        object_path(user_id, request_id, content_type, index, num_images)
        for content_type in EXTENSIONS
    ]


def request_id_of(path: str) -> str:
    """The request id an object path names (`generated/u/r.png` and `generated/u/r/2.png`
    -> `r`)."""
    parts = path.split("/")
    if len(parts) >= 4:
        return parts[2]
    return parts[-1].rsplit(".", 1)[0]


def image_url(base_url: str, request_id: str, index: int | None = None) -> str:
    """The URL that serves a request's image to its owner (`getGenerationImage?id=`, with
    `&index=` for an image of a request of several)."""
    url = f"{base_url}/{IMAGE_ROUTE}?id={request_id}"
    return url if index is None else f"{url}&index={index}"


# Served images are read from the bucket this many bytes at a time, so that an instance serving
# many images at once holds one chunk per response, never whole objects (outputs go up to 20 MB).
READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ImageObject:
    """A stored image: its metadata, and its bytes read in chunks only when iterated."""

    content_type: str
    etag: str  # changes with the content (the object's MD5 in base64)
    size: int
    read: Callable[[], Iterator[bytes]]


class ImageStore:
    """The bucket's generated images; the bucket is opened on first use."""

    def __init__(self, open_bucket: Callable[[], Any]) -> None:
        self._open_bucket = open_bucket
        self._bucket: Any = None

    @property
    def bucket(self) -> Any:
        if self._bucket is None:
            self._bucket = self._open_bucket()
        return self._bucket

    def put(self, path: str, data: bytes, content_type: str) -> None:
        self.bucket.blob(path).upload_from_string(data, content_type=content_type)

    def get(self, path: str) -> ImageObject | None:
        """The object's metadata and its first chunk (so a missing object is known before
        anything is sent, and an image under `READ_CHUNK` takes no further read); the rest is
        read when `read()` is iterated, one chunk at a time, from the same generation."""
        blob = self.bucket.get_blob(path)
        if blob is None:
            return None
        size = int(blob.size or 0)
        try:
            first = _chunk(blob, 0, size) if size else b""
        except gexc.NotFound:
            return None
        etag = blob.md5_hash or blob.etag or str(blob.generation)
        content_type = blob.content_type or "application/octet-stream"

        def read() -> Iterator[bytes]:
            yield first
            for start in range(READ_CHUNK, size, READ_CHUNK):
                yield _chunk(blob, start, size)

        return ImageObject(content_type, etag, size, read)

    def exists(self, path: str) -> bool:
        return bool(self.bucket.blob(path).exists())

    def delete(self, path: str) -> None:
        """Remove an object; one that is already gone is fine."""
        try:
            self.bucket.blob(path).delete()
        except gexc.NotFound:
            pass

    def paths(self, prefix: str) -> list[str]:
        """Names of the objects under `prefix`."""
        return [blob.name for blob in self.bucket.client.list_blobs(self.bucket, prefix=prefix)]


def _chunk(blob: Any, start: int, size: int) -> bytes:
    """One ranged read (`end` is inclusive), of the generation `blob` was read at."""
    end = min(size, start + READ_CHUNK) - 1
    return bytes(blob.download_as_bytes(start=start, end=end, checksum=None))


def open_default_bucket(bucket_name: str, project: str) -> Any:
    """The bucket through google-cloud-storage: anonymous against an emulator, the runtime's
    default credentials in production."""
    from google.cloud import storage  # type: ignore[attr-defined]

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        client = storage.Client(project=project, credentials=AnonymousCredentials())
    else:
        client = storage.Client(project=project)
    return client.bucket(bucket_name)
