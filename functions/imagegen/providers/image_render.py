"""The simulated models' pictures: a PNG of exactly the requested size, the same bytes for the
same request, shaped by its parameters (pure; no I/O).

- the color sets the palette: `neon` is saturated and bright on black, `monochrome` is grey,
  `pastel` light, `vintage` sepia, `vibrant` saturated;
- the style sets the pattern: soft horizon bands (`realistic`), large discs (`anime`), thick
  strokes (`oil painting`), thin hatching (`sketch`), a perspective grid (`cyberpunk`),
  overlapping washes (`watercolor`); a style added to the catalog later gets a pattern chosen
  by its name;
- the prompt is drawn as text in a band at the bottom;
- `model-a` composes freely, `model-b` mirrors its composition and frames it, so the two
  models look different for the same request.

The picture is drawn in a palette image (one byte per pixel, a handful of flat colours), which
keeps PNG encoding fast: the largest size renders in ~15 ms.

An edit (`spec.input_image`) is drawn from the input's pixels instead: the input picture
cropped to fill the requested size, its tones mapped onto the color's palette and blended
with the original (visibly the same picture, recoloured), framed by `model-b`, with the
instruction drawn at the bottom.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import random
import textwrap
from collections.abc import Callable
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont, ImageOps

from imagegen.providers.image_models import ImageSpec

CONTENT_TYPE = "image/png"
RGB = tuple[int, int, int]


def parse_size(size: str) -> tuple[int, int]:
    """'1024x1792' -> (1024, 1792)."""
    width, _, height = size.partition("x")
    return int(width), int(height)


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, max(0.0, min(1.0, s)), max(0.0, min(1.0, v)))
    return round(r * 255), round(g * 255), round(b * 255)


def palette(color: str, rng: random.Random, n: int = 6) -> tuple[RGB, list[RGB]]:
    """(background, foreground colours) for a color name of the catalog."""
    base = rng.random()
    if color == "monochrome":
        greys = [_hsv(0, 0, 0.15 + 0.75 * i / (n - 1)) for i in range(n)]
        return _hsv(0, 0, 0.08), greys
    if color == "neon":
        return (8, 6, 20), [_hsv(base + i / n, 1.0, 1.0) for i in range(n)]
    if color == "pastel":
        return _hsv(base, 0.12, 0.98), [_hsv(base + i / n, 0.3, 0.95) for i in range(n)]
    if color == "vintage":
        return _hsv(0.09, 0.35, 0.85), [
            _hsv(0.06 + 0.05 * rng.random(), 0.45, 0.35 + 0.5 * i / n) for i in range(n)
        ]
    # vibrant, and colors added to the catalog later
    return _hsv(base + 0.5, 0.6, 0.3), [_hsv(base + i / n, 0.85, 0.9) for i in range(n)]


# A pattern draws with palette indices: `colors` are the foreground entries of the palette.
Pattern = Callable[[ImageDraw.ImageDraw, int, int, list[int], random.Random], None]
BACKGROUND, SHADOW, BLACK, WHITE = 0, 1, 2, 3  # fixed palette entries; the colors follow


def _bands(draw: ImageDraw.ImageDraw, w: int, h: int, colors: list[int], rng: random.Random):
    horizon = int(h * (0.45 + 0.2 * rng.random()))
    steps = 12
    for i in range(steps):  # sky fading towards the horizon
        c = colors[i * len(colors) // steps]
        draw.rectangle([0, i * horizon // steps, w, (i + 1) * horizon // steps], fill=c)
    draw.rectangle([0, horizon, w, h], fill=colors[-1])
    for _ in range(4):  # hills
        x, r = rng.randrange(w), rng.randrange(w // 6, w // 2)
        draw.ellipse([x - r, horizon - r // 3, x + r, horizon + r // 3], fill=rng.choice(colors))


def _discs(draw: ImageDraw.ImageDraw, w: int, h: int, colors: list[int], rng: random.Random):
    for _ in range(14):
        r = rng.randrange(min(w, h) // 12, min(w, h) // 4)
        x, y = rng.randrange(w), rng.randrange(h)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=rng.choice(colors))


def _strokes(draw: ImageDraw.ImageDraw, w: int, h: int, colors: list[int], rng: random.Random):
    width = max(6, w // 40)
    for _ in range(70):
        x, y = rng.randrange(w), rng.randrange(h)
        dx, dy = rng.randrange(-w // 6, w // 6), rng.randrange(-h // 20, h // 20)
        draw.line([x, y, x + dx, y + dy], fill=rng.choice(colors), width=width)


def _hatching(draw: ImageDraw.ImageDraw, w: int, h: int, colors: list[int], rng: random.Random):
    for _ in range(90):
        x, y = rng.randrange(w), rng.randrange(h)
        length = rng.randrange(w // 10, w // 3)
        draw.line([x, y, x + length, y - length // 2], fill=rng.choice(colors), width=2)


def _grid(draw: ImageDraw.ImageDraw, w: int, h: int, colors: list[int], rng: random.Random):
    horizon = h // 2
    for i in range(-12, 13):  # lines converging on the vanishing point
        draw.line([w // 2, horizon, w // 2 + i * w // 6, h], fill=colors[i % len(colors)], width=2)
    y, gap = float(horizon), 4.0
    while y < h:
        draw.line([0, int(y), w, int(y)], fill=colors[0], width=2)
        y, gap = y + gap, gap * 1.35
    for _ in range(10):  # towers
        x, top = rng.randrange(w), rng.randrange(h // 8, horizon)
        bw = rng.randrange(w // 20, w // 8)
        draw.rectangle([x, top, x + bw, horizon], fill=SHADOW, outline=rng.choice(colors))


def _washes(draw: ImageDraw.ImageDraw, w: int, h: int, colors: list[int], rng: random.Random):
    for _ in range(22):
        rx, ry = rng.randrange(w // 10, w // 3), rng.randrange(h // 14, h // 5)
        x, y = rng.randrange(w), rng.randrange(h)
        c = rng.choice(colors)
        draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=c)
        draw.ellipse([x - rx // 2, y - ry // 2, x + rx // 2, y + ry // 2], fill=colors[0])


PATTERNS: dict[str, Pattern] = {
    "realistic": _bands,
    "anime": _discs,
    "oil painting": _strokes,
    "sketch": _hatching,
    "cyberpunk": _grid,
    "watercolor": _washes,
}


def pattern_for(style: str) -> Pattern:
    """The style's pattern; a style unknown here gets one chosen by its name, stably."""
    if style in PATTERNS:
        return PATTERNS[style]
    index = int(hashlib.sha256(style.encode()).hexdigest(), 16) % len(PATTERNS)
    return list(PATTERNS.values())[index]


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _caption(
    img: Image.Image, prompt: str, band: int | RGB = BLACK, ink: int | RGB = WHITE
) -> None:
    w, h = img.size
    size = max(14, w // 28)
    lines = textwrap.wrap(" ".join(prompt.split()), width=max(10, int(w / (size * 0.55))))[:3]
    if not lines:
        return
    height = int(size * 1.4 * len(lines) + size)
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, h - height, w, h], fill=band)
    for i, line in enumerate(lines):
        y = h - height + size // 2 + int(i * size * 1.4)
        draw.text((size // 2, y), line, fill=ink, font=_font(size))


def _canvas(width: int, height: int, entries: list[RGB]) -> Image.Image:
    img = Image.new("P", (width, height), BACKGROUND)
    img.putpalette([channel for rgb in entries for channel in rgb])
    return img


def _rng(spec: ImageSpec) -> random.Random:
    seed = f"{spec.request_id}\n{spec.model}" + (f"\n{spec.index}" if spec.index else "")
    return random.Random(hashlib.sha256(seed.encode()).digest())


TONE_WEIGHT = 0.55  # how much of an edit is the palette's tones (the rest: the input as it is)


def render_edit(spec: ImageSpec) -> Image.Image:
    """An edit of `spec.input_image`: an RGB image of exactly the requested size."""
    assert spec.input_image is not None
    width, height = parse_size(spec.size)
    with Image.open(io.BytesIO(spec.input_image.data)) as source:
        source.draft("RGB", (width, height))  # a JPEG decodes at the scale it needs
        picture = ImageOps.fit(source.convert("RGB"), (width, height), Image.Resampling.BILINEAR)
    background, foreground = palette(spec.color, _rng(spec))
    toned = ImageOps.colorize(
        ImageOps.grayscale(picture),
        black=background,
        white=foreground[-1],
        mid=foreground[len(foreground) // 2],
    )
    img = Image.blend(picture, toned, TONE_WEIGHT)
    if spec.model == "model-b":
        frame = max(4, width // 40)
        ImageDraw.Draw(img).rectangle(
            [0, 0, width - 1, height - 1], outline=foreground[-1], width=frame
        )
    _caption(img, spec.prompt, (0, 0, 0), (255, 255, 255))
    return img


def render(spec: ImageSpec) -> Image.Image:
    """The picture for `spec`, as a palette image of exactly its size (an edit: RGB)."""
    if spec.input_image is not None:
        return render_edit(spec)
    width, height = parse_size(spec.size)
    rng = _rng(spec)
    background, foreground = palette(spec.color, rng)
    entries = [background, (10, 10, 24), (0, 0, 0), (255, 255, 255), *foreground]
    colors = list(range(WHITE + 1, len(entries)))
    img = _canvas(width, height, entries)
    draw = ImageDraw.Draw(img)
    pattern = pattern_for(spec.style)
    if spec.model == "model-b":  # mirrored composition in a frame
        half = _canvas(width // 2 + 1, height, entries)
        pattern(ImageDraw.Draw(half), half.width, height, colors, rng)
        img.paste(half, (0, 0))
        img.paste(half.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (width - half.width, 0))
        frame = max(4, width // 40)
        draw.rectangle([0, 0, width - 1, height - 1], outline=colors[-1], width=frame)
    else:
        pattern(draw, width, height, colors, rng)
    _caption(img, spec.prompt)
    return img


def render_png(spec: ImageSpec) -> bytes:
    """The picture for `spec` as PNG bytes: the same bytes for the same request."""
    out = io.BytesIO()
    render(spec).save(out, "PNG", compress_level=1)
    return out.getvalue()
