"""Bad input over HTTP: a clear 4xx JSON error, and nothing written."""

from __future__ import annotations

import pytest
from books import balance, ledger, requests_of

pytestmark = pytest.mark.emulator

VALID = {
    "model": "model-a",
    "style": "anime",
    "color": "neon",
    "size": "512x512",
    "prompt": "a lighthouse",
}


@pytest.fixture
def victim(new_user, db):
    """A user whose books must not move; checked after the test."""
    uid = new_user(50)
    yield uid
    assert balance(db, uid) == 50
    assert requests_of(db, uid) == []
    assert [e["type"] for e in ledger(db, uid)] == ["grant"]


def post_json(api, body, **kwargs):
    return api.post("createGenerationRequest", json=body, **kwargs)


def assert_error(resp, status, code, contains=""):
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    err = resp.json()["error"]
    assert err["code"] == code, err
    assert contains in err["message"], err
    return err


@pytest.mark.parametrize("missing", ["userId", "model", "style", "color", "size", "prompt"])
def test_each_missing_field_is_named(api, victim, missing):
    body = {"userId": victim, **VALID}
    del body[missing]
    err = assert_error(post_json(api, body), 400, "missing-fields", "Missing required fields")
    assert err["message"] == f"Missing required fields: {missing}"
    assert err["missingFields"] == [missing]


def test_all_missing_fields_are_named(api):
    err = assert_error(post_json(api, {}), 400, "missing-fields")
    assert err["missingFields"] == ["userId", "model", "style", "color", "size", "prompt"]


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("model", "model-c", "Invalid model 'model-c'. Please use one of ['model-a', 'model-b']"),
        (
            "style",
            "pixel",
            "Invalid style 'pixel'. Please use one of ['realistic', 'anime', 'oil painting', "
            "'sketch', 'cyberpunk', 'watercolor']",
        ),
        (
            "color",
            "gold",
            "Invalid color 'gold'. Please use one of ['vibrant', 'monochrome', 'pastel', "
            "'neon', 'vintage']",
        ),
        (
            "size",
            "256x256",
            "Invalid size '256x256'. Please use one of ['512x512', '1024x1024', '1024x1792']",
        ),
    ],
)
def test_invalid_choices_list_the_allowed_values(api, victim, field, value, message):
    body = {"userId": victim, **VALID, field: value}
    err = assert_error(post_json(api, body), 400, f"invalid-{field}")
    assert err["message"] == message


@pytest.mark.parametrize(
    "field,value",
    [
        ("size", 512),
        ("model", ["model-a"]),
        ("style", {"x": 1}),
        ("prompt", True),
        ("color", 1.5),
        ("userId", {"uid": "x"}),
    ],
)
def test_wrong_types_are_rejected(api, victim, field, value):
    body = {"userId": victim, **VALID, field: value}
    err = assert_error(post_json(api, body), 400, "invalid-field-type", f"'{field}'")
    assert err["field"] == field


@pytest.mark.parametrize("prompt,fragment", [("   ", "empty"), ("x" * 2001, "2000")])
def test_bad_prompts(api, victim, prompt, fragment):
    body = {"userId": victim, **VALID, "prompt": prompt}
    assert_error(post_json(api, body), 400, "invalid-prompt", fragment)


def test_prompt_of_exactly_2000_characters_is_accepted(api, db, new_user):
    uid = new_user(1)
    resp = post_json(
        api,
        {"userId": uid, **VALID, "prompt": "y" * 2000},
        headers={"X-Simulate-Outcome": "success"},
    )
    assert resp.status_code == 200, resp.text
    assert balance(db, uid) == 0


def test_non_json_body(api, victim):
    resp = api.post(
        "createGenerationRequest", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(resp, 400, "invalid-json")


@pytest.mark.parametrize("payload", [b"[]", b'"text"', b"42", b"null"])
def test_non_object_body(api, victim, payload):
    resp = api.post(
        "createGenerationRequest", data=payload, headers={"Content-Type": "application/json"}
    )
    assert_error(resp, 400, "invalid-body")


def test_empty_body_names_every_field(api):
    resp = api.post("createGenerationRequest", data=b"")
    assert_error(resp, 400, "missing-fields", "userId, model, style, color, size, prompt")


def test_form_encoded_curl_style_body_is_read_as_json(api, db, new_user):
    """`curl -d '{...}'` sends form encoding by default; the JSON body still counts."""
    import json

    uid = new_user(5)
    resp = api.post(
        "createGenerationRequest",
        data=json.dumps({"userId": uid, **VALID}),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Simulate-Outcome": "success",
        },
    )
    assert resp.status_code == 200, resp.text
    assert balance(db, uid) == 4


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_405(api, victim, method):
    resp = api.request(method, "createGenerationRequest", json={"userId": victim, **VALID})
    err = assert_error(resp, 405, "method-not-allowed")
    assert err["allowed"] == ["POST"]
    assert resp.headers["Allow"] == "POST"


def test_bare_get_like_the_emulator_probe_has_no_effect(api):
    resp = api.get("createGenerationRequest")
    assert_error(resp, 405, "method-not-allowed")


@pytest.mark.parametrize("uid", ["a/b", "..", "__x__", "u" * 129])
def test_malformed_user_ids(api, uid):
    assert_error(post_json(api, {"userId": uid, **VALID}), 400, "invalid-user-id")


def test_bad_simulate_header(api, victim):
    resp = post_json(api, {"userId": victim, **VALID}, headers={"X-Simulate-Outcome": "maybe"})
    assert resp.status_code == 400


def test_oversized_body(api, victim):
    body = {"userId": victim, **VALID, "padding": "z" * 70_000}
    assert_error(post_json(api, body), 413, "body-too-large")


@pytest.mark.parametrize(
    "field,raw,code",
    [
        ("prompt", r"a \ud800 cat", "invalid-prompt"),
        ("prompt", r"a \u0000 cat", "invalid-prompt"),
        ("prompt", r"\udfff", "invalid-prompt"),
        ("style", r"anime\ud800", "invalid-style"),
        ("model", r"model-a\u0000", "invalid-model"),
        ("webhookUrl", r"https://example.com/\ud800", "invalid-webhook-url"),
    ],
)
def test_text_that_is_not_unicode_is_a_field_specific_400(api, victim, field, raw, code):
    """JSON can carry a lone UTF-16 surrogate or a NUL character, which Firestore cannot
    store: refused like any other bad field, before anything is charged."""
    fields = {**VALID, "userId": victim}
    text = "{" + ",".join(f'"{k}":"{v}"' for k, v in fields.items() if k != field)
    text += f',"{field}":"{raw}"}}'
    resp = api.post(
        "createGenerationRequest", data=text, headers={"Content-Type": "application/json"}
    )
    err = assert_error(resp, 400, code, "Unicode text" if field != "webhookUrl" else "")
    assert err.get("field", field) == field


@pytest.mark.parametrize("raw", [r"user\ud800", r"user\u0000x"])
def test_user_id_that_is_not_unicode_is_a_400(api, raw):
    text = '{"userId":"' + raw + '","model":"model-a","style":"anime","color":"neon",'
    text += '"size":"512x512","prompt":"a cat"}'
    resp = api.post(
        "createGenerationRequest", data=text, headers={"Content-Type": "application/json"}
    )
    assert_error(resp, 400, "invalid-user-id", "Unicode text")


@pytest.mark.parametrize("query", ["deleted=maybe", "deleted=null&deleted=null", "deleted=2"])
def test_a_bad_deleted_flag_is_a_400(api, victim, query):
    """`deleted` is a boolean: anything else is 400 `invalid-deleted` (it once was a 500)."""
    resp = api.get(f"listGenerationRequests?userId={victim}&{query}")
    err = assert_error(resp, 400, "invalid-deleted", "deleted must be true or false")
    assert err["field"] == "deleted"
