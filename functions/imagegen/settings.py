"""Deployment settings: Firebase params (set per project, no code change) and environment."""

from __future__ import annotations

import os

from firebase_functions import params

# The SDK has no public float param; the rate is a string param read by `failure_rate()`.
MODEL_FAILURE_RATE = params.StringParam(
    "MODEL_FAILURE_RATE",
    default="0.05",
    description="Probability (0-1) that a simulated image model call fails.",
)
MODEL_LATENCY_MS = params.IntParam(
    "MODEL_LATENCY_MS",
    default=0,
    description="Simulated image model latency in milliseconds.",
)
UNAUTHENTICATED_ACCESS = params.StringParam(
    "UNAUTHENTICATED_ACCESS",
    default="emulator",
    description="'emulator': requests without an ID token are allowed only inside the "
    "emulator; 'off': never. Deployed functions never allow them.",
)
PENDING_TIMEOUT_SECONDS = params.IntParam(
    "PENDING_TIMEOUT_SECONDS",
    default=600,
    description="A request still pending after this long is refunded by the sweeper.",
)
WEBHOOK_SECRET = params.SecretParam("WEBHOOK_SECRET")  # signs webhook deliveries


def failure_rate() -> float:
    """MODEL_FAILURE_RATE as a probability; an unreadable value falls back to 0.05."""
    try:
        rate = float(MODEL_FAILURE_RATE.value)
    except ValueError:
        return 0.05
    return min(1.0, max(0.0, rate)) if rate == rate else 0.05


def latency_ms() -> int:
    """MODEL_LATENCY_MS, never negative."""
    return max(0, MODEL_LATENCY_MS.value)


def running_in_emulator() -> bool:
    """True inside the Functions emulator (it sets FUNCTIONS_EMULATOR=true)."""
    return os.environ.get("FUNCTIONS_EMULATOR") == "true"


def project_id() -> str:
    """The Firebase project id this code runs for."""
    for name in ("GCLOUD_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCP_PROJECT"):
        value = os.environ.get(name)
        if value:
            return value
    return "demo-imagegen"
