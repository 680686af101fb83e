"""The global daily budget's rules (`budget_rules`), as a model of the shard documents and of
several instances that charge and refund concurrently: each charge reads shards, decides on
what it read, and commits only if the shards it writes are unchanged since (as the charge's
conditional commit does); refunds subtract from any shard unconditionally."""

from __future__ import annotations

from dataclasses import dataclass, field

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

from imagegen.budget_rules import SHARDS, capacity, room, shard_cap, take

INSTANCES = 3


@given(total=st.integers(0, 200), shards=st.integers(1, SHARDS))
@settings(max_examples=50, deadline=None)
def test_the_shards_caps_split_the_capacity_exactly(total, shards):
    caps = [shard_cap(total, k, shards) for k in range(shards)]
    assert sum(caps) == total and max(caps) - min(caps) <= 1


@given(
    cost=st.integers(1, 8),
    total=st.integers(0, 40),
    spent=st.lists(st.integers(-5, 12), min_size=4, max_size=4),
    start=st.integers(0, 3),
)
@settings(max_examples=80, deadline=None)
def test_take_uses_exactly_the_cost_within_each_shards_room(cost, total, spent, start):
    read = dict(enumerate(spent))
    taken = take(cost, total, read, start, shards=4)
    rooms = {k: room(total, k, s, shards=4) for k, s in read.items()}
    if taken is None:
        assert sum(rooms.values()) < cost
    else:
        assert sum(taken.values()) == cost
        assert all(0 < part <= rooms[k] for k, part in taken.items())


def test_capacity_is_the_budget_less_the_base():
    assert capacity(100, 30) == 70 and capacity(10, 30) == 0


@dataclass
class Shard:
    spent: int = 0
    version: int = 0


@dataclass
class Charge:
    cost: int
    start: int
    read: dict[int, tuple[int, int]] = field(default_factory=dict)  # shard -> (spent, version)


class BudgetModel(RuleBasedStateMachine):
    """Shards as Firestore holds them, instances' charges in flight, admissions and refunds."""

    admitted = Bundle("admitted")

    @initialize(budget=st.integers(0, 30), base=st.integers(0, 10), shards=st.integers(1, 5))
    def start(self, budget, base, shards):
        self.budget, self.base, self.n = budget, base, shards
        self.total = capacity(budget, base)
        self.shards = [Shard() for _ in range(shards)]
        self.inflight: dict[int, Charge] = {}
        self.charged = 0  # admitted - refunded, as the ledger sees it

    def _read(self, keys):
        return {k: (self.shards[k].spent, self.shards[k].version) for k in keys}

    @precondition(lambda self: len(self.inflight) < INSTANCES)
    @rule(instance=st.integers(0, INSTANCES - 1), cost=st.integers(1, 4), data=st.data())
    def read_one_shard(self, instance, cost, data):
        """A charge starts: reads the user and one random shard."""
        if instance in self.inflight:
            return
        start = data.draw(st.integers(0, self.n - 1))
        self.inflight[instance] = Charge(cost, start, self._read([start]))

    @rule(instance=st.integers(0, INSTANCES - 1), target=admitted)
    def decide(self, instance):
        """The charge decides on what it read: read every shard, refuse, or commit."""
        charge = self.inflight.get(instance)
        if charge is None:
            return multiple()
        spent = {k: s for k, (s, _) in charge.read.items()}
        taken = take(charge.cost, self.total, spent, charge.start, self.n)
        if taken is None and len(charge.read) < self.n:
            charge.read = self._read(range(self.n))  # a second read, of every shard
            return multiple()
        del self.inflight[instance]
        if taken is None:  # refused: the whole day had less room than the cost when read
            assert self.total - sum(spent.values()) < charge.cost
            return multiple()
        if any(self.shards[k].version != charge.read[k][1] for k in taken):
            return multiple()  # a written shard changed since read: no commit (a retry reads again)
        for k, part in taken.items():
            self.shards[k] = Shard(charge.read[k][0] + part, self.shards[k].version + 1)
        self.charged += charge.cost
        return multiple(charge.cost)

    @rule(cost=consumes(admitted), shard=st.integers(0, 4))
    def refund(self, cost, shard):
        """A counted charge is refunded: -cost on any shard, unconditionally."""
        k = shard % self.n
        self.shards[k] = Shard(self.shards[k].spent - cost, self.shards[k].version + 1)
        self.charged -= cost

    @invariant()
    def never_past_the_budget(self):
        if not hasattr(self, "shards"):
            return
        counted = sum(s.spent for s in self.shards)
        assert counted == self.charged  # the shards hold exactly admitted - refunded
        assert self.base + counted <= max(self.budget, self.base)  # overshoot 0
        assert all(s.spent <= shard_cap(self.total, k, self.n) for k, s in enumerate(self.shards))


BudgetModel.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
test_the_budget_is_never_exceeded_by_concurrent_charges = BudgetModel.TestCase
