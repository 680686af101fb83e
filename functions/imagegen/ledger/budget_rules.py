"""The global daily credit budget, the pure part: how a charge takes its credits from the day's
counters so that what all users are charged on a UTC day, net of refunds, never exceeds the
budget, whatever the load and the number of instances.

The day's counters are `SHARDS` documents (`budgetDays/{day}/shards/{k}`), each with `spent`
(net credits counted on it), `cap` (what it may hold) and `version` (the `config/generation`
version its cap was set for); `budgetDays/{day}.base` holds the day's net charges made before
the budget counted them. The day's `capacity` is the budget less the base.

- Setting the caps (`rebalance`), when a charge finds them set for an older version of the
  budget (or not set): every shard keeps what it spent and gets an equal part of what is left
  of the capacity; all shards are written in one commit, each on the condition that it is
  unchanged since read. So the caps always sum to max(capacity, what was spent then).
- A charge reads one shard (chosen at random); if it has room (`cap - spent`) for the whole
  cost, it adds the cost to it in the charge's own commit, on the condition that the shard is
  unchanged since read. Otherwise it reads every shard and takes from them in turn (`take`),
  each written shard again conditional; when they all together have less room than the cost,
  the charge is refused (503 `budget-exhausted`) and nothing is charged.
- A refund of a counted charge subtracts its cost from any shard's `spent` (an increment of
  -cost in the refund's commit): that shard's room grows by as much. When the budget was
  lowered below what the shards already held, the excess is `budgetDays/{day}.owed`: a refund
  first pays it (`repaid`: the same amount comes off the shard's cap and off `owed`, in a
  commit conditional on the day document), so a lowered budget admits nothing until the
  day's net is back under it.

Why it is a bound: a conditional write adds to a shard only what its room was at the read, and
nothing changed it since, so every shard keeps `spent <= cap` (refunds only lower `spent`);
hence the day's net charges (the shards' sum) never exceed the sum of the caps, the capacity:
an overshoot of 0, on any number of instances and under any burst. Nothing is held back
either: the shards' rooms sum to exactly what is left of the day, so a charge is refused only
when that, as read, is less than its cost. A lowered budget stops admissions once the caps are
reset (what was already charged stays, and refunds pay the excess before making room); an
instance still seeing the previous version of the
budget (at most 5 s) uses the caps as they are when they are newer than its view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SHARDS = 16  # counters per day: concurrent charges rarely write the same one


@dataclass(frozen=True)
class DayBudget:
    """What a charge is checked against: the UTC `day` its credits count on, that day's
    capacity (the budget less the day's base, at least 0) and the version of the budget
    (`config/generation`'s update time) the capacity comes from."""

    day: str
    capacity: int
    version: Any


@dataclass(frozen=True)
class Shard:
    """One counter of the day: its cap, its net credits and the budget version of its cap
    (None: no cap set yet)."""

    cap: int = 0
    spent: int = 0
    version: Any = None


def capacity(budget: int, base: int) -> int:
    """What the shards may hold together: the budget less what was charged before it counted."""
    return max(0, budget - base)


def share(total: int, shard: int, shards: int = SHARDS) -> int:
    """Shard `shard`'s part of `total` (the parts differ by at most one and sum to `total`)."""
    return total // shards + (1 if shard < total % shards else 0)


def outdated(shard: Shard, version: Any) -> bool:
    """Whether a shard's cap must be set again for the budget at `version`: never set, or set
    for an older version (a newer one than the caller's view is used as it is)."""
    return shard.version is None or shard.version < version


def rebalance(total: int, spent: Sequence[int]) -> list[int]:
    """New caps for shards that spent `spent`: each keeps what it spent plus an equal part of
    what is left of `total` (nothing when the shards already hold it all)."""
    left = max(0, total - sum(spent))
    return [s + share(left, k, len(spent)) for k, s in enumerate(spent)]


def owed(total: int, spent: Sequence[int]) -> int:
    """What the shards hold beyond `total` when the caps are set for it: more than a lowered
    budget allows was already charged. Refunds pay it first (`repaid`) instead of making room,
    so nothing is admitted until the day's net is back under the budget."""
    return max(0, sum(spent) - total)


def repaid(owed_now: int, cost: int) -> int:
    """How much of a refund of `cost` pays what is owed (taken off a shard's cap as well as its
    `spent`, so that part makes no room); the rest makes room as usual."""
    return max(0, min(owed_now, cost))


def room(shard: Shard) -> int:
    """What a shard may still take."""
    return max(0, shard.cap - shard.spent)


def take(
    cost: int, shards: Mapping[int, Shard], start: int, count: int = SHARDS
) -> dict[int, int] | None:
    """How many credits of `cost` to add to each of the shards read (shard number -> Shard),
    going round from `start`; None when their room together is less than `cost`."""
    if cost <= 0:
        return {}
    left = cost
    taken: dict[int, int] = {}
    for step in range(count):
        k = (start + step) % count
        if k not in shards:
            continue
        part = min(left, room(shards[k]))
        if part > 0:
            taken[k] = part
            left -= part
            if left == 0:
                return taken
    return None
