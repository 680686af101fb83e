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


def _picture(width: int, height: int) -> bytes:
    """A test input: a white disc on a dark blue ground, left half bright, right half dark."""
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), (20, 30, 90))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, width // 2, height], fill=(230, 200, 40))
    draw.ellipse([width // 4, height // 4, 3 * width // 4, 3 * height // 4], fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _edit_spec(data: bytes, **kw):
    from imagegen.providers.image_models import InputImage

    base = {"request_id": "r1", "model": "model-a", "style": "anime", "color": "neon"}
    fields = {**base, "size": "512x512", "prompt": "make it glow", **kw}
    return ImageSpec(**fields, input_image=InputImage(data, "image/png"))


def _luma(png: bytes, size: tuple[int, int] = (32, 32)) -> list[int]:
    import io

    from PIL import Image

    return list(Image.open(io.BytesIO(png)).convert("L").resize(size).getdata())


def _correlation(a: list[int], b: list[int]) -> float:
    from statistics import correlation

    return correlation([float(x) for x in a], [float(y) for y in b])


def test_an_edit_is_the_input_picture_resized_recoloured_and_captioned():
    """The simulated edit is derived from the input's pixels: the same picture (its light and
    dark areas where they were) at the requested size, in the color's palette, with the
    instruction drawn at the bottom; the same request gives the same bytes."""
    import io

    from PIL import Image, ImageOps

    from imagegen.providers.image_render import render_png

    source = _picture(300, 200)  # another size and aspect ratio than asked
    edited = render_png(_edit_spec(source, size="1024x1792"))
    assert Image.open(io.BytesIO(edited)).size == (1024, 1792)
    assert render_png(_edit_spec(source, size="1024x1792")) == edited  # deterministic

    def above_caption(image: Image.Image) -> bytes:
        out = io.BytesIO()
        image.crop((0, 0, 512, 400)).save(out, "PNG")
        return out.getvalue()

    square = render_png(_edit_spec(source))
    fitted = ImageOps.fit(Image.open(io.BytesIO(source)), (512, 512))
    got, want = above_caption(Image.open(io.BytesIO(square))), above_caption(fitted)
    assert _correlation(_luma(got), _luma(want)) > 0.9  # the same picture
    # another input gives another picture; another colour recolours the same one
    assert render_png(_edit_spec(_picture(200, 300))) != square
    mono = render_png(_edit_spec(source, color="monochrome"))
    rgb = Image.open(io.BytesIO(mono)).convert("RGB").crop((0, 0, 512, 400))
    assert max(abs(r - g) + abs(g - b) for r, g, b in rgb.getdata()) < 200
    assert mono != square
    # the instruction is drawn: the bottom band differs from a render without it
    plain = render_png(_edit_spec(source, prompt=" "))
    assert _luma(square, (64, 64))[-64 * 4 :] != _luma(plain, (64, 64))[-64 * 4 :]


def test_the_simulator_edits_when_given_an_input_and_model_b_frames_it():
    model = SimulatedModel("model-b", lambda: 0.0, lambda: 0)
    result = model.generate(_edit_spec(_picture(64, 64), model="model-b"))
    assert result.ok and result.image.startswith(b"\x89PNG")
    assert result.details["outputWidth"] == 512
    a = SimulatedModel("model-a", lambda: 0.0, lambda: 0).generate(_edit_spec(_picture(64, 64)))
    assert a.image != result.image
