"""Deployment settings: Firebase params (set per project, no code change) and environment."""

from __future__ import annotations

import json
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
IMAGE_BASE_URL = params.StringParam(
    "IMAGE_BASE_URL",
    default="",
    description="Base URL under which getGenerationImage is reachable, for imageUrl (empty: "
    "the function's own URL, https://us-central1-<project>.cloudfunctions.net).",
)
ENFORCE_APP_CHECK = params.BoolParam(
    "ENFORCE_APP_CHECK",
    default=False,
    description="Callable functions refuse calls without a valid App Check token.",
)
# Image providers: endpoints are params (the root each official SDK expects), keys are secrets.
REPLICATE_BASE_URL = params.StringParam(
    "REPLICATE_BASE_URL",
    default="https://api.replicate.com",
    description="Replicate API root (the SDK adds /v1).",
)
OPENAI_BASE_URL = params.StringParam(
    "OPENAI_BASE_URL", default="https://api.openai.com/v1", description="OpenAI API root."
)
GEMINI_BASE_URL = params.StringParam(
    "GEMINI_BASE_URL",
    default="https://generativelanguage.googleapis.com",
    description="Gemini API root (the SDK adds the API version).",
)
PROVIDER_TIMEOUT_SECONDS = params.IntParam(
    "PROVIDER_TIMEOUT_SECONDS",
    default=120,
    description="Deadline of one generation at a provider, retries included.",
)
REFINE_MODEL = params.StringParam(
    "REFINE_MODEL",
    default="gemini-2.5-flash",
    description="Gemini text model that rewrites prompts for models with refinePrompt: true.",
)
REPLICATE_API_TOKEN = params.SecretParam("REPLICATE_API_TOKEN")
OPENAI_API_KEY = params.SecretParam("OPENAI_API_KEY")
GEMINI_API_KEY = params.SecretParam("GEMINI_API_KEY")
PROVIDER_SECRETS = [REPLICATE_API_TOKEN, OPENAI_API_KEY, GEMINI_API_KEY]

# Limits and cost controls (0: no limit); users/{uid}.limits overrides them per user.
RATE_LIMIT_PER_MINUTE = params.IntParam(
    "RATE_LIMIT_PER_MINUTE",
    default=60,
    description="Generations and uploads one user may start per minute (sliding 60 s window).",
)
MAX_PENDING_PER_USER = params.IntParam(
    "MAX_PENDING_PER_USER",
    default=20,
    description="Generation requests one user may have in progress at once.",
)
MAX_IMAGES_PER_REQUEST = params.IntParam(
    "MAX_IMAGES_PER_REQUEST",
    default=4,
    description="The most images one generation request may ask for (numImages), 1 to 10.",
)
DAILY_CREDIT_LIMIT = params.IntParam(
    "DAILY_CREDIT_LIMIT",
    default=0,
    description="Credits one user may spend per UTC day, net of refunds (0: no limit).",
)
SIGNUP_BONUS_CREDITS = params.IntParam(
    "SIGNUP_BONUS_CREDITS",
    default=10,
    description="Credits granted once to each account with a verified email, once per "
    "normalized address (0: none).",
)
# Keys the claim documents of the signup bonus (signupBonuses/{HMAC of the address}).
SIGNUP_BONUS_KEY = params.SecretParam("SIGNUP_BONUS_KEY")

SOFT_DELETE_DAYS = params.IntParam(
    "SOFT_DELETE_DAYS",
    default=30,
    description="Days a deleted image can be restored before the daily job purges it.",
)

# Buying credits (Stripe).
STRIPE_API_BASE = params.StringParam(
    "STRIPE_API_BASE",
    default="https://api.stripe.com",
    description="The Stripe API (the emulator set-up points it at the local test double).",
)
ALLOWED_REDIRECT_ORIGINS = params.StringParam(
    "ALLOWED_REDIRECT_ORIGINS",
    default="",
    description="Comma-separated origins Checkout may return to, beside the Hosting origins.",
)
STRIPE_SECRET_KEY = params.SecretParam("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = params.SecretParam("STRIPE_WEBHOOK_SECRET")
HOSTING_PORT = 5000  # firebase.json: the Hosting emulator
REGION = "us-central1"


def secret_value(secret: params.SecretParam) -> str:
    """A secret's value, "" when it is not set (a provider then answers 401: provider-error)."""
    try:
        return secret.value or ""
    except Exception:
        return ""


IMAGES_PER_REQUEST_CAP = 10


def max_images_per_request() -> int:
    """MAX_IMAGES_PER_REQUEST, kept within 1 to 10."""
    return min(IMAGES_PER_REQUEST_CAP, max(1, MAX_IMAGES_PER_REQUEST.value))


def provider_timeout() -> float:
    """PROVIDER_TIMEOUT_SECONDS, at least 5 s."""
    return float(max(5, PROVIDER_TIMEOUT_SECONDS.value))


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


CONTROLS_CACHE_SECONDS = 5.0  # how long an instance keeps config/generation


def controls_cache_seconds() -> float:
    """How long an instance keeps config/generation (the pause switch and the daily budget):
    5 s. Only against the emulators (inside the Functions emulator, or a client of the
    Firestore emulator) does the environment variable CONTROLS_CACHE_SECONDS set another time,
    so that the tests that change it wait less; deployed functions always keep 5 s."""
    value = os.environ.get("CONTROLS_CACHE_SECONDS")
    if not value or not (running_in_emulator() or os.environ.get("FIRESTORE_EMULATOR_HOST")):
        return CONTROLS_CACHE_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        return CONTROLS_CACHE_SECONDS
    return seconds if 0 < seconds <= CONTROLS_CACHE_SECONDS else CONTROLS_CACHE_SECONDS


def project_id() -> str:
    """The Firebase project id this code runs for."""
    for name in ("GCLOUD_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCP_PROJECT"):
        value = os.environ.get(name)
        if value:
            return value
    return "demo-imagegen"


def storage_bucket() -> str:
    """The project's default Cloud Storage bucket (from FIREBASE_CONFIG, which Firebase sets
    in deployed functions and in the emulator)."""
    try:
        bucket = json.loads(os.environ.get("FIREBASE_CONFIG", "{}")).get("storageBucket")
    except ValueError:
        bucket = None
    return str(bucket) if bucket else f"{project_id()}.appspot.com"


def functions_base_url() -> str:
    """Where this project's HTTPS functions are reachable: the emulator's address inside it."""
    if IMAGE_BASE_URL.value:
        return IMAGE_BASE_URL.value.rstrip("/")
    if running_in_emulator():
        host = os.environ.get("FUNCTIONS_EMULATOR_HOST", "127.0.0.1:5001")
        return f"http://{host}/{project_id()}/{REGION}"
    return f"https://{REGION}-{project_id()}.cloudfunctions.net"


def redirect_origins() -> frozenset[str]:
    """Where Stripe Checkout may send a buyer back: the project's Hosting origins (and the
    Hosting emulator's, inside the emulator) and ALLOWED_REDIRECT_ORIGINS."""
    project = project_id()
    origins = {f"https://{project}.web.app", f"https://{project}.firebaseapp.com"}
    if running_in_emulator():
        origins |= {f"http://127.0.0.1:{HOSTING_PORT}", f"http://localhost:{HOSTING_PORT}"}
    extra = (o.strip().rstrip("/") for o in ALLOWED_REDIRECT_ORIGINS.value.split(","))
    return frozenset(origins | {o for o in extra if o})
