"""The ledger and the per-user limits under any interleaving, searched by hypothesis: a
state machine drives the real ledger functions (charge, complete, refund, cancel, a repeated
settlement, account deletion) against the Firestore emulator and checks, after every step,
the balance against a model, and at the end the audit's invariants.

Which charges are refused is predicted exactly: a deleted account, too few credits, then the
limits in the order the charge checks them (per minute, pending at once, per day net of
refunds). Nothing here is timed; every example is one fresh user.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from imagegen.core import errors
from imagegen.core.vocabulary import RequestStatus
from imagegen.ledger import moves
from imagegen.ledger.audit import check_user
from imagegen.ledger.limits import ChargePolicy, Limits
from imagegen.operations.wiring import images
from imagegen.providers.image_store import object_path
from imagegen.records.request_record import GenerationRequest, ImageOutcome

pytestmark = pytest.mark.emulator

START = 30
LIMITS = Limits(per_minute=7, max_pending=3, daily_credits=25)
POLICY = ChargePolicy(LIMITS, pending_timeout_s=600)
PNG = bytes.fromhex(  # a 1x1 PNG
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478"
    "9c6338c1c50500027a00dd6727427d0000000049454e44ae426082"
)


def _client() -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    return firestore.Client(project="demo-imagegen", credentials=AnonymousCredentials())


class LedgerMachine(RuleBasedStateMachine):
    """One user's books; the model says what the balance and the refusals must be."""

    client: Any = None

    def __init__(self) -> None:
        super().__init__()
        if LedgerMachine.client is None:
            LedgerMachine.client = _client()
        self.uid = f"stateful-{uuid.uuid4().hex[:12]}"
        self.balance = START
        self.unsettled: dict[str, tuple[int, str]] = {}  # id -> (cost, status)
        self.settled: dict[str, str] = {}
        self.admitted = 0
        self.day_net = 0
        self.deleted = False

    @initialize()
    def open_account(self) -> None:
        moves.grant(self.client, self.uid, START, "stateful start", "start")

    def _expected_refusal(self, cost: int) -> str | None:
        if self.deleted:
            return errors.ErrorCode.USER_NOT_FOUND
        if self.balance < cost:
            return errors.ErrorCode.INSUFFICIENT_CREDITS
        if self.admitted >= LIMITS.per_minute:
            return errors.ErrorCode.RATE_LIMITED
        if len(self.unsettled) >= LIMITS.max_pending:
            return errors.ErrorCode.TOO_MANY_PENDING
        if self.day_net + cost > LIMITS.daily_credits:
            return errors.ErrorCode.DAILY_LIMIT
        return None

    @rule(cost=st.sampled_from([1, 3, 4]), queued=st.booleans())
    def charge(self, cost: int, queued: bool) -> None:
        status = RequestStatus.QUEUED if queued else RequestStatus.PENDING
        request = GenerationRequest(
            uuid.uuid4().hex, self.uid, "model-a", "anime", "neon", "512x512", "p", cost, status
        )
        expected = self._expected_refusal(cost)
        try:
            moves.charge(self.client, request, POLICY)
        except errors.DomainError as err:
            assert err.code == expected, (err.code, expected)
            return
        assert expected is None, f"admitted, but {expected} was expected"
        self.balance -= cost
        self.admitted += 1
        self.day_net += cost
        self.unsettled[request.id] = (cost, str(status))

    def _pick(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(sorted(self.unsettled)))

    @precondition(lambda self: self.unsettled)
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        rid = self._pick(data)
        path = object_path(self.uid, rid)
        images().put(path, PNG, "image/png")  # stored before completing, as generation does
        assert moves.settle(self.client, rid, [ImageOutcome(0, path, f"/img/{rid}")]).settled_now
        del self.unsettled[rid]
        self.settled[rid] = RequestStatus.COMPLETED

    @precondition(lambda self: self.unsettled)
    @rule(data=st.data())
    def fail(self, data: st.DataObject) -> None:
        rid = self._pick(data)
        cost, _ = self.unsettled.pop(rid)
        settlement = moves.refund(self.client, rid, "the model failed")
        assert settlement.settled_now and settlement.refunded == cost
        self.balance += cost
        self.day_net -= cost
        self.settled[rid] = RequestStatus.FAILED

    @precondition(lambda self: self.unsettled)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        rid = self._pick(data)
        cost, status = self.unsettled[rid]
        settlement = moves.cancel(self.client, rid)
        if status != RequestStatus.QUEUED:  # only a queued request can be canceled
            assert not settlement.settled_now
            return
        assert settlement.settled_now and settlement.refunded == cost
        del self.unsettled[rid]
        self.balance += cost
        self.day_net -= cost
        self.settled[rid] = RequestStatus.CANCELED

    @precondition(lambda self: self.settled)
    @rule(data=st.data(), refund=st.booleans())
    def settle_again(self, data: st.DataObject, refund: bool) -> None:
        """A retried task, a late sweeper: a settled request stays as it ended."""
        rid = data.draw(st.sampled_from(sorted(self.settled)))
        if refund:
            settlement = moves.refund(self.client, rid, "late")
        else:
            settlement = moves.settle(self.client, rid, [ImageOutcome(0, "x", "y")])
        assert not settlement.settled_now and settlement.status == self.settled[rid]

    @precondition(lambda self: not self.unsettled and not self.deleted)
    @rule()
    def delete_account(self) -> None:
        """Deletion with nothing in flight (deletion refuses while a request runs)."""
        forfeited = moves.forfeit_and_close(self.client, self.uid)
        assert forfeited == self.balance
        assert moves.forfeit_and_close(self.client, self.uid) == 0  # once only
        self.balance = 0
        self.deleted = True

    @invariant()
    def balance_matches_the_model(self) -> None:
        if self.client is None:
            return
        snap = self.client.collection("users").document(self.uid).get()
        if snap.exists:
            credits = snap.to_dict()["credits"]
            assert credits == self.balance and credits >= 0

    def teardown(self) -> None:
        user = self.client.collection("users").document(self.uid)
        entries = [{"id": d.id, **d.to_dict()} for d in user.collection("transactions").stream()]
        requests = [
            {
                "id": rid,
                **(self.client.collection("generationRequests").document(rid).get()).to_dict(),
            }
            for rid in [*self.unsettled, *self.settled]
        ]
        later = datetime.now(UTC) - timedelta(hours=1)  # nothing here is stuck yet
        problems = check_user(self.uid, user.get().to_dict()["credits"], entries, requests, later)
        assert problems == []
        # leave no unsettled request behind for the sweeper or the end-of-run audit
        for rid in self.unsettled:
            moves.refund(self.client, rid, "cleanup")


LedgerMachine.TestCase.settings = settings(
    max_examples=12,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_ledger_and_limits_hold_for_any_interleaving = LedgerMachine.TestCase
