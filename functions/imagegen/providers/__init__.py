"""Images and who makes them: the `ImageModel` interface (`image_models`), the simulated
`model-a`/`model-b` (`simulator`, pictures by `image_render`), three real services each through
its official SDK imported on first use (`replicate_model`, `openai_model`, `gemini_model`, with
`common` and `base`: deadlines, retries honouring Retry-After, failures by kind), prompt
refinement (`refine`), checks of what a provider returned (`output`), the `ImageModel` for a
`models/{modelId}` document (`registry`), and the bucket the images are kept in (`image_store`).

May import: core.
"""
