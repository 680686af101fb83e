"""Webhooks: tell a client's URL the final state of its request, signed, retried, deduplicable.

A request may carry `webhookUrl`. Once it is settled (completed, failed or canceled) a delivery
task is queued (`deliverWebhook`); settlement never waits for it. The delivery POSTs JSON

    {"deliveryId", "event": "generation.settled", "generationRequest": {...}}

signed as the Standard Webhooks specification says (https://www.standardwebhooks.com), so
receivers verify it with the spec's libraries (`standardwebhooks` on PyPI and npm): the headers
`webhook-id` (the delivery id: the same on every retry, for deduplication), `webhook-timestamp`
(Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
keyed with the secret WEBHOOK_SECRET (`whsec_<base64>`; the key is the decoded part). A
non-2xx answer or a network error raises, so Cloud Tasks retries it with exponential backoff.

Deliveries reach only the public internet: the host is resolved at delivery time, every
address it resolves to must be public (not loopback, private, link-local, shared, reserved,
multicast, unspecified, nor a cloud metadata server; an IPv6 address that embeds an IPv4 one
is judged by that one), and the connection goes to the address that was checked (a second
lookup cannot swap it). Loopback is allowed inside the emulator only. Redirects are not
followed: a 3xx is a failed delivery.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from imagegen.core import errors

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048
EVENT = "generation.settled"
LOOPBACK_HOSTS = ("localhost",)
TIMEOUT_SECONDS = 10
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list[tuple[Any, ...]]]


def validate_url(value: Any, allow_loopback_http: bool) -> str:
    """A webhook URL: https with a host; plain http only to loopback, and only when allowed
    (inside the emulator). A host written as an address must be one a delivery may reach
    (`refusal`); a name is checked again, resolved, at each delivery."""
    if not isinstance(value, str):
        raise errors.invalid_type("webhookUrl", "a string", value)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (a port out of range or not a number raises here)
    except ValueError:  # e.g. an unclosed IPv6 bracket: "https://[::1"
        raise errors.invalid_field("webhookUrl", "webhookUrl is not a valid URL.") from None
    loopback = parts.hostname in LOOPBACK_HOSTS or _is_loopback_ip(parts.hostname)
    ok_scheme = parts.scheme == "https" or (
        parts.scheme == "http" and allow_loopback_http and loopback
    )
    internal = (
        (loopback and not allow_loopback_http)
        or _literal_refused(parts.hostname, allow_loopback_http)
        or (parts.hostname or "").rstrip(".") in METADATA_HOSTS
    )
    printable = value.isprintable()  # no NUL, no control characters, no lone surrogates
    if (
        len(value) > MAX_URL_LENGTH
        or not printable
        or not parts.hostname
        or not ok_scheme
        or internal
    ):
        raise errors.invalid_field(
            "webhookUrl",
            "webhookUrl must be an https URL"
            + (" (or http on loopback in the emulator)." if allow_loopback_http else "."),
        )
    return value


def _literal_refused(host: str | None, allow_loopback: bool) -> bool:
    try:
        ip = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return refusal(ip, allow_loopback) is not None


def _is_loopback_ip(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def delivery_id(request_id: str, status: str) -> str:
    return f"{request_id}-{status}"


SECRET_PREFIX = "whsec_"


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret: a `whsec_<base64>` secret is decoded, as the spec's libraries
    do; any other secret is used as its UTF-8 bytes (receivers then need their own check)."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX) :])
    return secret.encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for `body` sent as `message_id` at `timestamp`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    mac = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: str, message_id: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does: recompute the signature and compare each of the header's
    space-separated signatures in constant time."""
    try:
        expected = sign(secret, message_id, int(timestamp), body)
    except (ValueError, binascii.Error):
        return False
    return any(hmac.compare_digest(expected, candidate) for candidate in signature.split())


def build(request: Mapping[str, Any], status: str, secret: str, now: int) -> tuple[bytes, dict]:
    """The body and headers of one delivery of `request` (as the API shows it)."""
    did = delivery_id(str(request["generationRequestId"]), status)
    body = json.dumps(
        {"deliveryId": did, "event": EVENT, "generationRequest": dict(request)},
        separators=(",", ":"),
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "Webhook-Id": did,
        "Webhook-Timestamp": str(now),
        "Webhook-Signature": sign(secret, did, now, body),
        "User-Agent": "imagegen-webhooks/1",
    }
    return body, headers


class RefusedDestination(RuntimeError):
    """A webhook host that is not on the public internet."""


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4, Teredo), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    return ip.teredo[1] if ip.teredo is not None else None


def refusal(ip: IPAddress, allow_loopback: bool) -> str | None:
    """Why a delivery may not go to `ip` (None: it may)."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return refusal(inner, allow_loopback)
    if ip in METADATA_ADDRESSES:
        return "a metadata server"
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    if ip.is_multicast:
        return "multicast"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified or ip.is_reserved:
        return "reserved"
    if ip.is_private or not ip.is_global:
        return "private"
    return None


def public_addresses(
    host: str, port: int, allow_loopback: bool, resolve: Resolver = socket.getaddrinfo
) -> list[str]:
    """Every address `host` resolves to now, all of them allowed; `RefusedDestination` when
    one is not (a name with one private address among public ones is refused)."""
    name = host.lower().rstrip(".")
    if name in METADATA_HOSTS:
        raise RefusedDestination(f"{name} is a metadata server")
    try:
        infos = resolve(name, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise RefusedDestination(f"{name} does not resolve: {type(err).__name__}") from None
    addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
    if not addresses:
        raise RefusedDestination(f"{name} resolves to no address")
    for address in addresses:
        why = refusal(ipaddress.ip_address(address), allow_loopback)
        if why is not None:
            raise RefusedDestination(f"{name} resolves to {why} address {address}")
    return addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to an address checked beforehand (the Host header still names the host)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address checked beforehand; the certificate is verified for the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
            sock, server_hostname=self.host
        )


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    allow_loopback: bool = False,
    resolve: Resolver = socket.getaddrinfo,
) -> int:
    """POST the delivery to a public address `url`'s host resolves to; raise unless the
    receiver answered 2xx (so the task is retried). Redirects are not followed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedDestination("not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = public_addresses(parts.hostname, port, allow_loopback, resolve)
    pinned = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    error: OSError | None = None
    for address in addresses:
        conn = pinned(parts.hostname, port, address, TIMEOUT_SECONDS)
        try:
            conn.request("POST", target, body=body, headers=dict(headers))
            status = conn.getresponse().status
            break
        except OSError as err:  # this address did not answer: try the next one
            error = err
        finally:
            conn.close()
    else:
        raise RuntimeError(f"webhook unreachable: {type(error).__name__}")
    if 300 <= status < 400:
        raise RuntimeError(f"webhook answered {status}: redirects are not followed")
    if not 200 <= status < 300:
        raise RuntimeError(f"webhook answered {status}")
    return status


def deliver(
    request: Mapping[str, Any],
    url: str,
    secret: str,
    allow_loopback: bool = False,
    send: Callable[..., int] = post,
    clock: Callable[[], float] = time.time,
) -> int:
    """Deliver the final state of `request` to `url` once; exceptions mean "retry"."""
    body, headers = build(request, str(request["status"]), secret, int(clock()))
    return send(url, body, headers, allow_loopback=allow_loopback)
