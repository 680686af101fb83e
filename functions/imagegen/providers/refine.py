"""Prompt refinement: a Gemini text model rewrites the prompt before the image model runs
(`refinePrompt: true` on a model). A failure falls back to the original prompt, logged, and
never fails the request."""

from __future__ import annotations

import logging

from imagegen.providers.base import Deadline, ProviderFailure, Retryable, sanitize, with_retries
from imagegen.providers.gemini_model import call_gemini, gemini_client

log = logging.getLogger(__name__)

INSTRUCTION = (
    "Rewrite this image prompt to be vivid and specific for an image model. Keep its meaning "
    "and subject; answer with the prompt only, at most 120 words.\n\nPrompt: "
)
MAX_REFINED = 2000


def refine_prompt(prompt: str, model: str, base_url: str, api_key: str, timeout: float) -> str:
    """The rewritten prompt, or `prompt` itself when refinement fails in any way."""
    deadline = Deadline(timeout)
    try:
        client = gemini_client(base_url, api_key, timeout)
        response = with_retries(
            lambda: call_gemini(
                lambda: client.models.generate_content(model=model, contents=INSTRUCTION + prompt)
            ),
            deadline,
        )
        text = (response.text or "").strip()
    except (ProviderFailure, Retryable) as failure:
        log.warning("prompt refinement failed; using the original prompt: %s", failure)
        return prompt
    except Exception as exc:
        log.warning("prompt refinement failed; using the original prompt: %s", sanitize(exc))
        return prompt
    return text[:MAX_REFINED] if text else prompt
