"""The application layer: every operation of the product, written once, for every transport.

Each function takes typed inputs (the verified `Caller`, a validated order, page parameters),
decides what the caller may do, runs the capabilities below, and returns a typed result or
raises a `DomainError`; nothing here knows about HTTP. `wiring` is what the application is
wired to (Firestore, the catalog cache, the models, the bucket, task queues, limits) and
`clock` its one clock. One module per concern: `generating` (charge, generate and settle,
synchronous or queued, cancel), `reads` (balances, ledgers, requests, images, health),
`buying` (checkout and the Stripe webhook), `gallery` (delete, restore, purge, account
deletion), `sessions` (conversations and what a turn continues from), `accounts` (the
signup bonus), `admin` (grants, audit, recovery, reports, migration) and `notifications`
(webhooks of settled requests).

May import: core, providers, records, ledger, billing, generation, reporting, gallery, conversations.
"""  # noqa: E501 (the one line tests/unit/test_layout.py reads)
