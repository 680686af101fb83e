"""The HTTP API fuzzed from its own contract, docs/openapi.yaml, with Schemathesis: every
documented operation gets schema-derived valid and invalid requests (its examples phase, the
boundary cases of its coverage phase, a few random ones), and every answer must be documented
for that operation (status, content type, body schema), never a server error the file does
not promise (500 `generation-failed` and 503 are designed answers of some operations; 500
`internal` never is), and a request the file calls invalid must be refused.

Deterministic: a fixed seed, derandomized generation, no example database, no timing-based
health checks; so a run that passes passes every time. Only 127.0.0.1 is called. The fuzz
acts for its own user (fresh, with credits of its own) and its own request: a generated id or
userId that is a valid document id is pointed, by a rule of its own length, either at them
or left as generated (an unknown one); admin operations are called without an admin token
(401/403), so nothing outside its own user changes. The end-of-session audit checks its
books like every other user's.

Alone: `./run-tests.sh tests/test_api_fuzz.py`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
import schemathesis
from conftest import FUNCTIONS_URL, emulator_failed, make_user
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from imagegen.records.validation import is_document_id

pytestmark = pytest.mark.emulator

ROOT = Path(__file__).resolve().parents[3]
assert urlsplit(FUNCTIONS_URL).hostname == "127.0.0.1", "the fuzz targets only 127.0.0.1"

# The budget: a few random cases per operation beside the examples and boundary cases
# (about 30 s for the whole file against the emulators).
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 25,
        "base-url": FUNCTIONS_URL,
        "request-timeout": 60,
        "suppress-health-check": ["all"],
        "generation": {"max-examples": 5, "deterministic": True, "database": "none"},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
    }
)
schema = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.yaml", config=CONFIG)

# Server errors an operation may answer by design (documented with their codes).
DESIGNED_SERVER_ERRORS = {"generation-failed", "busy", "unavailable", "generation-paused"}
DESIGNED_SERVER_ERRORS |= {"budget-exhausted", "payments-unavailable"}


def no_undocumented_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 5xx only as a documented answer of the operation, with a designed error code: never
    `internal` (a crash), never a body that is not our JSON error."""
    if response.status_code < 500:
        return True
    documented = str(response.status_code) in case.operation.definition.raw["responses"]
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    if not documented or code not in DESIGNED_SERVER_ERRORS:
        raise AssertionError(
            f"server error {response.status_code} {code!r} from {case.operation.label}: "
            f"{response.text[:300]}"
        )
    return True


# Not `positive_data_acceptance`: a schema-valid request can still be refused for reasons the
# file states but a schema cannot (userId is required only without a token, checkout URLs
# must be on the configured origins, a Stripe event needs the secret's signature).
CHECKS = [
    no_undocumented_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,  # what the file says is invalid, the API refuses
]


@dataclass(frozen=True)
class World:
    """What the fuzz may act on: its own user and one completed request of theirs."""

    user_id: str
    request_id: str


@pytest.fixture(scope="module")
def world(db: Any) -> World:
    user_id = make_user(db, 2000, "fuzz")
    body = {
        "userId": user_id,
        "model": "model-a",
        "style": "anime",
        "color": "neon",
        "size": "512x512",
        "prompt": "a lighthouse",
    }
    resp = requests.post(
        f"{FUNCTIONS_URL}/createGenerationRequest",
        json=body,
        headers={"X-Simulate-Outcome": "success"},
        timeout=120,
    )
    assert resp.status_code == 200, resp.text
    return World(user_id, resp.json()["generationRequestId"])


def aimed(value: Any, ours: str) -> Any:
    """A generated id that is a valid document id: ours when its length is even, else as it
    was (an unknown id; deterministic either way). Anything else stays as generated."""
    if isinstance(value, str) and is_document_id(value) and len(value) % 2 == 0:
        return ours
    return value


def harmless_webhook(value: Any) -> Any:
    """A webhook URL that would pass as one, pointed at a closed local port (the discard port,
    refused at once), its path kept: deliveries never leave this machine. A URL that does not
    parse stays as generated (the server must refuse it with a 400)."""
    if not isinstance(value, str):
        return value
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        return value
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return value
    return urlunsplit(("http", "127.0.0.1:9", parts.path, parts.query, parts.fragment))


def aim(case: Any, world: World) -> None:
    """Point the case at the fuzz's own user and request; never simulate a crash (that leaves
    a request for the sweeper, which the fuzz does not run)."""
    for values in (case.query, case.body):
        if not isinstance(values, dict):
            continue
        if "userId" in values:
            values["userId"] = aimed(values["userId"], world.user_id)
        if "id" in values:
            values["id"] = aimed(values["id"], world.request_id)
        if "webhookUrl" in values:
            values["webhookUrl"] = harmless_webhook(values["webhookUrl"])
    if isinstance(case.headers, dict):
        case.headers.pop("X-Simulate-Crash", None)


def call(case: Any, session: requests.Session) -> Any:
    """One call; repeated when the Functions emulator itself failed (its proxy answered, not
    our function: see conftest.emulator_failed), so that its hiccups never fail the fuzz."""
    for attempt in range(4):
        response = case.call(base_url=FUNCTIONS_URL, session=session, timeout=120)
        if not emulator_failed(response) or attempt == 3:
            return response
        time.sleep(0.5)
    raise AssertionError("unreachable")


_SESSION = requests.Session()
# (operation, method sent, status) -> how many answers: the fuzz must really have run.
SEEN: Counter[tuple[str, str, int]] = Counter()


@pytest.fixture(scope="module", autouse=True)
def the_fuzz_ran() -> Iterator[None]:
    """After the module: every operation was called, most more than once, and the answers
    were not all alike (so the fuzz cannot pass by calling nothing)."""
    yield
    if not SEEN:
        return  # skipped (no emulators) or deselected
    calls = Counter[str]()
    for (label, _method, _status), n in SEEN.items():
        calls[label] += n
    print(f"\nfuzz: {sum(calls.values())} calls; " + ", ".join(f"{k} {v}" for k, v in SEEN.items()))
    assert all(n >= 3 for n in calls.values()), calls
    operations = sum(len(item) for item in schema.raw_schema["paths"].values())
    if len(calls) == operations:  # the whole file ran (not a -k selection)
        assert {status for _label, _method, status in SEEN} >= {200, 400, 401, 404}


@schema.parametrize()
def test_the_api_answers_as_documented(case: Any, world: World) -> None:
    aim(case, world)
    response = call(case, _SESSION)
    SEEN[(case.operation.label, case.method, response.status_code)] += 1
    case.validate_response(response, checks=CHECKS)
