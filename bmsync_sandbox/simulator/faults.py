"""Fault injection for the simulation, all drawn from seeded generators.

* the emulators' own fault rules (Back Market: 5xx, 429 and firewall pages, timeouts, slow answers;
  WholeCell: 429, 5xx, non-JSON pages, held answers);
* DynamoDB throttling at the repository layer and handler crashes between two writes (botocore
  event hooks on the store's client, active only while a handler runs);
* duplicated and re-ordered stream records (a wrapper around the pump's streams client);
* duplicated scheduled deliveries (EventBridge Scheduler delivers at least once);
* overlapping containers: a second container of a function runs the same scheduled event while the
  first is mid-way (Lambda scales out when an invocation outlasts the next one's arrival);
* runs killed at their timeout: a run that outlives its function's timeout on the simulated clock,
  or is drawn to, is abandoned at a random point (its lock and lease must recover).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from bmsync.store import dynamo
from bmsync_sandbox.backmarket.server import Fault

WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


@dataclass(frozen=True)
class FaultProfile:
    name: str
    backmarket_server_error: float = 0.0
    backmarket_throttle_page: float = 0.0
    backmarket_firewall_page: float = 0.0
    backmarket_timeout: float = 0.0
    backmarket_slow: float = 0.0
    #: Chance, per simulated step, that the next WholeCell request fails (one of its fault kinds).
    wholecell_fault_per_step: float = 0.0
    dynamodb_throttle: float = 0.0  # per DynamoDB call made by a handler
    crash_after_write: float = 0.0  # per successful write: the handler dies before its next call
    stream_duplicate: float = 0.0  # per record read: delivered again later
    stream_reorder: float = 0.0  # per page: two records of different items swap places
    schedule_duplicate: float = 0.0  # per scheduled invocation: delivered twice
    #: Per scheduled invocation: another container runs the same event at a random point of this one.
    overlapping_container: float = 0.0
    #: Per invocation: the run outlives its timeout and Lambda stops it at a random store call.
    killed_at_timeout: float = 0.0
    token_rotations_per_day: float = 0.0

    def backmarket_rules(self) -> list[dict[str, Any] | Fault]:
        # Real seconds for slow and timeout: just enough to take the slow path, not to slow the run.
        rules: list[dict[str, Any] | Fault] = [
            {"mode": "server_error", "rate": self.backmarket_server_error, "status": 503},
            {"mode": "html_429", "rate": self.backmarket_throttle_page},
            {"mode": "html_403", "rate": self.backmarket_firewall_page},
            {"mode": "timeout", "rate": self.backmarket_timeout, "delay": 0.01},
            {"mode": "slow", "rate": self.backmarket_slow, "delay": 0.01},
        ]
        return [rule for rule in rules if isinstance(rule, dict) and rule["rate"]]


PROFILES: dict[str, FaultProfile] = {
    "none": FaultProfile("none"),
    "light": FaultProfile(
        "light",
        backmarket_server_error=0.01,
        backmarket_throttle_page=0.005,
        backmarket_firewall_page=0.002,
        backmarket_timeout=0.005,
        backmarket_slow=0.01,
        wholecell_fault_per_step=0.02,
        dynamodb_throttle=0.001,
        crash_after_write=0.001,
        stream_duplicate=0.02,
        stream_reorder=0.05,
        schedule_duplicate=0.02,
        overlapping_container=0.02,
        killed_at_timeout=0.001,
        token_rotations_per_day=1.0,
    ),
    "heavy": FaultProfile(
        "heavy",
        backmarket_server_error=0.05,
        backmarket_throttle_page=0.02,
        backmarket_firewall_page=0.01,
        backmarket_timeout=0.02,
        backmarket_slow=0.03,
        wholecell_fault_per_step=0.1,
        dynamodb_throttle=0.005,
        crash_after_write=0.005,
        stream_duplicate=0.1,
        stream_reorder=0.2,
        schedule_duplicate=0.1,
        overlapping_container=0.1,
        killed_at_timeout=0.005,
        token_rotations_per_day=2.0,
    ),
}


class SimulatedCrash(BaseException):
    """The function's process dies (out of memory, timeout, host failure): no ``except Exception`` in
    the handler can catch it, exactly like the real thing; the invoker reports a function error."""


class SimulatedTimeout(SimulatedCrash):
    """Lambda stopped the run at its function's timeout: mid-way, whatever it was doing."""


#: A run drawn to be killed at its timeout dies at one of its first this-many store calls.
TIMEOUT_KILL_WITHIN_CALLS = 40
#: A second container starts at one of the first run's first this-many store calls.
OVERLAP_WITHIN_CALLS = 20


@dataclass
class _Run:
    """What is planned for one invocation (a stack of them: a second container runs inside the first)."""

    deadline: float  # on the simulated clock's monotonic time
    calls: int = 0
    injected: int = 0  # faults injected into this run
    crash_pending: bool = False
    kill_at: int | None = None
    overlap_at: int | None = None
    overlap: Callable[[], object] | None = None


class StoreFaults:
    """Throttling, crashes, timeouts and overlapping containers on the store's DynamoDB client, only
    while a handler runs (:meth:`start_run` … :meth:`end_run`). It also counts the handlers' store calls.
    """

    def __init__(self, profile: FaultProfile, rng: random.Random, clock: Any) -> None:
        self.profile = profile
        self.rng = rng
        self.clock = clock
        self.enabled = True
        self._runs: list[_Run] = []
        self.throttled = 0
        self.crashes = 0
        self.timeouts = 0
        self.overlapping_containers = 0
        self.calls = 0
        #: Each injected fault's kind and simulated time, in order (the report's tail attribution).
        self.injected: list[tuple[str, datetime]] = []
        self._hooked: Any = None

    @property
    def armed(self) -> bool:
        return bool(self._runs)

    def install(self) -> None:
        """Hook the store's current client (``bmsync.store.dynamo``'s cached resource)."""
        client = dynamo._resource().meta.client
        if client is self._hooked:
            return
        client.meta.events.register("before-call.dynamodb.*", self._before_call)
        client.meta.events.register("after-call.dynamodb.*", self._after_call)
        self._hooked = client

    def start_run(
        self, timeout_seconds: float, *, second_container: Callable[[], object] | None = None
    ) -> None:
        """A handler starts; ``second_container`` (when drawn) runs at a random point of it."""
        run = _Run(deadline=self.clock.monotonic() + timeout_seconds)
        if (
            self.enabled
            and self.profile.killed_at_timeout
            and self.rng.random() < self.profile.killed_at_timeout
        ):
            run.kill_at = self.rng.randint(1, TIMEOUT_KILL_WITHIN_CALLS)
        if self.enabled and second_container is not None:
            run.overlap_at = self.rng.randint(1, OVERLAP_WITHIN_CALLS)
            run.overlap = second_container
        self._runs.append(run)

    def end_run(self) -> int:
        """The handler returned or died: how many faults were injected into it."""
        return self._runs.pop().injected

    def _before_call(self, model: Any, **kwargs: Any) -> None:
        if not self._runs:
            return
        run = self._runs[-1]
        run.calls += 1
        self.calls += 1
        if not self.enabled:
            return
        if run.crash_pending:
            run.crash_pending = False
            self.crashes += 1
            run.injected += 1
            self.injected.append(("crash", self.clock.now()))
            raise SimulatedCrash(
                f"the function died before {model.name} (simulated crash between two writes)"
            )
        if run.overlap is not None and run.overlap_at is not None and run.calls >= run.overlap_at:
            second_container, run.overlap = run.overlap, None
            self.overlapping_containers += 1
            second_container()
        if (run.kill_at is not None and run.calls >= run.kill_at) or self.clock.monotonic() > run.deadline:
            self.timeouts += 1
            run.injected += 1
            self.injected.append(("killed_at_timeout", self.clock.now()))
            raise SimulatedTimeout(f"the function reached its timeout before {model.name} (simulated)")
        if self.profile.dynamodb_throttle and self.rng.random() < self.profile.dynamodb_throttle:
            self.throttled += 1
            run.injected += 1
            self.injected.append(("dynamodb_throttle", self.clock.now()))
            raise ClientError(
                {
                    "Error": {
                        "Code": "ProvisionedThroughputExceededException",
                        "Message": "simulated throttling (the SDK's retries were exhausted)",
                    },
                },
                model.name,
            )

    def _after_call(self, model: Any, **kwargs: Any) -> None:
        if not (self._runs and self.enabled) or model.name not in WRITE_OPERATIONS:
            return
        if self.profile.crash_after_write and self.rng.random() < self.profile.crash_after_write:
            self._runs[-1].crash_pending = True


class ChaoticStreams:
    """The pump's DynamoDB Streams client, delivering some records twice and some out of order."""

    def __init__(self, client: Any, profile: FaultProfile, rng: random.Random) -> None:
        self._client = client
        self.profile = profile
        self.rng = rng
        self.enabled = True
        self._replays: list[dict[str, Any]] = []
        self.duplicated = 0
        self.reordered = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_records(self, **kwargs: Any) -> dict[str, Any]:
        page = self._client.get_records(**kwargs)
        records = list(page.get("Records", []))
        if not self.enabled:
            return page
        if self._replays:  # an earlier record delivered again, after newer ones
            records.extend(self._replays)
            self.duplicated += len(self._replays)
            self._replays = []
        for record in list(records):
            if self.profile.stream_duplicate and self.rng.random() < self.profile.stream_duplicate:
                self._replays.append(record)
        if (
            len(records) >= 2
            and self.profile.stream_reorder
            and self.rng.random() < self.profile.stream_reorder
        ):
            first, second = sorted(self.rng.sample(range(len(records)), 2))
            if records[first]["dynamodb"]["Keys"] != records[second]["dynamodb"]["Keys"]:
                records[first], records[second] = records[second], records[first]
                self.reordered += 1
        return {**page, "Records": records}

    def flush(self) -> None:
        """Stop faulting; replays still pending are dropped (they were only ever copies)."""
        self.enabled = False
        self._replays = []


WHOLECELL_FAULT_KINDS = ("rate_limits", "server_errors", "non_json", "timeouts")


def wholecell_fault(wholecell: Any, profile: FaultProfile, rng: random.Random) -> str | None:
    """Maybe make the next WholeCell request fail; which kind (None: no fault this step)."""
    if not profile.wholecell_fault_per_step or rng.random() >= profile.wholecell_fault_per_step:
        return None
    kind = rng.choice(WHOLECELL_FAULT_KINDS)
    wholecell.set_faults(**{kind: 1, "timeout_seconds": 0.01})
    return kind
