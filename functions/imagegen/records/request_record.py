"""The generation request as one typed record, and its only mapping to and from Firestore.

`generationRequests/{id}` holds the contract's fields (`userId, model, style, color, size,
prompt, cost, status`, timestamps), the outcome of settlement (`imageUrl`/`imagePath` or
`failureReason`/`failureKind`), what a provider reported, and numeric mirrors of the status
(`isCompleted`, `creditsSpent`, ...) that weekly reports aggregate, the day whose global
budget counted the charge (`budgetDay`) and, once its owner deleted or purged it,
`visibility`. The weekly active-user marker (`weeklyActiveUsers/{week}/users/{uid}`) is
written beside the first request of a user in a week. Other modules take a request from
`GenerationRequest.from_document`, or, where they query on a field, write part of a request or
keep what a document holds as it is (reports, the audit, the gallery), name its fields with
the constants below. Adding a field means: the record, `to_document`/`from_document`, and the
places that use it. Pure; no I/O (refs are built from a client passed in).

The owner reads (and listens to) the request document, so what only operators may see
(`OPERATOR_FIELDS`: the sanitised provider error text) is written beside it, in
`generationRequests/{id}/operator/details`, which no client may read (firestore.rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from imagegen.core.vocabulary import (
    REFUNDED,
    REQUESTS,
    UNSETTLED,
    WEEKLY_ACTIVE_USERS,
    FailureKind,
    RequestStatus,
)
from imagegen.core.weeks import week_id
from imagegen.providers.image_models import ImageSpec, InputImage
from imagegen.records.validation import GenerationInput

# Names of the fields other modules query on, write partially or read from raw documents
# (those that keep what a document holds, as reports, the audit and the gallery do).
USER_ID = "userId"
MODEL = "model"
STYLE = "style"
COLOR = "color"
SIZE = "size"
PROMPT = "prompt"
INPUT = "input"  # an edit's input image: {kind: "upload" | "generation", id, sha256}
SESSION_ID = "sessionId"  # the conversation (users/{uid}/sessions/{id}) the request is a turn of
COST = "cost"
STATUS = "status"
WEBHOOK_URL = "webhookUrl"
IMAGE_PATH = "imagePath"
REFUNDED_CREDITS = "refundedCredits"
VISIBILITY = "visibility"  # `Visibility`: absent while the owner has not deleted the request
BUDGET_DAY = "budgetDay"  # the day whose global budget counted the charge
CREATED_AT = "createdAt"
PROCESSING_AT = "processingAt"
DELETED_AT = "deletedAt"
PURGED_AT = "purgedAt"
UPDATED_AT = "updatedAt"

# Fields of a request, document name -> record attribute (besides the id).
_FIELDS: dict[str, str] = {
    USER_ID: "user_id",
    MODEL: "model",
    STYLE: "style",
    COLOR: "color",
    SIZE: "size",
    PROMPT: "prompt",
    INPUT: "input",
    SESSION_ID: "session_id",
    COST: "cost",
    STATUS: "status",
    "mode": "mode",
    WEBHOOK_URL: "webhook_url",
    "imageUrl": "image_url",
    IMAGE_PATH: "image_path",
    "failureReason": "failure_reason",
    "failureKind": "failure_kind",
    "failureStage": "failure_stage",
    REFUNDED_CREDITS: "refunded_credits",
    "simulateOutcome": "simulate_outcome",
    VISIBILITY: "visibility",
    BUDGET_DAY: "budget_day",
    # What the provider reported (real models; the simulator reports the first four).
    "provider": "provider",
    "contentType": "content_type",
    "outputWidth": "output_width",
    "outputHeight": "output_height",
    "providerRequestId": "provider_request_id",
    "providerUsage": "provider_usage",
    "providerLatencyMs": "provider_latency_ms",
    "refinedPrompt": "refined_prompt",
}
# For operators only: never on the request document (see `split_operator`).
OPERATOR_FIELDS: tuple[str, ...] = ("failureDetail",)
OPERATOR_COLLECTION = "operator"
OPERATOR_DOCUMENT = "details"
TIME_FIELDS: tuple[str, ...] = (
    CREATED_AT,
    "queuedAt",
    PROCESSING_AT,
    "completedAt",
    "failedAt",
    "canceledAt",
    DELETED_AT,  # deleted by its owner (gallery)
    PURGED_AT,  # image and prompt erased
    UPDATED_AT,
)
# What clients see of a request (`shapes.request_json`), in this order.
PUBLIC_FIELDS: tuple[str, ...] = tuple(
    name for name in _FIELDS if name not in (IMAGE_PATH, "simulateOutcome", VISIBILITY, BUDGET_DAY)
)
# Optional text fields: a value that is not text reads as absent.
_TEXT_OR_NONE: tuple[str, ...] = ("visibility", "budget_day")
# The contract's minimum: a document with only these is still a request (reports count it).
CONTRACT_FIELDS: tuple[str, ...] = (
    "userId",
    "model",
    "style",
    "color",
    "size",
    "prompt",
    "cost",
    "status",
)


@dataclass(frozen=True)
class GenerationRequest:
    """One generation request as stored in `generationRequests/{id}`."""

    id: str
    user_id: str
    model: str
    style: str
    color: str
    size: str
    prompt: str
    cost: int
    status: str = RequestStatus.PENDING
    input: Mapping[str, Any] | None = None  # an edit: {kind, id, sha256} of its input image
    session_id: str | None = None  # a turn of this conversation
    created_at: datetime | None = None
    mode: str | None = None  # "async" for the asynchronous mode
    webhook_url: str | None = None
    image_url: str | None = None
    image_path: str | None = None
    failure_reason: str | None = None
    failure_kind: str | None = None
    failure_stage: str | None = None
    refunded_credits: int | None = None
    simulate_outcome: str | None = None  # emulator-only forced outcome, kept for the task
    provider: str | None = None
    content_type: str | None = None
    output_width: int | None = None
    output_height: int | None = None
    provider_request_id: str | None = None
    provider_usage: Mapping[str, Any] | None = None
    provider_latency_ms: int | None = None
    refined_prompt: str | None = None
    visibility: str | None = None  # deleted or purged by its owner (gallery)
    budget_day: str | None = None  # YYYY-MM-DD, when a global daily budget counted the charge
    times: Mapping[str, datetime] = field(default_factory=dict)  # createdAt, completedAt, ...

    @classmethod
    def from_order(
        cls,
        order: GenerationInput,
        request_id: str,
        status: RequestStatus = RequestStatus.PENDING,
        **extra: Any,
    ) -> GenerationRequest:
        """A new request for a validated order (not yet stored)."""
        return cls(
            id=request_id,
            user_id=order.user_id,
            model=order.model,
            style=order.style,
            color=order.color,
            size=order.size,
            prompt=order.prompt,
            cost=order.cost,
            status=status,
            webhook_url=order.webhook_url,
            input=input_record(order),
            session_id=order.session_id,
            **extra,
        )

    def spec(
        self, input_image: InputImage | None = None, context: tuple[str, ...] = ()
    ) -> ImageSpec:
        """What the model is asked to draw (for an edit, from `input_image`; in a
        conversation, after the instructions of `context`)."""
        return ImageSpec(
            self.id,
            self.model,
            self.style,
            self.color,
            self.size,
            self.prompt,
            input_image,
            context,
        )

    def to_document(self) -> dict[str, Any]:
        """The fields written when the request is created (server timestamps aside)."""
        doc: dict[str, Any] = {}
        for name, attr in _FIELDS.items():
            value = getattr(self, attr)
            if value is not None:
                doc[name] = value.value if isinstance(value, RequestStatus) else value
        doc.update(outcome_fields(self.status, self.cost))
        doc.update(self.times)
        if self.created_at is not None:
            doc[CREATED_AT] = self.created_at
            if self.status == RequestStatus.QUEUED:
                doc["queuedAt"] = self.created_at
        return doc

    @classmethod
    def from_document(cls, request_id: str, data: Mapping[str, Any]) -> GenerationRequest:
        """A stored request; tolerant of documents written by older versions or other tools
        (missing text is "", a cost that is not a number is 0)."""
        values: dict[str, Any] = {}
        for name, attr in _FIELDS.items():
            if name in data and data[name] is not None:
                values[attr] = data[name]
        for text in ("user_id", "model", "style", "color", "size", "prompt"):
            values[text] = str(values.get(text, ""))
        for text in _TEXT_OR_NONE:
            if not isinstance(values.get(text), str):
                values.pop(text, None)
        if not isinstance(values.get("input"), Mapping):
            values.pop("input", None)
        if not isinstance(values.get("session_id"), str):
            values.pop("session_id", None)
        values["cost"] = whole_credits(data.get(COST))
        values["status"] = str(values.get("status", RequestStatus.PENDING))
        created = data.get(CREATED_AT)
        times = {k: v for k, v in data.items() if k in TIME_FIELDS and isinstance(v, datetime)}
        known = {f.name for f in fields(cls)}
        return cls(
            id=request_id,
            created_at=created if isinstance(created, datetime) else None,
            times=times,
            **{k: v for k, v in values.items() if k in known},
        )


def input_record(order: GenerationInput) -> dict[str, str] | None:
    """`input` of an edit's request: the kind and id of its image and the sha256 of the bytes
    sent to the model."""
    if order.input is None:
        return None
    return {"kind": order.input.kind, "id": order.input.id, "sha256": order.input_sha256 or ""}


def unsettled(data: Mapping[str, Any]) -> bool:
    """Whether a request document still waits for its settlement."""
    return data.get(STATUS) in UNSETTLED


def cancelable(data: Mapping[str, Any]) -> bool:
    """Whether its owner may still cancel a request: only while queued, before any provider
    has it (a provider bills for work it started, so a request it is working on runs to its
    end)."""
    return data.get(STATUS) == RequestStatus.QUEUED


def completion_fields(cost: int, image_path: str, image_url: str) -> dict[str, Any]:
    """What settlement writes to a request that completed (server timestamps aside)."""
    return {
        STATUS: RequestStatus.COMPLETED.value,
        **outcome_fields(RequestStatus.COMPLETED, cost),
        "imageUrl": image_url,
        IMAGE_PATH: image_path,
    }


def failure_fields(
    status: RequestStatus, cost: int, reason: str, kind: FailureKind, stage: str
) -> dict[str, Any]:
    """What settlement writes to a request that failed or was canceled: refunded in full."""
    return {
        STATUS: status.value,
        **outcome_fields(status, cost),
        "failureReason": reason,
        "failureKind": kind.value,
        "failureStage": stage,
        REFUNDED_CREDITS: cost,
    }


def outcome_fields(status: str, cost: int) -> dict[str, int]:
    """Numeric mirrors of a request's status, kept in the same writes as the status, so weekly
    reports can use count/sum aggregation queries instead of reading every request."""
    return {
        "isCompleted": int(status == RequestStatus.COMPLETED),
        "isFailed": int(status == RequestStatus.FAILED),
        "isCanceled": int(status == RequestStatus.CANCELED),
        "creditsSpent": cost if status == RequestStatus.COMPLETED else 0,
        "creditsRefunded": cost if status in REFUNDED else 0,
    }


def whole_credits(value: Any) -> int:
    """A stored cost as an integer; anything that is not a number counts as 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return 0
    return int(value)


def outcome_patch(data: Mapping[str, Any]) -> dict[str, int]:
    """The outcome fields a stored request lacks or holds wrongly for its status and cost
    (empty when it is consistent): what the migration writes to documents from elsewhere."""
    cost = whole_credits(data.get(COST))
    expected = outcome_fields(str(data.get(STATUS, RequestStatus.PENDING)), cost)
    return {k: v for k, v in expected.items() if data.get(k) != v or type(data.get(k)) is not int}


def split_operator(details: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a provider reported, split into what goes on the request document and what goes
    to the operators' document (`OPERATOR_FIELDS`)."""
    public = {k: v for k, v in details.items() if k not in OPERATOR_FIELDS}
    operator = {k: v for k, v in details.items() if k in OPERATOR_FIELDS}
    return public, operator


def operator_details_ref(client: Any, request_id: str) -> Any:
    """`generationRequests/{id}/operator/details`: operator-only fields of a request."""
    return (
        client.collection(REQUESTS)
        .document(request_id)
        .collection(OPERATOR_COLLECTION)
        .document(OPERATOR_DOCUMENT)
    )


# --- The weekly active-user marker ------------------------------------------------------


def weekly_users(client: Any, week: str) -> Any:
    """The collection of users active in an ISO week: `weeklyActiveUsers/{week}/users`."""
    return client.collection(WEEKLY_ACTIVE_USERS).document(week).collection("users")


def weekly_marker_ref(client: Any, user_id: str, created: datetime) -> Any:
    """The marker of `user_id` in the week of `created`."""
    return weekly_users(client, week_id(created)).document(user_id)


def weekly_marker(user_id: str, created: datetime) -> dict[str, Any]:
    """The marker's fields: written once, with the user's first request of the week."""
    return {"userId": user_id, "firstRequestAt": created}
