"""Unit tests of a conversation's pure parts: the context a turn is sent with, the session
and turn shapes clients see, and the session fields a turn's charge writes."""

from __future__ import annotations

from datetime import UTC, datetime

from imagegen.conversations.sessions import context_of
from imagegen.records.history import Record
from imagegen.records.session_record import open_for_turns, turn_fields
from imagegen.records.shapes import session_detail_json, session_json, turn_json

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_the_context_is_the_instructions_oldest_first_without_erased_prompts():
    newest_first = [
        Record("r3", {"prompt": "c"}),
        Record("r2", {"prompt": ""}),
        Record("r1", {"prompt": "a"}),
    ]
    assert context_of(newest_first) == ("a", "c")  # a purged turn's prompt is "" : left out


def test_a_session_takes_turns_until_deleted():
    assert open_for_turns({"title": "t"})
    assert not open_for_turns({"title": "t", "deletedAt": T0})
    assert not open_for_turns(None)
    fields = turn_fields("r7")
    assert fields["lastRequestId"] == "r7" and set(fields) == {
        "lastRequestId",
        "turns",
        "updatedAt",
    }


def test_session_and_turn_shapes():
    session = Record("s1", {"title": "t", "createdAt": T0, "turns": 2, "lastRequestId": "r2"})
    assert session_json(session) == {
        "sessionId": "s1",
        "title": "t",
        "createdAt": "2026-01-05T12:00:00Z",
        "updatedAt": None,
        "lastRequestId": "r2",
        "turnCount": 2,
    }
    done = Record(
        "r1",
        {
            "prompt": "a",
            "status": "completed",
            "imageUrl": "http://x/img",
            "input": {"kind": "generation", "id": "r0", "sha256": "ab"},
        },
    )
    failed = Record(
        "r2",
        {"prompt": "b", "status": "failed", "failureKind": "model-error", "failureReason": "x"},
    )
    hidden = Record(
        "r3", {"prompt": "c", "status": "completed", "imageUrl": "u", "visibility": "deleted"}
    )
    turns = session_detail_json(session, [done, failed, hidden])["turns"]
    assert turns[0]["imageUrl"] == "http://x/img" and turns[0]["input"] == {
        "kind": "generation",
        "id": "r0",
    }
    assert (
        turns[1]["failure"] == {"kind": "model-error", "reason": "x"}
        and turns[1]["imageUrl"] is None
    )
    assert turn_json(hidden)["imageUrl"] is None and turn_json(hidden)["deleted"] is True
