"""The books: every ledger entry and balance write. Charge, settle (complete, refund, cancel),
grant, the signup bonus, close and forfeit (`moves`); the one entry builder, `credits_of` and
the balance write (`entries`), through which `billing.purchases` writes its purchase, reversal
and reinstatement entries too; what a user may still spend (`limits`); the global daily budget
(`budget_rules`, pure, and `budget`, its documents); the signup bonus's address identity
(`emails`); and the audit of the invariants (`audit`). Each balance change is one conditional
Firestore commit with its ledger entry.

May import: core, providers, records.
"""
