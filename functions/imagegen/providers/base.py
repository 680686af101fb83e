"""What every provider adapter shares: a deadline, retries with backoff inside it that honour
the provider's delay (Retry-After, retryDelay), and failures classified by kind (pure)."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from imagegen.core.vocabulary import FailureKind

T = TypeVar("T")

MAX_DETAIL = 200
_SECRETISH = re.compile(r"(r8_|sk-|AIza|Bearer\s+)[\w\-\.]+")


def sanitize(text: object) -> str:
    """A short, single-line operator note: key-like tokens masked, cut to 200 characters. Never
    shown to clients; kept as the request's `failureDetail`."""
    one_line = " ".join(str(text).split())
    return _SECRETISH.sub(r"\1***", one_line)[:MAX_DETAIL]


class ProviderFailure(Exception):
    """A generation that ends without an image, for a classified reason."""

    def __init__(self, kind: FailureKind, detail: str, **details: Any) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = sanitize(detail)
        self.details = details  # e.g. providerRequestId, when one was created


class Retryable(Exception):
    """A transient error: worth another attempt after `delay` seconds (None: backoff)."""

    def __init__(self, detail: str, delay: float | None = None) -> None:
        super().__init__(detail)
        self.detail = sanitize(detail)
        self.delay = delay


@dataclass
class Deadline:
    """The time one generation may take, retries included (PROVIDER_TIMEOUT_SECONDS)."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def remaining(self) -> float:
        return self.seconds - (self.clock() - self.started)

    def expired(self) -> bool:
        return self.remaining() <= 0

    def elapsed_ms(self) -> int:
        return int((self.clock() - self.started) * 1000)


def with_retries(
    attempt: Callable[[], T],
    deadline: Deadline,
    sleep: Callable[[float], None] = time.sleep,
    base_delay: float = 0.5,
    max_delay: float = 8.0,
) -> T:
    """Run `attempt` until it returns; on `Retryable`, wait (the provider's delay when it gave
    one, else exponential backoff with jitter) and try again while the deadline allows.
    Still failing at the deadline: `provider-unavailable`."""
    n = 0
    while True:
        try:
            return attempt()
        except Retryable as transient:
            backoff = random.uniform(0, min(max_delay, base_delay * 2**n))
            delay = transient.delay if transient.delay is not None else backoff
            n += 1
            if delay >= deadline.remaining():
                raise ProviderFailure(
                    FailureKind.PROVIDER_UNAVAILABLE, f"still failing: {transient.detail}"
                ) from None
            sleep(max(0.0, delay))


def parse_delay(value: object) -> float | None:
    """Seconds from a Retry-After header ("3") or a Google retryDelay ("13s", "1.5s")."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*s?\s*", str(value))
    return float(match.group(1)) if match else None


def _http_classes(name: str) -> tuple[type[BaseException], ...]:
    """`httpx.<name>` and `httpx2.<name>`, of whichever is installed: the SDKs use either
    (google-genai and openai default to httpx2, a fork under its own import name whose
    exceptions are not httpx's)."""
    found: list[type[BaseException]] = []
    for package in ("httpx", "httpx2"):
        try:
            module = __import__(package)
        except ImportError:
            continue
        found.append(getattr(module, name))
    return tuple(found)


def timeout_errors() -> tuple[type[BaseException], ...]:
    """Every exception that means "no answer in time" from an SDK's HTTP layer."""
    return (*_http_classes("TimeoutException"), TimeoutError)


def transport_errors() -> tuple[type[BaseException], ...]:
    """Every HTTP-layer failure (timeouts included) of httpx and httpx2."""
    return _http_classes("HTTPError")


def is_timeout(exc: BaseException) -> bool:
    """Whether `exc`, or the error it was raised from, is an HTTP timeout (an SDK may wrap
    it in its own exception, as openai's `APITimeoutError` does)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, timeout_errors()):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# Sizes of the catalog -> what each provider supports.
OPENAI_SIZES = {"512x512": "1024x1024", "1024x1024": "1024x1024", "1024x1792": "1024x1536"}
OPENAI_SUPPORTED = ("1024x1024", "1536x1024", "1024x1536")
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")


def dimensions(size: str) -> tuple[int, int]:
    """`"1024x1792"` -> (1024, 1792); a malformed size is square 1024."""
    try:
        width, height = (int(part) for part in size.lower().split("x", 1))
        return width, height
    except ValueError:
        return 1024, 1024


def openai_size(size: str) -> str:
    """The nearest size a GPT image model supports (by aspect ratio)."""
    if size in OPENAI_SIZES:
        return OPENAI_SIZES[size]
    width, height = dimensions(size)
    return min(OPENAI_SUPPORTED, key=lambda s: abs(_ratio(s) - width / height))


def aspect_ratio(size: str) -> str:
    """The nearest aspect ratio Gemini and Replicate models accept ("1024x1792" -> "9:16")."""
    width, height = dimensions(size)
    return min(ASPECT_RATIOS, key=lambda r: abs(_ratio(r.replace(":", "x")) - width / height))


def _ratio(size: str) -> float:
    width, height = dimensions(size)
    return width / height
