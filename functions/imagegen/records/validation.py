"""Validation of a generation request body against the catalog (pure; no I/O)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from imagegen.core import errors
from imagegen.core.catalog import Catalog
from imagegen.providers.image_models import InputImage
from imagegen.records.webhooks import validate_url

REQUIRED_FIELDS: tuple[str, ...] = ("userId", "model", "style", "color", "size", "prompt")
# An edit of a generation takes these from it when the order leaves them out.
INHERITED_FIELDS: tuple[str, ...] = ("style", "color")
# `input` of an order: its one key -> the kind of image it names.
INPUT_KINDS: dict[str, str] = {"uploadId": "upload", "generationRequestId": "generation"}
# `mode` of a session's turn: edit the session's latest image (the default), or a new image.
TURN_MODES: tuple[str, ...] = ("edit", "generate")
MAX_PROMPT_LENGTH = 2000
DEFAULT_MAX_IMAGES = 4  # MAX_IMAGES_PER_REQUEST's default
MAX_USER_ID_LENGTH = 128
_RESERVED_ID = re.compile(r"^__.*__$")


@dataclass(frozen=True)
class InputRef:
    """The image an edit starts from: `kind` "upload" or "generation", its id, and for a
    generation of several images which one (`index`; None: its first stored image)."""

    kind: str
    id: str
    index: int | None = None

    @property
    def key(self) -> str:
        """Its key in an order's `input` (`uploadId` or `generationRequestId`)."""
        return next(name for name, kind in INPUT_KINDS.items() if kind == self.kind)

    def as_payload(self) -> dict[str, Any]:
        """As the order gave it."""
        payload: dict[str, Any] = {self.key: self.id}
        if self.index is not None:
            payload["index"] = self.index
        return payload


@dataclass(frozen=True)
class GenerationInput:
    """A validated generation request and its price. An edit names its `input`; once read
    (before the charge), `input_image` holds its bytes and `input_sha256` their digest.
    A turn of a conversation names its `session_id`; `fresh` (`mode: "generate"`) asks for a
    new image; `input_from_session` says the input is the session's latest image (not named
    by the client) and `context` holds the session's earlier instructions, oldest first."""

    user_id: str
    model: str
    style: str
    color: str
    size: str
    prompt: str
    cost: int
    webhook_url: str | None = None
    input: InputRef | None = None
    input_image: InputImage | None = field(default=None, compare=False, repr=False)
    input_sha256: str | None = None
    session_id: str | None = None
    fresh: bool = False
    input_from_session: bool = False
    context: tuple[str, ...] = field(default=(), compare=False, repr=False)
    num_images: int = 1  # `cost` is the price of all of them

    def as_payload(self) -> dict[str, Any]:
        """The client-supplied fields, as stored and as compared for idempotency."""
        payload: dict[str, Any] = {
            "userId": self.user_id,
            "model": self.model,
            "style": self.style,
            "color": self.color,
            "size": self.size,
            "prompt": self.prompt,
        }
        if self.webhook_url is not None:
            payload["webhookUrl"] = self.webhook_url
        if self.input is not None and not self.input_from_session:
            payload["input"] = self.input.as_payload()
        if self.session_id is not None:
            payload["sessionId"] = self.session_id
        if self.fresh:
            payload["mode"] = "generate"
        if self.num_images != 1:  # absent and 1 are the same order
            payload["numImages"] = self.num_images
        return payload


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text (None when it can): JSON may carry a lone UTF-16
    surrogate (`"\\ud800"`), which is not Unicode text, or a NUL character."""
    if "\x00" in value:
        return "a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "an unpaired surrogate (not valid Unicode)"
    return None


def validate_text(field: str, value: str) -> str:
    """400 `invalid-<field>` unless `value` is storable text; return it."""
    problem = text_problem(value)
    if problem is not None:
        raise errors.invalid_field(field, f"{field} must be Unicode text; it contains {problem}.")
    return value


def is_document_id(value: str) -> bool:
    """Whether `value` can name a Firestore document: storable text, 1-128 characters, no
    '/', not '.', '..' or '__...__'."""
    return (
        text_problem(value) is None
        and 0 < len(value) <= MAX_USER_ID_LENGTH
        and "/" not in value
        and value not in (".", "..")
        and not _RESERVED_ID.match(value)
    )


def validate_user_id(value: Any, field: str = "userId") -> str:
    """Check that `value` can be a user id (a Firestore document id); return it."""
    if not isinstance(value, str):
        raise errors.invalid_type(field, "a string", value)
    validate_text(field, value)
    if not is_document_id(value):
        raise errors.invalid_field(
            field,
            f"Invalid {field}: must be 1-{MAX_USER_ID_LENGTH} characters, without '/', "
            "and not '.', '..' or '__...__'.",
        )
    return value


def within(field: str, value: int, low: int, high: int) -> int:
    """400 `invalid-<field>` unless `low <= value <= high`; return it."""
    if not low <= value <= high:
        raise errors.invalid_field(field, f"{field} must be an integer from {low} to {high}.")
    return value


def parse_input_ref(value: Any, max_images: int = DEFAULT_MAX_IMAGES) -> InputRef:
    """`{"uploadId": id}` or `{"generationRequestId": id}` (with `"index": i` to pick one
    image of a generation of several); 400 `invalid-input` otherwise."""
    shape = 'input must be {"uploadId": ...} or {"generationRequestId": ..., "index"?: ...}'
    if not isinstance(value, Mapping) or not value:
        raise errors.invalid_field("input", f"{shape}.")
    names = [name for name in value if name != "index"]
    if len(names) != 1:
        raise errors.invalid_field("input", f"{shape}.")
    [name] = names
    ident = value[name]
    if name not in INPUT_KINDS:
        raise errors.invalid_field("input", f"{shape}; got the key {name!r}.")
    if not isinstance(ident, str) or not is_document_id(ident):
        raise errors.invalid_field(
            "input", f"input.{name} must be an id: 1-{MAX_USER_ID_LENGTH} characters, no '/'."
        )
    index = value.get("index")
    if "index" in value:
        if name != "generationRequestId":
            raise errors.invalid_field("input", "input.index picks an image of a generation.")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 10:
            raise errors.invalid_field("input", "input.index must be an integer from 0 to 9.")
    return InputRef(INPUT_KINDS[name], ident, index)


def parse_num_images(value: Any, max_images: int = DEFAULT_MAX_IMAGES) -> int:
    """`numImages`: absent is 1; else an integer from 1 to `max_images` (400
    `invalid-num-images` otherwise; a boolean or 2.5 is not an integer, 2.0 is)."""
    if value is None:
        return 1
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or not 1 <= value <= max_images:
        raise errors.invalid_field(
            "numImages", f"numImages must be an integer from 1 to {max_images}; got {value!r}."
        )
    return int(value)


def parse_generation_input(
    body: Mapping[str, Any],
    catalog: Catalog,
    models: Sequence[str] | None = None,
    allow_loopback_webhooks: bool = False,
    max_images: int = DEFAULT_MAX_IMAGES,
) -> GenerationInput:
    """Validate a decoded JSON body; raise the first DomainError that applies. An edit of a
    generation (`input.generationRequestId`) may leave out `style` and `color` (they are then
    "" here, and taken from the generation when it is read). The price is `numImages` times
    the catalog's price of one image."""
    source = parse_input_ref(body["input"]) if body.get("input") is not None else None
    session_id, fresh = parse_turn(body, source)
    # A turn that may edit its session's latest image may leave them out too (checked once
    # the session is read: `turn_without_image`).
    may_edit_session = session_id is not None and source is None and not fresh
    inherits = may_edit_session or (source is not None and source.kind == "generation")
    optional = INHERITED_FIELDS if inherits else ()
    required = [name for name in REQUIRED_FIELDS if name not in optional or name in body]
    missing = [name for name in required if body.get(name) in (None, "")]
    if missing:
        raise errors.missing_fields(missing)
    for name in required:
        if not isinstance(body[name], str):
            raise errors.invalid_type(name, "a string", body[name])
        validate_text(name, body[name])
    user_id = validate_user_id(body["userId"])
    model, size = body["model"], body["size"]
    style, color = str(body.get("style") or ""), str(body.get("color") or "")
    models = catalog.model_names if models is None else models
    if model not in models:
        raise errors.invalid_choice("model", model, models)
    entry = catalog.models.get(model)
    if source is not None and (entry is None or not entry.edits):
        raise errors.edit_not_supported(model)
    if style and style not in catalog.styles:
        raise errors.invalid_choice("style", style, catalog.styles)
    if color and color not in catalog.colors:
        raise errors.invalid_choice("color", color, catalog.colors)
    if size not in catalog.sizes:
        raise errors.invalid_choice("size", size, catalog.sizes)
    prompt = body["prompt"]
    if not prompt.strip():
        raise errors.invalid_field("prompt", "prompt must not be empty.")
    if len(prompt) > MAX_PROMPT_LENGTH:
        raise errors.invalid_field(
            "prompt",
            f"prompt must be at most {MAX_PROMPT_LENGTH} characters (got {len(prompt)}).",
        )
    webhook_url = body.get("webhookUrl")
    if webhook_url is not None:
        webhook_url = validate_url(webhook_url, allow_loopback_webhooks)
    num_images = parse_num_images(body.get("numImages"), max_images)
    return GenerationInput(
        user_id,
        model,
        style,
        color,
        size,
        prompt,
        catalog.price(size, model) * num_images,
        webhook_url,
        source,
        session_id=session_id,
        fresh=fresh,
        num_images=num_images,
    )


def parse_turn(body: Mapping[str, Any], source: InputRef | None) -> tuple[str | None, bool]:
    """`sessionId` (an id) and `mode` ("edit", the default, or "generate") of an order; a
    `mode` of "generate" cannot come with an `input`."""
    session_id, mode = body.get("sessionId"), body.get("mode")
    if session_id is not None and (
        not isinstance(session_id, str) or not is_document_id(session_id)
    ):
        raise errors.invalid_field(
            "sessionId", f"sessionId must be an id: 1-{MAX_USER_ID_LENGTH} characters, no '/'."
        )
    if mode is not None and mode not in TURN_MODES:
        raise errors.invalid_choice("mode", str(mode), TURN_MODES)
    if mode == "generate" and source is not None:
        raise errors.invalid_field("mode", 'mode "generate" takes no input.')
    return session_id, mode == "generate"


def session_edit(order: GenerationInput, request_id: str, catalog: Catalog) -> GenerationInput:
    """A turn that edits its session's latest image (the completed request `request_id`);
    400 `edit-not-supported` when the order's model cannot edit."""
    entry = catalog.models.get(order.model)
    if entry is None or not entry.edits:
        raise errors.edit_not_supported(order.model)
    return replace(order, input=InputRef("generation", request_id), input_from_session=True)


def turn_without_image(order: GenerationInput) -> GenerationInput:
    """A turn that generates (no image in its session yet, or `mode: "generate"`): it needs
    `style` and `color` as any generation does."""
    missing = [name for name in INHERITED_FIELDS if not getattr(order, name)]
    if missing:
        raise errors.missing_fields(missing)
    return order
