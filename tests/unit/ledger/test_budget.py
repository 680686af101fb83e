"""The global daily budget's rules (`budget_rules`), as a model of the shard documents and of
several instances that charge, refund and change the budget concurrently: each charge reads
shards, decides on what it read, and commits only if the shards it writes are unchanged since
(as the charge's conditional commit does); caps are set for a newer budget the same way;
refunds subtract from any shard unconditionally; instances may still see the previous budget."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from imagegen.ledger.budget_rules import (
    SHARDS,
    Shard,
    capacity,
    outdated,
    owed,
    rebalance,
    repaid,
    room,
    share,
    take,
)

INSTANCES = 3


@given(total=st.integers(0, 200), shards=st.integers(1, SHARDS))
@settings(max_examples=50, deadline=None)
def test_the_shares_split_a_total_exactly(total, shards):
    parts = [share(total, k, shards) for k in range(shards)]
    assert sum(parts) == total and max(parts) - min(parts) <= 1


@given(total=st.integers(0, 60), spent=st.lists(st.integers(-5, 20), min_size=1, max_size=6))
@settings(max_examples=50, deadline=None)
def test_rebalanced_caps_hold_what_is_left_and_never_less_than_spent(total, spent):
    caps = rebalance(total, spent)
    assert all(cap >= s for cap, s in zip(caps, spent, strict=True))
    assert sum(caps) == max(total, sum(spent))


@given(
    cost=st.integers(1, 8),
    shards=st.lists(st.tuples(st.integers(0, 12), st.integers(-5, 12)), min_size=4, max_size=4),
    start=st.integers(0, 3),
)
@settings(max_examples=80, deadline=None)
def test_take_uses_exactly_the_cost_within_each_shards_room(cost, shards, start):
    read = {k: Shard(cap, spent, 1) for k, (cap, spent) in enumerate(shards)}
    taken = take(cost, read, start, count=4)
    if taken is None:
        assert sum(room(s) for s in read.values()) < cost
    else:
        assert sum(taken.values()) == cost
        assert all(0 < part <= room(read[k]) for k, part in taken.items())


def test_capacity_is_the_budget_less_the_base():
    assert capacity(100, 30) == 70 and capacity(10, 30) == 0


def test_caps_set_for_a_newer_budget_are_used_as_they_are():
    assert outdated(Shard(), 1) and outdated(Shard(5, 0, 1), 2)
    assert not outdated(Shard(5, 0, 2), 2) and not outdated(Shard(5, 0, 3), 2)


@dataclass
class Stored:
    shard: Shard = field(default_factory=Shard)
    stamp: int = 0  # the document's update time: a conditional write needs it unchanged


@dataclass
class Charge:
    cost: int
    start: int
    version: int  # the budget version this instance sees
    read: dict[int, Stored] = field(default_factory=dict)


class BudgetModel(RuleBasedStateMachine):
    """Shards as Firestore holds them, instances' charges in flight, admissions and refunds."""

    admitted = Bundle("admitted")

    @initialize(capacity=st.integers(0, 30), shards=st.integers(1, 5))
    def start(self, capacity, shards):
        self.capacities = [capacity]  # budget versions 0, 1, ... (capacity of each)
        self.n = shards
        self.docs = [Stored() for _ in range(shards)]
        self.inflight: dict[int, Charge] = {}
        self.charged = 0  # admitted - refunded, as the ledger sees it
        self.rebalanced: tuple[int, int] | None = None  # (capacity, spent) at the last one
        self.owed = 0  # budgetDays/{day}.owed: what a lowered budget is still owed

    def _read(self, keys):
        return {k: replace(self.docs[k]) for k in keys}

    @precondition(lambda self: len(self.capacities) < 4)
    @rule(capacity=st.integers(0, 30))
    def change_the_budget(self, capacity):
        self.capacities.append(capacity)

    @rule(
        instance=st.integers(0, INSTANCES - 1),
        cost=st.integers(1, 4),
        start=st.integers(0, 4),
        stale=st.booleans(),
    )
    def begin(self, instance, cost, start, stale):
        """A charge reads one shard, seeing the latest budget or (for 5 s) the one before."""
        if instance not in self.inflight:
            version = max(0, len(self.capacities) - 1 - int(stale))
            k = start % self.n
            self.inflight[instance] = Charge(cost, k, version, self._read([k]))

    @rule(instance=st.integers(0, INSTANCES - 1), target=admitted)
    def decide(self, instance):
        """The charge's next step on what it read: read every shard, set the caps, refuse or
        commit."""
        charge = self.inflight.get(instance)
        if charge is None:
            return multiple()
        shards = {k: d.shard for k, d in charge.read.items()}
        if any(outdated(s, charge.version) for s in shards.values()):
            if len(shards) < self.n:
                charge.read = self._read(range(self.n))
                return multiple()
            if any(self.docs[k].stamp != d.stamp for k, d in charge.read.items()):
                del self.inflight[instance]  # the caps' commit conflicts: the charge retries
                return multiple()
            total = self.capacities[charge.version]
            spent = [self.docs[k].shard.spent for k in range(self.n)]
            for k, cap in enumerate(rebalance(total, spent)):
                self.docs[k] = Stored(Shard(cap, spent[k], charge.version), self.docs[k].stamp + 1)
            self.rebalanced = (total, sum(spent))
            self.owed = owed(total, spent)
            charge.read = self._read(range(self.n))
            return multiple()
        taken = take(charge.cost, shards, charge.start, self.n)
        if taken is None and len(shards) < self.n:
            charge.read = self._read(range(self.n))  # a second read, of every shard
            return multiple()
        del self.inflight[instance]
        if taken is None:  # refused: the day had less room than the cost when read
            assert sum(room(s) for s in shards.values()) < charge.cost
            return multiple()
        if any(self.docs[k].stamp != charge.read[k].stamp for k in taken):
            return multiple()  # a written shard changed since read: no commit (a retry reads again)
        for k, part in taken.items():
            old = self.docs[k]
            spent = charge.read[k].shard.spent + part
            self.docs[k] = Stored(replace(old.shard, spent=spent), old.stamp + 1)
        self.charged += charge.cost
        if self.rebalanced is not None:  # nothing admitted past the budget last set
            assert self.charged <= self.rebalanced[0]
        return multiple(charge.cost)

    @rule(cost=consumes(admitted), shard=st.integers(0, 4))
    def refund(self, cost, shard):
        """A counted charge is refunded: -cost on any shard; what a lowered budget is owed is
        paid first (off that shard's cap too, so it makes no room)."""
        old = self.docs[shard % self.n]
        paid = repaid(self.owed, cost)
        self.owed -= paid
        changed = replace(old.shard, spent=old.shard.spent - cost, cap=old.shard.cap - paid)
        new = Stored(changed, old.stamp + 1)
        self.docs[shard % self.n] = new
        self.charged -= cost

    @invariant()
    def never_past_the_budget(self):
        if not hasattr(self, "docs"):
            return
        shards = [d.shard for d in self.docs]
        assert sum(s.spent for s in shards) == self.charged  # exactly admitted - refunded
        assert all(s.spent <= s.cap for s in shards)
        if self.rebalanced is None:
            assert self.charged == 0
        else:  # overshoot 0: never past the budget the caps were last set for (or what was
            # already spent then, when it was lowered below that)
            total, _ = self.rebalanced
            assert sum(s.cap for s in shards) == total + self.owed
            if len(self.capacities) == 1:
                assert self.charged <= self.capacities[0]


BudgetModel.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
test_the_budget_is_never_exceeded_by_concurrent_charges = BudgetModel.TestCase


def test_a_lowered_budget_admits_nothing_until_refunds_bring_the_day_under_it():
    """10 counted on two shards, the budget lowered to 4: the caps keep what was spent and 6
    is owed; refunds of 3 and 4 pay the 6 first, so only 1 credit of room appears (4 - 3)."""
    spent = [5, 5]
    caps = rebalance(4, spent)
    left = owed(4, spent)
    assert (caps, left) == ([5, 5], 6)
    shards = [Shard(cap, s) for cap, s in zip(caps, spent, strict=True)]
    for k, cost in ((0, 3), (1, 4)):
        paid = repaid(left, cost)
        left -= paid
        shards[k] = Shard(shards[k].cap - paid, shards[k].spent - cost)
    assert left == 0 and sum(s.spent for s in shards) == 3 and sum(s.cap for s in shards) == 4
    assert sum(room(s) for s in shards) == 1  # the day may take 1 more: 4 in all
