"""Credit moves of requests and accounts: charge, settle (complete, refund or cancel), grant,
the signup bonus, close and forfeit. Purchases, reversals and reinstatements are
`billing.purchases`'; both build their entries with `ledger.entries`.

Every balance change is one atomic Firestore commit that updates `users/{uid}.credits` and
creates the matching `users/{uid}/transactions/{id}` entry, on the condition that the user
document is unchanged since it was read (its `update_time`). That is an optimistic
transaction: under contention it re-reads and retries instead of holding locks, which keeps a
hot user responsive in the emulator and in production alike.

Ledger entry ids are derived from what they pay for (`<requestId>-deduction`,
`<requestId>-refund`), and are written with `create`, so a second refund for the same request
cannot be committed even by a buggy caller.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from google.cloud import firestore

from imagegen.core import errors, request_log
from imagegen.core.firestore_client import get_many
from imagegen.core.retry import CONFLICTS, GaveUp, RetryPolicy, retry_on_conflict
from imagegen.core.vocabulary import (
    REQUESTS,
    USERS,
    EntryType,
    FailureKind,
    RequestStatus,
    ledger_entry_id,
)
from imagegen.ledger import entries
from imagegen.ledger.budget import day_ref as budget_day_ref
from imagegen.ledger.budget import owed_of, set_caps, shard_of, shard_ref, shard_refs
from imagegen.ledger.budget_rules import SHARDS, DayBudget, outdated, repaid, take
from imagegen.ledger.limits import (
    ChargePolicy,
    Limits,
    Usage,
    after_charge,
    check,
    check_rate,
    day_credits_after_refund,
    effective_limits,
    recent_after,
    seconds_to_next_day,
)
from imagegen.records.request_record import (
    IMAGES,
    UPDATED_AT,
    GenerationRequest,
    ImageOutcome,
    SettledRequest,
    cancelable,
    operator_details_ref,
    settle_fields,
    split_operator,
    stored_paths,
    unsettled,
    weekly_marker,
    weekly_marker_ref,
)
from imagegen.records.session_record import open_for_turns, session_ref, turn_fields

PENDING, QUEUED = RequestStatus.PENDING, RequestStatus.QUEUED
COMPLETED, FAILED, CANCELED = RequestStatus.COMPLETED, RequestStatus.FAILED, RequestStatus.CANCELED

CHARGE_POLICY = RetryPolicy(max_attempts=30, deadline_seconds=10.0)
# Settlement must land: a charged request left pending is only repaired by the sweeper.
SETTLE_POLICY = RetryPolicy(max_attempts=200, deadline_seconds=60.0, max_delay=0.5)


def _user_ref(client: firestore.Client, user_id: str) -> Any:
    return client.collection(USERS).document(user_id)


def _unchanged(client: firestore.Client, snapshot: Any) -> Any:
    return client.write_option(last_update_time=snapshot.update_time)


def account_closed(user: Mapping[str, Any]) -> bool:
    """Whether a user document belongs to an account being deleted (`closingAt`) or deleted
    (`deletedAt`): no charge, grant or checkout for it from the commit that closed it."""
    return bool(user.get("closingAt") or user.get("deletedAt"))


@dataclass(frozen=True)
class ChargeResult:
    request_id: str
    user_id: str
    cost: int
    balance: int
    status: str = PENDING  # the request's status; not pending when it was charged earlier
    request_version: Any = None  # update_time of the request and user written by this charge
    user_version: Any = None
    charged_at: datetime | None = None
    usage: Usage | None = None  # the user's usage as this charge wrote it (None: not written)
    budget_day: str | None = None  # the day whose global budget counted this charge
    num_images: int = 1


def charge(
    client: firestore.Client, request: GenerationRequest, policy: ChargePolicy | None = None
) -> ChargeResult:
    """Deduct `request.cost` and create the request (`pending`, or `queued` for the
    asynchronous mode), atomically.

    Safe to call again with the same request id: once the request exists it charges nothing
    (and counts against no limit). Raises user_not_found, insufficient_credits, a limit of
    `policy` (rate-limited, too-many-pending, daily-limit: read from and written to the user
    document in the same read and commit, so concurrency cannot exceed them) or busy; nothing
    is charged then; an account being deleted or deleted is user_not_found (the charge is a
    commit conditional on the user document, so it cannot slip past the commit that closed
    the account). The same commit marks the user active in the request's ISO week (for the
    report's unique users) when that marker does not exist yet. With the policy's day budget,
    the same commit counts the cost on the day's budget shards (`budget_rules`), or the charge
    is refused with budget_exhausted; the request records the day (`budgetDay`). A turn of a
    conversation (`request.session_id`) is refused with not-found unless its session exists
    and is not deleted; the same commit counts it on the session (`lastRequestId`, `turns`).
    """
    user_ref = _user_ref(client, request.user_id)
    request_ref = client.collection(REQUESTS).document(request.id)
    entry_ref = entries.entry_ref(user_ref, ledger_entry_id(request.id, EntryType.DEDUCTION))

    day_budget = policy.budget if policy is not None else None

    def attempt() -> ChargeResult:
        created = datetime.now(UTC)
        marker_ref = weekly_marker_ref(client, request.user_id, created)
        start = random.randrange(SHARDS)  # a fresh shard on each attempt spreads conflicts
        refs = [user_ref, request_ref, marker_ref]
        if day_budget is not None:
            refs.append(shard_ref(client, day_budget.day, start))
        if request.session_id is not None:
            refs.append(session_ref(client, request.user_id, request.session_id))
        user, existing, marker, *rest = get_many(client, *refs)
        session = rest.pop() if request.session_id is not None else None
        first_shard = rest
        if existing.exists:
            stored = GenerationRequest.from_document(request.id, existing.to_dict() or {})
            return ChargeResult(
                request.id,
                request.user_id,
                stored.cost,
                entries.credits_of(user),
                stored.status,
                num_images=stored.num_images,
            )
        user_data = (user.to_dict() or {}) if user.exists else {}
        if not user.exists or account_closed(user_data):
            raise errors.user_not_found()  # a closing or deleted account is gone for charges
        if session is not None and not open_for_turns(
            session.to_dict() if session.exists else None
        ):
            raise errors.session_not_found()  # unknown, another user's or deleted: no charge
        balance = entries.credits_of(user)
        if balance < request.cost:
            raise errors.insufficient_credits(balance, request.cost)
        new_balance = balance - request.cost
        usage = Usage.from_document(user_data.get("usage"))
        usage_fields: dict[str, Any] = {}  # written with the new balance
        limits = effective_limits(policy.defaults, user_data.get("limits")) if policy else None
        if policy is not None and limits is not None and limits != Limits():
            refusal = check(limits, usage, request.cost, created, policy.pending_timeout_s)
            if refusal is not None:
                raise refusal
            usage_fields["usage"] = after_charge(
                usage,
                request.id,
                request.cost,
                created,
                policy.pending_timeout_s,
                keep=limits.per_minute,
            )
            usage = Usage.from_document(usage_fields["usage"])
        shards: list[tuple[Any, int]] = []
        if day_budget is not None:
            shards = _take_from_budget(client, day_budget, request.cost, start, first_shard[0])
        batch = client.batch()
        entries.set_balance(client, batch, user, new_balance, **usage_fields)
        budget_day = day_budget.day if day_budget is not None else None
        document = replace(request, created_at=created, budget_day=budget_day).to_document()
        batch.create(request_ref, {**document, UPDATED_AT: firestore.SERVER_TIMESTAMP})
        batch.create(
            entry_ref,
            entries.entry(
                EntryType.DEDUCTION, request.cost, new_balance, generationRequestId=request.id
            ),
        )
        if not marker.exists:  # once per user and week: read, not write
            batch.set(marker_ref, weekly_marker(request.user_id, created))
        if session is not None:  # a turn: counted on its session, if not deleted since read
            batch.update(
                session.reference,
                turn_fields(request.id),
                option=_unchanged(client, session),
            )
        for shard, spent in shards:  # each only if unchanged since read (or created)
            if shard.exists:
                batch.update(shard.reference, {"spent": spent}, option=_unchanged(client, shard))
            else:
                batch.create(shard.reference, {"spent": spent})
        user_written, request_written, *_ = batch.commit()
        return ChargeResult(
            request.id,
            request.user_id,
            request.cost,
            new_balance,
            request.status,
            request_written.update_time,
            user_written.update_time,
            created,
            usage if usage_fields else None,
            day_budget.day if day_budget is not None else None,
            request.num_images,
        )

    try:
        return retry_on_conflict(attempt, CHARGE_POLICY)
    except GaveUp:
        request_log.busy(request.user_id, "charge")
        raise errors.busy("this user's credits") from None


def _take_from_budget(
    client: firestore.Client, day_budget: DayBudget, cost: int, start: int, first: Any
) -> list[tuple[Any, int]]:
    """The budget shards to write for a charge of `cost` (snapshot, its new `spent`): the
    shard read first when it has room, else as many as it takes of all of them (read now,
    their caps set first if they are not those of this budget); budget_exhausted when the
    whole day has less room than `cost`."""
    shard = shard_of(first)
    snapshots = {start: first}
    taken = None
    if not outdated(shard, day_budget.version):
        taken = take(cost, {start: shard}, start)
    if taken is None:
        if outdated(shard, day_budget.version):
            snapshots = dict(enumerate(set_caps(client, day_budget)))
        else:
            snapshots = dict(enumerate(get_many(client, *shard_refs(client, day_budget.day))))
        shards = {k: shard_of(snap) for k, snap in snapshots.items()}
        taken = take(cost, shards, start)
        if taken is None:
            raise errors.budget_exhausted(seconds_to_next_day(datetime.now(UTC)))
    return [(snapshots[k], shard_of(snapshots[k]).spent + part) for k, part in taken.items()]


@dataclass(frozen=True)
class Settlement:
    """The final state of a request; `settled_now` is False when someone else settled it.
    `images`: each image's map as stored (`request_record.ImageOutcome.to_document`)."""

    status: str
    refunded: int
    settled_now: bool
    image_url: str | None = None
    failure_kind: str | None = None
    images: tuple[Mapping[str, Any], ...] = ()
    kept_paths: tuple[str, ...] = ()  # the objects of its stored images

    @property
    def image_urls(self) -> list[str]:
        """The stored images' URLs in index order (a one-image request's `image_url`)."""
        urls = [str(i["imageUrl"]) for i in self.images if i.get("status") == COMPLETED]
        if not urls and self.status == COMPLETED and self.image_url:
            return [self.image_url]
        return urls


@dataclass(frozen=True)
class Failure:
    """Why a charged request (or each of its images without an outcome) ends without an
    image: its final status, a classified kind (model-error, timeout, canceled,
    enqueue-failed) and a message."""

    reason: str
    kind: FailureKind = FailureKind.MODEL_ERROR
    status: RequestStatus = FAILED
    details: Mapping[str, Any] = field(default_factory=dict)  # what the provider reported


def refund_entry_id(request_id: str, index: int, num_images: int) -> str:
    """`<requestId>-refund` for a one-image request, `<requestId>-refund-<index>` for each
    failed image of a request of several: each refund can be created once only."""
    base = ledger_entry_id(request_id, EntryType.REFUND)
    return base if num_images <= 1 else f"{base}-{index}"


def settle(
    client: firestore.Client,
    request_id: str,
    outcomes: Sequence[ImageOutcome],
    charged: ChargeResult | None = None,
    failure: Failure | None = None,
    details: Mapping[str, Any] | None = None,
) -> Settlement:
    """Settle an unsettled request from the outcome of each of its images, exactly once:
    completed when at least one image is stored, each failed image refunded by its share
    (its own ledger entry); with none stored, failed and refunded in full. An image without
    an outcome failed as `failure` says. `details` (what the provider reported) are recorded
    on the request. No effect on a settled request."""
    return _settle(client, request_id, tuple(outcomes), failure, charged, details)


def refund(
    client: firestore.Client,
    request_id: str,
    reason: str,
    charged: ChargeResult | None = None,
    kind: FailureKind = FailureKind.MODEL_ERROR,
    details: Mapping[str, Any] | None = None,
) -> Settlement:
    """Mark an unsettled request failed and give its credits back (every image's), exactly
    once; `details` (what the provider reported) are recorded on the request."""
    failure = Failure(reason, kind, details=dict(details or {}))
    return _settle(client, request_id, (), failure, charged, failure.details)


def cancel(client: firestore.Client, request_id: str) -> Settlement:
    """Cancel a queued request and refund it exactly once; anything else is left as it is
    (`settled_now` False, its current status). The commit is conditional on the request being
    unchanged since read, as is the task's move to `processing`: of the two, exactly one wins,
    so a canceled request never reaches a provider and a processing one is never canceled."""
    failure = Failure("canceled by the user", FailureKind.CANCELED, CANCELED)
    return _settle(client, request_id, (), failure, None, None, settleable=cancelable)


def _settled(request: GenerationRequest) -> Settlement:
    images = tuple(i for i in request.images or () if isinstance(i, Mapping))
    kept = stored_paths(images)
    if not kept and request.status == COMPLETED and request.image_path:
        kept = [request.image_path]
    return Settlement(
        request.status,
        int(request.refunded_credits or 0),
        False,
        request.image_url,
        request.failure_kind,
        images,
        tuple(kept),
    )


def current_settlement(client: firestore.Client, request_id: str) -> Settlement:
    """How an already settled request ended."""
    snap = client.collection(REQUESTS).document(request_id).get()
    if not snap.exists:
        raise errors.request_not_found()
    return _settled(GenerationRequest.from_document(request_id, snap.to_dict() or {}))


@dataclass(frozen=True)
class _Pending:
    """What settling needs to know about an unsettled request, and the versions it was read at."""

    request_id: str
    user_id: str
    cost: int
    stage: str
    request_version: Any
    num_images: int = 1
    balance: int | None = None
    user_version: Any = None
    charged_at: datetime | None = None
    usage: Usage | None = None
    tracked: bool = True  # the charge may have recorded it as pending in the user's usage
    budget_day: str | None = None  # the day whose global budget counted the charge


def _settlement_of(
    p: _Pending, outcomes: tuple[ImageOutcome, ...], failure: Failure | None
) -> SettledRequest:
    given = (failure.status, failure.kind, failure.reason) if failure is not None else None
    return settle_fields(p.cost, p.num_images, outcomes, p.stage, given)


def _commit_settlement(
    client: firestore.Client,
    p: _Pending,
    settled: SettledRequest,
    details: Mapping[str, Any] | None,
) -> Settlement:
    """One atomic commit, valid only if the request (and when anything is refunded, the
    user) is unchanged since read."""
    request_ref = client.collection(REQUESTS).document(p.request_id)
    unchanged_request = client.write_option(last_update_time=p.request_version)
    batch = client.batch()
    reported, operator = split_operator(details or {})
    if operator:  # beside the request, where its owner cannot read it
        batch.set(
            operator_details_ref(client, p.request_id),
            {**operator, "userId": p.user_id, "updatedAt": firestore.SERVER_TIMESTAMP},
            merge=True,
        )
    status = settled.status
    batch.update(
        request_ref,
        {
            **reported,
            **settled.fields,
            f"{status.value}At": firestore.SERVER_TIMESTAMP,
            UPDATED_AT: firestore.SERVER_TIMESTAMP,
        },
        option=unchanged_request,
    )
    images = tuple(settled.fields[IMAGES])
    first_url = settled.fields.get("imageUrl")
    kind = None if status == COMPLETED else settled.fields.get("failureKind")
    kept = tuple(o.path for o in settled.stored if o.path is not None)
    refunded = settled.refunded
    pending_field = client.field_path("usage", "pending", p.request_id)
    if refunded == 0:
        if p.tracked:  # no longer pending for the user's limit (a field delete: no precondition)
            batch.update(_user_ref(client, p.user_id), {pending_field: firestore.DELETE_FIELD})
        batch.commit()
        return Settlement(status, 0, True, first_url, kind, images, kept)
    if p.balance is None:
        raise RuntimeError("a refund needs the user's balance")
    user_ref = _user_ref(client, p.user_id)
    new_balance = p.balance + refunded
    user_update: dict[str, Any] = {
        "credits": new_balance,
        "updatedAt": firestore.SERVER_TIMESTAMP,
        pending_field: firestore.DELETE_FIELD,
    }
    day_credits = day_credits_after_refund(p.usage or Usage(), refunded, p.charged_at)
    if day_credits is not None:
        user_update["usage.dayCredits"] = day_credits
    batch.update(user_ref, user_update, option=client.write_option(last_update_time=p.user_version))
    balance = p.balance
    for index, credits in sorted(settled.refunds.items()):  # one entry per failed image
        balance += credits
        refs: dict[str, Any] = {"generationRequestId": p.request_id}
        if p.num_images > 1:
            refs["imageIndex"] = index
        entries.post(
            batch,
            user_ref,
            refund_entry_id(p.request_id, index, p.num_images),
            entries.entry(EntryType.REFUND, credits, balance, **refs),
        )
    if p.budget_day:  # gives the credits back to the day's budget, on any shard
        day = budget_day_ref(client, p.budget_day).get()
        owed = owed_of(day)
        paid = repaid(owed, refunded)  # first what a lowered budget is owed
        shard: dict[str, Any] = {"spent": firestore.Increment(-refunded)}
        if paid:
            shard["cap"] = firestore.Increment(-paid)
            batch.update(
                day.reference,
                {"owed": owed - paid},
                option=client.write_option(last_update_time=day.update_time),
            )
        batch.set(shard_ref(client, p.budget_day, random.randrange(SHARDS)), shard, merge=True)
    batch.commit()
    return Settlement(status, refunded, True, first_url, kind, images, kept)


def _settle(
    client: firestore.Client,
    request_id: str,
    outcomes: tuple[ImageOutcome, ...],
    failure: Failure | None,
    charged: ChargeResult | None,
    details: Mapping[str, Any] | None,
    settleable: Callable[[Mapping[str, Any]], bool] = unsettled,
) -> Settlement:
    # Fast path: right after our own charge, the versions that commit produced are still
    # current unless someone else wrote since; then the settlement needs no read at all.
    if charged is not None and charged.request_version is not None:
        known = _Pending(
            request_id,
            charged.user_id,
            charged.cost,
            charged.status,
            charged.request_version,
            charged.num_images,
            charged.balance,
            charged.user_version,
            charged.charged_at,
            charged.usage,
            tracked=charged.usage is not None,
            budget_day=charged.budget_day,
        )
        try:
            settled = _settlement_of(known, outcomes, failure)
            return _commit_settlement(client, known, settled, details)
        except CONFLICTS:
            pass  # someone else wrote first: read the current state below
    request_ref = client.collection(REQUESTS).document(request_id)

    def attempt() -> Settlement:
        request = request_ref.get()
        if not request.exists:
            raise errors.request_not_found()
        data = request.to_dict() or {}
        stored = GenerationRequest.from_document(request_id, data)
        if not settleable(data):
            return _settled(stored)
        pending = _Pending(
            request_id,
            stored.user_id,
            stored.cost,
            stored.status,
            request.update_time,
            stored.num_images,
            budget_day=stored.budget_day,
        )
        settled = _settlement_of(pending, outcomes, failure)
        if settled.refunded:
            user = _user_ref(client, pending.user_id).get()
            pending = replace(
                pending,
                balance=entries.credits_of(user),
                user_version=user.update_time,
                charged_at=stored.created_at,
                usage=Usage.from_document((user.to_dict() or {}).get("usage")),
            )
        return _commit_settlement(client, pending, settled, details)

    return retry_on_conflict(attempt, SETTLE_POLICY)


def admit_free_request(
    client: firestore.Client,
    user_id: str,
    policy: ChargePolicy,
    creates: Callable[[], list[tuple[Any, dict[str, Any]]]],
) -> None:
    """Admit a request that costs no credits (an upload) under the per-minute limit: it is
    counted in `users/{uid}.usage.recent` and the documents `creates()` gives are created,
    in one commit conditional on the user document being unchanged since read (the user is
    created with 0 credits when missing). Raises rate_limited when the limit is reached,
    account_closed for an account being deleted or deleted, busy under contention; nothing
    is written then."""
    user_ref = _user_ref(client, user_id)

    def attempt() -> None:
        user = user_ref.get()
        recent = _free_request_admitted(user_id, user, policy)
        batch = client.batch()
        if user.exists:
            batch.update(user_ref, {"usage.recent": recent}, option=_unchanged(client, user))
        else:
            entries.set_balance(client, batch, user, 0, usage={"recent": recent})
        for ref, document in creates():
            batch.create(ref, document)
        batch.commit()

    try:
        retry_on_conflict(attempt, CHARGE_POLICY)
    except GaveUp:
        request_log.busy(user_id, "free request")
        raise errors.busy("this user's limits") from None


def check_free_request(client: firestore.Client, user_id: str, policy: ChargePolicy) -> None:
    """What `admit_free_request` would refuse now (one read, nothing written): lets an
    upload be refused before its bytes are decoded and stored."""
    _free_request_admitted(user_id, _user_ref(client, user_id).get(), policy)


def _free_request_admitted(user_id: str, user: Any, policy: ChargePolicy) -> list[int]:
    """The user's `usage.recent` with a free request admitted now, or the refusal raised."""
    data = (user.to_dict() or {}) if user.exists else {}
    if account_closed(data):
        raise errors.account_closed(user_id)
    now = datetime.now(UTC)
    limits = effective_limits(policy.defaults, data.get("limits"))
    usage = Usage.from_document(data.get("usage"))
    refusal = check_rate(limits, usage, now)
    if refusal is not None:
        raise refusal
    return recent_after(usage, now, keep=limits.per_minute)


MAX_GRANT = 1_000_000
FORFEIT_ENTRY = "account-forfeit"


def close_account(client: firestore.Client, user_id: str) -> bool:
    """The first step of deleting an account: `users/{uid}.closingAt` set in one commit
    (the document created with 0 credits when missing). From that commit on, charges, grants
    and checkouts for the user are refused; it is kept after the deletion. False when the
    account was closed (or deleted) already."""
    user_ref = _user_ref(client, user_id)

    def attempt() -> bool:
        user = user_ref.get()
        if user.exists and account_closed(user.to_dict() or {}):
            return False
        batch = client.batch()
        balance = entries.credits_of(user)
        entries.set_balance(client, batch, user, balance, closingAt=firestore.SERVER_TIMESTAMP)
        batch.commit()
        return True

    return retry_on_conflict(attempt, CHARGE_POLICY)


def forfeit_and_close(client: firestore.Client, user_id: str) -> int:
    """Finish closing a deleted account: its remaining balance forfeited as one `forfeit`
    entry (none when it is 0) and `users/{uid}` marked `deletedAt`, in one commit; once only,
    however often or concurrently called. Returns the credits forfeited by this call."""
    user_ref = _user_ref(client, user_id)
    entry_ref = entries.entry_ref(user_ref, FORFEIT_ENTRY)

    def attempt() -> int:
        user, entry = get_many(client, user_ref, entry_ref)
        data = (user.to_dict() or {}) if user.exists else {}
        if entry.exists or data.get("deletedAt"):
            return 0
        balance = entries.credits_of(user)
        batch = client.batch()
        entries.set_balance(client, batch, user, 0, deletedAt=firestore.SERVER_TIMESTAMP)
        if balance > 0:
            batch.create(
                entry_ref, entries.entry(EntryType.FORFEIT, balance, 0, reason="account deleted")
            )
        batch.commit()
        return balance

    return retry_on_conflict(attempt, CHARGE_POLICY)


SIGNUP_BONUS_ENTRY = "signup-bonus"
SIGNUP_BONUSES = "signupBonuses"  # signupBonuses/{HMAC of the normalized email}: who got it
SIGNUP_BONUS_FIELD = "signupBonus"  # users/{uid}: the decision, once made
# Short: it runs inside blocking Auth triggers, which must answer within 7 s.
SIGNUP_BONUS_POLICY = RetryPolicy(max_attempts=10, deadline_seconds=3.0)


class BonusDecision(StrEnum):
    """What became of a user's signup bonus (`users/{uid}.signupBonus`)."""

    GRANTED = "granted"
    ADDRESS_USED = "address-used"  # another account got it for the same address
    NO_ADDRESS = "no-address"  # the verified email is not an address that can be keyed


def decide_signup_bonus(
    client: firestore.Client,
    user_id: str,
    email_key: str | None,
    credits: int,
    legacy_key: str | None = None,
) -> BonusDecision | None:
    """Decide a verified user's signup bonus, once: grant `credits` (the entry `signup-bonus`,
    the claim `signupBonuses/{email_key}` and the decision on the user, in one commit) unless
    the address was claimed by another account (or `email_key` is None), which records only
    the decision. A claim written before claim ids were keyed (`legacy_key`) counts as a claim;
    a user granted before decisions were recorded gets the keyed claim now. Returns the
    decision this call made; None when it was made before or the account is closed (then
    nothing is written)."""
    user_ref = _user_ref(client, user_id)
    entry_ref = entries.entry_ref(user_ref, SIGNUP_BONUS_ENTRY)
    claim = client.collection(SIGNUP_BONUSES).document(email_key) if email_key else None
    legacy = client.collection(SIGNUP_BONUSES).document(legacy_key) if legacy_key else None

    def attempt() -> BonusDecision | None:
        user, entry, *claimed = get_many(
            client, user_ref, entry_ref, *[ref for ref in (claim, legacy) if ref is not None]
        )
        data = (user.to_dict() or {}) if user.exists else {}
        if data.get(SIGNUP_BONUS_FIELD) or account_closed(data):
            return None
        balance = entries.credits_of(user)
        batch = client.batch()
        claim_exists = claim is not None and claimed[0].exists
        legacy_claimed = legacy is not None and claimed[-1].exists
        if legacy_claimed and (legacy_user := claimed[-1].to_dict() or {}).get("userId"):
            legacy_claimed = legacy_user.get("userId") != user_id
        if entry.exists:  # granted before decisions (and keyed claims) were recorded
            decision = BonusDecision.GRANTED
            if claim is not None and not claim_exists:
                batch.create(claim, {"userId": user_id, "grantedAt": firestore.SERVER_TIMESTAMP})
        elif claim is None:
            decision = BonusDecision.NO_ADDRESS
        elif claim_exists or legacy_claimed:
            decision = BonusDecision.ADDRESS_USED
        else:
            decision = BonusDecision.GRANTED
            balance += credits
            batch.create(
                entry_ref,
                entries.entry(EntryType.GRANT, credits, balance, reason=SIGNUP_BONUS_ENTRY),
            )
            batch.create(claim, {"userId": user_id, "grantedAt": firestore.SERVER_TIMESTAMP})
        entries.set_balance(client, batch, user, balance, **{SIGNUP_BONUS_FIELD: decision.value})
        batch.commit()
        return decision

    try:
        return retry_on_conflict(attempt, SIGNUP_BONUS_POLICY)
    except GaveUp:
        request_log.busy(user_id, "signup bonus")
        raise errors.busy("this user's credits") from None


def grant(
    client: firestore.Client, user_id: str, credits: int, reason: str, entry_id: str
) -> tuple[int, bool]:
    """Add `credits` to a user (created if missing) with a `grant` ledger entry, atomically.

    `entry_id` makes the grant idempotent: a second grant with the same id changes nothing.
    An account being deleted or deleted gets nothing: `account-closed` (the commit is
    conditional on the user document, so it cannot slip past the commit that closed it).
    Returns (balance after, whether this call granted).
    """
    user_ref = _user_ref(client, user_id)
    entry_ref = entries.entry_ref(user_ref, entry_id)

    def attempt() -> tuple[int, bool]:
        user, existing = get_many(client, user_ref, entry_ref)
        balance = entries.credits_of(user)
        if existing.exists:
            return balance, False
        if user.exists and account_closed(user.to_dict() or {}):
            raise errors.account_closed(user_id)
        new_balance = balance + credits
        batch = client.batch()
        entries.set_balance(client, batch, user, new_balance)
        batch.create(entry_ref, entries.entry(EntryType.GRANT, credits, new_balance, reason=reason))
        batch.commit()
        return new_balance, True

    try:
        return retry_on_conflict(attempt, CHARGE_POLICY)
    except GaveUp:
        request_log.busy(user_id, "grant")
        raise errors.busy("this user's credits") from None
