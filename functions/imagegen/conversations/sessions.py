"""A user's sessions and their turns, in Firestore.

A turn is a generation request with `sessionId`; the session's image is the image of its
latest completed turn that its owner has not deleted, so a failed turn leaves it where it
was. Sessions are listed newest first (by `createdAt`); deleted ones are left out and read as
not found, exactly like another user's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from imagegen.core import errors
from imagegen.core.vocabulary import REQUESTS, SESSIONS, USERS, RequestStatus
from imagegen.gallery import lifecycle
from imagegen.records.history import Page, Record, read_page
from imagegen.records.request_record import (
    CREATED_AT,
    PROMPT,
    SESSION_ID,
    STATUS,
    USER_ID,
    VISIBILITY,
)
from imagegen.records.session_record import (
    DELETED_AT,
    UPDATED_AT,
    new_session,
    open_for_turns,
    session_ref,
)

CONTEXT_TURNS = 5  # earlier instructions a turn is sent with (models that take them)
MAX_TURNS = 500  # turns read for one session


def create(client: firestore.Client, user_id: str, session_id: str, title: str) -> Record:
    """Create an empty session and return it as stored."""
    ref = session_ref(client, user_id, session_id)
    ref.create(new_session(title))
    return Record(session_id, ref.get().to_dict() or {})


def read(client: firestore.Client, user_id: str, session_id: str) -> Record:
    """One of `user_id`'s sessions; 404 when it does not exist (under this user) or is
    deleted."""
    snap = session_ref(client, user_id, session_id).get()
    data = snap.to_dict() if snap.exists else None
    if not open_for_turns(data):
        raise errors.session_not_found()
    return Record(session_id, data or {})


@dataclass(frozen=True)
class SessionsPage:
    user_id: str
    sessions: list[Record]
    next_page_token: str | None


def list_sessions(client: firestore.Client, user_id: str, page: Page) -> SessionsPage:
    """One page of a user's sessions, newest first; deleted ones left out."""
    collection = client.collection(USERS).document(user_id).collection(SESSIONS)
    query = collection.order_by(CREATED_AT, direction=firestore.Query.DESCENDING).order_by(
        "__name__", direction=firestore.Query.DESCENDING
    )
    docs, token = read_page(
        query, collection, page, lambda data: True, lambda data: not data.get(DELETED_AT)
    )
    return SessionsPage(user_id, docs, token)


def _turns_query(client: firestore.Client, user_id: str, session_id: str) -> Any:
    return (
        client.collection(REQUESTS)
        .where(filter=FieldFilter(USER_ID, "==", user_id))
        .where(filter=FieldFilter(SESSION_ID, "==", session_id))
    )


def turns(client: firestore.Client, user_id: str, session_id: str) -> list[Record]:
    """The session's requests, oldest first (at most MAX_TURNS)."""
    query = _turns_query(client, user_id, session_id).order_by(CREATED_AT).limit(MAX_TURNS)
    return [Record(s.id, s.to_dict() or {}) for s in query.stream()]


def recent_images(client: firestore.Client, user_id: str, session_id: str) -> list[Record]:
    """The session's latest completed turns that their owner has not deleted, newest first
    (at most CONTEXT_TURNS): the first one's image is the session's image."""
    query = (
        _turns_query(client, user_id, session_id)
        .where(filter=FieldFilter(STATUS, "==", RequestStatus.COMPLETED.value))
        .order_by(CREATED_AT, direction=firestore.Query.DESCENDING)
        .limit(CONTEXT_TURNS * 2)
    )
    kept = [Record(s.id, s.to_dict() or {}) for s in query.stream()]
    return [r for r in kept if not r.data.get(VISIBILITY)][:CONTEXT_TURNS]


def context_before(
    client: firestore.Client, user_id: str, session_id: str, before: datetime | None
) -> tuple[str, ...]:
    """The instructions a turn created at `before` continues from (a queued turn, read when it
    runs): those of the session's latest completed turns created before it."""
    recent = recent_images(client, user_id, session_id)
    if before is not None:
        recent = [r for r in recent if (_created(r) or before) < before]
    return context_of(recent)


def _created(record: Record) -> datetime | None:
    value = record.data.get(CREATED_AT)
    return value if isinstance(value, datetime) else None


def context_of(recent: list[Record]) -> tuple[str, ...]:
    """The instructions of `recent` (newest first) as a conversation's context, oldest
    first."""
    return tuple(str(r.data.get(PROMPT)) for r in reversed(recent) if r.data.get(PROMPT))


def erase_all(client: firestore.Client, user_id: str) -> int:
    """Delete every session document of a user (account deletion: the titles are theirs);
    their requests are purged by the account deletion itself. Returns how many."""
    collection = client.collection(USERS).document(user_id).collection(SESSIONS)
    erased = 0
    for snap in collection.select([]).stream():
        snap.reference.delete()
        erased += 1
    return erased


@dataclass(frozen=True)
class Deletion:
    session_id: str
    requests_deleted: int  # soft-deleted now (or already)
    requests_in_progress: int  # not settled yet: left as they are


def delete(client: firestore.Client, user_id: str, session_id: str) -> Deletion:
    """Hide the session (no more turns, left out of lists, read as not found) and soft-delete
    its settled requests as the gallery does (restorable, purged after SOFT_DELETE_DAYS).
    The session is marked first, so no turn starts after; running it again finishes it."""
    ref = session_ref(client, user_id, session_id)
    snap = ref.get()
    if not snap.exists:
        raise errors.session_not_found()
    if not (snap.to_dict() or {}).get(DELETED_AT):
        ref.update(
            {DELETED_AT: firestore.SERVER_TIMESTAMP, UPDATED_AT: firestore.SERVER_TIMESTAMP},
            option=client.write_option(last_update_time=snap.update_time),
        )
    deleted = in_progress = 0
    for record in turns(client, user_id, session_id):
        try:
            lifecycle.soft_delete(client, record.id)
            deleted += 1
        except errors.DomainError:  # still running: left alone (deletable once settled)
            in_progress += 1
    return Deletion(session_id, deleted, in_progress)
