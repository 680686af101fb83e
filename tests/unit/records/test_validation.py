"""Unit tests of a request body's validation against the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagegen.core.catalog import (
    DEFAULT_CATALOG,
)
from imagegen.core.errors import DomainError
from imagegen.providers.simulator import MODEL_NAMES
from imagegen.records.validation import parse_generation_input

ROOT = Path(__file__).resolve().parents[3]

VALID = {
    "userId": "u1",
    "model": "model-a",
    "style": "anime",
    "color": "neon",
    "size": "1024x1024",
    "prompt": "hi",
}


def parse(**overrides):
    return parse_generation_input({**VALID, **overrides}, DEFAULT_CATALOG, MODEL_NAMES)


def test_valid_input_is_priced_from_the_catalog():
    order = parse()
    assert order.cost == 3 and order.user_id == "u1"
    assert order.as_payload() == VALID


def test_missing_fields_are_listed_in_contract_order():
    with pytest.raises(DomainError) as exc:
        parse_generation_input({"model": "model-a"}, DEFAULT_CATALOG, MODEL_NAMES)
    assert exc.value.message == "Missing required fields: userId, style, color, size, prompt"


def test_null_and_empty_string_count_as_missing():
    with pytest.raises(DomainError) as exc:
        parse(style=None, color="")
    assert exc.value.details["missingFields"] == ["style", "color"]


def test_every_field_named_in_a_field_error_has_its_own_code():
    """`invalid_field("x", ...)`, `invalid_choice("x", ...)`, `validate_text("x", ...)`,
    `within("x", ...)`, `query_bool(req, "x")`, `query_int(req, "x")` and
    `validate_user_id(v, "x")` across the package all map to an ErrorCode member (a missing
    one would otherwise surface as a 500, as `deleted=maybe` once did)."""
    import re

    from imagegen.core.errors import field_error_code
    from imagegen.records.validation import REQUIRED_FIELDS

    source = "\n".join(p.read_text() for p in (ROOT / "functions" / "imagegen").rglob("*.py"))
    pattern = (
        r'(?:invalid_field|invalid_choice|validate_text|within)\(\s*"(\w+)"'
        r'|(?:validate_user_id|query_bool|query_int)\(\w+, "(\w+)"'
    )
    named = {a or b for a, b in re.findall(pattern, source)}
    assert {"prompt", "pageToken", "week", "credits", "idempotencyKey", "id", "deleted"} <= named
    assert {"pageSize", "olderThanSeconds", "maxDocuments"} <= named
    for field in named | set(REQUIRED_FIELDS) | {"status", "olderThanSeconds", "maxDocuments"}:
        assert field_error_code(field).startswith("invalid-")


def test_document_ids_are_checked_before_any_read():
    """The catalog's model lookup and user ids share one rule for what can name a document
    (a lone surrogate would otherwise reach Firestore and fail as a 500)."""
    from imagegen.records.validation import is_document_id

    assert is_document_id("flux") and is_document_id("a" * 128)
    for bad in ("", "a/b", ".", "..", "__x__", "a" * 129, "\ud800", "a\x00b"):
        assert not is_document_id(bad), bad


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        [],
        {},
        {"uploadId": "a", "generationRequestId": "b"},
        {"imageId": "a"},
        {"uploadId": 3},
        {"uploadId": ""},
        {"generationRequestId": "a/b"},
        {"generationRequestId": "__x__"},
    ],
)
def test_a_malformed_input_is_invalid_input(value):
    with pytest.raises(DomainError) as exc:
        parse(input=value)
    assert exc.value.code == "invalid-input" and exc.value.details == {"field": "input"}


def test_an_edit_names_its_input_and_of_a_generation_may_leave_out_style_and_color():
    from imagegen.records.validation import InputRef

    order = parse(input={"uploadId": "up1"})
    assert order.input == InputRef("upload", "up1") and order.cost == 3
    assert order.as_payload() == {**VALID, "input": {"uploadId": "up1"}}
    edit = parse_generation_input(
        {k: v for k, v in VALID.items() if k not in ("style", "color")}
        | {"input": {"generationRequestId": "r1"}},
        DEFAULT_CATALOG,
        MODEL_NAMES,
    )
    assert edit.input == InputRef("generation", "r1") and (edit.style, edit.color) == ("", "")
    assert parse(input={"generationRequestId": "r1"}, style="sketch").style == "sketch"
    # an upload has no style or color of its own: both are required
    with pytest.raises(DomainError) as exc:
        parse_generation_input(
            {"userId": "u1", "model": "model-a", "size": "512x512", "prompt": "p"}
            | {"input": {"uploadId": "up1"}},
            DEFAULT_CATALOG,
            MODEL_NAMES,
        )
    assert exc.value.details["missingFields"] == ["style", "color"]
    with pytest.raises(DomainError) as exc:
        parse(input={"generationRequestId": "r1"}, style="nope")
    assert exc.value.code == "invalid-style"


def test_a_model_that_cannot_edit_refuses_an_input():
    from dataclasses import replace

    from imagegen.core.catalog import ModelEntry

    catalog = replace(
        DEFAULT_CATALOG,
        models={**DEFAULT_CATALOG.models, "plain": ModelEntry("plain", "openai", "gpt")},
    )
    body = {**VALID, "model": "plain"}
    assert parse_generation_input(body, catalog).input is None  # generating is fine
    with pytest.raises(DomainError) as exc:
        parse_generation_input({**body, "input": {"uploadId": "u"}}, catalog)
    assert exc.value.code == "edit-not-supported" and exc.value.details == {"model": "plain"}


def test_a_turn_names_its_session_and_may_leave_out_style_and_color():
    from imagegen.records.validation import session_edit, turn_without_image

    order = parse_generation_input(
        {k: v for k, v in VALID.items() if k not in ("style", "color")} | {"sessionId": "s1"},
        DEFAULT_CATALOG,
        MODEL_NAMES,
    )
    assert (order.session_id, order.fresh, order.style, order.color) == ("s1", False, "", "")
    edit = session_edit(order, "r9", DEFAULT_CATALOG)  # the session's latest image
    assert edit.input is not None and (edit.input.kind, edit.input.id) == ("generation", "r9")
    # the payload idempotency compares is what the client sent: not the resolved input
    assert edit.as_payload() == order.as_payload() and "input" not in edit.as_payload()
    assert edit.as_payload()["sessionId"] == "s1"
    with pytest.raises(DomainError) as exc:  # no image yet: a generation needs both
        turn_without_image(order)
    assert exc.value.details["missingFields"] == ["style", "color"]
    assert turn_without_image(parse(sessionId="s1")).style == "anime"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"sessionId": "a/b"}, "invalid-session-id"),
        ({"sessionId": 7}, "invalid-session-id"),
        ({"mode": "redo"}, "invalid-mode"),
        ({"mode": "generate", "input": {"generationRequestId": "r1"}}, "invalid-mode"),
    ],
)
def test_a_malformed_turn_is_refused(overrides, code):
    with pytest.raises(DomainError) as exc:
        parse(**overrides)
    assert exc.value.code == code


def test_mode_generate_needs_style_and_color_and_is_part_of_the_payload():
    order = parse(sessionId="s1", mode="generate")
    assert order.fresh and order.as_payload()["mode"] == "generate"
    with pytest.raises(DomainError) as exc:
        parse_generation_input(
            {"userId": "u1", "model": "model-a", "size": "512x512", "prompt": "p"}
            | {"sessionId": "s1", "mode": "generate"},
            DEFAULT_CATALOG,
            MODEL_NAMES,
        )
    assert exc.value.code == "missing-fields"
