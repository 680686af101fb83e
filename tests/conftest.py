"""Shared fixtures: an HTTP client for the functions, a Firestore client for the emulator,
fresh users per test, and a final check of the ledger invariants for every user touched.

Emulator tests run only under `./run-tests.sh` (firebase emulators:exec sets
FIRESTORE_EMULATOR_HOST); elsewhere they are skipped and the unit tests still run.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import settings as hypothesis_settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

from books import check_books  # noqa: E402

# Property tests have no wall-clock deadline: the suite runs beside the emulators on a busy
# machine, and speed is measured by the benchmarks, never by a test.
hypothesis_settings.register_profile("suite", deadline=None)
hypothesis_settings.load_profile("suite")

PROJECT_ID = os.environ.get("GCLOUD_PROJECT", "demo-imagegen")
FUNCTIONS_URL = os.environ.get("FUNCTIONS_URL", f"http://127.0.0.1:5001/{PROJECT_ID}/us-central1")
EMULATOR = bool(os.environ.get("FIRESTORE_EMULATOR_HOST"))

_touched_users: set[str] = set()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Order: the tests that write weeks of report data, then the browser tests (the Firestore
    # emulator re-runs every listener a page ever opened over the whole collection on each
    # write, until it restarts, so both slow every write after them; among the browser tests,
    # those that write report data come first); then the tests that add catalog entries
    # (cached 30 s: removed entries would still be offered to later tests); last, those that
    # pause generation or set the daily budget (cached 5 s). scripts/run-suite.sh runs the
    # `bulk_data` tests after the `serial` ones (a sweep would settle their pending requests),
    # and the `browser` tests last.
    def order(item: pytest.Item) -> tuple[bool, ...]:
        browser = "browser" in item.keywords
        bulk = "bulk_data" in item.keywords
        return (
            "global_changes" in item.keywords,
            "catalog_changes" in item.keywords,
            browser,
            bulk != browser,
        )

    items.sort(key=order)
    if EMULATOR:
        return
    skip = pytest.mark.skip(reason="needs the emulators: run ./run-tests.sh")
    for item in items:
        if "emulator" in item.keywords:
            item.add_marker(skip)


def emulator_failed(resp: requests.Response) -> bool:
    """The emulator's proxy answered instead of our function (under bursts it sometimes starts
    two workers on one port; idle-connection resets are prevented by `emulator_server`):
    `{"code": "ECONNRESET"}` and no `error` object of ours."""
    if resp.status_code < 500:
        return False
    try:
        body = resp.json()
    except ValueError:
        return True
    return isinstance(body, dict) and "error" not in body


class Api:
    """Calls the functions over HTTP, as a client would."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def post(self, name: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", name, **kwargs)

    def get(self, name: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", name, **kwargs)

    def request(self, method: str, name: str, **kwargs: Any) -> requests.Response:
        """One call; retried only where that is safe (GET, or a POST with an Idempotency-Key)
        when the Functions emulator itself failed (see `emulator_failed`)."""
        kwargs.setdefault("timeout", 120)
        safe = method == "GET" or "Idempotency-Key" in (kwargs.get("headers") or {})
        for attempt in range(4 if safe else 1):
            try:
                resp = self.session.request(method, self.url(name), **kwargs)
            except requests.ConnectionError:
                if not safe or attempt == 3:
                    raise
                time.sleep(0.5)
                continue
            if not (safe and emulator_failed(resp)) or attempt == 3:
                return resp
            time.sleep(0.5)
        raise AssertionError("unreachable")

    def generate(self, outcome: str | None = "success", **fields: Any) -> requests.Response:
        """POST createGenerationRequest with defaults for fields not given."""
        body = {
            "model": "model-a",
            "style": "anime",
            "color": "neon",
            "size": "512x512",
            "prompt": "a lighthouse at dusk",
            **fields,
        }
        headers = {"X-Simulate-Outcome": outcome} if outcome else {}
        return self.post("createGenerationRequest", json=body, headers=headers)


@pytest.fixture(scope="session")
def api() -> Api:
    return Api(FUNCTIONS_URL)


WARM_UP = [
    ("GET", "health"),
    ("POST", "createGenerationRequest"),
    ("GET", "getUserCredits"),
    ("GET", "getGenerationRequest"),
    ("GET", "listGenerationRequests"),
    ("POST", "cancelGenerationRequest"),
    ("POST", "grantCredits"),
    ("GET", "auditLedger"),
    ("POST", "recoverPendingRequests"),
    ("POST", "generateWeeklyReport"),
    ("POST", "createCheckoutSession"),
    ("POST", "stripeWebhook"),
    ("POST", "uploadImage"),
    ("POST", "createSession"),
    ("GET", "listSessions"),
    ("GET", "getSession"),
    ("POST", "deleteSession"),
]


@pytest.fixture(scope="session", autouse=True)
def warm_workers() -> None:
    """Start one worker per function, one at a time, before the tests: the Functions emulator
    can give two workers started at the same moment the same port. Every call here is
    rejected (no user, no token), so nothing is written. Parallel test processes take turns
    (a file lock): the first starts the workers, the others find them idle."""
    if not EMULATOR:
        return
    import fcntl
    import tempfile

    session = requests.Session()
    lock_path = Path(tempfile.gettempdir()) / f"imagegen-warm-up-{PROJECT_ID}.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for method, name in WARM_UP:
            session.request(method, f"{FUNCTIONS_URL}/{name}", timeout=120)
        for name in ("processGenerationRequest", "deliverWebhook"):  # task functions: no-op
            session.post(
                f"{FUNCTIONS_URL}/{name}", json={"data": {"requestId": "warm-up"}}, timeout=120
            )


@pytest.fixture(scope="session")
def db() -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    return firestore.Client(project=PROJECT_ID, credentials=AnonymousCredentials())


def make_user(db: Any, credits: int, prefix: str = "u") -> str:
    """Create a user with `credits`, granted through the ledger as the invariant requires."""
    from google.cloud import firestore

    uid = f"{prefix}-{uuid.uuid4().hex[:12]}"
    batch = db.batch()
    user_ref = db.collection("users").document(uid)
    batch.set(user_ref, {"credits": credits, "createdAt": firestore.SERVER_TIMESTAMP})
    if credits:
        batch.set(
            user_ref.collection("transactions").document("test-grant"),
            {
                "type": "grant",
                "credits": credits,
                "balanceAfter": credits,
                "timestamp": firestore.SERVER_TIMESTAMP,
            },
        )
    batch.commit()
    _touched_users.add(uid)
    return uid


@pytest.fixture
def new_user(db: Any) -> Any:
    """Factory: new_user(credits) -> a fresh user id."""
    return lambda credits=100, prefix="u": make_user(db, credits, prefix)


@pytest.fixture(scope="session")
def auth_app() -> Any:
    import firebase_admin

    return firebase_admin.initialize_app(options={"projectId": PROJECT_ID}, name="tests")


@pytest.fixture(scope="session")
def token_for(auth_app: Any) -> Any:
    """Factory: token_for(uid, admin=False) -> a real ID token from the Auth emulator."""
    from firebase_admin import auth
    from id_token import sign_in

    cache: dict[tuple[str, bool], str] = {}

    def make(uid: str, admin: bool = False) -> str:
        if (uid, admin) not in cache:
            email = f"{uid.lower()}@tests.example.com"
            try:
                auth.get_user(uid, app=auth_app)
            except auth.UserNotFoundError:
                auth.create_user(uid=uid, email=email, password="password", app=auth_app)
            auth.set_custom_user_claims(uid, {"admin": True} if admin else None, app=auth_app)
            cache[(uid, admin)] = sign_in(email)
        return cache[(uid, admin)]

    return make


@pytest.fixture(scope="session")
def admin_headers(token_for: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for('test-admin', admin=True)}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call(name: str, token: str, data: Any) -> requests.Response:
    """A callable function over its HTTP protocol, as the Firebase SDKs call it."""
    return requests.post(
        f"{FUNCTIONS_URL}/{name}", json={"data": data}, headers=bearer(token), timeout=60
    )


def wait_until_settled(api: Any, rid: str, timeout: float = 60.0) -> dict[str, Any]:
    """A request read over HTTP until it is completed, failed or canceled (its JSON)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get("getGenerationRequest", params={"id": rid}).json()
        if body["status"] in ("completed", "failed", "canceled"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"request {rid} still {body['status']} after {timeout} s")


def spend(api: Any, uid: str, times: int) -> None:
    """Spend 4 credits `times` over (1024x1792 images that succeed), as a user would."""
    for _ in range(times):
        resp = api.post(
            "createGenerationRequest",
            json={
                "userId": uid,
                "model": "model-a",
                "style": "anime",
                "color": "neon",
                "size": "1024x1792",
                "prompt": "spent",
            },
            headers={"X-Simulate-Outcome": "success"},
        )
        assert resp.status_code == 200, resp.text


def assert_cancel_refused_while_processing(api: Any, token: str, request_id: str) -> None:
    """A cancel of a request a provider has: 409 `request-in-progress` over HTTP, and
    `failed-precondition` with the same code through the callable."""
    cancel = api.post("cancelGenerationRequest", params={"id": request_id})
    assert cancel.status_code == 409, cancel.text
    error = cancel.json()["error"]
    assert error["code"] == "request-in-progress" and error["currentStatus"] == "processing"
    called = call("cancelGeneration", token, {"id": request_id}).json()["error"]
    assert called["status"] == "FAILED_PRECONDITION"
    assert called["details"]["code"] == "request-in-progress"


@pytest.fixture(autouse=True)
def report_data_deleted() -> Iterator[None]:
    """After each test, the synthetic request documents it wrote through reportdata.write."""
    yield
    reportdata = sys.modules.get("reportdata")
    if reportdata is not None and reportdata.WRITTEN:
        reportdata.delete_written()


def touch(uid: str) -> None:
    """Include `uid` in the end-of-session ledger check."""
    _touched_users.add(uid)


# Set by scripts/run-suite.sh, which runs the emulator tests in several pytest sessions (in
# parallel, then those that must run alone): each session appends the users it touched to this
# file, and the books are checked once, after the last one (tests/emulator/books_after_suite.py).
TOUCHED_USERS_FILE = os.environ.get("BOOKS_TOUCHED_USERS_FILE")


def assert_books_balance(db: Any, api: Api, token_for: Any, touched: set[str]) -> None:
    """The ledger audit (the admin endpoint, over every user) and a second, independent check
    of the users the tests touched; both must be clean."""
    admin = {"Authorization": f"Bearer {token_for('test-admin', admin=True)}"}
    with ThreadPoolExecutor(1) as pool:  # both only read: the endpoint's pass runs meanwhile
        pending = pool.submit(api.get, "auditLedger", headers=admin, timeout=300)
        problems = check_books(db, sorted(touched | {"testUser1", "testUser2"}))
        resp = pending.result()
    assert resp.status_code == 200, resp.text
    audit = resp.json()
    assert audit["usersChecked"] >= len(touched)
    assert audit["clean"], "ledger audit failed:\n" + "\n".join(audit["discrepancies"])
    assert not problems, "ledger invariants violated:\n" + "\n".join(problems)


@pytest.fixture(scope="session", autouse=True)
def books_balance_at_the_end(db: Any, api: Api, token_for: Any) -> Iterator[None]:
    """The session ends with `assert_books_balance` over the users its tests touched; under
    scripts/run-suite.sh it records them instead, for the check after the last session."""
    yield
    if not EMULATOR:
        return
    if TOUCHED_USERS_FILE:
        with open(TOUCHED_USERS_FILE, "a") as out:  # one write: parallel sessions append
            out.write("".join(f"{uid}\n" for uid in sorted(_touched_users)))
        return
    assert_books_balance(db, api, token_for, _touched_users)
