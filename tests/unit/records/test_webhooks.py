"""Unit tests of webhook signatures and destination URLs."""

from __future__ import annotations

import time

import pytest

from imagegen.core.errors import DomainError


def test_webhook_signatures_and_urls():
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    from imagegen.records import webhooks

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    now = int(time.time())
    body, headers = webhooks.build(
        {"generationRequestId": "r1", "status": "completed"}, "completed", secret, now
    )
    assert headers["Webhook-Id"] == "r1-completed"
    sig = headers["Webhook-Signature"]
    assert sig.startswith("v1,")
    assert webhooks.verify(secret, "r1-completed", str(now), body, sig)
    assert not webhooks.verify(secret, "r1-completed", str(now + 1), body, sig)
    assert not webhooks.verify(secret, "r1-completed", str(now), body + b" ", sig)
    assert not webhooks.verify(secret, "r1-failed", str(now), body, sig)
    # The spec's own library accepts the delivery and refuses a tampered one.
    assert Webhook(secret).verify(body, headers)["deliveryId"] == "r1-completed"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(body, headers)
    assert webhooks.validate_url("https://hooks.example.com/x", False)
    assert webhooks.validate_url("http://127.0.0.1:8000/x", True)
    bad_urls = [
        ("http://127.0.0.1:8000/x", False),
        ("http://example.com", True),
        ("https://", True),
        ("x" * 3000, True),
        ("https://10.0.0.5/hook", False),
        ("https://169.254.169.254/latest", False),
        ("https://localhost/hook", False),
        ("https://[::1]/hook", False),
    ]
    for bad, loopback in bad_urls:
        with pytest.raises(DomainError):
            webhooks.validate_url(bad, loopback)
