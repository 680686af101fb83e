"""Unit tests of main.py's entry points as the Firebase CLI discovers them."""

from __future__ import annotations

from pathlib import Path

from imagegen.core.catalog import (
    DEFAULT_CATALOG,
)
from imagegen.providers.simulator import MODEL_NAMES

ROOT = Path(__file__).resolve().parents[3]


def test_openapi_describes_every_https_function_and_the_catalog():
    import yaml

    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    https = [name for name, ep in firebase_endpoints().items() if ep.httpsTrigger is not None]
    assert sorted(p.strip("/") for p in spec["paths"]) == sorted(https)
    props = spec["components"]["schemas"]["GenerationInput"]["properties"]
    assert props["model"]["$ref"] == "#/components/schemas/ModelId"
    assert spec["components"]["schemas"]["ModelId"]["enum"] == list(MODEL_NAMES)
    assert props["style"]["enum"] == list(DEFAULT_CATALOG.styles)
    assert props["color"]["enum"] == list(DEFAULT_CATALOG.colors)
    assert props["size"]["enum"] == list(DEFAULT_CATALOG.sizes)


def firebase_endpoints():
    """The functions main.py declares, by name, as the Firebase CLI discovers them."""
    import os

    os.environ.setdefault("GCLOUD_PROJECT", "demo-imagegen")
    import main

    return {
        name: fn.__firebase_endpoint__
        for name, fn in vars(main).items()
        if hasattr(fn, "__firebase_endpoint__")
    }


def test_runtime_options_allow_concurrency():
    """set_global_options' cpu default forces concurrency 1; ours must not."""
    endpoints = firebase_endpoints()
    create = endpoints["createGenerationRequest"]
    assert create.cpu == 1 and create.concurrency == 40 and create.timeoutSeconds == 300
    assert endpoints["getUserCredits"].concurrency == 80
    assert endpoints["scheduleWeeklyReport"].scheduleTrigger["schedule"] == "0 0 * * 1"
    assert endpoints["scheduleWeeklyReport"].scheduleTrigger["timeZone"] == "UTC"
    assert endpoints["sweepPendingRequests"].concurrency == 1
