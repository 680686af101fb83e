"""Image providers behind the `ImageModel` interface: the simulator and three real services.

- `base`: the deadline, retries with backoff honouring Retry-After, failures by kind.
- `output`: what a provider returned, decoded and checked (PNG, JPEG or WebP, <= 20 MB).
- `replicate_model`, `openai_model`, `gemini_model`: one file per provider, each through its
  official SDK, imported on first use (a deployment that never calls one pays nothing for it).
- `refine`: prompt refinement with a Gemini text model.
- `registry`: the `ImageModel` for a `models/{modelId}` document.
"""
