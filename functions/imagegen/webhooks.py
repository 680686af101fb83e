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
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import logging
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from . import errors

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048
EVENT = "generation.settled"
LOOPBACK_HOSTS = ("localhost",)
TIMEOUT_SECONDS = 10


def validate_url(value: Any, allow_loopback_http: bool) -> str:
    """A webhook URL: https with a host; plain http only to loopback, and only when allowed
    (inside the emulator)."""
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
    # Outside the emulator, never point deliveries at this network's own hosts.
    internal = (loopback or _is_internal_ip(parts.hostname)) and not allow_loopback_http
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


def _is_internal_ip(host: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_unspecified


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


def post(url: str, body: bytes, headers: Mapping[str, str]) -> int:
    """POST the delivery; raise unless the receiver answered 2xx (so the task is retried)."""
    req = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as resp:  # noqa: S310
        status = int(resp.status)
    if not 200 <= status < 300:
        raise RuntimeError(f"webhook answered {status}")
    return status


def deliver(
    request: Mapping[str, Any],
    url: str,
    secret: str,
    send: Callable[[str, bytes, Mapping[str, str]], int] = post,
    clock: Callable[[], float] = time.time,
) -> int:
    """Deliver the final state of `request` to `url` once; exceptions mean "retry"."""
    body, headers = build(request, str(request["status"]), secret, int(clock()))
    return send(url, body, headers)
