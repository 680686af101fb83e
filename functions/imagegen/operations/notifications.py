"""Notifications: queue and deliver the webhook of a settled request."""

from __future__ import annotations

import logging

from imagegen.core.settings import running_in_emulator
from imagegen.operations.wiring import WEBHOOK_TASKS, db, enqueue_task
from imagegen.records import history, shapes, webhooks
from imagegen.records.request_record import STATUS, WEBHOOK_URL, unsettled

log = logging.getLogger(__name__)


def notify_settled(request_id: str) -> None:
    """Queue the webhook delivery of a settled request that asked for one. Never raises:
    settlement is done, and the final state can always be polled."""
    try:
        record = history.read_request(db(), request_id)
        data = record.data if record is not None else {}
        if data.get(WEBHOOK_URL) and not unsettled(data):
            enqueue_task(WEBHOOK_TASKS, {"requestId": request_id}, f"{request_id}-{data[STATUS]}")
    except Exception:
        log.exception("could not queue the webhook of request %s", request_id)


def deliver_webhook(request_id: str, secret: str) -> None:
    """The delivery task: POST the final state of the request to its webhookUrl (raises on
    failure so that the queue retries it)."""
    record = history.read_request(db(), request_id)
    data = record.data if record is not None else {}
    if not data.get(WEBHOOK_URL) or unsettled(data):
        return
    webhooks.deliver(
        shapes.request_json(request_id, data),
        data[WEBHOOK_URL],
        secret,
        allow_loopback=running_in_emulator(),
    )
