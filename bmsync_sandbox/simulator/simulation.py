"""The simulation: the real handlers, store (in-process moto) and clients against both emulators, on
one ManualClock, with a seeded traffic model and seeded faults; then the invariants and the report.

Two strategies run the very same traffic: ``bmsync`` (one-minute schedules and DynamoDB streams, as
deployed) and ``periodic-15m`` (the anchor's documented strategy: every 15 minutes import orders,
recompute and push every listing whose value changed, export shipments).
"""

from __future__ import annotations

import dataclasses
import os
import random
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bmsync import connection_secrets, process, secrets
from bmsync.backmarket import BackMarketClient
from bmsync.backmarket.errors import BackMarketError
from bmsync.catalog import FUNCTIONS, FunctionSpec
from bmsync.clock import ManualClock, utc_iso
from bmsync.observability import logger
from bmsync.settings import (
    LOCAL_SANDBOX_HOSTS_ENV,
    BackMarketConnection,
    BackMarketOrderStatus,
    ConnectionMode,
    ListingImportScope,
    Settings,
    WholeCellConnection,
)
from bmsync.store.settings_repo import SettingsRepository
from bmsync.sync.flow import is_rerun_batch, lease_for
from bmsync_sandbox.runtime.collaborators import use_clock, use_fan_out, use_jitter, use_request_rerun
from bmsync_sandbox.runtime.invoker import Invocation, Invoker
from bmsync_sandbox.runtime.scheduler import Scheduler, scheduled_event
from bmsync_sandbox.runtime.streams import DeadLetters, StreamPump
from bmsync_sandbox.runtime.system import FunctionLogs
from bmsync_sandbox.simulator.fast_store import (
    LocalAwsMeter,
    fast_item_responses,
    fast_stream_records,
    faster_queries,
)
from bmsync_sandbox.simulator.faults import (
    PROFILES,
    ChaoticStreams,
    FaultProfile,
    SimulatedCrash,
    StoreFaults,
    wholecell_fault,
)
from bmsync_sandbox.simulator.metrics import (
    POINT_FAULT_REACH,
    ApiUse,
    Exposure,
    Incident,
    Invariants,
    Latency,
    check_orders,
    check_quantities,
    check_shipments,
    explain_tail,
)
from bmsync_sandbox.simulator.options import MODES, STRATEGIES
from bmsync_sandbox.simulator.stock import WholeCellStock
from bmsync_sandbox.simulator.traffic import Traffic, TrafficRates, add_catalogue, listed_skus

CONNECTION = "sim"
PORTAL_USER_AGENT = "BM-SellerPortal-portal;seller@example.com"
PERIOD = timedelta(minutes=15)
STREAM_ENDPOINT = "https://streams.dynamodb.{region}.amazonaws.com"
REGION = "eu-west-1"
SIMULATION_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # a Monday morning
STACK_LINES = 30  # of each unhandled exception's traceback, in the report
#: How soon the orders waiting on `paid` must be in WholeCell once the seller maps it: the next
#: order_import run reads them again (room left for a Back Market token being replaced meanwhile);
#: periodic-15m adds its period. Without that re-read they would wait for their validation.
MAPPED_ORDERS_DEADLINE = timedelta(minutes=45)
#: An event waiting longer than this has bmsync's item read (its states, for the tail's causes),
#: at most once a simulated minute.
STATE_AFTER = timedelta(seconds=60)
#: The functions each measured direction runs through (the incidents that can hold it back).
TAIL_SUBJECTS = {
    "stock_to_backmarket": ("wholecell_watch", "quantity_sync"),
    "order_to_wholecell_status_mapped": ("order_import",),
    "shipment_to_backmarket": ("wholecell_watch", "shipment_export"),
}


@dataclass(frozen=True)
class SimulationConfig:
    days: float = 1.0
    seed: int = 1
    faults: str = "light"
    strategy: str = "bmsync"
    extra_skus: int = 20
    rates: TrafficRates = field(default_factory=TrafficRates)
    step_seconds: float = 10.0
    warmup_minutes: float = 5.0
    settle_minutes: float = 20.0
    safety_buffer: int = 0
    start: datetime = SIMULATION_START
    #: The connection's mode: ``shadow`` runs every flow and records what it would write, writing
    #: nothing (the report then checks that no write reached either emulator).
    mode: str = "live"
    #: Units every WholeCell variation receives before the start, each listing then showing its stock:
    #: a world that does not run out, where buyers order the same things whatever bmsync sends (a live
    #: and a shadow run on one seed then see the very same traffic).
    stock_per_variation: int = 0
    #: Units each added variation starts with (uniform, inclusive): ``bench.scale`` grows it.
    units_per_variation: tuple[int, int] = (0, 4)
    #: The connection's WholeCell request budget (the setting; WholeCell allows about 2 a second).
    wholecell_requests_per_second: float = 10.0
    #: Simulated minutes between two progress lines.
    progress_minutes: float = 60.0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy: one of {', '.join(STRATEGIES)}")
        if self.mode not in MODES:
            raise ValueError(f"mode: one of {', '.join(MODES)}")
        if self.faults not in PROFILES:
            raise ValueError(f"faults: one of {', '.join(PROFILES)}")
        if self.days <= 0:
            raise ValueError("days: more than 0")

    @property
    def profile(self) -> FaultProfile:
        return PROFILES[self.faults]


def _scheduled_delivery(event: dict[str, Any]) -> bool:
    """Scheduler's event, or a rerun queue's message (SQS delivers at least once too): the
    deliveries the profiles duplicate and run in an overlapping container."""
    if event.get("source") == "bmsync.schedule":
        return True
    return is_rerun_batch(event)


class SimulationInvoker(Invoker):
    """The runtime's invoker, plus what the simulation needs around each call: store faults armed
    only inside handlers, crashes reported as Lambda reports them, duplicated scheduled deliveries,
    and each handler's CPU time (this thread only: the emulators' threads are excluded) and, of it,
    the share moto took (the local AWS; in AWS, DynamoDB runs elsewhere)."""

    def __init__(
        self,
        clock: ManualClock,
        *,
        store_faults: StoreFaults,
        local_aws: LocalAwsMeter,
        rng: random.Random,
        **kwargs: Any,
    ):
        super().__init__(clock, **kwargs)
        self.store_faults = store_faults
        self.local_aws = local_aws
        self.rng = rng
        self.duplicate_schedules = 0.0
        #: Chance that a second container runs a scheduled event while the first is mid-way.
        self.overlapping_containers = 0.0
        self.cpu_seconds: dict[str, float] = defaultdict(float)
        self.invocations: dict[str, int] = defaultdict(int)
        self.records: dict[str, int] = defaultdict(int)  # stream records
        self.reruns: dict[str, int] = defaultdict(int)  # rerun queue messages delivered
        self.store_calls: dict[str, int] = defaultdict(int)
        self.local_aws_cpu_seconds: dict[str, float] = defaultdict(float)
        #: What each handler asked of the local AWS: calls per ``service.Operation`` and DynamoDB's
        #: request units (``LocalAwsMeter``), for the cost of a month.
        self.aws_calls: dict[str, Counter[str]] = defaultdict(Counter)
        #: Per handler: Back Market and WholeCell calls, and the simulated seconds its runs waited
        #: (rate limits, retries): with its CPU, what a Lambda invocation would bill.
        self.http_calls: Callable[[], tuple[int, int]] = lambda: (0, 0)
        self.backmarket_calls: dict[str, int] = defaultdict(int)
        self.wholecell_calls: dict[str, int] = defaultdict(int)
        self.simulated_seconds: dict[str, float] = defaultdict(float)
        self.errors: list[Invocation] = []
        self.error_times: list[datetime] = []  # simulated time of each error, to replay up to it
        self.injected_errors = 0
        self.duplicated_deliveries = 0
        #: What could hold work back (injected store faults, runs bmsync reported failed or
        #: skipped), for the report's tail; the simulation adds its own (tokens, service faults).
        self.incidents: list[Incident] = []
        #: The functions (and tasks) invoked since the simulation last cleared it (each step).
        self.ran: list[str] = []

    def invoke(self, name: str, event: dict[str, Any]) -> Invocation:
        invocation = self._invoke_once(name, event)
        if _scheduled_delivery(event) and self.rng.random() < self.duplicate_schedules:
            self.duplicated_deliveries += 1
            self._invoke_once(name, event)
        return invocation

    def _invoke_once(self, name: str, event: dict[str, Any], *, second_container: bool = False) -> Invocation:
        """One invocation; a second container's runs inside the first's (its CPU and store calls are
        counted there: the same function's)."""
        self.store_faults.install()
        calls_before = self.store_faults.calls
        local_aws_before = self.local_aws.cpu_seconds
        aws_calls_before = Counter(self.local_aws.calls)
        http_before = self.http_calls() if not second_container else (0, 0)
        injected_before = len(self.store_faults.injected)
        simulated_before = self.clock.monotonic()
        overlap = (
            (lambda: self._invoke_once(name, event, second_container=True))
            if not second_container
            and _scheduled_delivery(event)
            and self.rng.random() < self.overlapping_containers
            else None
        )
        self.store_faults.start_run(self.specs[name].timeout_seconds, second_container=overlap)
        started = time.thread_time()
        try:
            if second_container:
                invocation = super().invoke_in_new_container(name, event)
            else:
                invocation = super().invoke(name, event)
        except SimulatedCrash as crash:
            invocation = Invocation(function=name, request_id="crashed", error=str(crash), error_type="Crash")
        finally:
            injected = self.store_faults.end_run()
            if not second_container:
                self.cpu_seconds[name] += time.thread_time() - started
                self.store_calls[name] += self.store_faults.calls - calls_before
                self.local_aws_cpu_seconds[name] += self.local_aws.cpu_seconds - local_aws_before
                self.aws_calls[name].update(self.local_aws.calls - aws_calls_before)
                backmarket_calls, wholecell_calls = self.http_calls()
                self.backmarket_calls[name] += backmarket_calls - http_before[0]
                self.wholecell_calls[name] += wholecell_calls - http_before[1]
                self.simulated_seconds[name] += self.clock.monotonic() - simulated_before
        self.invocations[name] += 1
        if is_rerun_batch(event):
            self.reruns[name] += 1
        else:
            self.records[name] += len(event.get("Records") or [])
        task = event.get("task")
        self.ran.append(f"{name}.{task}" if task else name)
        if not second_container:  # a second container's faults are in the first's list
            self._note_incidents(name, injected_before, invocation)
        if not invocation.ok:
            if injected:
                self.injected_errors += 1
            else:
                self.errors.append(invocation)
                self.error_times.append(self.clock.now())
        return invocation

    def _note_incidents(self, name: str, injected_before: int, invocation: Invocation) -> None:
        """This invocation's injected faults, failures and skipped runs, as the tail's incidents: a
        crash or a kill holds a scheduled run's lock for its lease; anything else costs a run."""
        now = self.clock.now()
        for kind, at in self.store_faults.injected[injected_before:]:
            reach = lease_for(name) if kind in ("crash", "killed_at_timeout") else POINT_FAULT_REACH
            self.incidents.append(Incident(kind, at, at + reach, name))
        if invocation.error_type not in (None, "Crash"):
            self.incidents.append(Incident("run_failed", now, now + POINT_FAULT_REACH, name))
        runs = invocation.result.get("runs") if isinstance(invocation.result, dict) else None
        for run in (runs or {}).values():
            status = run.get("status") if isinstance(run, dict) else None
            if status in ("failed", "skipped"):
                self.incidents.append(
                    Incident(f"run_{status}", now, now + POINT_FAULT_REACH, str(run.get("flow") or name))
                )


class SellerPortal:
    """The seller validating lines in Back Market's portal (outside bmsync); retried through faults."""

    def __init__(self, backmarket: Any, clock: ManualClock, validated: dict[int, datetime]) -> None:
        self._client = BackMarketClient(
            base_url=backmarket.base_url,
            token_provider=lambda force_refresh: backmarket.token,
            market="en-gb",
            user_agent=PORTAL_USER_AGENT,
            clock=clock,
        )
        self._clock = clock
        self._validated = validated

    def accept(self, order_id: int, sku: str) -> None:
        for _attempt in range(10):
            try:
                self._client.accept_orderline(order_id, sku)
            except BackMarketError:
                continue
            self._validated[order_id] = self._clock.now()
            return


@contextmanager
def _in_process_aws() -> Iterator[tuple[Any, Any, LocalAwsMeter]]:
    """moto in this process (no HTTP for DynamoDB), every bmsync table, and the two clients the
    stream pump reads with."""
    import boto3
    from moto import mock_aws

    from bmsync.store.dynamo import reset_connections
    from bmsync.store.tables import ALL_TABLES, local_table_environment

    tables = local_table_environment()
    # The emulators listen on http://127.0.0.1: only a local run may let a connection use them.
    local_hosts = {LOCAL_SANDBOX_HOSTS_ENV: "127.0.0.1,localhost"}
    saved = {
        name: os.environ.get(name)
        for name in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", *tables, *local_hosts)
    }
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ["AWS_DEFAULT_REGION"] = REGION
    os.environ.update(tables)
    os.environ.update(local_hosts)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "simulation")
    # Thousands of runs: their EMF metric lines would flood the report's output.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    try:
        with (
            mock_aws(),
            fast_item_responses(),
            fast_stream_records(),
            faster_queries(),
            LocalAwsMeter().metering() as meter,
        ):
            reset_connections()
            secrets.reset_cache()
            dynamodb = boto3.client("dynamodb", region_name=REGION)
            for definition in ALL_TABLES:
                dynamodb.create_table(**definition.create_table_kwargs())
            # botocore would route stream calls to an account-scoped endpoint moto does not serve.
            streams = boto3.client(
                "dynamodbstreams", region_name=REGION, endpoint_url=STREAM_ENDPOINT.format(region=REGION)
            )
            yield dynamodb, streams, meter
    finally:
        reset_connections()
        secrets.reset_cache()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _periodic_specs() -> tuple[FunctionSpec, ...]:
    """The catalogue as periodic-15m runs it: no stream into quantity_sync (its full pass runs on
    the 15-minute slot instead), shipment_export still reads the orders stream, on the slot only;
    no rerun queues (one run per slot)."""
    specs = []
    for spec in FUNCTIONS:
        if spec.name == "admin":
            continue
        if spec.name == "quantity_sync":
            spec = dataclasses.replace(spec, streams=())
        specs.append(dataclasses.replace(spec, rerun_after_seconds=None))
    return tuple(specs)


def _no_rerun_queue(event: dict[str, Any], delay_seconds: int) -> None:
    """periodic-15m's rerun port: no queue, no second run."""


class Simulation:
    def __init__(
        self,
        config: SimulationConfig,
        *,
        work_dir: Path | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.progress = progress
        self.clock = ManualClock(config.start)
        self.rng = random.Random(config.seed)
        self.profile = config.profile
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="bmsync-sim-"))
        self.dead_letters = DeadLetters(self.work_dir / "dead-letters.jsonl")
        self.exposure = Exposure()
        self.stock_latency = Latency("stock change -> Back Market quantity")
        self.order_latency = Latency("Back Market order -> WholeCell order")
        # The same orders, split: those placed while `paid` was mapped (bmsync's own delay) and those
        # placed before the seller mapped it (they wait for the seller, or for a person's validation).
        self.order_latency_mapped = Latency("Back Market order (status mapped) -> WholeCell order")
        self.order_latency_waiting_on_mapping = Latency(
            "Back Market order placed before `paid` was mapped -> WholeCell order"
        )
        #: bmsync's Back Market listing writes (SKU updates) per simulated hour of traffic, and the
        #: WholeCell requests it made during the traffic (the budgets' use, in ``bench.scale``).
        self.sku_updates_by_hour: dict[int, int] = defaultdict(int)
        self.wholecell_calls_measured = 0
        self.handlers_at_start: dict[str, Counter[str]] = {}
        self.handlers_during_traffic: dict[str, Counter[str]] = {}
        self.shipment_latency = Latency("WholeCell shipment (validated order) -> Back Market shipped")
        self._token_revoked_at: datetime | None = None
        self._next_state_read: datetime | None = None
        self.api = ApiUse()
        self.validated: dict[int, datetime] = {}
        #: WholeCell shipments of Back Market orders whose tracking has not reached Back Market yet.
        self.shipments_pending: dict[str, datetime] = {}
        self.shipments_done: set[str] = set()
        self.expected_orders: list[int] = []
        self.unimported: dict[int, tuple[str, int]] = {}
        #: The orders waiting on `paid` when the seller mapped it, and those not imported in time.
        self.mapped_at: datetime | None = None
        self.waiting_on_mapping: set[int] = set()
        self.late_after_mapping: list[str] = []
        self.unsyncable_units_ordered = 0
        #: A list to keep bmsync's Back Market calls in (the benchmark counts them), or None.
        self.kept_calls: list[dict[str, Any]] | None = None
        self.wholecell_faults = 0
        #: bmsync's write calls to Back Market (not the seller's portal), as the emulator logged them.
        self.backmarket_writes: list[dict[str, Any]] = []
        self.call_times: list[float] = []
        self._last_sample: datetime | None = None
        self.measuring = False
        self.settling = False  # after the traffic: the API use is no longer counted

    # -- the observer the traffic reports to
    def stock_changed(self, sku: str | None, at: datetime) -> None:
        if not self.measuring or sku is None or sku not in self.listed:
            return
        expected = self.stock.expected(sku, self.config.safety_buffer)
        if int(self.backmarket.listing(sku)["quantity"]) != expected:
            self.stock_latency.start(sku, at)

    def buyer_ordered(self, order: dict[str, Any], at: datetime) -> None:
        order_id = int(order["order_id"])
        self.expected_orders.append(order_id)
        for line in order["orderlines"]:
            sku, quantity = line["listing"], int(line["quantity"])
            free = self.stock.expected(sku, self.config.safety_buffer) - self._claimed(sku)
            if self.measuring and sku in self.listed:
                self.exposure.order_placed(quantity, free)
            elif self.measuring:
                # A listing whose SKU no WholeCell variation has (the demo's BMTESTSKU1): no strategy
                # can sync it; the admin shows it as unmapped. Counted apart, not as bmsync's oversell.
                self.unsyncable_units_ordered += quantity
            self.unimported[order_id] = (sku, quantity)
        if self.measuring:
            self.order_latency.start(order_id, at)
            waiting = self.mapped_at is None and self.config.rates.late_mapping_hours is not None
            (self.order_latency_waiting_on_mapping if waiting else self.order_latency_mapped).start(
                order_id, at
            )

    def shipped(self, wholecell_order: dict[str, Any], at: datetime) -> None:
        external_id = wholecell_order.get("external_id")
        if external_id and self.measuring and str(external_id) not in self.shipments_done:
            self.shipments_pending[str(external_id)] = at
            if self.backmarket.order_shipping(int(external_id))[0] in (3, 9):
                self.validated.setdefault(int(external_id), self.config.start)  # validated before the run

    def _claimed(self, sku: str) -> int:
        """Units of Back Market orders WholeCell does not know of yet (they take stock all the same)."""
        return sum(quantity for claimed_sku, quantity in self.unimported.values() if claimed_sku == sku)

    # -- running
    def run(self) -> dict[str, Any]:
        wall_started = time.perf_counter()
        cpu_started = time.process_time()
        with self.running():
            report = self._loop()
        report["wall_seconds"] = round(time.perf_counter() - wall_started, 2)
        report["cpu_seconds"] = round(time.process_time() - cpu_started, 2)
        report["logs"] = {
            "functions": str(self.function_logs.path),
            "dead_letters": str(self.dead_letters.path),
        }
        return report

    @contextmanager
    def running(self) -> Iterator[Simulation]:
        """The whole system up (store, emulators, connection, triggers), the functions' logs in a
        file; everything torn down after. ``run`` uses it, and so does the benchmark."""
        previous_clock, previous_jitter, previous_fan_out, previous_request_rerun = (
            process.clock(),
            process.jitter(),
            process.fan_out(),
            process.request_rerun(),
        )
        previous_level = logger.log_level
        self.function_logs = FunctionLogs(self.work_dir / "functions.log")
        logger.setLevel("WARNING")  # what needs a person still goes to the log; chatter would cost time
        self.function_logs.start()
        try:
            with _in_process_aws() as (dynamodb, streams, self.local_aws):
                from bmsync_sandbox.backmarket.server import BackMarketSandbox
                from bmsync_sandbox.wholecell.server import WholeCellSandbox

                use_clock(self.clock)
                use_jitter(random.Random(self.config.seed * 7919 + 2))  # retry waits replay too
                self.backmarket = BackMarketSandbox(clock=self.clock, demo=True)
                self.wholecell = WholeCellSandbox(clock=self.clock, demo=True)
                self.backmarket.start(0)
                self.wholecell.start(0)
                try:
                    add_catalogue(
                        self.backmarket,
                        self.wholecell,
                        self.rng,
                        self.config.extra_skus,
                        self.config.units_per_variation,
                    )
                    self.stock = WholeCellStock(self.wholecell.account)
                    self.listed = {sku for sku in listed_skus(self.backmarket) if self.stock.knows(sku)}
                    if self.config.stock_per_variation:
                        self._stock_up(self.config.stock_per_variation)
                    self.expected_orders = [
                        int(order["order_id"])
                        for order in self.backmarket.orders()
                        if order["state"] in (1, 3)
                    ]
                    self._wire(dynamodb, streams, self._store_connection())
                    yield self
                finally:
                    self.backmarket.stop()
                    self.wholecell.stop()
        finally:
            self.function_logs.stop()
            logger.setLevel(previous_level)
            use_clock(previous_clock)
            use_jitter(previous_jitter)
            use_fan_out(previous_fan_out)
            use_request_rerun(previous_request_rerun)

    def _stock_up(self, units: int) -> None:
        for variation in sorted(self.wholecell.variations(), key=lambda variation: variation["id"]):
            self.wholecell.receive_units(variation["id"], units)
        expected = self.stock.expected_all(self.listed, self.config.safety_buffer)
        for sku in sorted(self.listed):
            self.backmarket.set_listing_quantity(sku, expected[sku])

    def advance(self, minutes: float) -> None:
        """Let ``minutes`` of simulated time pass, step by step (the benchmark's driver)."""
        until = self.clock.now() + timedelta(minutes=minutes)
        while self.clock.now() < until:
            self._step(max(self.clock.now(), self.clock.now() + timedelta(seconds=self.config.step_seconds)))

    def _store_connection(self) -> Settings:
        settings = Settings(
            connection_id=CONNECTION,
            display_name="Simulated refurbisher",
            backmarket=BackMarketConnection(host=self.backmarket.base_url, market="en-gb", company="Sim"),
            wholecell=WholeCellConnection(
                base_url=self.wholecell.base_url,
                requests_per_second=self.config.wholecell_requests_per_second,
            ),
            order_import_enabled=True,
            order_status_map=self._late_mapped(Settings().order_status_map),
            quantity_sync_enabled=True,
            listing_import_scope=ListingImportScope.ALL,
            safety_buffer=self.config.safety_buffer,
            mode=ConnectionMode(self.config.mode),
        )
        self.connection_id = settings.connection_id
        connection_secrets.write_backmarket_token(self.connection_id, self.backmarket.token)
        connection_secrets.write_wholecell_credentials(
            self.connection_id, self.wholecell.app_id, self.wholecell.app_secret
        )
        return SettingsRepository().save(settings)

    def _late_mapped(self, status_map: dict[BackMarketOrderStatus, str]) -> dict[BackMarketOrderStatus, str]:
        """The status map the connection starts with: `paid` left out for a seller who maps it late."""
        if self.config.rates.late_mapping_hours is None:
            return status_map
        return {status: title for status, title in status_map.items() if status != BackMarketOrderStatus.PAID}

    def _map_paid(self) -> None:
        """The seller maps `paid` in the admin, hours after orders started waiting on it."""
        repo = SettingsRepository()
        settings = repo.get_or_default(CONNECTION)
        status_map = settings.order_status_map | {BackMarketOrderStatus.PAID: "Pending"}
        repo.save(settings.model_copy(update={"order_status_map": status_map}))
        imported = self.stock.backmarket_external_ids()
        self.mapped_at = self.clock.now()
        self.waiting_on_mapping = {
            int(order["order_id"])
            for order in self.backmarket.orders()
            if order["state"] == 1 and str(order["order_id"]) not in imported
        }

    def _check_mapped_orders(self, now: datetime, imported: set[str]) -> None:
        if self.mapped_at is None or not self.waiting_on_mapping:
            return
        self.waiting_on_mapping = {
            order_id for order_id in self.waiting_on_mapping if str(order_id) not in imported
        }
        deadline = MAPPED_ORDERS_DEADLINE + (PERIOD if self.scheduler is None else timedelta(0))
        if self.waiting_on_mapping and now - self.mapped_at > deadline:
            self.late_after_mapping.extend(str(order_id) for order_id in sorted(self.waiting_on_mapping))
            self.waiting_on_mapping = set()

    def _wire(self, dynamodb: Any, streams: Any, settings: Settings) -> None:
        fault_rng = random.Random(self.config.seed * 7919 + 1)
        self.store_faults = StoreFaults(self.profile, fault_rng, self.clock)
        self.streams = ChaoticStreams(streams, self.profile, fault_rng)
        periodic = self.config.strategy == "periodic-15m"
        specs = _periodic_specs() if periodic else tuple(spec for spec in FUNCTIONS if spec.name != "admin")
        self.invoker = SimulationInvoker(
            self.clock, store_faults=self.store_faults, local_aws=self.local_aws, rng=fault_rng, specs=specs
        )
        use_fan_out(self.invoker.invoke_async)
        # periodic-15m is the baseline of one run per slot: it deploys no rerun queue, and what its
        # runs ask for goes nowhere. bmsync's reruns wait in the invoker; the scheduler delivers them.
        use_request_rerun(_no_rerun_queue if periodic else self.invoker.request_rerun)
        self.invoker.http_calls = lambda: (len(self.backmarket.calls()), self.wholecell.call_count())
        # The faults start with the measurement: the warm-up brings the system to a synced state.
        self.store_faults.enabled = False
        self.streams.enabled = False
        self.pump = StreamPump(
            self.invoker, self.clock, self.dead_letters, streams_client=self.streams, dynamodb_client=dynamodb
        )
        self.scheduler: Scheduler | None = None
        if not periodic:
            self.scheduler = Scheduler(self.invoker, start=self.clock.now())
        self.next_slot = self.clock.now()
        self.next_listing_import = self.clock.now()
        self.next_catch_up = self.clock.now() + timedelta(days=1)
        rates = dataclasses.replace(
            self.config.rates, token_rotations_per_day=self.profile.token_rotations_per_day
        )
        self.traffic = Traffic(
            backmarket=self.backmarket,
            wholecell=self.wholecell,
            portal=SellerPortal(self.backmarket, self.clock, self.validated),
            observer=self,
            rng=random.Random(self.config.seed),
            start=self.clock.now() + timedelta(minutes=self.config.warmup_minutes),
            rates=rates,
            rotate_token=self._rotate_token,
            replace_token=self._replace_token,
            map_paid=self._map_paid,
        )
        self.token_rotations = 0

    def _rotate_token(self) -> None:
        """Someone revokes the Back Market token in the portal and makes a new one."""
        self.token_rotations += 1
        self.backmarket.token = f"sim-bm-token-{self.token_rotations}"
        self._token_revoked_at = self._token_revoked_at or self.clock.now()

    def _replace_token(self) -> None:
        """...and saves it in the admin (Secrets Manager), a few minutes later."""
        connection_secrets.write_backmarket_token(self.connection_id, self.backmarket.token)
        if self._token_revoked_at is not None:
            self.invoker.incidents.append(
                Incident("token_rotation", self._token_revoked_at, self.clock.now())
            )
            self._token_revoked_at = None

    def _loop(self) -> dict[str, Any]:
        config = self.config
        step = timedelta(seconds=config.step_seconds)
        measure_from = self.clock.now() + timedelta(minutes=config.warmup_minutes)
        traffic_until = measure_from + timedelta(days=config.days)
        self.backmarket.set_faults([], seed=config.seed)
        target = self.clock.now()
        wall_started = time.perf_counter()
        every = timedelta(minutes=config.progress_minutes)
        next_report = measure_from + every
        while self.clock.now() < traffic_until:
            if not self.measuring and self.clock.now() >= measure_from:
                self._start_measuring()
            target = max(target + step, self.clock.now())
            self._step(target)
            if self.progress is not None and self.clock.now() >= next_report:
                next_report += every
                hours = (self.clock.now() - measure_from).total_seconds() / 3600
                self.progress(
                    f"seed {config.seed}: {round(hours, 2):g} of {config.days * 24:g} simulated hours, "
                    f"{sum(self.traffic.counts.values())} traffic events, "
                    f"{len(self.invoker.errors)} unhandled exceptions, "
                    f"{time.perf_counter() - wall_started:.0f} s"
                )
        if not self.measuring:
            # One step carried the clock past the whole window: its runs wait on the simulated clock
            # (WholeCell's 2 requests a second), and the slots that fell due meanwhile run one after
            # another. Whatever happened counts from here: an empty window, not a crash.
            self._start_measuring()
        # Settle: faults off, no new traffic; what people already started still happens, and the
        # system gets `settle_minutes` after the last of it (a unit graded in the last seconds too).
        self.traffic.stop()
        self._faults_off()
        self.settling = True
        self.wholecell_calls_measured = self.wholecell.call_count() - self.wholecell_calls_before
        self.handlers_during_traffic = _minus(self._handler_totals(), self.handlers_at_start)
        if self.progress is not None:
            self.progress(f"seed {config.seed}: traffic done; settling")
        settle = timedelta(minutes=config.settle_minutes)
        settle_from = self.clock.now()
        while (
            self.traffic.pending_people_actions()
            or self.clock.now() < max(settle_from, self.traffic.last_action_at) + settle
        ):
            target = max(target + step, self.clock.now())
            self._step(target)
        return self._report(measured_hours=config.days * 24)

    def _start_measuring(self) -> None:
        self.measuring = True
        self.backmarket.clear_calls()
        self.wholecell_calls_before = self.wholecell.call_count()
        self.handlers_at_start = self._handler_totals()
        self.backmarket.set_faults(self.profile.backmarket_rules(), seed=self.config.seed)
        self.store_faults.enabled = True
        self.streams.enabled = True
        self.invoker.duplicate_schedules = self.profile.schedule_duplicate
        self.invoker.overlapping_containers = self.profile.overlapping_container

    def _handler_totals(self) -> dict[str, Counter[str]]:
        """Each handler's counters so far (the report's ``handlers_during_traffic`` subtracts two)."""
        invoker = self.invoker
        return {
            name: Counter(
                {
                    "invocations": invoker.invocations[name],
                    "stream_records": invoker.records[name],
                    "cpu_seconds": invoker.cpu_seconds[name],
                    "local_aws_cpu_seconds": invoker.local_aws_cpu_seconds[name],
                    "backmarket_calls": invoker.backmarket_calls[name],
                    "wholecell_calls": invoker.wholecell_calls[name],
                    "simulated_seconds": invoker.simulated_seconds[name],
                    **invoker.aws_calls[name],
                }
            )
            for name in list(invoker.invocations)
        }

    def _faults_off(self) -> None:
        self.backmarket.clear_faults()
        self.wholecell.clear_faults()
        self.store_faults.enabled = False
        self.streams.flush()
        self.invoker.duplicate_schedules = 0.0
        self.invoker.overlapping_containers = 0.0
        if self.backmarket.token != self._stored_token():
            self._replace_token()  # a rotation left half-done at the end is finished by the admin

    def _stored_token(self) -> str:
        return connection_secrets.read_backmarket_token(self.connection_id, force_fetch=True)

    def _step(self, target: datetime) -> None:
        self.traffic.run_due(target, self.clock)
        self.clock.set(target)
        self.invoker.ran.clear()
        if (
            self.measuring
            and self.store_faults.enabled
            and wholecell_fault(self.wholecell, self.profile, self.rng)
        ):
            self.wholecell_faults += 1
            now = self.clock.now()
            self.invoker.incidents.append(Incident("wholecell_fault", now, now + POINT_FAULT_REACH))
        self._trigger()
        self._sample()

    def _trigger(self) -> None:
        now = self.clock.now()
        if self.scheduler is not None:
            self.scheduler.fire_due(now)
            self.pump.drain()
            return
        # periodic-15m: listings hourly, a daily catch-up, everything else on the 15-minute slot.
        if now >= self.next_listing_import:
            self.next_listing_import += timedelta(hours=1)
            self._scheduled("listing_import")
        if now >= self.next_catch_up:
            self.next_catch_up += timedelta(days=1)
            self._scheduled("order_import", "catch_up")
        if now >= self.next_slot:
            self.next_slot += PERIOD
            self._scheduled("order_import")
            self._scheduled("wholecell_watch")
            self._scheduled("quantity_sync", "drift_check")
            self.pump.drain()

    def _scheduled(self, function: str, task: str | None = None) -> None:
        self.invoker.invoke(function, scheduled_event(function, self.clock.now(), task))

    def _sample(self) -> None:
        now = self.clock.now()
        calls = [call for call in self.backmarket.calls() if call.get("user_agent") != PORTAL_USER_AGENT]
        self.backmarket.clear_calls()
        self.backmarket_writes.extend(call for call in calls if call["method"] != "GET")
        if self.kept_calls is not None:
            self.kept_calls.extend(calls)
        if not self.measuring:
            self._last_sample = now
            return
        self.invoker.incidents.extend(
            Incident("backmarket_fault", now, now + POINT_FAULT_REACH) for call in calls if call.get("fault")
        )
        finished_by = tuple(dict.fromkeys(self.invoker.ran))
        if not self.settling:
            hour = int((now - self.config.start).total_seconds() // 3600)
            self.api.record(calls, hour)
            self.sku_updates_by_hour[hour] += sum(
                1
                for call in calls
                if call.get("route") == "POST /ws/listings/{listing_id}" and call.get("status") == 200
            )
            self.call_times.extend(float(call["monotonic"]) for call in calls)
        offered = {listing["sku"]: int(listing["quantity"]) for listing in self.backmarket.listings()}
        expected = self.stock.expected_all(self.listed, self.config.safety_buffer)
        imported = self.stock.backmarket_external_ids()
        self._check_mapped_orders(now, imported)
        for order_id in [order_id for order_id in self.unimported if str(order_id) in imported]:
            del self.unimported[order_id]
            self.order_latency.finish(order_id, now)
            for split in (self.order_latency_mapped, self.order_latency_waiting_on_mapping):
                if split.is_open(order_id):
                    split.finish(order_id, now, finished_by)
        claimed: dict[str, int] = defaultdict(int)
        for sku, quantity in self.unimported.values():
            claimed[sku] += quantity
        free = {sku: expected[sku] - claimed[sku] for sku in expected}
        if self._last_sample is not None:
            seconds = (now - self._last_sample).total_seconds()
            self.exposure.sample({sku: offered.get(sku, 0) for sku in free}, free, seconds)
        self._last_sample = now
        for sku in self.stock_latency.open_keys():
            if offered.get(sku) == expected.get(sku):
                self.stock_latency.finish(sku, now, finished_by)
        for external_id, shipped_at in list(self.shipments_pending.items()):
            state, tracking_number = self.backmarket.order_shipping(int(external_id))
            validated_at = self.validated.get(int(external_id))
            if validated_at is None or state not in (3, 9):
                continue
            # Due once both happened: shipped in WholeCell and validated on Back Market.
            self.shipment_latency.start(external_id, max(shipped_at, validated_at))
            if tracking_number:
                self.shipment_latency.finish(external_id, now, finished_by)
                del self.shipments_pending[external_id]
                self.shipments_done.add(external_id)
        if self._next_state_read is None or now >= self._next_state_read:
            self._next_state_read = now + STATE_AFTER
            self._note_states(now)

    def _note_states(self, now: datetime) -> None:
        """What bmsync's items say about the events waiting longer than :data:`STATE_AFTER` (read
        from its tables, for the report's tail only: the latencies themselves are measured outside)."""
        from bmsync.store.listings_repo import ListingsRepository
        from bmsync.store.orders_repo import OrdersRepository

        waiting = STATE_AFTER.total_seconds()
        listings = ListingsRepository(CONNECTION)
        for sku in self.stock_latency.waiting_longer_than(now, waiting):
            for listing in listings.by_sku(sku):
                self.stock_latency.note_state(sku, _state(listing.sync_status, listing.reason))
        orders = OrdersRepository()
        for order_id in self.order_latency_mapped.waiting_longer_than(now, waiting):
            record = orders.get(CONNECTION, order_id)
            self.order_latency_mapped.note_state(
                order_id,
                "not read from Back Market yet"
                if record is None
                else _state(record.import_state, record.import_status),
            )
        for external_id in self.shipment_latency.waiting_longer_than(now, waiting):
            record = orders.get(CONNECTION, external_id)
            if record is not None:
                self.shipment_latency.note_state(
                    external_id,
                    _state(record.export_state, record.export_reason)
                    + (f" (attempt {record.export_attempts})" if record.export_attempts else ""),
                )

    # -- the end
    def _writes(self) -> dict[str, Any]:
        """Every write bmsync sent to either emulator (the traffic's own changes go through their
        control APIs, the seller's portal is told apart by its User-Agent)."""
        wholecell = [call for call in self.wholecell.calls() if call["method"] != "GET"]
        return {
            "backmarket": len(self.backmarket_writes),
            "wholecell": len(wholecell),
            "examples": [
                f"{service} {call['method']} {call['path']}"
                for service, calls in (("backmarket", self.backmarket_writes), ("wholecell", wholecell))
                for call in calls[:5]
            ],
        }

    def _decisions(self) -> dict[str, Any]:
        """What bmsync made happen (live), or would have (shadow): the quantity each listing shows (or
        would show), and each WholeCell order with its items (SKU, quantity, unit price in cents)."""
        from bmsync.store.listings_repo import ListingsRepository
        from bmsync.store.shadow_repo import KINDS, ShadowRepository

        if self.config.mode == ConnectionMode.SHADOW:
            listings = ListingsRepository(CONNECTION).all()
            writes = ShadowRepository(CONNECTION, self.clock).list()
            return {
                "quantities": {
                    listing.sku: listing.last_calculated
                    for listing in listings
                    if listing.sku in self.listed and listing.last_calculated is not None
                },
                "orders": {
                    write.subject: sorted(
                        [item.sku or "", item.quantity, item.price_cents] for item in write.items
                    )
                    for write in writes
                    if write.kind == "order"
                },
                "recorded": {kind: sum(1 for write in writes if write.kind == kind) for kind in KINDS},
            }
        marker = f"bmsync:{CONNECTION}:"
        return {
            "quantities": {
                listing["sku"]: int(listing["quantity"])
                for listing in self.backmarket.listings()
                if listing["sku"] in self.listed
            },
            "orders": {
                str(order["external_id"]): sorted(
                    [item["sku"] or "", item["quantity"], item["price"]] for item in order["order_items"]
                )
                for order in self.wholecell.orders(channel="Backmarket")
                if marker in (order.get("notes") or "")
            },
        }

    def _live_invariants(self, invariants: Invariants) -> None:
        """What a live run must have achieved: every order in WholeCell once, every shipment on Back
        Market, every listing showing its stock (a shadow run writes nothing, so none of these apply)."""
        external_ids = [
            order["external_id"]
            for order in self.wholecell.orders(channel="Backmarket")
            if order.get("external_id")
        ]
        invariants.duplicate_orders, invariants.missing_orders = check_orders(
            self.expected_orders, external_ids
        )
        shipped = {
            str(order["external_id"]): order["shipments"][0]["tracking_number"]
            for order in self.wholecell.orders(channel="Backmarket")
            if order.get("shipments") and order.get("external_id")
        }
        backmarket_orders = {
            str(order["order_id"]): {
                "state": order["state"],
                "tracking_number": order.get("tracking_number"),
                "cancelled": all(line["state"] in (4, 5, 6) for line in order["orderlines"]),
            }
            for order in self.backmarket.orders()
        }
        invariants.lost_shipments = check_shipments(shipped, backmarket_orders)
        invariants.orders_late_after_mapping = self.late_after_mapping
        offered = {listing["sku"]: int(listing["quantity"]) for listing in self.backmarket.listings()}
        invariants.quantity_mismatches = check_quantities(
            offered, self.stock.expected_all(self.listed, self.config.safety_buffer)
        )

    def _report(self, measured_hours: float) -> dict[str, Any]:
        invariants = Invariants()
        writes = self._writes()
        if self.config.mode == ConnectionMode.SHADOW:
            invariants.writes_in_shadow_mode = writes["examples"]
        else:
            self._live_invariants(invariants)
        explanations = {
            example.split(":")[0]: self._bmsync_view(example.split(":")[0])
            for example in invariants.quantity_mismatches[:10]
        }
        invariants.unhandled_exceptions = [
            f"{error.function}: {error.error_type}: {error.error}" for error in self.invoker.errors
        ]
        dead_letters = self.dead_letters.read()
        invariants.dead_letters_without_reason = [
            f"{entry.get('function')} {entry.get('start_sequence_number')}"
            for entry in dead_letters
            if not str(entry.get("reason") or "").strip()
        ]
        budgets = self.backmarket.budgets
        self.api.window(self.call_times, budgets.window_seconds)
        return {
            "config": {
                "days": self.config.days,
                "seed": self.config.seed,
                "faults": self.config.faults,
                "strategy": self.config.strategy,
                "mode": self.config.mode,
                "listings": len(self.listed),
                "extra_skus": self.config.extra_skus,
                "step_seconds": self.config.step_seconds,
                "started_at": utc_iso(self.config.start),
                "ended_at": utc_iso(self.clock.now()),
            },
            "ok": not invariants.broken,
            "invariants": {
                name: {"count": len(ids), "examples": ids[:10]}
                for name, ids in invariants.checked(shadow=self.config.mode == ConnectionMode.SHADOW).items()
            },
            "mismatch_explanations": explanations,
            "writes": {"backmarket": writes["backmarket"], "wholecell": writes["wholecell"]},
            "decisions": self._decisions(),
            "unhandled_exception_details": [
                {
                    "at": utc_iso(at),
                    "function": error.function,
                    "error_type": error.error_type,
                    "error": error.error,
                    "stack": "".join(error.stack).splitlines()[-STACK_LINES:],
                }
                for error, at in list(zip(self.invoker.errors, self.invoker.error_times, strict=True))[:10]
            ],
            "oversell": {
                "exposure_unit_hours": round(self.exposure.unit_hours, 3),
                "forced_cancellations": self.exposure.forced_cancellations,
                "units_ordered_on_unmapped_listings": self.unsyncable_units_ordered,
                "worst_oversold_units": self.exposure.worst_units,
                "worst_skus_unit_hours": self.exposure.worst_skus(),
            },
            "latency": {
                "stock_to_backmarket": self.stock_latency.summary(),
                "order_to_wholecell": self.order_latency.summary(),
                "order_to_wholecell_status_mapped": self.order_latency_mapped.summary(),
                "order_to_wholecell_placed_before_mapping": self.order_latency_waiting_on_mapping.summary(),
                "shipment_to_backmarket": self.shipment_latency.summary(),
            },
            "latency_tail": {
                name: explain_tail(latency, self.invoker.incidents, TAIL_SUBJECTS[name])
                for name, latency in (
                    ("stock_to_backmarket", self.stock_latency),
                    ("order_to_wholecell_status_mapped", self.order_latency_mapped),
                    ("shipment_to_backmarket", self.shipment_latency),
                )
            },
            "backmarket_api": self.api.summary(measured_hours, budgets.requests_per_window)
            | {
                "sku_updates_by_hour": [count for _, count in sorted(self.sku_updates_by_hour.items())],
                "sku_updates_per_hour_budget": budgets.sku_updates_per_hour,
            },
            "wholecell_api": {
                "calls": self.wholecell_calls_measured,
                "requests_per_second_setting": self.config.wholecell_requests_per_second,
            },
            "traffic": dict(sorted(self.traffic.counts.items())),
            "faults": {
                "profile": self.profile.name,
                "dynamodb_throttled": self.store_faults.throttled,
                "crashes_between_writes": self.store_faults.crashes,
                "runs_killed_at_timeout": self.store_faults.timeouts,
                "overlapping_containers": self.store_faults.overlapping_containers,
                "stream_records_duplicated": self.streams.duplicated,
                "stream_records_reordered": self.streams.reordered,
                "scheduled_deliveries_duplicated": self.invoker.duplicated_deliveries,
                "wholecell_faults": self.wholecell_faults,
                "token_rotations": self.token_rotations,
                "failed_invocations_from_injected_faults": self.invoker.injected_errors,
                "dead_lettered_batches": len(dead_letters),
            },
            "handlers": {
                name: {
                    "invocations": self.invoker.invocations[name],
                    "stream_records": self.invoker.records[name],
                    "reruns": self.invoker.reruns[name],
                    "cpu_seconds": round(self.invoker.cpu_seconds[name], 3),
                    "dynamodb_calls": self.invoker.store_calls[name],
                    "local_aws_cpu_seconds": round(self.invoker.local_aws_cpu_seconds[name], 3),
                    "aws_calls": dict(sorted(self.invoker.aws_calls[name].items())),
                }
                for name in sorted(self.invoker.invocations)
            },
            # The same counters from the start of the measurement to the end of the traffic (no
            # warm-up, no settling): what a steady day costs, in ``bench.scale``.
            "handlers_during_traffic": {
                name: {key: round(value, 3) for key, value in sorted(counters.items())}
                for name, counters in sorted(self.handlers_during_traffic.items())
            },
        }

    def _bmsync_view(self, sku: str) -> dict[str, Any]:
        """What bmsync's own tables say about a SKU (to explain a mismatch without a debugger)."""
        from bmsync.store.listings_repo import ListingsRepository
        from bmsync.store.stock_repo import StockRepository

        fields = ("sync_status", "reason", "bm_quantity", "last_calculated", "last_synced", "last_synced_at")
        return {
            "listings": [
                {name: getattr(item, name) for name in (*fields, "last_error")}
                for item in ListingsRepository(CONNECTION).by_sku(sku)
            ],
            "stock": [item.model_dump(mode="json") for item in StockRepository(CONNECTION).by_sku(sku)],
            "wholecell_calculated": {
                variation_id: value
                for variation_id, value in self.stock.calculated().items()
                if self.wholecell.account.variations[variation_id].sku == sku
            },
        }


def _state(status: str, reason: str) -> str:
    """An item's status and the start of its reason (numbers in a reason would make every read new)."""
    return f"{status}: {reason[:90]}" if reason else status


def _minus(after: dict[str, Counter[str]], before: dict[str, Counter[str]]) -> dict[str, Counter[str]]:
    return {
        name: Counter({key: value - before.get(name, Counter())[key] for key, value in counters.items()})
        for name, counters in after.items()
    }


def simulate(
    config: SimulationConfig,
    *,
    work_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    return Simulation(config, work_dir=work_dir, progress=progress).run()
