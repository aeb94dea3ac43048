"""A rate budget shared by every process that uses one token: "at most N in any W seconds".

Back Market's request window and hourly SKU-update budget, and WholeCell's requests a second, are
per token, while AWS runs several containers of a function at once and five functions use the same
tokens. So the count lives in one small stored item per connection and budget (a port, implemented
over DynamoDB by :mod:`bmsync.store.budgets_repo`), updated with optimistic concurrency: read the
item, write it back only if nobody wrote it meanwhile (its ``version``).

Time is cut into buckets of ``bucket_seconds``; the item holds how many units each recent bucket
took. A take in bucket *b* is granted only if the buckets *b − k … b* (``k = ⌈W / bucket⌉``, so they
cover more than any W-second interval) hold at most ``limit`` with it. A unit is spent in the bucket
it was counted in, so any W seconds of real sending lie in at most k + 1 buckets that one check saw:
never more than ``limit``. The buckets are wall-clock (every container must agree), not monotonic.

To keep the store off the path of every request, a take may reserve up to ``batch`` units at once;
what this process has not spent when its bucket ends is given back at its next write ("lazily"), so
it stops counting against the others.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Protocol

from bmsync.clock import Clock

#: Writes lost to another container in a row before the take gives up for a moment.
CONFLICT_RETRIES = 8
#: How long to wait after losing that many races (the others are spending the budget meanwhile).
CONFLICT_WAIT_SECONDS = 0.05


@dataclass(frozen=True)
class BudgetRule:
    """At most ``limit`` units in any ``window_seconds``, counted in buckets of ``bucket_seconds``."""

    limit: int
    window_seconds: float
    bucket_seconds: float
    #: Units reserved per store write when the caller wants fewer (0 or 1: no batching).
    batch: int = 1

    def __post_init__(self) -> None:
        if self.limit <= 0 or self.window_seconds <= 0 or self.bucket_seconds <= 0:
            raise ValueError("a budget needs a positive limit, window and bucket")

    @property
    def buckets_checked(self) -> int:
        """How many buckets back a take looks, besides its own."""
        return math.ceil(self.window_seconds / self.bucket_seconds)


@dataclass
class BudgetCounts:
    """The stored item: units taken per bucket (index = ⌊epoch seconds / bucket_seconds⌋)."""

    version: int = 0
    buckets: dict[int, int] = field(default_factory=dict)


class BudgetStore(Protocol):
    """Where a shared budget's counts live (one item per ``name``)."""

    def load_counts(self, name: str) -> BudgetCounts | None: ...

    def save_counts(self, name: str, counts: BudgetCounts, *, expected_version: int, expires_at: int) -> bool:
        """Write ``counts`` (its version already bumped) only if the stored version is still
        ``expected_version`` (0: the item does not exist); False when another writer came first."""
        ...


class SharedBudget:
    """One budget of one connection, as seen by one process (thread-safe)."""

    def __init__(self, store: BudgetStore, name: str, rule: BudgetRule, clock: Clock) -> None:
        self.store = store
        self.name = name
        self.rule = rule
        self.clock = clock
        self._lock = threading.Lock()
        #: Units this process counted in bucket ``_held_bucket`` and has not spent yet.
        self._held = 0
        self._held_bucket: int | None = None
        #: Units counted in past buckets and never spent, to take off the item at the next write.
        self._returns: dict[int, int] = {}
        self._last_written: BudgetCounts | None = None

    def _bucket(self, epoch: float) -> int:
        return math.floor(epoch / self.rule.bucket_seconds)

    def try_take(self, count: int = 1, *, keep: int = 0) -> float:
        """Take ``count`` units: 0.0 when granted, else the seconds after which they may fit.

        ``keep``: grant only if at least that many units are still free for everyone afterwards (the
        SKU updates kept for decreases); such a take never uses units reserved earlier.
        """
        if count > self.rule.limit:
            raise ValueError(f"{count} units can never fit a budget of {self.rule.limit}")
        with self._lock:
            epoch = self.clock.now().timestamp()
            bucket = self._current_bucket(epoch)
            if not keep and self._held >= count:
                self._held -= count
                return 0.0
            return self._reserve(count, keep, bucket, epoch, hold=False)

    def hold(self, count: int, *, keep: int = 0) -> bool:
        """Count ``count`` units now and keep them for this process's next takes (within the current
        bucket) if ``keep`` units stay free for everyone afterwards; False when they do not."""
        with self._lock:
            epoch = self.clock.now().timestamp()
            bucket = self._current_bucket(epoch)
            return self._reserve(count, keep, bucket, epoch, hold=True) == 0.0

    def remaining(self) -> int:
        """Units free for everyone now, plus those this process holds (one store read)."""
        with self._lock:
            bucket = self._current_bucket(self.clock.now().timestamp())
            counts = self.store.load_counts(self.name) or BudgetCounts()
            used = sum(self._live(counts, bucket).values())
            return max(0, self.rule.limit - used) + self._held

    # --- internals (under the lock)

    def _current_bucket(self, epoch: float) -> int:
        """The bucket of ``epoch``; units held from an earlier bucket are given back."""
        bucket = self._bucket(epoch)
        if self._held_bucket != bucket:
            if self._held and self._held_bucket is not None:
                self._returns[self._held_bucket] = self._returns.get(self._held_bucket, 0) + self._held
            self._held_bucket, self._held = bucket, 0
        return bucket

    def _live(self, counts: BudgetCounts, bucket: int) -> dict[int, int]:
        oldest = bucket - self.rule.buckets_checked
        live = {index: used for index, used in counts.buckets.items() if oldest <= index <= bucket}
        for index, units in self._returns.items():
            if index in live:
                live[index] = max(0, live[index] - units)
        return live

    def _reserve(self, count: int, keep: int, bucket: int, epoch: float, *, hold: bool) -> float:
        want = count if keep else max(count, self.rule.batch)
        # The item as this process last wrote it: while no other container wrote since, the conditional
        # write succeeds without a read first; when one did, the write fails and the item is read.
        stored, fresh = self._last_written, False
        for _ in range(CONFLICT_RETRIES):
            if stored is None:
                stored, fresh = self.store.load_counts(self.name) or BudgetCounts(), True
            live = self._live(stored, bucket)
            free = self.rule.limit - sum(live.values()) - keep
            if free < count:
                if not fresh:  # others may have given units back: look before waiting
                    stored = None
                    continue
                return self._wait_until_free(live, count + keep, epoch)
            taken = min(want, free)
            live[bucket] = live.get(bucket, 0) + taken
            updated = BudgetCounts(version=stored.version + 1, buckets=live)
            saved = self.store.save_counts(
                self.name, updated, expected_version=stored.version, expires_at=self._expiry(epoch)
            )
            self._last_written = updated if saved else None
            if saved:
                self._returns.clear()
                self._held += taken if hold else taken - count
                return 0.0
            stored = None
        return CONFLICT_WAIT_SECONDS

    def _wait_until_free(self, live: dict[int, int], needed: int, epoch: float) -> float:
        """Seconds until the oldest buckets leave the check and ``needed`` units are free."""
        used = sum(live.values())
        for index in sorted(live):
            used -= live[index]
            if self.rule.limit - used >= needed:
                leaves_at = (index + self.rule.buckets_checked + 1) * self.rule.bucket_seconds
                return max(leaves_at - epoch, 0.001)
        return self.rule.bucket_seconds

    def _expiry(self, epoch: float) -> int:
        """When the item may be deleted (DynamoDB's TTL): after its newest bucket has left every check."""
        return math.ceil(epoch + self.rule.window_seconds + 2 * self.rule.bucket_seconds + 3600)


class InMemoryBudgetStore:
    """A :class:`BudgetStore` in this process's memory: a budget no other process shares (tests, and
    a client built without a connection's store)."""

    def __init__(self) -> None:
        self._items: dict[str, BudgetCounts] = {}
        self._lock = threading.Lock()

    def load_counts(self, name: str) -> BudgetCounts | None:
        with self._lock:
            counts = self._items.get(name)
            return BudgetCounts(counts.version, dict(counts.buckets)) if counts else None

    def save_counts(self, name: str, counts: BudgetCounts, *, expected_version: int, expires_at: int) -> bool:
        with self._lock:
            current = self._items.get(name)
            if (current.version if current else 0) != expected_version:
                return False
            self._items[name] = BudgetCounts(counts.version, dict(counts.buckets))
            return True
