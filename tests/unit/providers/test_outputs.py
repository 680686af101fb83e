"""Unit tests of the service's edges: provider outputs bounded from their header before
anything is decoded, downloads bounded in size and time, stored images served in chunks, and
webhook deliveries only to public addresses."""

from __future__ import annotations

import io
import ipaddress
import socket
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from imagegen.core.errors import DomainError
from imagegen.providers.base import Deadline, ProviderFailure
from imagegen.providers.image_store import READ_CHUNK, ImageStore
from imagegen.providers.output import (
    MAX_IMAGE_BYTES,
    MAX_PIXELS,
    MAX_SIDE,
    PNG_SIGNATURE,
    check_image,
    header_dimensions,
    read_capped,
)
from imagegen.records import webhooks

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
        # (a PNG whose chunks are intact but whose rows are missing passes: Pillow verifies
        # the chunks without decoding the pixels, which would cost ms per image)
        real("PNG", 64, 64)[:-40],  # cut short
        real("JPEG", 64, 64)[:200],
        jpeg_header(0, 64),  # a zero side
        b"GIF89a\x01\x00\x01\x00",
        b"not an image",
        b"",
        None,
    ],
)
def test_what_is_not_a_whole_image_is_invalid_output(data):
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


# --- Serving: an image is read from the bucket one chunk at a time -----------------------


class RecordingBlob:
    """A bucket object that records the byte ranges read from it."""

    def __init__(self, data: bytes) -> None:
        self.data, self.size, self.reads = data, len(data), []
        self.md5_hash, self.etag, self.generation = "md5==", "etag", 7
        self.content_type = "image/png"

    def download_as_bytes(self, start: int, end: int, checksum: object) -> bytes:
        self.reads.append((start, end))
        return self.data[start : end + 1]


class OneObjectBucket:
    def __init__(self, blob: RecordingBlob) -> None:
        self.blob = blob

    def get_blob(self, path: str) -> RecordingBlob:
        return self.blob


@pytest.mark.parametrize("size", [1, READ_CHUNK - 1, READ_CHUNK, READ_CHUNK + 1, 3 * READ_CHUNK])
def test_an_image_is_read_in_chunks_only_as_it_is_sent(size):
    blob = RecordingBlob(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    image = ImageStore(lambda: OneObjectBucket(blob)).get("generated/u/r.png")
    assert image is not None and image.size == size and image.etag == "md5=="
    assert blob.reads == [(0, min(size, READ_CHUNK) - 1)]  # the first chunk only, so far
    sent = list(image.read())
    assert b"".join(sent) == blob.data
    assert all(len(chunk) <= READ_CHUNK for chunk in sent)
    assert len(blob.reads) == -(-size // READ_CHUNK)


# --- Webhooks: public addresses only, resolved at delivery, no redirects ----------------

REFUSED = {
    "127.0.0.1": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.10": "private",
    "100.64.0.1": "private",  # shared address space (carrier NAT)
    "169.254.169.254": "a metadata server",
    "fd00:ec2::254": "a metadata server",
    "169.254.10.1": "link-local",
    "fe80::1": "link-local",
    "fc00::1": "private",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "reserved",
    "::": "reserved",
    "240.0.0.1": "reserved",
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped
    "::ffff:169.254.169.254": "a metadata server",
    "64:ff9b::a00:1": "private",  # NAT64 of 10.0.0.1
    "2002:c0a8:101::1": "private",  # 6to4 of 192.168.1.1
}
PUBLIC = ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "64:ff9b::808:808"]


@pytest.mark.parametrize(("address", "why"), REFUSED.items(), ids=list(REFUSED))
def test_non_public_addresses_are_refused(address, why):
    assert webhooks.refusal(ipaddress.ip_address(address), allow_loopback=False) == why


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert webhooks.refusal(ipaddress.ip_address(address), allow_loopback=False) is None


def test_the_emulator_allows_loopback_and_nothing_else_that_is_internal():
    assert webhooks.refusal(ipaddress.ip_address("127.0.0.1"), allow_loopback=True) is None
    assert webhooks.refusal(ipaddress.ip_address("::1"), allow_loopback=True) is None
    for address in ("10.1.2.3", "169.254.169.254", "fd00:ec2::254", "192.168.1.10"):
        assert webhooks.refusal(ipaddress.ip_address(address), allow_loopback=True)


def resolver(*addresses: str):
    """A DNS answer, in getaddrinfo's shape, for any name."""

    def resolve(host, port, type=0):
        family = {4: socket.AF_INET, 6: socket.AF_INET6}
        return [
            (family[ipaddress.ip_address(a).version], socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return resolve


def test_a_name_is_refused_when_any_of_its_addresses_is_internal():
    public = resolver("93.184.216.34", "2606:4700:4700::1111")
    assert webhooks.public_addresses("hooks.example.com", 443, False, public) == [
        "93.184.216.34",
        "2606:4700:4700::1111",
    ]
    for answer in (["93.184.216.34", "10.0.0.5"], ["169.254.169.254"], ["::1"], []):
        with pytest.raises(webhooks.RefusedDestination):
            webhooks.public_addresses("hooks.example.com", 443, False, resolver(*answer))


@pytest.mark.parametrize(
    "host", ["metadata.google.internal", "METADATA.google.internal.", "metadata.goog"]
)
def test_metadata_names_are_refused_whatever_they_resolve_to(host):
    with pytest.raises(webhooks.RefusedDestination):
        webhooks.public_addresses(host, 80, True, resolver("93.184.216.34"))


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00:ec2::254]/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://10.0.0.1/hook",
        "https://224.0.0.1/hook",
    ],
)
def test_internal_literal_webhook_urls_are_refused_when_ordered(url):
    for emulator in (False, True):
        with pytest.raises(DomainError):
            webhooks.validate_url(url, allow_loopback_http=emulator)
    with pytest.raises(DomainError):  # loopback, written as an IPv4-mapped address
        webhooks.validate_url("https://[::ffff:127.0.0.1]/hook", allow_loopback_http=False)


class Receiver:
    """A local HTTP server answering every POST with `status` (and a Location)."""

    def __init__(self, status: int, location: str = "") -> None:
        self.posts: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.posts.append(self.path)
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made: list[Receiver] = []
    yield lambda status, location="": made.append(Receiver(status, location)) or made[-1]
    for receiver in made:
        receiver.close()


def test_a_delivery_reaches_loopback_only_in_the_emulator(receivers):
    hook = receivers(204)
    assert webhooks.post(hook.url, b"{}", {}, allow_loopback=True) == 204
    with pytest.raises(webhooks.RefusedDestination):
        webhooks.post(hook.url, b"{}", {}, allow_loopback=False)
    assert hook.posts == ["/hook"]  # the refused delivery never connected


def test_a_name_that_resolves_to_loopback_is_refused_in_production(receivers):
    hook = receivers(204)
    port = hook.url.split(":")[2].split("/")[0]
    with pytest.raises(webhooks.RefusedDestination):
        webhooks.post(
            f"http://hooks.example.com:{port}/hook", b"{}", {}, False, resolver("127.0.0.1")
        )
    assert hook.posts == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_delivery_and_is_not_followed(receivers, status):
    target = receivers(204)
    hook = receivers(status, location=target.url)
    with pytest.raises(RuntimeError, match="redirects are not followed"):
        webhooks.post(hook.url, b"{}", {}, allow_loopback=True)
    assert hook.posts == ["/hook"] and target.posts == []


def test_a_non_2xx_answer_is_a_failed_delivery(receivers):
    with pytest.raises(RuntimeError, match="500"):
        webhooks.post(receivers(500).url, b"{}", {}, allow_loopback=True)
