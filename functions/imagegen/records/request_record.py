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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
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
from imagegen.providers.image_store import object_path
from imagegen.records.validation import GenerationInput

# Names of the fields other modules query on, write partially or read from raw documents
# (those that keep what a document holds, as reports, the audit and the gallery do).
USER_ID = "userId"
MODEL = "model"
STYLE = "style"
COLOR = "color"
SIZE = "size"
PROMPT = "prompt"
INPUT = "input"  # an edit's input image: {kind: "upload" | "generation", id, index?, sha256}
SESSION_ID = "sessionId"  # the conversation (users/{uid}/sessions/{id}) the request is a turn of
COST = "cost"
STATUS = "status"
WEBHOOK_URL = "webhookUrl"
IMAGE_PATH = "imagePath"
REFUNDED_CREDITS = "refundedCredits"
NUM_IMAGES = "numImages"  # images asked for (absent on older documents: 1)
IMAGES = "images"  # one map per image, in index order (see `ImageOutcome.to_document`)
IMAGE_URLS = "imageUrls"  # the stored images' URLs, in index order
IMAGES_COMPLETED = "imagesCompleted"  # numeric mirrors for the reports, written at settlement
IMAGES_FAILED = "imagesFailed"
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
    NUM_IMAGES: "num_images",
    STATUS: "status",
    "mode": "mode",
    WEBHOOK_URL: "webhook_url",
    "imageUrl": "image_url",
    IMAGE_URLS: "image_urls",
    IMAGES: "images",
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
    image_urls: tuple[str, ...] | None = None
    images: tuple[Mapping[str, Any], ...] | None = None
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
    num_images: int = 1  # `cost` is the price of all of them
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
            num_images=order.num_images,
            images=pending_images(order.num_images),
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

    def image_path_for(self, index: int, content_type: str) -> str:
        """Where the image `index` of this request is stored."""
        return object_path(self.user_id, self.id, content_type, index, self.num_images)

    def to_document(self) -> dict[str, Any]:
        """The fields written when the request is created (server timestamps aside)."""
        doc: dict[str, Any] = {}
        for name, attr in _FIELDS.items():
            value = getattr(self, attr)
            if isinstance(value, tuple):
                value = [dict(v) if isinstance(v, Mapping) else v for v in value]
            if value is not None:
                doc[name] = value.value if isinstance(value, RequestStatus) else value
        doc.update(outcome_fields(self.status, self.cost, num_images=self.num_images))
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
        values["num_images"] = num_images_of(data)
        for listed in ("images", "image_urls"):
            if isinstance(values.get(listed), list):
                values[listed] = tuple(values[listed])
            else:
                values.pop(listed, None)
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


def input_record(order: GenerationInput) -> dict[str, Any] | None:
    """`input` of an edit's request: the kind and id of its image (and which image of a
    generation of several, `index`) and the sha256 of the bytes sent to the model."""
    if order.input is None:
        return None
    record: dict[str, Any] = {
        "kind": order.input.kind,
        "id": order.input.id,
        "sha256": order.input_sha256 or "",
    }
    if order.input.index is not None:
        record["index"] = order.input.index
    return record


def unsettled(data: Mapping[str, Any]) -> bool:
    """Whether a request document still waits for its settlement."""
    return data.get(STATUS) in UNSETTLED


def cancelable(data: Mapping[str, Any]) -> bool:
    """Whether its owner may still cancel a request: only while queued, before any provider
    has it (a provider bills for work it started, so a request it is working on runs to its
    end)."""
    return data.get(STATUS) == RequestStatus.QUEUED


def num_images_of(data: Mapping[str, Any]) -> int:
    """The images a stored request asked for: its `numImages`, 1 when absent or malformed."""
    value = data.get(NUM_IMAGES)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return 1
    return value


def pending_images(num_images: int) -> tuple[dict[str, Any], ...]:
    """`images` of a request just charged: every image pending."""
    return tuple({"index": i, STATUS: ImageStatus.PENDING.value} for i in range(num_images))


class ImageStatus(StrEnum):
    """The state of one image of a request (`images[i].status`)."""

    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class ImageOutcome:
    """One image of a request at settlement: stored (its object and URL) or failed (why)."""

    index: int
    path: str | None = None
    url: str | None = None
    content_type: str | None = None
    width: int | None = None
    height: int | None = None
    failure_kind: str | None = None
    failure_reason: str | None = None
    attempted_path: str | None = None  # where an upload that failed may have left bytes

    @property
    def stored(self) -> bool:
        return self.path is not None

    def to_document(self) -> dict[str, Any]:
        """Its map in the request's `images` (the reason stays on the request only)."""
        doc: dict[str, Any] = {
            "index": self.index,
            STATUS: (ImageStatus.COMPLETED if self.stored else ImageStatus.FAILED).value,
        }
        for name, value in (
            ("imageUrl", self.url),
            (IMAGE_PATH, self.path),
            ("contentType", self.content_type),
            ("width", self.width),
            ("height", self.height),
            ("failureKind", None if self.stored else self.failure_kind),
        ):
            if value is not None:
                doc[name] = value
        return doc


def stored_paths(images: Any) -> list[str]:
    """The object paths of a request document's completed images (its `images`)."""
    if not isinstance(images, (list, tuple)):
        return []
    return [
        str(image[IMAGE_PATH])
        for image in images
        if isinstance(image, Mapping)
        and image.get(STATUS) == ImageStatus.COMPLETED
        and image.get(IMAGE_PATH)
    ]


def image_path_of(data: Mapping[str, Any], index: int | None = None) -> str | None:
    """The object of a request document's image `index` when that image completed (None
    when it did not, or the request has no such image); without `index`, the first stored
    image (`imagePath`). A request from before `images` has its one image at index 0."""
    if index is None or not isinstance(data.get(IMAGES), list):
        path = data.get(IMAGE_PATH)
        return path if isinstance(path, str) and index in (None, 0) else None
    for image in data[IMAGES]:
        if isinstance(image, Mapping) and image.get("index") == index:
            return next(iter(stored_paths([image])), None)
    return None


def refund_shares(cost: int, num_images: int, failed: Iterable[int]) -> dict[int, int]:
    """The credits given back for each failed image (index -> credits): the cost split evenly
    by image, the last image's share taking what does not divide, so that the shares of all
    images add up to the cost. Images without credits to give back are left out."""
    n = max(1, num_images)
    unit = cost // n
    shares = {}
    for index in sorted(set(failed)):
        if 0 <= index < n:
            share = unit + (cost - unit * n if index == n - 1 else 0)
            if share > 0:
                shares[index] = share
    return shares


@dataclass(frozen=True)
class SettledRequest:
    """What settlement writes: the final status, the refund of each failed image
    (index -> credits) and the request's fields (server timestamps aside)."""

    status: RequestStatus
    refunds: dict[int, int]
    fields: dict[str, Any]
    outcomes: tuple[ImageOutcome, ...]

    @property
    def refunded(self) -> int:
        return sum(self.refunds.values())

    @property
    def stored(self) -> tuple[ImageOutcome, ...]:
        return tuple(o for o in self.outcomes if o.stored)


def settle_fields(
    cost: int,
    num_images: int,
    outcomes: Iterable[ImageOutcome],
    stage: str,
    failure: tuple[RequestStatus, FailureKind, str] | None = None,
) -> SettledRequest:
    """The settlement of a request from the outcome of each of its images. An image without
    an outcome failed as `failure` (status, kind, reason) says (a whole request refunded:
    model error, timeout, cancel). Completed when at least one image was stored (each failed
    image refunded by its share), else `failure`'s status (default failed) with the whole
    cost refunded."""
    given = {o.index: o for o in outcomes if 0 <= o.index < max(1, num_images)}
    status_if_none, kind, reason = failure or (
        RequestStatus.FAILED,
        FailureKind.MODEL_ERROR,
        "model error",
    )
    every = tuple(
        given.get(i) or ImageOutcome(i, failure_kind=kind.value, failure_reason=reason)
        for i in range(max(1, num_images))
    )
    stored = [o for o in every if o.stored]
    failed = [o for o in every if not o.stored]
    refunds = refund_shares(cost, num_images, [o.index for o in failed])
    refunded = sum(refunds.values())
    common: dict[str, Any] = {
        IMAGES: [o.to_document() for o in every],
        IMAGE_URLS: [o.url for o in stored],
        REFUNDED_CREDITS: refunded,
    }
    if stored:
        status = RequestStatus.COMPLETED
        fields = {
            STATUS: status.value,
            **outcome_fields(status, cost, refunded, len(stored), len(every)),
            **common,
            "imageUrl": stored[0].url,
            IMAGE_PATH: stored[0].path,
        }
        if failed:  # why the others failed (the first of them)
            fields["failureKind"] = failed[0].failure_kind
        return SettledRequest(status, refunds, fields, every)
    first = failed[0]
    status = status_if_none
    fields = {
        STATUS: status.value,
        **outcome_fields(status, cost, refunded, 0, len(every)),
        **common,
        "failureReason": first.failure_reason or reason,
        "failureKind": first.failure_kind or kind.value,
        "failureStage": stage,
    }
    return SettledRequest(status, refunds, fields, every)


def outcome_fields(
    status: str,
    cost: int,
    refunded: int | None = None,
    images_completed: int | None = None,
    num_images: int = 1,
) -> dict[str, int]:
    """Numeric mirrors of a request's status, kept in the same writes as the status, so weekly
    reports can use count/sum aggregation queries instead of reading every request. A failed
    or canceled request refunded its cost; a completed one the shares of its failed images
    (`refunded`); `imagesCompleted`/`imagesFailed` count the images of a settled request
    (a completed request's all stored unless told otherwise)."""
    completed = status == RequestStatus.COMPLETED
    settled = completed or status in REFUNDED
    given_back = cost if status in REFUNDED else (refunded or 0) if completed else 0
    stored = (num_images if images_completed is None else images_completed) if completed else 0
    return {
        "isCompleted": int(completed),
        "isFailed": int(status == RequestStatus.FAILED),
        "isCanceled": int(status == RequestStatus.CANCELED),
        "creditsSpent": cost - given_back if completed else 0,
        "creditsRefunded": given_back,
        IMAGES_COMPLETED: stored,
        IMAGES_FAILED: num_images - stored if settled else 0,
    }


def whole_credits(value: Any) -> int:
    """A stored cost as an integer; anything that is not a number counts as 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return 0
    return int(value)


# The mirrors every request has had since reports aggregate (the image counts came later:
# a document without them is a one-image request).
STATUS_MIRRORS = ("isCompleted", "isFailed", "isCanceled", "creditsSpent", "creditsRefunded")


def outcome_patch(data: Mapping[str, Any]) -> dict[str, int]:
    """The status mirrors (`STATUS_MIRRORS`) a stored request lacks or holds wrongly for its
    status, cost and refund (empty when it is consistent): what the migration writes to
    documents from elsewhere. A completed request's refund is its `refundedCredits` (a
    partial one)."""
    cost = whole_credits(data.get(COST))
    status = str(data.get(STATUS, RequestStatus.PENDING))
    images = data.get(IMAGES)
    completed_images = None
    if isinstance(images, list) and images:
        completed_images = sum(
            1
            for image in images
            if isinstance(image, Mapping) and image.get(STATUS) == ImageStatus.COMPLETED
        )
    expected = outcome_fields(
        status,
        cost,
        whole_credits(data.get(REFUNDED_CREDITS)),
        completed_images,
        num_images_of(data),
    )
    return {
        k: v
        for k, v in expected.items()
        if k in STATUS_MIRRORS and (data.get(k) != v or type(data.get(k)) is not int)
    }


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
