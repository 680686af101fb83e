"""Unit tests of reference-image uploads, the pure part: bounds from the header before any
decode, refusals with their codes, and re-encoding that keeps the pixels and nothing else."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from imagegen.core.errors import DomainError, ErrorCode
from imagegen.gallery import uploads
from imagegen.providers.output import MAX_SIDE, PNG_SIGNATURE

LIMIT = uploads.MAX_HTTP_BYTES
GPS = 0x8825
ORIENTATION = 0x0112
METADATA_MARKERS = (b"Exif", b"tEXt", b"iTXt", b"zTXt", b"iCCP", b"eXIf", b"XMP", b"ICCP", b"GPS")


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def picture(mode: str = "RGB", size: tuple[int, int] = (48, 32)) -> Image.Image:
    """A gradient, so that pixels can be compared."""
    image = Image.new("RGB", size)
    width, height = size
    image.putdata([((x * 5) % 256, (y * 7) % 256, 90) for y in range(height) for x in range(width)])
    return image if mode == "RGB" else image.convert(mode)


def gps_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif.get_ifd(GPS).update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)})
    return exif


def srgb_icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def error_code(call) -> ErrorCode:
    with pytest.raises(DomainError) as raised:
        call()
    return raised.value.code


def test_a_png_keeps_its_pixels_and_size():
    source = picture()
    clean = uploads.clean(encoded(source, "PNG"), "image/png", LIMIT)
    assert (clean.content_type, clean.width, clean.height) == ("image/png", 48, 32)
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.format == "PNG" and stored.mode == "RGB"
        assert list(stored.getdata()) == list(source.getdata())


def test_a_jpeg_with_gps_exif_comes_out_without_any_metadata():
    data = encoded(picture(), "JPEG", exif=gps_exif(), icc_profile=srgb_icc(), comment=b"secret")
    with Image.open(io.BytesIO(data)) as original:
        assert original.getexif().get_ifd(GPS)  # the fixture does carry a location
    clean = uploads.clean(data, "image/jpeg", LIMIT)
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.format == "JPEG" and (stored.width, stored.height) == (48, 32)
        assert dict(stored.getexif()) == {} and not stored.getexif().get_ifd(GPS)
        assert not {"exif", "icc_profile", "comment", "xmp"} & set(stored.info)
    assert not any(marker in clean.data for marker in METADATA_MARKERS)


def test_a_png_loses_its_text_icc_and_exif_chunks():
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "taken at home")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta/>")
    info.add_text("Author", "someone", zip=True)
    data = encoded(picture("RGBA"), "PNG", pnginfo=info, icc_profile=srgb_icc(), exif=gps_exif())
    assert all(m in data for m in (b"tEXt", b"iTXt", b"zTXt", b"iCCP", b"eXIf"))
    clean = uploads.clean(data, "image/png", LIMIT)
    assert not any(marker in clean.data for marker in METADATA_MARKERS)
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.mode == "RGBA" and not stored.info.keys() - {"dpi", "gamma"}


def test_a_webp_loses_its_exif_and_icc():
    data = encoded(picture(), "WEBP", exif=gps_exif(), icc_profile=srgb_icc(), lossless=True)
    clean = uploads.clean(data, "image/webp", LIMIT)
    assert clean.content_type == "image/webp" and (clean.width, clean.height) == (48, 32)
    assert not any(marker in clean.data for marker in METADATA_MARKERS)
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.format == "WEBP" and not stored.getexif()


def test_an_exif_orientation_is_applied_before_it_is_dropped():
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # stored sideways: shown turned 90 degrees clockwise
    clean = uploads.clean(encoded(picture(), "JPEG", exif=exif), "image/jpeg", LIMIT)
    assert (clean.width, clean.height) == (32, 48)


def test_a_palette_png_with_transparency_becomes_rgba():
    source = picture().convert("P")
    source.info["transparency"] = 0
    clean = uploads.clean(encoded(source, "PNG", transparency=0), "image/png", LIMIT)
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.mode == "RGBA"


def test_the_stored_bytes_hash_is_their_sha256():
    import hashlib

    clean = uploads.clean(encoded(picture(), "PNG"), "image/png", LIMIT)
    assert clean.sha256 == hashlib.sha256(clean.data).hexdigest()
    assert uploads.object_path("u1", "up1", clean.content_type) == "uploads/u1/up1.png"
    assert uploads.object_path("u1", "up1", "image/jpeg") == "uploads/u1/up1.jpg"


@pytest.mark.parametrize("content_type", [None, "", "image/gif", "text/plain", "image/jpg"])
def test_an_unsupported_content_type_is_invalid_image(content_type):
    data = encoded(picture(), "PNG")
    assert error_code(lambda: uploads.clean(data, content_type, LIMIT)) == "invalid-image"


def test_the_content_type_may_carry_parameters_and_any_case():
    assert uploads.check_content_type("Image/PNG; charset=binary") == "image/png"


def test_bytes_of_another_type_than_declared_are_invalid_image():
    data = encoded(picture(), "JPEG")
    assert error_code(lambda: uploads.clean(data, "image/png", LIMIT)) == "invalid-image"


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image", PNG_SIGNATURE + b"\x00" * 30, b"\xff\xd8\xff\xd9", b"RIFF0000WEBPVP8 "],
)
def test_bytes_that_are_not_an_image_are_invalid_image(data):
    assert error_code(lambda: uploads.clean(data, "image/png", LIMIT)) == "invalid-image"


def test_a_truncated_image_is_invalid_image():
    data = encoded(picture(size=(200, 200)), "PNG")
    assert error_code(lambda: uploads.clean(data[:-40], "image/png", LIMIT)) == "invalid-image"


def test_over_the_byte_limit_is_image_too_large():
    data = encoded(picture(), "PNG")
    assert error_code(lambda: uploads.clean(data, "image/png", len(data) - 1)) == "image-too-large"
    assert uploads.clean(data, "image/png", len(data)).width == 48


def png_declaring(width: int, height: int) -> bytes:
    """A PNG signature and an IHDR declaring a size, with no pixels behind it."""
    body = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + body))
    return PNG_SIGNATURE + struct.pack(">I", 13) + b"IHDR" + body + crc


@pytest.mark.parametrize(
    "size", [(MAX_SIDE + 1, 1), (1, MAX_SIDE + 1), (4096, 4097), (65535, 65535)]
)
def test_over_the_dimension_bounds_is_image_too_large_before_decoding(size):
    data = png_declaring(*size)  # a few bytes: only the header could refuse it
    assert error_code(lambda: uploads.clean(data, "image/png", LIMIT)) == "image-too-large"


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(uploads.CONTENT_TYPES))
def test_any_bytes_are_an_image_or_a_clear_refusal(data, content_type):
    try:
        clean = uploads.clean(data, content_type, LIMIT)
    except DomainError as err:
        assert err.code in ("invalid-image", "image-too-large")
    else:
        assert clean.content_type == content_type and clean.width >= 1


@settings(max_examples=15, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.sampled_from([("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]),
)
def test_every_small_image_round_trips_with_its_size(width, height, fmt):
    kind, content_type = fmt
    clean = uploads.clean(encoded(picture(size=(width, height)), kind), content_type, LIMIT)
    assert (clean.width, clean.height, clean.content_type) == (width, height, content_type)
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.format == kind and stored.size == (width, height)
