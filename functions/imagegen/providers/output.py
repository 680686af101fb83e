"""What a provider returned, decoded and checked before it is stored (pure)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from ..vocabulary import FailureKind
from .base import ProviderFailure

MAX_IMAGE_BYTES = 20 * 1024 * 1024
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    content_type: str
    width: int
    height: int


def check_image(data: bytes | None) -> CheckedImage:
    """The image's real content type and size, found by decoding it; `invalid-output` when it
    is empty, over 20 MB, not decodable, or not PNG, JPEG or WebP."""
    if not data:
        raise ProviderFailure(FailureKind.INVALID_OUTPUT, "the provider returned no image bytes")
    if len(data) > MAX_IMAGE_BYTES:
        raise ProviderFailure(
            FailureKind.INVALID_OUTPUT, f"image of {len(data)} bytes is over 20 MB"
        )
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()  # checks the structure; the size was read from the header
            kind, width, height = image.format, image.width, image.height
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ProviderFailure(FailureKind.INVALID_OUTPUT, f"not a readable image: {exc}") from None
    if kind not in FORMATS:
        raise ProviderFailure(FailureKind.INVALID_OUTPUT, f"unsupported image format {kind}")
    return CheckedImage(data, FORMATS[kind], width, height)
