"""Each provider SDK, driven against a local HTTP server that never finishes its answer: a
deadline overrun is failureKind `timeout` (not `provider-error`, not `provider-unavailable`),
whichever HTTP package the SDK speaks through (google-genai and openai use httpx2, the
Replicate adapter httpx). The server stalls until the test ends, so the outcome cannot depend
on timing. No emulator needed."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from imagegen.providers.gemini_model import GeminiModel
from imagegen.providers.image_models import ImageSpec
from imagegen.providers.openai_model import OpenAIModel
from imagegen.providers.replicate_model import ReplicateModel

# What the server does with a request: "hang" (read it, never answer), "trickle" (send the
# status line, headers and part of the body, then never the rest), or a JSON answer.
Plan = Callable[[str, str], Any]
HANG, TRICKLE = "hang", "trickle"


class StallingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, plan: Plan) -> None:
        super().__init__(("127.0.0.1", 0), StallingHandler)
        self.plan = plan
        self.release = threading.Event()
        self.seen: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class StallingHandler(BaseHTTPRequestHandler):
    server: StallingServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen.append((method, self.path))
        action = self.server.plan(method, self.path)
        if action == HANG:
            self.server.release.wait(60)
            self.close_connection = True
            return
        if action == TRICKLE:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'{"')
            self.wfile.flush()
            self.server.release.wait(60)
            self.close_connection = True
            return
        status, payload = action
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self.answer("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.answer("POST")


@pytest.fixture
def stalling() -> Iterator[Callable[[Plan], StallingServer]]:
    servers: list[StallingServer] = []

    def start(plan: Plan) -> StallingServer:
        server = StallingServer(plan)
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


def spec() -> ImageSpec:
    return ImageSpec(f"stall-{uuid.uuid4().hex}", "m", "anime", "neon", "1024x1024", "a ship")


def assert_timeout(result: Any) -> None:
    assert not result.ok
    assert result.failure_kind == "timeout", result.details
    assert result.failure_reason == "the provider did not finish in time"


@pytest.mark.parametrize("how", [HANG, TRICKLE])
def test_a_stalled_gemini_call_is_a_timeout(stalling, how):
    """google-genai raises httpx2's ReadTimeout (not httpx's): still `timeout`."""
    server = stalling(lambda method, path: how)
    model = GeminiModel("m", "gemini-2.5-flash-image", server.url, "test-key", timeout=1)
    assert_timeout(model.generate(spec()))
    assert server.seen and ":generateContent" in server.seen[0][1]


@pytest.mark.parametrize("how", [HANG, TRICKLE])
def test_a_stalled_openai_call_is_a_timeout(stalling, how):
    """openai wraps its HTTP timeout in `APITimeoutError`: `timeout`, never retried."""
    server = stalling(lambda method, path: how)
    model = OpenAIModel("m", "gpt-image-1.5", server.url + "/v1", "test-key", timeout=1)
    assert_timeout(model.generate(spec()))
    assert server.seen == [("POST", "/v1/images/generations")]


def prediction(server: StallingServer, status: str, output: Any = None) -> dict[str, Any]:
    """A prediction object as Replicate's HTTP API returns it."""
    pid = "stall0000prediction"
    return {
        "id": pid,
        "model": "owner/name",
        "version": "hidden",
        "input": {"prompt": "a ship"},
        "logs": "",
        "output": output,
        "error": None,
        "status": status,
        "created_at": "2026-01-05T10:00:00Z",
        "urls": {
            "get": f"{server.url}/v1/predictions/{pid}",
            "cancel": f"{server.url}/v1/predictions/{pid}/cancel",
        },
    }


def test_a_replicate_create_that_never_answers_is_a_timeout_at_the_deadline(stalling):
    """The create waits at most the deadline (not the client's 65 s read timeout), is not
    sent twice (it may have started a paid prediction), and ends as `timeout`."""
    server = stalling(lambda method, path: HANG)
    model = ReplicateModel("m", "owner/name", server.url, "r8_test", timeout=2)
    assert_timeout(model.generate(spec()))
    assert server.seen == [("POST", "/v1/models/owner/name/predictions")]


def test_a_replicate_poll_that_never_answers_is_a_timeout_and_cancels(stalling):
    def plan(method: str, path: str) -> Any:
        if path.endswith("/predictions") and method == "POST":
            return 201, prediction(server, "starting")
        if path.endswith("/cancel"):
            return 200, prediction(server, "canceled")
        return HANG

    server = stalling(plan)
    model = ReplicateModel("m", "owner/name", server.url, "r8_test", timeout=2)
    result = model.generate(spec())
    assert_timeout(result)
    assert result.details["providerRequestId"] == "stall0000prediction"
    assert ("GET", "/v1/predictions/stall0000prediction") in server.seen
    assert server.seen[-1] == ("POST", "/v1/predictions/stall0000prediction/cancel")


def test_a_replicate_output_download_that_never_answers_is_a_timeout(stalling):
    def plan(method: str, path: str) -> Any:
        if path.endswith("/predictions"):
            return 201, prediction(server, "succeeded", [f"{server.url}/files/out.png"])
        return HANG

    server = stalling(plan)
    model = ReplicateModel("m", "owner/name", server.url, "r8_test", timeout=2)
    assert_timeout(model.generate(spec()))
    assert server.seen[-1] == ("GET", "/files/out.png")


def test_an_unexpected_sdk_timeout_is_still_a_timeout():
    """A timeout an adapter did not catch (raised bare, or wrapped by an SDK) is classified
    by what it is, not reported as a permanent provider error."""
    import httpx
    import httpx2

    from imagegen.providers.base import Deadline
    from imagegen.providers.common import run

    def raising(exc: BaseException) -> Callable[[], tuple[bytes, dict[str, Any]]]:
        def generate() -> tuple[bytes, dict[str, Any]]:
            raise exc

        return generate

    class Wrapped(Exception):
        pass

    def wrapped() -> tuple[bytes, dict[str, Any]]:
        try:
            raise httpx2.ReadTimeout("slow")
        except httpx2.ReadTimeout as err:
            raise Wrapped("sdk") from err

    for generate in (
        raising(httpx.ReadTimeout("slow")),
        raising(httpx2.WriteTimeout("slow")),
        raising(TimeoutError()),
        wrapped,
    ):
        assert run("p", spec(), Deadline(5), generate).failure_kind == "timeout"
    assert run("p", spec(), Deadline(5), raising(ValueError("x"))).failure_kind == (
        "provider-error"
    )
