"""What a provider returned, checked before it is stored (pure).

The dimensions are read from the file's header first (PNG `IHDR`, JPEG `SOFn`, WebP `VP8 `,
`VP8L` or `VP8X`), without decoding anything: an image over 4096 px on a side or over
16,777,216 pixels is refused whatever its byte size (a small file can declare a huge canvas).
Only a bounded image is then opened and verified by Pillow, so one output never takes more
than a bounded amount of memory.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from imagegen.core.vocabulary import FailureKind
from imagegen.providers.base import Deadline, ProviderFailure

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_SIDE = 4096
MAX_PIXELS = MAX_SIDE * MAX_SIDE  # 16,777,216
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic...): not DHT (C4),
# JPG (C8) or DAC (CC), which share the range.
_SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn: no length


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    content_type: str
    width: int
    height: int


def invalid(detail: str) -> ProviderFailure:
    return ProviderFailure(FailureKind.INVALID_OUTPUT, detail)


def header_dimensions(data: bytes) -> tuple[str, int, int]:
    """The format and the declared (width, height) of a PNG, JPEG or WebP, from its header
    alone, within the bounds (`invalid-output` otherwise: unknown format, a header cut short,
    a zero side, or over 4096 px on a side or 16.8 million pixels)."""
    kind, width, height = declared_size(data)
    if not within_bounds(width, height):
        raise invalid(f"{kind} of {width}x{height} is over {MAX_SIDE} px or {MAX_PIXELS} pixels")
    return kind, width, height


def within_bounds(width: int, height: int) -> bool:
    """At most 4096 px on a side and 16,777,216 pixels."""
    return width <= MAX_SIDE and height <= MAX_SIDE and width * height <= MAX_PIXELS


def declared_size(data: bytes) -> tuple[str, int, int]:
    """The format and the (width, height) a PNG, JPEG or WebP header declares, bounds not
    checked (`invalid-output`: unknown format, a header cut short, a zero side)."""
    if data.startswith(PNG_SIGNATURE):
        kind, (width, height) = "PNG", _png_size(data)
    elif data.startswith(b"\xff\xd8"):
        kind, (width, height) = "JPEG", _jpeg_size(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind, (width, height) = "WEBP", _webp_size(data)
    else:
        raise invalid("not a PNG, JPEG or WebP image")
    if width < 1 or height < 1:
        raise invalid(f"{kind} header declares {width}x{height}")
    return kind, width, height


def _png_size(data: bytes) -> tuple[int, int]:
    # signature, then the first chunk must be IHDR: length 13, type, width, height (big end.)
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise invalid("PNG without an IHDR header")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _jpeg_size(data: bytes) -> tuple[int, int]:
    # Walk the marker segments up to the first start-of-frame; its height and width follow
    # the sample precision.
    pos = 2
    while True:
        if pos >= len(data) or data[pos] != 0xFF:
            raise invalid("JPEG without a frame header")
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= len(data):
            raise invalid("JPEG without a frame header")
        marker = data[pos]
        pos += 1
        if marker in _STANDALONE_MARKERS:
            continue
        if marker in (0xD8, 0xD9, 0xDA) or pos + 2 > len(data):  # SOI, EOI, SOS before SOF
            raise invalid("JPEG without a frame header")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2:
            raise invalid("JPEG with a malformed segment")
        if marker in _SOF_MARKERS:
            if length < 7 or pos + 7 > len(data):
                raise invalid("JPEG frame header cut short")
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            return width, height
        pos += length


def _webp_size(data: bytes) -> tuple[int, int]:
    # RIFF....WEBP, then the first chunk: VP8 (lossy), VP8L (lossless) or VP8X (extended).
    chunk, body = data[12:16], 20
    if chunk == b"VP8 ":
        # a 3-byte frame tag, the start code 9d 01 2a, then 14-bit width and height
        if len(data) < body + 10 or data[body + 3 : body + 6] != b"\x9d\x01\x2a":
            raise invalid("WebP VP8 header cut short")
        width, height = struct.unpack("<HH", data[body + 6 : body + 10])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        # signature 0x2f, then 14 bits of width - 1 and 14 bits of height - 1
        if len(data) < body + 5 or data[body] != 0x2F:
            raise invalid("WebP VP8L header cut short")
        (bits,) = struct.unpack("<I", data[body + 1 : body + 5])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        # flags and 3 reserved bytes, then 24-bit canvas width - 1 and height - 1
        if len(data) < body + 10:
            raise invalid("WebP VP8X header cut short")
        width = int.from_bytes(data[body + 4 : body + 7], "little") + 1
        height = int.from_bytes(data[body + 7 : body + 10], "little") + 1
        return width, height
    raise invalid("WebP without a VP8, VP8L or VP8X chunk")


def read_capped(chunks: Iterable[bytes], deadline: Deadline) -> bytes:
    """A download read chunk by chunk, stopped as soon as it passes 20 MB (`invalid-output`)
    or the generation's deadline (`timeout`), whatever the sender declared."""
    data = bytearray()
    for chunk in chunks:
        data.extend(chunk)
        if len(data) > MAX_IMAGE_BYTES:
            raise invalid("the output is over 20 MB")
        if deadline.expired():
            raise ProviderFailure(
                FailureKind.TIMEOUT, "output download still running at the deadline"
            )
    return bytes(data)


def check_image(data: bytes | None) -> CheckedImage:
    """The image's real content type and size: `invalid-output` when it is empty, over 20 MB,
    not PNG, JPEG or WebP, declares dimensions over the bounds (checked before decoding), or
    does not decode to what its header declared."""
    if not data:
        raise invalid("the provider returned no image bytes")
    if len(data) > MAX_IMAGE_BYTES:
        raise invalid(f"image of {len(data)} bytes is over 20 MB")
    kind, width, height = header_dimensions(data)
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as image:
            if (image.format, image.width, image.height) != (kind, width, height):
                raise invalid(f"{kind} header and decoder disagree on the size")
            # Checks the data through to its end (PNG: every chunk's CRC) without keeping the
            # pixels: a full decode would cost several ms per image on the generation path.
            image.verify()
    except ProviderFailure:
        raise
    except Exception as exc:  # a decoder error of any kind: not an image
        raise invalid(f"not a readable image: {type(exc).__name__}: {exc}") from None
    return CheckedImage(data, FORMATS[kind], width, height)
