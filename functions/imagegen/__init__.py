"""Credit-metered image generation: the domain behind the Firebase entry points in main.py.

One package per capability, each depending only on the ones before it in this list (each
package's docstring names what it may import; `tests/unit/test_layout.py` checks it):

- `core`: errors, vocabulary, settings, the catalog, retries, the clock of weeks, who is calling.
- `providers`: the `ImageModel` interface, the simulator, the real providers, the image bucket.
- `records`: a generation request as data: its input, its document, reads and JSON shapes.
- `ledger`: every ledger entry and balance write, limits, the daily budget, the audit.
- `billing`: buying credits with Stripe.
- `generation`: a request from charge to settlement, idempotency keys, crash recovery.
- `reporting`: the weekly report, anomalies, incidents, the migration of old documents.
- `gallery`: soft delete, restore and purge of an owner's images.
- `conversations`: sessions of turns, each continuing from the session's latest image.
- `operations`: the application layer, every operation once for every transport.
- `transports`: HTTP endpoints and callables, thin adapters around `operations`.
"""
