"""An owner's images over their life: soft delete, restore and purge, in Firestore and the
bucket (`lifecycle`). Account deletion, which also needs the ledger and billing, is an
operation (`operations.gallery`).

May import: core, providers, records.
"""
