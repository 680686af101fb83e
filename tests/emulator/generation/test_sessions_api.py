"""Conversations over HTTP and callables: a session's turns each continue from its latest
completed image (a failed turn refunded and skipped), `mode: "generate"` starts over, sessions
are listed newest first and page by page, a deleted session hides itself and soft-deletes its
requests, and another user's session is not found with nothing charged. Balances, ledger
entries and the session document are checked after each step."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import requests
from books import balance, check_books, ledger, request_doc, stored_images
from conftest import call

pytestmark = pytest.mark.emulator


def new_session(api, uid, title=None):
    body = {"userId": uid, **({"title": title} if title is not None else {})}
    resp = api.post("createSession", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()["sessionId"]


def turn(api, uid, session_id, prompt, outcome="success", **fields):
    """A turn of `session_id` by model-a at 512x512 (1 credit)."""
    body = {
        "userId": uid,
        "sessionId": session_id,
        "model": "model-a",
        "size": "512x512",
        "prompt": prompt,
        **fields,
    }
    headers = {"X-Simulate-Outcome": outcome} if outcome else {}
    return api.post("createGenerationRequest", json=body, headers=headers)


def image_sha256(db, request_id):
    from imagegen.operations.wiring import images

    stored = images().get(request_doc(db, request_id)["imagePath"])
    assert stored is not None
    return hashlib.sha256(b"".join(stored.read())).hexdigest()


def session_doc(db, uid, session_id):
    return db.document(f"users/{uid}/sessions/{session_id}").get().to_dict()


def test_three_turns_each_edit_the_previous_turn_s_image(api, db, new_user):
    uid = new_user(10)
    sid = new_session(api, uid, "a lighthouse")
    first = turn(api, uid, sid, "a lighthouse at dusk", style="watercolor", color="pastel")
    assert first.status_code == 200, first.text
    ids = [first.json()["generationRequestId"]]
    assert "input" not in request_doc(db, ids[0])  # nothing to edit yet: a new image
    for prompt in ("add a storm", "now at night"):
        resp = turn(api, uid, sid, prompt)  # style and color from the image it edits
        assert resp.status_code == 200, resp.text
        assert (resp.json()["style"], resp.json()["color"]) == ("watercolor", "pastel")
        ids.append(resp.json()["generationRequestId"])
    for before, after in zip(ids, ids[1:], strict=False):
        doc = request_doc(db, after)
        assert doc["sessionId"] == sid
        assert doc["input"] == {
            "kind": "generation",
            "id": before,
            "sha256": image_sha256(db, before),  # the exact bytes of the previous image
        }
    assert len({image_sha256(db, rid) for rid in ids}) == 3
    session = session_doc(db, uid, sid)
    assert session["turns"] == 3 and session["lastRequestId"] == ids[-1]
    shown = api.get("getSession", params={"id": sid, "userId": uid}).json()
    assert shown["title"] == "a lighthouse" and shown["turnCount"] == 3
    assert [t["generationRequestId"] for t in shown["turns"]] == ids
    assert [t["prompt"] for t in shown["turns"]] == [
        "a lighthouse at dusk",
        "add a storm",
        "now at night",
    ]
    assert all(t["status"] == "completed" and t["imageUrl"] for t in shown["turns"])
    assert [t["input"] and t["input"]["id"] for t in shown["turns"]] == [None, *ids[:2]]
    assert balance(db, uid) == 7
    assert sorted(e["type"] for e in ledger(db, uid)) == ["deduction"] * 3 + ["grant"]
    assert stored_images(uid) == set(ids) and check_books(db, [uid]) == []


def test_a_failed_turn_is_refunded_and_the_next_continues_from_the_last_good_image(
    api, db, new_user
):
    uid = new_user(10)
    sid = new_session(api, uid)
    good = turn(api, uid, sid, "a red fox", style="anime", color="neon").json()
    failed = turn(api, uid, sid, "make it blue", outcome="failure")
    assert failed.status_code == 500, failed.text
    failed_id = failed.json()["error"]["generationRequestId"]
    assert request_doc(db, failed_id)["input"]["id"] == good["generationRequestId"]
    after = turn(api, uid, sid, "make it green")
    assert after.status_code == 200, after.text
    doc = request_doc(db, after.json()["generationRequestId"])
    assert doc["input"]["id"] == good["generationRequestId"]  # not the failed turn
    assert doc["input"]["sha256"] == image_sha256(db, good["generationRequestId"])
    session = session_doc(db, uid, sid)
    assert session["turns"] == 3  # every charged turn counts, the failed one too
    assert session["lastRequestId"] == after.json()["generationRequestId"]
    shown = api.get("getSession", params={"id": sid, "userId": uid}).json()
    statuses = [(t["status"], t["failure"] and t["failure"]["kind"]) for t in shown["turns"]]
    assert statuses == [("completed", None), ("failed", "model-error"), ("completed", None)]
    assert shown["turns"][1]["imageUrl"] is None
    assert balance(db, uid) == 8  # 3 charged, 1 refunded
    types = sorted(e["type"] for e in ledger(db, uid))
    assert types == ["deduction"] * 3 + ["grant", "refund"]
    assert check_books(db, [uid]) == []


def test_mode_generate_starts_a_new_image_and_needs_style_and_color(api, db, new_user):
    uid = new_user(10)
    sid = new_session(api, uid)
    first = turn(api, uid, sid, "a boat", style="anime", color="neon").json()
    missing = turn(api, uid, sid, "start over", mode="generate")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "missing-fields"
    fresh = turn(api, uid, sid, "a castle", mode="generate", style="sketch", color="vintage")
    assert fresh.status_code == 200, fresh.text
    assert "input" not in request_doc(db, fresh.json()["generationRequestId"])
    nxt = turn(api, uid, sid, "add a moat")
    assert (
        request_doc(db, nxt.json()["generationRequestId"])["input"]["id"]
        == (fresh.json()["generationRequestId"])
    )
    bad = turn(api, uid, sid, "x", mode="generate", input={"generationRequestId": "a"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid-mode"
    other = turn(api, uid, sid, "x", mode="redo")
    assert other.status_code == 400 and other.json()["error"]["code"] == "invalid-mode"
    # an explicit input wins over the session's image
    back = {"generationRequestId": first["generationRequestId"]}
    named = turn(api, uid, sid, "back to the boat", input=back)
    assert named.status_code == 200, named.text
    assert (
        request_doc(db, named.json()["generationRequestId"])["input"]["id"]
        == (first["generationRequestId"])
    )
    assert session_doc(db, uid, sid)["turns"] == 4
    assert balance(db, uid) == 6 and check_books(db, [uid]) == []


def test_sessions_are_listed_newest_first_page_by_page(api, db, new_user):
    uid = new_user(0)
    made = [new_session(api, uid, f"s{i}") for i in range(5)]
    deleted = api.post("deleteSession", json={"id": made[2], "userId": uid})
    assert deleted.status_code == 200, deleted.text
    seen, token = [], None
    for _ in range(5):
        params = {"userId": uid, "pageSize": 2, **({"pageToken": token} if token else {})}
        page = api.get("listSessions", params=params).json()
        seen += [s["sessionId"] for s in page["sessions"]]
        token = page["nextPageToken"]
        if not token:
            break
    assert seen == [made[4], made[3], made[1], made[0]]
    bad = api.get("listSessions", params={"userId": uid, "pageToken": "!!"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid-page-token"


def test_deleting_a_session_soft_deletes_its_requests_and_refuses_later_turns(api, db, new_user):
    uid = new_user(10)
    sid = new_session(api, uid)
    ids = [
        turn(api, uid, sid, "a tree", style="anime", color="neon").json()["generationRequestId"],
        turn(api, uid, sid, "in autumn").json()["generationRequestId"],
    ]
    resp = api.post("deleteSession", json={"id": sid, "userId": uid})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "sessionId": sid,
        "deleted": True,
        "requestsDeleted": 2,
        "requestsInProgress": 0,
    }
    for rid in ids:
        assert request_doc(db, rid)["visibility"] == "deleted"
        image = api.get("getGenerationImage", params={"id": rid, "userId": uid})
        assert image.status_code == 410
    assert session_doc(db, uid, sid)["deletedAt"] is not None
    later = turn(api, uid, sid, "in winter")
    assert later.status_code == 404 and later.json()["error"]["code"] == "not-found"
    read = api.get("getSession", params={"id": sid, "userId": uid})
    assert read.status_code == 404
    again = api.post("deleteSession", json={"id": sid, "userId": uid})
    assert again.status_code == 200  # twice is a no-op
    restored = api.post("restoreGenerationRequest", json={"id": ids[0], "userId": uid})
    assert restored.status_code == 200  # the gallery's rules: restorable
    assert session_doc(db, uid, sid)["turns"] == 2
    assert balance(db, uid) == 8 and check_books(db, [uid]) == []


def test_another_user_s_session_is_not_found_and_nothing_is_charged(api, db, new_user):
    owner, other = new_user(10), new_user(10)
    sid = new_session(api, owner)
    turn(api, owner, sid, "a cat", style="anime", color="neon")
    for resp in (
        turn(api, other, sid, "steal it", style="anime", color="neon"),
        turn(api, other, f"nope-{uuid.uuid4().hex}", "x", style="anime", color="neon"),
        api.get("getSession", params={"id": sid, "userId": other}),
        api.post("deleteSession", json={"id": sid, "userId": other}),
    ):
        assert resp.status_code == 404, resp.text
        assert resp.json()["error"]["code"] == "not-found"
    assert balance(db, other) == 10 and len(ledger(db, other)) == 1
    assert session_doc(db, owner, sid)["turns"] == 1 and "deletedAt" not in session_doc(
        db, owner, sid
    )
    assert api.get("listSessions", params={"userId": other}).json()["sessions"] == []
    malformed = turn(api, other, "a/b", "x", style="anime", color="neon")
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "invalid-session-id"
    assert balance(db, owner) == 9 and check_books(db, [owner, other]) == []


def test_the_callables_create_list_read_and_delete_conversations(api, db, new_user, token_for):
    uid, other = new_user(10), new_user(10)
    created = call("newConversation", token_for(uid), {"title": "by callable"})
    assert created.status_code == 200, created.text
    sid = created.json()["result"]["sessionId"]
    order = {
        "sessionId": sid,
        "model": "model-a",
        "style": "anime",
        "color": "neon",
        "size": "512x512",
        "simulateOutcome": "success",
    }
    first = call("generateImage", token_for(uid), {**order, "prompt": "a kite"})
    assert first.status_code == 200, first.text
    second = call("generateImage", token_for(uid), {**order, "prompt": "in the rain"})
    first_id = first.json()["result"]["generationRequestId"]
    second_id = second.json()["result"]["generationRequestId"]
    assert request_doc(db, second_id)["input"]["id"] == first_id
    listed = call("listConversations", token_for(uid), {}).json()["result"]
    assert [s["sessionId"] for s in listed["sessions"]] == [sid]
    shown = call("getConversation", token_for(uid), {"id": sid}).json()["result"]
    assert [t["generationRequestId"] for t in shown["turns"]] == [first_id, second_id]
    for name, data in (
        ("getConversation", {"id": sid}),
        ("deleteConversation", {"id": sid}),
        ("generateImage", {**order, "prompt": "mine now"}),
    ):
        refused = call(name, token_for(other), data)
        assert refused.status_code == 404, (name, refused.text)
        assert refused.json()["error"]["details"]["code"] == "not-found"
    deleted = call("deleteConversation", token_for(uid), {"id": sid}).json()["result"]
    assert deleted["requestsDeleted"] == 2
    assert call("listConversations", token_for(uid), {}).json()["result"]["sessions"] == []
    assert balance(db, uid) == 8 and balance(db, other) == 10
    assert check_books(db, [uid, other]) == []


@pytest.mark.catalog_changes
def test_gemini_receives_the_session_s_last_five_instructions_before_the_current_one(
    api, db, new_user
):
    model_id = f"s-gemini-{uuid.uuid4().hex[:6]}"
    fields = {"provider": "gemini", "providerModel": "gemini-2.5-flash-image", "edits": True}
    db.collection("models").document(model_id).set(fields)
    try:
        uid, marker = new_user(40), uuid.uuid4().hex
        sid = new_session(api, uid)
        prompts = [f"step {i} {marker}" for i in range(7)]
        for i, prompt in enumerate(prompts):
            extra = {"style": "anime", "color": "neon"} if i == 0 else {}
            resp = turn(api, uid, sid, prompt, outcome=None, model=model_id, **extra)
            assert resp.status_code == 200, resp.text
        seen = requests.get(
            "http://127.0.0.1:8193/_fake/edits", params={"prompt": prompts[-1]}, timeout=10
        ).json()["data"]
        [last] = seen  # only edits are recorded: the last turn names its own prompt
        text = last["prompt"]
        # the five instructions before the current one, oldest first, then the current one
        positions = [text.find(p) for p in prompts[1:]]
        assert text.find(prompts[0] + " ") == -1 and all(p >= 0 for p in positions)
        assert positions == sorted(positions)
        assert last["partIndex"] == 5  # the image after the five earlier instructions
        assert balance(db, uid) == 40 - 7 * 1 and check_books(db, [uid]) == []
    finally:
        db.collection("models").document(model_id).delete()


def test_deleting_the_account_erases_its_sessions(api, db, new_user, token_for):
    uid = new_user(5)
    sid = new_session(api, uid, "private title")
    turn(api, uid, sid, "a cat", style="anime", color="neon")
    resp = call("deleteAccount", token_for(uid), {})
    assert resp.status_code == 200, resp.text
    assert resp.json()["result"]["purgedRequests"] == 1
    assert db.document(f"users/{uid}/sessions/{sid}").get().exists is False
    assert check_books(db, [uid]) == []


def test_a_queued_turn_edits_the_session_s_image_and_is_counted_when_charged(api, db, new_user):
    import time

    uid = new_user(10)
    sid = new_session(api, uid)
    first = turn(api, uid, sid, "a barn", style="anime", color="neon").json()
    resp = api.post(
        "createGenerationRequest",
        json={
            "userId": uid,
            "sessionId": sid,
            "model": "model-a",
            "size": "512x512",
            "prompt": "add snow",
        },
        headers={"Prefer": "respond-async", "X-Simulate-Outcome": "success"},
    )
    assert resp.status_code == 202, resp.text
    rid = resp.json()["generationRequestId"]
    assert session_doc(db, uid, sid)["lastRequestId"] == rid  # counted by the charge
    deadline = time.monotonic() + 60
    while (doc := request_doc(db, rid))["status"] in ("queued", "processing"):
        assert time.monotonic() < deadline, doc
        time.sleep(0.2)
    assert doc["status"] == "completed" and doc["sessionId"] == sid
    assert doc["input"]["id"] == first["generationRequestId"]
    assert session_doc(db, uid, sid)["turns"] == 2
    assert balance(db, uid) == 8 and check_books(db, [uid]) == []
