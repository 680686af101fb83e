"""Webhooks over HTTP: a receiver on loopback gets the final state, signed, retried."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from books import balance

pytestmark = pytest.mark.emulator

SECRET_FILE = Path(__file__).resolve().parents[3] / "functions" / ".secret.local"
BODY = {"model": "model-b", "style": "anime", "color": "neon", "size": "512x512", "prompt": "x"}


def secret() -> str:
    for line in SECRET_FILE.read_text().splitlines():
        if line.startswith("WEBHOOK_SECRET="):
            return line.split("=", 1)[1].strip()
    raise AssertionError("no WEBHOOK_SECRET in functions/.secret.local")


class Receiver:
    """A webhook receiver on 127.0.0.1 that fails the first `fail_first` deliveries."""

    def __init__(self, fail_first: int = 0) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes, int]] = []
        self.fail_first = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if len(outer.deliveries) < outer.fail_first else 204
                outer.deliveries.append((dict(self.headers), body, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def wait_for_success(self, timeout: float = 45.0) -> tuple[dict[str, str], bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for headers, body, status in self.deliveries:
                if status == 204:
                    return headers, body
            time.sleep(0.2)
        raise AssertionError(f"no successful delivery in {timeout} s: {self.deliveries}")

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver():
    made: list[Receiver] = []
    yield lambda fail_first=0: made.append(Receiver(fail_first)) or made[-1]
    for r in made:
        r.close()


def check_signed(headers: dict[str, str], body: bytes) -> dict:
    """Verified as a receiver would, with the Standard Webhooks reference library."""
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    assert secret().startswith("whsec_")
    assert Webhook(secret()).verify(body, headers)["deliveryId"] == headers["Webhook-Id"]
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(body, headers)
    payload = json.loads(body)
    assert payload["deliveryId"] == headers["Webhook-Id"]
    assert payload["event"] == "generation.settled"
    return payload


def test_async_request_webhook_is_signed_and_retried(api, db, new_user, receiver):
    hook = receiver(fail_first=1)
    uid = new_user(5)
    resp = api.post(
        "createGenerationRequest",
        json={"userId": uid, **BODY, "webhookUrl": hook.url},
        headers={"Prefer": "respond-async", "X-Simulate-Outcome": "success"},
    )
    assert resp.status_code == 202, resp.text
    rid = resp.json()["generationRequestId"]
    headers, body = hook.wait_for_success()
    payload = check_signed(headers, body)
    assert payload["generationRequest"]["generationRequestId"] == rid
    assert payload["generationRequest"]["status"] == "completed"
    attempts = [h["Webhook-Id"] for h, _, _ in hook.deliveries]
    assert len(attempts) >= 2 and set(attempts) == {f"{rid}-completed"}  # retried, same id
    assert balance(db, uid) == 4


def test_sync_failure_webhook_reports_the_refund(api, db, new_user, receiver):
    hook = receiver()
    uid = new_user(5)
    resp = api.post(
        "createGenerationRequest",
        json={"userId": uid, **BODY, "webhookUrl": hook.url},
        headers={"X-Simulate-Outcome": "failure"},
    )
    assert resp.status_code == 500
    headers, body = hook.wait_for_success()
    request = check_signed(headers, body)["generationRequest"]
    assert request["status"] == "failed" and request["refundedCredits"] == 1
    assert balance(db, uid) == 5


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "http://example.com/hook", "not a url", "https://", 42]
)
def test_bad_webhook_urls_are_rejected_and_charge_nothing(api, db, new_user, url):
    uid = new_user(5)
    resp = api.post("createGenerationRequest", json={"userId": uid, **BODY, "webhookUrl": url})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] in ("invalid-webhook-url", "invalid-field-type")
    assert balance(db, uid) == 5


def test_a_partial_request_webhook_shows_each_image_and_the_refund(api, db, new_user, receiver):
    hook = receiver()
    uid = new_user(5)
    resp = api.post(
        "createGenerationRequest",
        json={"userId": uid, **BODY, "numImages": 4, "webhookUrl": hook.url},
        headers={"X-Simulate-Outcome": "partial"},  # images 1 and 3 fail
    )
    assert resp.status_code == 200, resp.text
    headers, body = hook.wait_for_success()
    request = check_signed(headers, body)["generationRequest"]
    assert (request["status"], request["numImages"], request["refundedCredits"]) == (
        "completed",
        4,
        2,
    )
    images = request["images"]
    assert [(i["index"], i["status"]) for i in images] == [
        (0, "completed"),
        (1, "failed"),
        (2, "completed"),
        (3, "failed"),
    ]
    assert request["imageUrls"] == [images[0]["imageUrl"], images[2]["imageUrl"]]
    assert request["imageUrl"] == request["imageUrls"][0]
    assert images[1]["failureKind"] and images[1]["imageUrl"] is None
    assert images[0]["width"] == 512 and images[0]["contentType"] == "image/png"
    assert b"imagePath" not in body and b"generated/" not in body  # no object paths
    assert balance(db, uid) == 3
