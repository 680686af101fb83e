"""The owner's gallery: delete, restore and purge requests, the daily purge of old deletions,
and deleting a whole account with the books kept whole."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from imagegen.conversations import sessions as conversations
from imagegen.core import errors
from imagegen.core.auth import Caller
from imagegen.core.settings import SOFT_DELETE_DAYS
from imagegen.gallery import lifecycle, uploads
from imagegen.generation.pipeline import CrashPoint
from imagegen.ledger import moves
from imagegen.operations.buying import expire_open_checkouts
from imagegen.operations.clock import now
from imagegen.operations.reads import owned_request, subject_user
from imagegen.operations.wiring import db, images
from imagegen.records.request_record import STATUS, USER_ID, cancelable, unsettled

log = logging.getLogger(__name__)

PURGE_BATCH = 200  # requests per run of the daily purge (it resumes where it stopped)


def keep_deleted() -> timedelta:
    return timedelta(days=max(0, SOFT_DELETE_DAYS.value))


def _owned(caller: Caller, request_id: Any, user_id: Any = None) -> None:
    """404 unless the request is the caller's (or, given `userId` as in the emulator's
    no-token form, that user's and the caller may act for them)."""
    record = owned_request(caller, request_id)
    if user_id not in (None, ""):
        subject = subject_user(caller, user_id)
        if record.data.get(USER_ID) != subject:
            raise errors.request_not_found()  # another user's request is not revealed


def delete_generation(caller: Caller, request_id: Any, user_id: Any = None) -> lifecycle.Change:
    """Soft delete one of the caller's settled requests (404 for another user's)."""
    _owned(caller, request_id, user_id)
    return lifecycle.soft_delete(db(), request_id)


def restore_generation(caller: Caller, request_id: Any, user_id: Any = None) -> lifecycle.Change:
    """Restore one of the caller's deleted requests (410 `image-purged` once purged)."""
    _owned(caller, request_id, user_id)
    return lifecycle.restore(db(), request_id, now(), keep_deleted())


def purge_generation(caller: Caller, request_id: Any, user_id: Any = None) -> lifecycle.Change:
    """Erase one of the caller's requests' image and prompt for good."""
    _owned(caller, request_id, user_id)
    return lifecycle.purge(db(), images(), request_id)


@dataclass(frozen=True)
class PurgeRun:
    purged: int
    done: bool  # False: stopped after its batches; the next run continues


def purge_deleted(moment: datetime, batches: int = 10) -> PurgeRun:
    """The daily job: purge the requests deleted more than SOFT_DELETE_DAYS before `moment`
    (the time it runs at), oldest first, in batches of 200, at most `batches` of them.
    Idempotent and resumable: what one run leaves, the next one purges."""
    client, store = db(), images()
    cutoff = moment - keep_deleted()
    purged = 0
    for _ in range(batches):
        due = lifecycle.due_for_purge(client, cutoff, PURGE_BATCH)
        for request_id in due:
            lifecycle.purge(client, store, request_id)
        purged += len(due)
        if len(due) < PURGE_BATCH:
            log.info("purged %d request(s) deleted before %s", purged, cutoff.isoformat())
            return PurgeRun(purged, True)
    log.warning("purged %d request(s); more remain for the next run", purged)
    return PurgeRun(purged, False)


@dataclass(frozen=True)
class AccountDeletion:
    user_id: str
    purged_requests: int
    forfeited_credits: int


def delete_account(caller: Caller, crash: CrashPoint | None = None) -> AccountDeletion:
    """Delete the caller's account, in this order: close it (`users/{uid}.closingAt`, one
    commit: no charge, grant, checkout or upload from then on), expire its open Checkout
    Sessions at Stripe, purge every request (its images and prompt) and delete whatever is
    left under `generated/{uid}/`, erase the uploads (objects and documents) and the sessions,
    forfeit the remaining balance as one `forfeit` entry and mark `users/{uid}` `deletedAt`,
    delete the Auth user last. Each step is idempotent, so a retry after a crash half-way
    finishes the job. Needs a real ID token (never the emulator's no-token form: this is
    destructive). 409 `request-in-progress` while a request admitted before the closing is
    still at its provider (the account stays closed; calling again once it has ended finishes
    the deletion); a queued one is canceled and refunded first."""
    if caller.uid is None:
        raise errors.unauthenticated("Deleting an account needs the account's own ID token.")
    user_id = caller.uid
    client, store = db(), images()
    moves.close_account(client, user_id)
    if crash is CrashPoint.AFTER_CLOSE:
        raise errors.simulated_account_crash(user_id, crash)
    expire_open_checkouts(user_id)
    # Listed after the closing commit: every request charged before it is seen here, and
    # none can be charged after it.
    requests = list(lifecycle.user_requests(client, user_id))
    queued = [rid for rid, data in requests if cancelable(data)]
    for request_id in queued:  # no provider has it yet: canceled and refunded (then forfeited)
        moves.cancel(client, request_id)
    if queued:
        requests = list(lifecycle.user_requests(client, user_id))
    for request_id, data in requests:
        if unsettled(data):  # a provider has it: it ends as it ends
            raise errors.account_deletion_waits(request_id, str(data.get(STATUS)))
    for request_id, _data in requests:
        lifecycle.purge(client, store, request_id)
    lifecycle.erase_user_images(store, user_id)  # anything no request records (none expected)
    uploads.erase_all(client, store, user_id)  # none can be added after the closing commit
    conversations.erase_all(client, user_id)  # the sessions (their titles)
    if crash is CrashPoint.AFTER_PURGE:
        raise errors.simulated_account_crash(user_id, crash)
    forfeited = moves.forfeit_and_close(client, user_id)
    _delete_auth_user(user_id)
    log.info("account %s deleted: %d request(s) purged", user_id, len(requests))
    return AccountDeletion(user_id, len(requests), forfeited)


def _delete_auth_user(user_id: str) -> None:
    from firebase_admin import auth as firebase_auth

    try:
        firebase_auth.delete_user(user_id)
    except firebase_auth.UserNotFoundError:
        pass  # a retry, or a concurrent call, already did
