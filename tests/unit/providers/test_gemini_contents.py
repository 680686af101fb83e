"""Unit tests of what the Gemini adapter sends to `generateContent` (no network): the prompt
alone; an edit's image before its instruction; a conversation's earlier instructions first,
oldest first, each its own text part."""

from __future__ import annotations

from imagegen.providers.gemini_model import EARLIER, gemini_contents
from imagegen.providers.image_models import ImageSpec, InputImage

IMAGE = InputImage(b"\x89PNG fake bytes", "image/png")


def spec(prompt: str, image: InputImage | None = None, context: tuple[str, ...] = ()):
    return ImageSpec("r1", "m", "anime", "neon", "1024x1024", prompt, image, context)


def texts(content):
    return [p.text for p in content.parts if p.text is not None]


def test_a_generation_sends_the_prompt_alone():
    sent = gemini_contents(spec("a red fox"))
    assert isinstance(sent, str) and sent.startswith("a red fox")


def test_an_edit_sends_the_image_then_the_instruction():
    content = gemini_contents(spec("make the sky darker", IMAGE))
    assert content.role == "user"
    assert content.parts[0].inline_data.data == IMAGE.data
    assert content.parts[0].inline_data.mime_type == "image/png"
    assert texts(content)[0].startswith("make the sky darker")
    assert len(content.parts) == 2


def test_a_turn_sends_the_earlier_instructions_first_oldest_first():
    earlier = ("a lighthouse", "add a storm", "now at night")
    content = gemini_contents(spec("in watercolour", IMAGE, earlier))
    assert [p.text for p in content.parts[:3]] == [EARLIER + text for text in earlier]
    assert content.parts[3].inline_data.data == IMAGE.data  # the image, after the context
    assert content.parts[4].text.startswith("in watercolour")  # the instruction, last
    assert len(content.parts) == 5


def test_a_new_image_in_a_conversation_still_gets_the_context():
    content = gemini_contents(spec("start over: a boat", None, ("a lighthouse",)))
    assert texts(content)[0] == EARLIER + "a lighthouse"
    assert texts(content)[1].startswith("start over: a boat")
    assert all(p.inline_data is None for p in content.parts)
