"""Ledger entries and balances: the one builder of an entry in
`users/{uid}/transactions/{id}` (`entry`), the reading of a user's balance (`credits_of`,
defined with the reads in `records.history`), the entry's creation (`entry_ref`, `post`: once
per id) and the user's new balance, conditional on the user being unchanged since it was read
(`set_balance`). `moves` (charges, settlements, grants, the signup bonus, forfeits) and
`billing.purchases` (purchases, reversals, reinstatements) decide the amounts and write through
here (a charge's usage fields go with its balance); a refund writes the balance in its own
update of the user, conditional on the version read before the settlement, beside its usage.
"""

from __future__ import annotations

from typing import Any

from google.cloud import firestore

from imagegen.core.vocabulary import TRANSACTIONS, EntryType
from imagegen.records.history import credits_of

__all__ = ["checkout_refs", "credits_of", "entry", "entry_ref", "post", "set_balance"]


def entry(kind: EntryType, credits: int, balance_after: int, **refs: Any) -> dict[str, Any]:
    """A ledger entry: `credits` moved (always positive; `kind` says which way), the balance
    after it, what it pays for (`generationRequestId`, `checkoutSessionId`, `reason`, ...)."""
    return {
        "type": kind.value,
        "credits": credits,
        **refs,
        "balanceAfter": balance_after,
        "timestamp": firestore.SERVER_TIMESTAMP,
    }


def checkout_refs(session_id: str) -> dict[str, str]:
    """What a purchase, reversal or reinstatement entry pays for: its Checkout Session."""
    # purchaseId: the same id, for readers written before checkoutSessionId
    return {"checkoutSessionId": session_id, "purchaseId": session_id}


def entry_ref(user_ref: Any, entry_id: str) -> Any:
    return user_ref.collection(TRANSACTIONS).document(entry_id)


def post(batch: Any, user_ref: Any, entry_id: str, data: dict[str, Any]) -> None:
    """Add the entry to `batch` with `create`: an id already taken fails the whole commit, so
    no move is ever written twice."""
    batch.create(entry_ref(user_ref, entry_id), data)


def set_balance(
    client: firestore.Client, batch: Any, user: Any, balance: int, **fields: Any
) -> None:
    """Write a user's new balance (and `fields`) in `batch`: conditional on the user being
    unchanged since read, or creating the user when it did not exist."""
    update = {"credits": balance, "updatedAt": firestore.SERVER_TIMESTAMP, **fields}
    if user.exists:
        option = client.write_option(last_update_time=user.update_time)
        batch.update(user.reference, update, option=option)
    else:
        batch.create(user.reference, {**update, "createdAt": firestore.SERVER_TIMESTAMP})
