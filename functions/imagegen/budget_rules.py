"""The global daily credit budget, the pure part: how a charge takes its credits from the day's
counters so that what all users are charged on a UTC day, net of refunds, never exceeds the
budget, whatever the load and the number of instances.

The day's counters are `SHARDS` documents (`budgetDays/{day}/shards/{k}`, each `spent`) and a
`base` on `budgetDays/{day}`: the day's net charges made before the budget counted them (read
once, when the day document is created). The budget less the base, the day's `capacity`, is
split over the shards: shard k may hold at most `shard_cap(capacity, k)` credits.

- A charge reads one shard (chosen at random); if it has room for the whole cost, it adds the
  cost to it in the charge's own commit, on the condition that the shard is unchanged since it
  was read. Otherwise it reads every shard and takes from them in turn (`take`), each written
  shard again conditional on being unchanged; when all of them together have less room than
  the cost, the charge is refused (503 `budget-exhausted`) and nothing is charged.
- A refund of a counted charge subtracts its cost from any shard (an unconditional increment
  of -cost in the refund's commit). A shard may then go below zero; its room grows by as much.

Why it is a bound: a conditional write adds to shard k only what its room was at the read, and
nothing else added to it since, so every shard keeps `spent <= cap` (refunds only lower it),
hence the day's net charges (the shards' sum) never exceed the capacity: an overshoot of 0, on
any number of instances and under any burst. And nothing is wasted: a charge is refused only
when the room left on the whole day, when read, is less than its cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SHARDS = 16  # counters per day: concurrent charges rarely write the same one


@dataclass(frozen=True)
class DayBudget:
    """What a charge is checked against: the UTC `day` its credits count on, and that day's
    capacity (the budget less the day's base, at least 0)."""

    day: str
    capacity: int


def capacity(budget: int, base: int) -> int:
    """What the shards may hold together: the budget less what was charged before it counted."""
    return max(0, budget - base)


def shard_cap(total: int, shard: int, shards: int = SHARDS) -> int:
    """Shard `shard`'s part of `total` (the parts differ by at most one and sum to `total`)."""
    return total // shards + (1 if shard < total % shards else 0)


def room(total: int, shard: int, spent: int, shards: int = SHARDS) -> int:
    """What shard `shard` may still take."""
    return max(0, shard_cap(total, shard, shards) - spent)


def take(
    cost: int, total: int, spent: Mapping[int, int], start: int, shards: int = SHARDS
) -> dict[int, int] | None:
    """How many credits of `cost` to add to each of the shards read (`spent`: shard -> its
    spent credits), going round from `start`; None when their room together is less than
    `cost`. Shards not in `spent` are not used."""
    if cost <= 0:
        return {}
    left = cost
    taken: dict[int, int] = {}
    for step in range(shards):
        shard = (start + step) % shards
        if shard not in spent:
            continue
        part = min(left, room(total, shard, spent[shard], shards))
        if part > 0:
            taken[shard] = part
            left -= part
            if left == 0:
                return taken
    return None
