"""Validation of a generation request body against the catalog (pure; no I/O)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imagegen.core import errors
from imagegen.core.catalog import Catalog
from imagegen.records.webhooks import validate_url

REQUIRED_FIELDS: tuple[str, ...] = ("userId", "model", "style", "color", "size", "prompt")
MAX_PROMPT_LENGTH = 2000
MAX_USER_ID_LENGTH = 128
_RESERVED_ID = re.compile(r"^__.*__$")


@dataclass(frozen=True)
class GenerationInput:
    """A validated generation request and its price."""

    user_id: str
    model: str
    style: str
    color: str
    size: str
    prompt: str
    cost: int
    webhook_url: str | None = None

    def as_payload(self) -> dict[str, str]:
        """The client-supplied fields, as stored and as compared for idempotency."""
        payload = {
            "userId": self.user_id,
            "model": self.model,
            "style": self.style,
            "color": self.color,
            "size": self.size,
            "prompt": self.prompt,
        }
        if self.webhook_url is not None:
            payload["webhookUrl"] = self.webhook_url
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


def parse_generation_input(
    body: Mapping[str, Any],
    catalog: Catalog,
    models: Sequence[str] | None = None,
    allow_loopback_webhooks: bool = False,
) -> GenerationInput:
    """Validate a decoded JSON body; raise the first DomainError that applies."""
    missing = [name for name in REQUIRED_FIELDS if body.get(name) in (None, "")]
    if missing:
        raise errors.missing_fields(missing)
    for name in REQUIRED_FIELDS:
        if not isinstance(body[name], str):
            raise errors.invalid_type(name, "a string", body[name])
        validate_text(name, body[name])
    user_id = validate_user_id(body["userId"])
    model, style, color, size = body["model"], body["style"], body["color"], body["size"]
    models = catalog.model_names if models is None else models
    if model not in models:
        raise errors.invalid_choice("model", model, models)
    if style not in catalog.styles:
        raise errors.invalid_choice("style", style, catalog.styles)
    if color not in catalog.colors:
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
    return GenerationInput(
        user_id, model, style, color, size, prompt, catalog.price(size, model), webhook_url
    )
