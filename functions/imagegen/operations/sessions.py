"""Conversations: create, list, read and delete a user's sessions, and what a turn of one
continues from (its latest completed image, and the instructions before it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from imagegen.conversations import sessions
from imagegen.conversations.sessions import Deletion, SessionsPage
from imagegen.core import errors
from imagegen.core.auth import Caller
from imagegen.core.catalog import Catalog
from imagegen.operations.reads import subject_user
from imagegen.operations.wiring import db
from imagegen.records.history import Page, Record
from imagegen.records.session_record import DEFAULT_TITLE, MAX_TITLE_LENGTH
from imagegen.records.validation import (
    GenerationInput,
    session_edit,
    turn_without_image,
    validate_text,
    validate_user_id,
)


def _title(value: Any) -> str:
    if value in (None, ""):
        return DEFAULT_TITLE
    if not isinstance(value, str):
        raise errors.invalid_type("title", "a string", value)
    validate_text("title", value)
    if len(value) > MAX_TITLE_LENGTH:
        raise errors.invalid_field(
            "title", f"title must be at most {MAX_TITLE_LENGTH} characters (got {len(value)})."
        )
    return value


def _session_id(value: Any) -> str:
    if value in (None, ""):
        raise errors.missing_fields(["id"])
    if not isinstance(value, str):
        raise errors.invalid_type("id", "a string", value)
    return validate_user_id(value, "id")


def create_session(caller: Caller, user_id: str | None, title: Any) -> Record:
    """A new, empty session of the user (the caller by default)."""
    owner = subject_user(caller, user_id)
    return sessions.create(db(), owner, uuid.uuid4().hex, _title(title))


def list_sessions(caller: Caller, user_id: str | None, page: Page) -> SessionsPage:
    """The user's sessions, newest first, deleted ones left out."""
    return sessions.list_sessions(db(), subject_user(caller, user_id), page)


@dataclass(frozen=True)
class SessionView:
    session: Record
    turns: list[Record]


def get_session(caller: Caller, user_id: str | None, session_id: Any) -> SessionView:
    """One of the user's sessions with its turns in order; 404 for another user's, an
    unknown or a deleted one."""
    owner, ident = subject_user(caller, user_id), _session_id(session_id)
    client = db()
    session = sessions.read(client, owner, ident)
    return SessionView(session, sessions.turns(client, owner, ident))


def delete_session(caller: Caller, user_id: str | None, session_id: Any) -> Deletion:
    """Hide one of the user's sessions and soft-delete its requests; 404 for another user's
    or an unknown one."""
    owner, ident = subject_user(caller, user_id), _session_id(session_id)
    return sessions.delete(db(), owner, ident)


def turn_of(order: GenerationInput, catalog: Catalog) -> GenerationInput:
    """An order naming a session (its user's; 404 otherwise or once deleted), with what the
    turn continues from: without an `input` (and without `mode: "generate"`) the session's
    latest completed image, else a new image; and the session's last instructions."""
    assert order.session_id is not None
    client = db()
    sessions.read(client, order.user_id, order.session_id)
    recent = sessions.recent_images(client, order.user_id, order.session_id)
    if order.input is None and not order.fresh and recent:
        order = session_edit(order, recent[0].id, catalog)
    elif order.input is None:
        order = turn_without_image(order)
    return replace(order, context=sessions.context_of(recent))
