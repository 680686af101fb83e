"""Buying credits with Stripe: credit packs and what a verified Stripe event says, with the pure
rules of reversals (`purchase_rules`); purchase records and each event applied exactly once
(`purchases`, whose ledger entries and balances are written through `ledger.entries`); and
Stripe's API through its official library (`stripe_api`: Checkout Sessions, refunds, webhook
signatures).

May import: core, records, ledger.
"""
