"""Unit tests of the simulated models and their pictures."""

from __future__ import annotations

import random

from imagegen.providers.image_models import ImageSpec, Outcome
from imagegen.providers.simulator import SimulatedModel

SPEC = ImageSpec("r1", "model-a", "anime", "neon", "1024x1792", "p")


def test_simulator_failure_rate_is_about_what_is_configured():
    model = SimulatedModel(
        "model-a", lambda: 0.05, lambda: 0, rng=random.Random(7), render=lambda spec: b"png"
    )
    failures = sum(not model.generate(SPEC).ok for _ in range(20_000))
    assert 800 < failures < 1200


def test_simulator_forced_outcomes_and_png():
    model = SimulatedModel("model-a", lambda: 1.0, lambda: 0)
    ok = model.generate(SPEC, Outcome.SUCCESS)
    assert ok.ok and ok.content_type == "image/png" and ok.image.startswith(b"\x89PNG")
    model = SimulatedModel("model-a", lambda: 0.0, lambda: 0)
    assert not model.generate(SPEC, Outcome.FAILURE).ok


def test_simulator_latency_is_applied():
    slept = []
    SimulatedModel(
        "m", lambda: 0, lambda: 250, sleep=slept.append, render=lambda spec: b""
    ).generate(SPEC)
    assert slept == [0.25]


def test_renders_are_exact_in_size_deterministic_and_shaped_by_the_parameters():
    import io

    from PIL import Image, ImageStat

    from imagegen.providers.image_render import render_png

    def spec(**kw):
        base = {"request_id": "r1", "model": "model-a", "style": "anime", "color": "neon"}
        return ImageSpec(**{**base, "size": "1024x1792", "prompt": "a cat", **kw})

    def saturation(png):
        return ImageStat.Stat(Image.open(io.BytesIO(png)).convert("RGB").convert("HSV")).mean[1]

    png = render_png(spec())
    assert Image.open(io.BytesIO(png)).size == (1024, 1792)
    assert render_png(spec()) == png  # same request, same bytes
    assert render_png(spec(request_id="r2")) != png
    assert render_png(spec(model="model-b")) != png
    assert render_png(spec(style="sketch")) != png
    assert render_png(spec(prompt="a dog")) != png  # the prompt is drawn
    assert render_png(spec(style="a style added later")).startswith(b"\x89PNG")
    assert saturation(render_png(spec(color="monochrome"))) < 5 < 60 < saturation(png)
