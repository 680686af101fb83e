"""Reading what happened: a user's balance and ledger, one request, a user's requests, page by
page (Firestore reads; no writes). Pages are newest first; a page token names the last
document of the previous page."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from imagegen.core import errors
from imagegen.core.vocabulary import REQUESTS, TRANSACTIONS, USERS, Visibility
from imagegen.records.request_record import CREATED_AT, MODEL, STATUS, USER_ID, VISIBILITY
from imagegen.records.validation import is_document_id, within

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True)
class Page:
    """Which page to read: its size, and the token of the page before (None: the first)."""

    size: int = DEFAULT_PAGE_SIZE
    token: str | None = None

    @classmethod
    def of(cls, size: int, token: str | None) -> Page:
        """A page request, with its size checked (1 to MAX_PAGE_SIZE)."""
        within("pageSize", size, 1, MAX_PAGE_SIZE)
        return cls(size, token)


@dataclass(frozen=True)
class Record:
    """A stored document: its id and fields."""

    id: str
    data: dict[str, Any]


@dataclass(frozen=True)
class LedgerPage:
    user_id: str
    balance: int
    entries: list[Record]
    next_page_token: str | None


@dataclass(frozen=True)
class RequestsPage:
    user_id: str
    requests: list[Record]
    next_page_token: str | None


def encode_page_token(doc_id: str) -> str:
    return base64.urlsafe_b64encode(doc_id.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> str:
    try:
        doc_id = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        doc_id = ""
    if not is_document_id(doc_id):  # names no document ('..', '__x__', too long, NUL)
        raise errors.invalid_field("pageToken", "Invalid pageToken.")
    return doc_id


def credits_of(snapshot: Any) -> int:
    """The integer balance of a user snapshot, the one reading of it (the ledger's too): 0 for
    a user not yet created; a document without an integer `credits` is corrupt, an internal
    error (never read as 0)."""
    if not snapshot.exists:
        return 0
    credits = (snapshot.to_dict() or {}).get("credits")
    if not isinstance(credits, int) or isinstance(credits, bool):
        raise RuntimeError(f"user {snapshot.id} has no integer credits field")
    return credits


MAX_SKIP_BATCHES = 20  # how far one page may read past documents `keep` leaves out


def read_page(
    query: Any,
    collection: Any,
    page: Page,
    belongs: Callable[[dict[str, Any]], bool],
    keep: Callable[[dict[str, Any]], bool] | None = None,
) -> tuple[list[Record], str | None]:
    """One page of `query` after the document named by the page token (which must exist in
    `collection` and satisfy `belongs`), and the token of the next page (None at the end).
    `keep` leaves documents out (read on past them, a bounded number of reads)."""
    if page.token:
        cursor = collection.document(decode_page_token(page.token)).get()
        if not cursor.exists or not belongs(cursor.to_dict() or {}):
            raise errors.invalid_field("pageToken", "Invalid pageToken.")
        query = query.start_after(cursor)
    if keep is None:
        docs = list(query.limit(page.size + 1).stream())
        token = encode_page_token(docs[page.size - 1].id) if len(docs) > page.size else None
        return [Record(doc.id, doc.to_dict() or {}) for doc in docs[: page.size]], token
    kept: list[Record] = []
    batch = page.size + 1
    for _ in range(MAX_SKIP_BATCHES):
        docs = list(query.limit(batch).stream())
        for doc in docs:
            data = doc.to_dict() or {}
            if keep(data):
                kept.append(Record(doc.id, data))
                if len(kept) > page.size:
                    return kept[: page.size], encode_page_token(kept[page.size - 1].id)
        if len(docs) < batch:
            return kept, None
        query = query.start_after(docs[-1])
    # Read far enough: end the page at the last document read.
    return kept, encode_page_token(docs[-1].id) if docs else None


def read_ledger(client: firestore.Client, user_id: str, page: Page) -> LedgerPage:
    """The balance and one page of the ledger, newest first."""
    user_ref = client.collection(USERS).document(user_id)
    user = user_ref.get()
    if not user.exists:
        raise errors.user_not_found()
    entries_ref = user_ref.collection(TRANSACTIONS)
    query = entries_ref.order_by("timestamp", direction=firestore.Query.DESCENDING).order_by(
        "__name__", direction=firestore.Query.DESCENDING
    )
    entries, token = read_page(query, entries_ref, page, lambda data: True)
    return LedgerPage(user_id, credits_of(user), entries, token)


def read_request(client: firestore.Client, request_id: str) -> Record | None:
    """One generation request, or None."""
    snap = client.collection(REQUESTS).document(request_id).get()
    return Record(snap.id, snap.to_dict() or {}) if snap.exists else None


def list_requests(
    client: firestore.Client,
    user_id: str,
    status: str | None,
    model: str | None,
    page: Page,
    deleted: bool = False,
) -> RequestsPage:
    """One page of a user's generation requests, newest first, optionally filtered; without
    `deleted` the requests their owner deleted are left out, with it only those are listed
    (purged ones included)."""
    requests = client.collection(REQUESTS)
    query = requests.where(filter=FieldFilter(USER_ID, "==", user_id))
    if deleted:
        hidden = [v.value for v in Visibility]
        query = query.where(filter=FieldFilter(VISIBILITY, "in", hidden))
    if status:
        query = query.where(filter=FieldFilter(STATUS, "==", status))
    if model:
        query = query.where(filter=FieldFilter(MODEL, "==", model))
    query = query.order_by(CREATED_AT, direction=firestore.Query.DESCENDING).order_by(
        "__name__", direction=firestore.Query.DESCENDING
    )
    docs, token = read_page(
        query,
        requests,
        page,
        lambda data: data.get(USER_ID) == user_id,
        None if deleted else (lambda data: not data.get(VISIBILITY)),
    )
    return RequestsPage(user_id, docs, token)
