"""A generation request from charge to settlement: charge, run the model, store the image,
complete or refund, synchronous or queued (`pipeline`); idempotency keys with Stripe's
semantics for every transport (`idempotency`); and crash recovery, which settles requests
charged but never settled (`recovery`).

May import: core, providers, records, ledger.
"""
