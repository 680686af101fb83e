"""Response shapes: how requests, ledger entries, pages, settlements, reports and errors look
to clients. Every transport answers with these same JSON objects (pure; no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from imagegen.core.errors import DomainError
from imagegen.core.vocabulary import REFUNDED, SETTLED, RequestStatus
from imagegen.records.history import LedgerPage, Record, RequestsPage
from imagegen.records.request_record import PUBLIC_FIELDS, TIME_FIELDS, num_images_of
from imagegen.records.validation import GenerationInput


def iso(value: Any) -> str | None:
    """A Firestore timestamp as ISO 8601 UTC text (None stays None)."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return None


def request_json(request_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A generation request document as clients see it."""
    out: dict[str, Any] = {"generationRequestId": request_id}
    out.update({k: data[k] for k in PUBLIC_FIELDS if k in data})
    out.update(images_json(data))
    out.update({k: iso(data[k]) for k in TIME_FIELDS if k in data})
    return out


# A document from before several images per request: its one image's fields.
_ONE_IMAGE = {
    **{"imageUrl": "imageUrl", "contentType": "contentType", "failureKind": "failureKind"},
    **{"outputWidth": "width", "outputHeight": "height"},
}


def images_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """`numImages`, `imageUrls` (stored images, index order) and `images` (`image_json`) of a
    request; a document from before several images per request shows its one image; a
    settled request shows `refundedCredits` (0 when nothing was refunded)."""
    images = data.get("images")
    if not isinstance(images, list):
        status = data.get("status")
        state = "failed" if status in REFUNDED else "pending"
        one = {"index": 0, "status": "completed" if status == RequestStatus.COMPLETED else state}
        one.update({out: data[k] for k, out in _ONE_IMAGE.items() if data.get(k) is not None})
        images = [one]
    out: dict[str, Any] = {
        "numImages": num_images_of(data),
        "imageUrls": _image_urls(data),
        "images": [image_json(i) for i in images if isinstance(i, Mapping)],
    }
    if data.get("status") in SETTLED:
        out["refundedCredits"] = data.get("refundedCredits") or 0
    return out


def ledger_entry_json(entry_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A ledger entry as clients see it."""
    return {
        "id": entry_id,
        "type": data.get("type"),
        "credits": data.get("credits"),
        "generationRequestId": data.get("generationRequestId"),
        "timestamp": iso(data.get("timestamp")),
        **({"balanceAfter": data["balanceAfter"]} if "balanceAfter" in data else {}),
        **({"reason": data["reason"]} if "reason" in data else {}),
        **({"purchaseId": data["purchaseId"]} if "purchaseId" in data else {}),
    }


def credits_json(page: LedgerPage) -> dict[str, Any]:
    return {
        "userId": page.user_id,
        "currentCredits": page.balance,
        "transactions": [ledger_entry_json(e.id, e.data) for e in page.entries],
        "nextPageToken": page.next_page_token,
    }


def requests_page_json(page: RequestsPage) -> dict[str, Any]:
    return {
        "userId": page.user_id,
        "generationRequests": [request_json(r.id, r.data) for r in page.requests],
        "nextPageToken": page.next_page_token,
    }


def record_json(record: Record) -> dict[str, Any]:
    return request_json(record.id, record.data)


def completed_json(
    request_id: str,
    order: GenerationInput,
    balance: int,
    image_url: str | None,
    image_urls: list[str] | None = None,
    images: Sequence[Mapping[str, Any]] = (),
    refunded: int = 0,
) -> dict[str, Any]:
    """A synchronous generation that completed (with at least one image): `balance` is the
    balance after the charge; the refunds of its failed images are added back."""
    return {
        "generationRequestId": request_id,
        "status": RequestStatus.COMPLETED.value,
        "deductedCredits": order.cost,
        "refundedCredits": refunded,
        "remainingCredits": balance + refunded,
        "numImages": order.num_images,
        "imageUrl": image_url,
        "imageUrls": list(image_urls) if image_urls is not None else [image_url],
        "images": [image_json(image) for image in images],
        "model": order.model,
        "style": order.style,
        "color": order.color,
        "size": order.size,
    }


IMAGE_FIELDS = ("index", "status", "imageUrl", "contentType", "width", "height", "failureKind")


def image_json(image: Mapping[str, Any]) -> dict[str, Any]:
    """One image of a request as clients see it (where it is stored stays private)."""
    out = {name: image.get(name) for name in IMAGE_FIELDS}
    return {k: v for k, v in out.items() if v is not None or k in ("imageUrl", "failureKind")}


def accepted_json(request_id: str, status: str, cost: int, balance: int) -> dict[str, Any]:
    """An asynchronous generation, charged and queued."""
    return {
        "generationRequestId": request_id,
        "status": status,
        "deductedCredits": cost,
        "remainingCredits": balance,
    }


def canceled_json(request_id: str, refunded: int) -> dict[str, Any]:
    return {
        "generationRequestId": request_id,
        "status": RequestStatus.CANCELED.value,
        "refundedCredits": refunded,
    }


def grant_json(
    user_id: str, granted: int, balance: int, entry_id: str, replayed: bool
) -> dict[str, Any]:
    return {
        "userId": user_id,
        "grantedCredits": granted,
        "currentCredits": balance,
        "transactionId": entry_id,
        "replayed": replayed,
    }


def report_json(report: Mapping[str, Any]) -> dict[str, Any]:
    """A weekly report with its timestamps as ISO text."""
    out = dict(report)
    out["period"] = {k: iso(v) for k, v in report["period"].items()}
    if "generatedAt" in out:
        out["generatedAt"] = iso(out["generatedAt"])
    return out


def error_json(err: DomainError) -> dict[str, Any]:
    """The error body: `{"error": {"code", "message", ...details}}`."""
    return {"error": err.as_dict()}


def checkout_json(checkout: Any) -> dict[str, Any]:
    """The answer to createCheckoutSession / buyCredits: where to send the buyer."""
    return {
        "sessionId": checkout.session_id,
        "url": checkout.url,
        "packId": checkout.pack.id,
        "credits": checkout.pack.credits,
        "amount": checkout.pack.amount,
        "currency": checkout.pack.currency,
        "status": "open",
    }


def gallery_json(change: Any) -> dict[str, Any]:
    """The answer to delete / restore / purge: the request's state afterwards."""
    return {
        "generationRequestId": change.request_id,
        "deleted": change.visibility in ("deleted", "purged"),
        "purged": change.visibility == "purged",
        "changed": change.changed,
    }


def account_deletion_json(deletion: Any) -> dict[str, Any]:
    return {
        "userId": deletion.user_id,
        "deleted": True,
        "purgedRequests": deletion.purged_requests,
        "forfeitedCredits": deletion.forfeited_credits,
    }


def session_json(record: Record) -> dict[str, Any]:
    """A session (`users/{uid}/sessions/{id}`) as clients see it."""
    data = record.data
    return {
        "sessionId": record.id,
        "title": data.get("title"),
        "createdAt": iso(data.get("createdAt")),
        "updatedAt": iso(data.get("updatedAt")),
        "lastRequestId": data.get("lastRequestId"),
        "turnCount": data.get("turns", 0),  # the document's `turns`
    }


def sessions_page_json(user_id: str, sessions: list[Record], token: str | None) -> dict[str, Any]:
    return {
        "userId": user_id,
        "sessions": [session_json(s) for s in sessions],
        "nextPageToken": token,
    }


def turn_json(record: Record) -> dict[str, Any]:
    """One turn of a session: its request, instruction, status, image and failure."""
    data = record.data
    shown = data.get("status") == RequestStatus.COMPLETED and not data.get("visibility")
    failure = None
    completed = data.get("status") == RequestStatus.COMPLETED  # some images may have failed
    if not completed and (data.get("failureKind") or data.get("failureReason")):
        failure = {"kind": data.get("failureKind"), "reason": data.get("failureReason")}
    source = data.get("input")
    return {
        "generationRequestId": record.id,
        "prompt": data.get("prompt"),
        "status": data.get("status"),
        "imageUrl": data.get("imageUrl") if shown else None,
        "imageUrls": _image_urls(data) if shown else [],
        "failure": failure,
        "input": {"kind": source.get("kind"), "id": source.get("id")}
        if isinstance(source, Mapping)
        else None,
        "deleted": bool(data.get("visibility")),
        "createdAt": iso(data.get("createdAt")),
    }


def _image_urls(data: Mapping[str, Any]) -> list[str]:
    """A completed request's stored images (one from before `imageUrls`: its `imageUrl`)."""
    urls = data.get("imageUrls")
    if isinstance(urls, list):
        return [str(u) for u in urls]
    return [str(data["imageUrl"])] if data.get("imageUrl") else []


def session_detail_json(session: Record, turns: list[Record]) -> dict[str, Any]:
    return {**session_json(session), "turns": [turn_json(t) for t in turns]}


def session_deletion_json(deletion: Any) -> dict[str, Any]:
    return {
        "sessionId": deletion.session_id,
        "deleted": True,
        "requestsDeleted": deletion.requests_deleted,
        "requestsInProgress": deletion.requests_in_progress,
    }
