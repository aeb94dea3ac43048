"""What the simulator measures while it runs, and the invariants it checks at the end.

Everything here works on plain values sampled from the emulators' own state (never from bmsync's
tables: the point is to judge bmsync from the outside), so it is unit-tested without a system.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (``share`` in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


#: How far a fault that hits one call (a throttle, an error page) can push work: the next run.
POINT_FAULT_REACH = timedelta(seconds=60)
#: The share of each latency's slowest events the report explains, and how many it names.
TAIL_SHARE = 0.05
TAIL_EXAMPLES = 15
#: How a slow event's cause is named when several overlapped it: what holds work longest first (a
#: revoked token until someone saves the new one, a dead run's lock until its lease expires), then
#: what fails one run, then what bmsync's own item said while the event waited.
CAUSE_ORDER = (
    "token_rotation",
    "killed_at_timeout",
    "crash",
    "run_failed",
    "dynamodb_throttle",
    "backmarket_fault",
    "wholecell_fault",
    "run_skipped",
)
NO_CAUSE = "none attributed"
#: An event still waiting this long after the last incident that overlapped it ended waited for
#: bmsync itself after it (its cause reads "<incident>, then <bmsync's item's status>").
LINGER = timedelta(seconds=120)


@dataclass(frozen=True)
class Incident:
    """Something that can hold a change back, and the span it can: a fault the simulator injected (a
    crash holds its run's lock for the lease, a revoked token lasts until the new one is saved) or a
    run bmsync reported failed or skipped. ``subject``: the function or flow it hit; empty for one
    that hits whatever talks to that service next (an error page, a revoked token)."""

    kind: str
    start: datetime
    end: datetime
    subject: str = ""

    def label(self) -> str:
        return f"{self.kind} ({self.subject})" if self.subject else self.kind


@dataclass(frozen=True)
class Finished:
    """One measured event: what it was (an order id, a SKU), from when to when, what ran at the
    moment it finished, and what bmsync's own item said while it waited (its states, in order)."""

    key: Any
    started: datetime
    finished: datetime
    finished_by: tuple[str, ...] = ()
    states: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        return max(0.0, (self.finished - self.started).total_seconds())


@dataclass
class Latency:
    """Simulated seconds from a cause to its visible effect; unfinished ones are counted apart."""

    name: str
    done: list[float] = field(default_factory=list)
    events: list[Finished] = field(default_factory=list)
    _open: dict[Any, datetime] = field(default_factory=dict)
    _states: dict[Any, list[str]] = field(default_factory=dict)

    def start(self, key: Any, at: datetime) -> None:
        self._open.setdefault(key, at)  # the earliest cause counts

    def finish(self, key: Any, at: datetime, finished_by: tuple[str, ...] = ()) -> None:
        started = self._open.pop(key, None)
        states = tuple(self._states.pop(key, ()))
        if started is not None:
            event = Finished(key, started, at, finished_by, states)
            self.done.append(event.seconds)
            self.events.append(event)

    def cancel(self, key: Any) -> None:
        self._open.pop(key, None)
        self._states.pop(key, None)

    def is_open(self, key: Any) -> bool:
        return key in self._open

    def open_keys(self) -> list[Any]:
        return list(self._open)

    def waiting_longer_than(self, now: datetime, seconds: float) -> list[Any]:
        """The open events older than ``seconds`` (those worth asking bmsync about)."""
        return [key for key, started in self._open.items() if (now - started).total_seconds() > seconds]

    def note_state(self, key: Any, state: str) -> None:
        """What bmsync's item said while the event waited (each change once, a few at most)."""
        states = self._states.setdefault(key, [])
        if state and (not states or states[-1] != state) and len(states) < 5:
            states.append(state)

    def summary(self) -> dict[str, Any]:
        return {
            "count": len(self.done),
            "unfinished": len(self._open),
            "p50_s": percentile(self.done, 0.50),
            "p95_s": percentile(self.done, 0.95),
            "max_s": max(self.done) if self.done else None,
        }


def explain_tail(
    latency: Latency,
    incidents: list[Incident],
    subjects: tuple[str, ...],
    *,
    share: float = TAIL_SHARE,
    examples: int = TAIL_EXAMPLES,
) -> dict[str, Any]:
    """The slowest ``share`` of ``latency``'s events, each with the incidents that overlapped it and
    a cause named by :data:`CAUSE_ORDER`; ``subjects``: the functions this direction runs through
    (an incident of another function's does not count, one without a subject does).

    The cause is an attribution, not a proof: the incident overlapped the wait and is one that can
    hold it back; "none attributed" means none did (the wait is then bmsync's own, e.g. its item's
    states say it was deferred or held); "<incident>, then <status>" means the event still waited
    :data:`LINGER` or more after the incidents were over, its item in that status."""
    ranked = sorted(latency.events, key=lambda event: (-event.seconds, event.started))
    tail = ranked[: math.ceil(len(ranked) * share)] if ranked else []
    relevant = [
        incident
        for incident in incidents
        if not incident.subject or incident.subject.split(".")[0] in subjects
    ]
    by_cause: Counter[str] = Counter()
    explained: list[dict[str, Any]] = []
    for event in tail:
        overlapping = [
            incident
            for incident in relevant
            if incident.start <= event.finished and incident.end >= event.started
        ]
        kinds = {incident.kind for incident in overlapping}
        cause = next((kind for kind in CAUSE_ORDER if kind in kinds), None)
        last_end = max((incident.end for incident in overlapping), default=event.finished)
        after = max(timedelta(0), event.finished - last_end)
        if cause is None:
            cause = f"state: {event.states[-1]}" if event.states else NO_CAUSE
        elif after >= LINGER:
            cause += f", then {event.states[-1].split(':')[0] if event.states else 'waited'}"
        by_cause[cause] += 1
        if len(explained) < examples:
            labels = list(dict.fromkeys(incident.label() for incident in overlapping))
            explained.append(
                {
                    "key": str(event.key),
                    "started_at": event.started.isoformat(),
                    "seconds": round(event.seconds),
                    "cause": cause,
                    "overlapping": labels[:8] + ([f"... {len(labels) - 8} more"] if len(labels) > 8 else []),
                    "states": list(event.states),
                    "waited_after_incidents_s": round(after.total_seconds()) if overlapping else None,
                    "finished_by": [ran for ran in event.finished_by if ran.split(".")[0] in subjects],
                }
            )
    return {
        "share": share,
        "events": len(tail),
        "from_s": round(tail[-1].seconds) if tail else None,
        "by_cause": dict(by_cause.most_common()),
        "slowest": explained,
    }


@dataclass
class Exposure:
    """Oversell exposure: unit-hours during which Back Market offered more units than WholeCell could
    sell, and the Back Market orders placed for units that did not exist (forced cancellations)."""

    unit_hours: float = 0.0
    forced_cancellations: int = 0
    worst_units: int = 0
    by_sku: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def sample(self, offered: dict[str, int], free: dict[str, int], seconds: float) -> None:
        """One interval of ``seconds`` during which Back Market offered ``offered`` and WholeCell
        could still sell ``free`` (per SKU)."""
        oversold = {sku: max(0, quantity - max(0, free.get(sku, 0))) for sku, quantity in offered.items()}
        total = sum(oversold.values())
        if total > 0:
            self.unit_hours += total * seconds / 3600
            self.worst_units = max(self.worst_units, total)
            for sku, units in oversold.items():
                if units:
                    self.by_sku[sku] += units * seconds / 3600

    def worst_skus(self, count: int = 5) -> dict[str, float]:
        ranked = sorted(self.by_sku.items(), key=lambda item: (-item[1], item[0]))[:count]
        return {sku: round(unit_hours, 3) for sku, unit_hours in ranked}

    def order_placed(self, quantity: int, free_units: int) -> int:
        """A buyer ordered ``quantity`` while WholeCell could still sell ``free_units``: the units that
        did not exist (each one a cancellation the seller is forced into)."""
        missing = max(0, quantity - max(0, free_units))
        self.forced_cancellations += missing
        return missing


@dataclass
class ApiUse:
    """Back Market calls by bmsync, per simulated hour, and the 429s it received."""

    calls: int = 0
    throttled: int = 0
    injected_faults: int = 0
    peak_window_calls: int = 0
    _by_hour: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def record(self, calls: list[dict[str, Any]], hour: int) -> None:
        self.calls += len(calls)
        self._by_hour[hour] += len(calls)
        for call in calls:
            if call.get("fault"):
                self.injected_faults += 1
            elif call.get("status") == 429:
                self.throttled += 1

    def window(self, monotonic_times: list[float], window_seconds: float) -> None:
        """The most calls inside any window of Back Market's budget (a sliding window over times)."""
        times = sorted(monotonic_times)
        start = 0
        for end, moment in enumerate(times):
            while moment - times[start] >= window_seconds:
                start += 1
            self.peak_window_calls = max(self.peak_window_calls, end - start + 1)

    def summary(self, hours: float, requests_per_window: int) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "calls_per_hour": round(self.calls / hours, 1) if hours else None,
            "busiest_hour_calls": max(self._by_hour.values(), default=0),
            "throttled_429": self.throttled,
            "injected_fault_responses": self.injected_faults,
            "peak_budget_share": round(self.peak_window_calls / requests_per_window, 3),
        }


@dataclass
class Invariants:
    """The end-of-run checks; each list names the offending ids (empty lists: the invariant holds)."""

    duplicate_orders: list[str] = field(default_factory=list)
    missing_orders: list[str] = field(default_factory=list)
    lost_shipments: list[str] = field(default_factory=list)
    #: Orders waiting on an unmapped status not in WholeCell soon after the seller mapped it.
    orders_late_after_mapping: list[str] = field(default_factory=list)
    quantity_mismatches: list[str] = field(default_factory=list)
    unhandled_exceptions: list[str] = field(default_factory=list)
    dead_letters_without_reason: list[str] = field(default_factory=list)
    #: Writes that reached either emulator while the connection was in shadow mode.
    writes_in_shadow_mode: list[str] = field(default_factory=list)

    #: What a live run must achieve, moot in shadow mode (nothing is written).
    LIVE_ONLY = (
        "duplicate_orders",
        "missing_orders",
        "lost_shipments",
        "orders_late_after_mapping",
        "quantity_mismatches",
    )

    @property
    def broken(self) -> dict[str, list[str]]:
        return {name: ids for name, ids in self.as_dict().items() if ids}

    def checked(self, *, shadow: bool) -> dict[str, list[str]]:
        """The invariants that apply to the run's mode."""
        if shadow:
            return {name: ids for name, ids in self.as_dict().items() if name not in self.LIVE_ONLY}
        return {name: ids for name, ids in self.as_dict().items() if name != "writes_in_shadow_mode"}

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "duplicate_orders": self.duplicate_orders,
            "missing_orders": self.missing_orders,
            "lost_shipments": self.lost_shipments,
            "orders_late_after_mapping": self.orders_late_after_mapping,
            "quantity_mismatches": self.quantity_mismatches,
            "unhandled_exceptions": self.unhandled_exceptions,
            "dead_letters_without_reason": self.dead_letters_without_reason,
            "writes_in_shadow_mode": self.writes_in_shadow_mode,
        }


def check_orders(
    expected_order_ids: list[int], wholecell_external_ids: list[str]
) -> tuple[list[str], list[str]]:
    """Every Back Market order that must be imported exists exactly once in WholeCell's ``Backmarket``
    channel: (duplicates, missing)."""
    counts: dict[str, int] = defaultdict(int)
    for external_id in wholecell_external_ids:
        counts[external_id] += 1
    duplicates = sorted(external_id for external_id, count in counts.items() if count > 1)
    missing = sorted(str(order_id) for order_id in expected_order_ids if counts[str(order_id)] == 0)
    return duplicates, missing


def check_shipments(
    wholecell_shipped: dict[str, str], backmarket_orders: dict[str, dict[str, Any]]
) -> list[str]:
    """Every shipment WholeCell recorded for a validated Back Market order reached Back Market.

    ``wholecell_shipped``: external id -> tracking number; ``backmarket_orders``: order id -> its
    ``state`` and ``tracking_number``. An order still waiting for validation (state 1) is not lost.
    """
    lost = []
    for external_id, tracking in sorted(wholecell_shipped.items()):
        order = backmarket_orders.get(external_id)
        if order is None or order.get("state") not in (3, 9):
            continue
        if order.get("cancelled"):
            continue
        if not order.get("tracking_number"):
            lost.append(f"{external_id} (tracking {tracking} not on Back Market)")
    return lost


def check_quantities(offered: dict[str, int], expected: dict[str, int]) -> list[str]:
    """After the system settles, Back Market shows what WholeCell's stock computes, for every listing."""
    return [
        f"{sku}: Back Market {offered[sku]}, computed {expected[sku]}"
        for sku in sorted(expected)
        if sku in offered and offered[sku] != expected[sku]
    ]
