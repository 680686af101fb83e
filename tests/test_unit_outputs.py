"""Unit tests of what leaves the service's outbound edges: provider outputs bounded from their
header before anything is decoded, and webhook deliveries only to public addresses."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from imagegen.providers.base import Deadline, ProviderFailure
from imagegen.providers.output import (
    MAX_IMAGE_BYTES,
    MAX_PIXELS,
    MAX_SIDE,
    PNG_SIGNATURE,
    check_image,
    header_dimensions,
    read_capped,
)

# --- Crafted files: a few bytes that declare a size (no pixels behind them) ---------------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR (1-bit greyscale) and an empty IDAT: valid chunks, no rows."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b""))
        + png_chunk(b"IEND", b"")
    )


def jpeg_header(width: int, height: int) -> bytes:
    """SOI, an APP0 segment, a baseline SOF0 declaring the size, EOI."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def riff(chunk: bytes, body: bytes) -> bytes:
    payload = b"WEBP" + chunk + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def webp_vp8x(width: int, height: int) -> bytes:
    return riff(
        b"VP8X",
        b"\x00\x00\x00\x00"
        + (width - 1).to_bytes(3, "little")
        + (height - 1).to_bytes(3, "little"),
    )


def webp_vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    return riff(b"VP8L", b"\x2f" + struct.pack("<I", bits))


def webp_vp8(width: int, height: int) -> bytes:
    return riff(b"VP8 ", b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", width, height))


def real(fmt: str, width: int, height: int) -> bytes:
    """A complete image; greyscale (1-bit for PNG) so that encoding 16 M pixels stays quick."""
    buffer = io.BytesIO()
    mode = {"PNG": "1", "JPEG": "L"}.get(fmt, "RGB")
    Image.new(mode, (width, height), 0).save(buffer, format=fmt)
    return buffer.getvalue()


HUGE = [
    ("png", png_header(12000, 12000)),
    ("png-wide", png_header(MAX_SIDE + 1, 1)),
    ("png-area", png_header(4097, 4095)),  # each side within 4096, the area over 16.8 M
    ("png-2^31", png_header(2**31 - 1, 2**31 - 1)),
    ("jpeg", jpeg_header(12000, 12000)),
    ("jpeg-tall", jpeg_header(16, 65535)),
    ("webp-vp8x", webp_vp8x(12000, 12000)),
    ("webp-vp8x-max", webp_vp8x(2**24, 2**24)),
    ("webp-vp8l", webp_vp8l(16384, 16384)),
    ("webp-vp8", webp_vp8(12000, 12000)),
]


@pytest.mark.parametrize(("name", "data"), HUGE, ids=[name for name, _ in HUGE])
def test_a_small_file_declaring_a_huge_image_is_invalid_output_before_decoding(name, data):
    assert len(data) < 100  # a few bytes: the byte size says nothing about the pixels
    with pytest.raises(ProviderFailure) as failure:
        header_dimensions(data)
    assert failure.value.kind == "invalid-output" and "over 4096" in failure.value.detail
    with pytest.raises(ProviderFailure) as failure:
        check_image(data)
    assert failure.value.kind == "invalid-output" and "over 4096" in failure.value.detail


def test_the_144_megapixel_png_of_the_issue_is_refused():
    # a real, complete 12000x12000 1-bit PNG: every row present, about 20 KB compressed
    rows = zlib.compress(b"\x00" * (12000 * (1 + 1500)), 9)
    data = (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 12000, 12000, 1, 0, 0, 0, 0))
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )
    assert len(data) < 64 * 1024
    with pytest.raises(ProviderFailure) as failure:
        check_image(data)
    assert failure.value.kind == "invalid-output"


AT_THE_BOUND = [
    ("PNG", MAX_SIDE, MAX_SIDE),
    ("JPEG", MAX_SIDE, MAX_SIDE),
    ("PNG", MAX_SIDE, 1),
    ("JPEG", 1, MAX_SIDE),
    ("WEBP", MAX_SIDE, 1),  # (a 4096x4096 WebP takes seconds to encode: its header below)
    ("WEBP", 1, MAX_SIDE),
]


@pytest.mark.parametrize(("fmt", "width", "height"), AT_THE_BOUND)
def test_valid_images_at_the_bound_are_accepted(fmt, width, height):
    data = real(fmt, width, height)
    assert header_dimensions(data) == (fmt, width, height)
    image = check_image(data)
    assert (image.content_type, image.width, image.height) == (
        f"image/{fmt.lower()}",
        width,
        height,
    )


@pytest.mark.parametrize("header", [webp_vp8x, webp_vp8l, png_header, jpeg_header])
def test_headers_declaring_exactly_the_bound_pass_the_header_check(header):
    assert header_dimensions(header(MAX_SIDE, MAX_SIDE))[1:] == (MAX_SIDE, MAX_SIDE)
    assert MAX_SIDE * MAX_SIDE == MAX_PIXELS == 16_777_216


def test_lossless_webp_is_read_from_its_vp8l_header():
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (1, 2, 3)).save(buffer, format="WEBP", lossless=True)
    assert header_dimensions(buffer.getvalue()) == ("WEBP", 300, 200)


@pytest.mark.parametrize(
    "data",
    [
        png_header(64, 64),  # the header is fine, the rows are missing
        real("PNG", 64, 64)[:-40],  # cut short
        real("JPEG", 64, 64)[:200],
        jpeg_header(0, 64),  # a zero side
        b"GIF89a\x01\x00\x01\x00",
        b"not an image",
        b"",
        None,
    ],
)
def test_what_does_not_decode_to_its_header_is_invalid_output(data):
    with pytest.raises(ProviderFailure) as failure:
        check_image(data)
    assert failure.value.kind == "invalid-output"


PREFIXES = st.sampled_from(
    [b"", PNG_SIGNATURE, PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR", b"\xff\xd8", b"\xff\xd8\xff"]
    + [b"RIFF\x00\x00\x00\x00WEBP" + chunk for chunk in (b"VP8 ", b"VP8L", b"VP8X", b"")]
)


@settings(max_examples=300, deadline=None)
@given(prefix=PREFIXES, rest=st.binary(max_size=64))
def test_any_bytes_give_bounded_dimensions_or_invalid_output(prefix, rest):
    try:
        kind, width, height = header_dimensions(prefix + rest)
    except ProviderFailure as failure:
        assert failure.kind == "invalid-output"
        return
    assert kind in ("PNG", "JPEG", "WEBP")
    assert 1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE
    assert width * height <= MAX_PIXELS


@settings(max_examples=60, deadline=None)
@given(prefix=PREFIXES, rest=st.binary(max_size=64))
def test_any_bytes_are_a_bounded_image_or_invalid_output(prefix, rest):
    try:
        image = check_image(prefix + rest)
    except ProviderFailure as failure:
        assert failure.kind == "invalid-output"
        return
    assert 1 <= image.width <= MAX_SIDE and image.width * image.height <= MAX_PIXELS


# --- Downloads: a streamed size cap and the generation's deadline ------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_download_stops_reading_as_soon_as_it_passes_20_mb():
    read: list[int] = []

    def endless():
        while True:
            read.append(1)
            yield bytes(1024 * 1024)

    with pytest.raises(ProviderFailure) as failure:
        read_capped(endless(), Deadline(60))
    assert failure.value.kind == "invalid-output" and "20 MB" in failure.value.detail
    assert len(read) == MAX_IMAGE_BYTES // (1024 * 1024) + 1  # not one chunk more


def test_a_download_that_outlives_the_deadline_is_a_timeout():
    clock = FakeClock()
    deadline = Deadline(10, clock=clock)

    def dripping():
        while True:
            clock.now += 3  # a byte every 3 s: no read ever times out
            yield b"x"

    with pytest.raises(ProviderFailure) as failure:
        read_capped(dripping(), deadline)
    assert failure.value.kind == "timeout"
    assert clock.now == 12  # the first chunk past the deadline


def test_a_download_within_both_bounds_is_returned_whole():
    assert read_capped(iter([b"a" * (MAX_IMAGE_BYTES - 1), b"b"]), Deadline(60))[-1:] == b"b"
    assert read_capped(iter([b"ab", b"", b"cd"]), Deadline(60)) == b"abcd"
