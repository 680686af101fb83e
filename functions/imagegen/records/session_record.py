"""A conversation as data: `users/{uid}/sessions/{sessionId}` (`title`, `createdAt`,
`updatedAt`, `lastRequestId`, `turns`, `deletedAt`), its fields, the fields a turn's charge
writes, and whether a session can take a turn. No I/O beyond building references."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.cloud import firestore

from imagegen.core.vocabulary import SESSIONS, USERS

TITLE = "title"
CREATED_AT = "createdAt"
UPDATED_AT = "updatedAt"
LAST_REQUEST_ID = "lastRequestId"
TURNS = "turns"  # how many requests were charged in the session
DELETED_AT = "deletedAt"
MAX_TITLE_LENGTH = 200
DEFAULT_TITLE = "New conversation"


def session_ref(client: firestore.Client, user_id: str, session_id: str) -> Any:
    """`users/{uid}/sessions/{sessionId}`."""
    return client.collection(USERS).document(user_id).collection(SESSIONS).document(session_id)


def new_session(title: str) -> dict[str, Any]:
    """The fields of a new session (timestamps from the server)."""
    return {
        TITLE: title,
        CREATED_AT: firestore.SERVER_TIMESTAMP,
        UPDATED_AT: firestore.SERVER_TIMESTAMP,
        LAST_REQUEST_ID: None,
        TURNS: 0,
    }


def open_for_turns(data: Mapping[str, Any] | None) -> bool:
    """Whether a session (its document's data, None when absent) can take a turn: it
    exists and is not deleted."""
    return data is not None and not data.get(DELETED_AT)


def turn_fields(request_id: str) -> dict[str, Any]:
    """What a turn's charge writes on its session, in the same commit."""
    return {
        LAST_REQUEST_ID: request_id,
        TURNS: firestore.Increment(1),
        UPDATED_AT: firestore.SERVER_TIMESTAMP,
    }
