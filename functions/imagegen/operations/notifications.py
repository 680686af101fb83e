"""Notifications: queue and deliver the webhook of a settled request."""

from __future__ import annotations

import logging

from imagegen.core.settings import running_in_emulator
from imagegen.core.vocabulary import UNSETTLED
from imagegen.operations.wiring import WEBHOOK_TASKS, db, enqueue_task
from imagegen.records import history, shapes, webhooks

log = logging.getLogger(__name__)


def notify_settled(request_id: str) -> None:
    """Queue the webhook delivery of a settled request that asked for one. Never raises:
    settlement is done, and the final state can always be polled."""
    try:
        record = history.read_request(db(), request_id)
        data = record.data if record is not None else {}
        if data.get("webhookUrl") and data.get("status") not in UNSETTLED:
            enqueue_task(WEBHOOK_TASKS, {"requestId": request_id}, f"{request_id}-{data['status']}")
    except Exception:
        log.exception("could not queue the webhook of request %s", request_id)


def deliver_webhook(request_id: str, secret: str) -> None:
    """The delivery task: POST the final state of the request to its webhookUrl (raises on
    failure so that the queue retries it)."""
    record = history.read_request(db(), request_id)
    data = record.data if record is not None else {}
    if not data.get("webhookUrl") or data.get("status") in UNSETTLED:
        return
    webhooks.deliver(
        shapes.request_json(request_id, data),
        data["webhookUrl"],
        secret,
        allow_loopback=running_in_emulator(),
    )
