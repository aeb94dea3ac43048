"""``bmsync up``: the whole system on one machine — local AWS, both emulators, every function.

Starts moto's server (tables and secrets), the Back Market and WholeCell emulators, stores the demo
connection's settings and credentials the way the admin would, then runs the scheduler, the stream
pump, the admin's Function URL and the demo traffic until Ctrl-C or ``--duration``. With ``--no-demo``
both accounts start empty and no connection exists: the user creates theirs in the admin (two
connections on the same accounts would import every order twice). Every address
and the sandbox credentials go to ``<state-dir>/local.json`` for scripts; one line per event goes to
the terminal.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from bmsync import connection_secrets, process
from bmsync.admin import sandbox_hosts
from bmsync.admin.sandbox_hosts import SandboxHosts
from bmsync.catalog import FUNCTIONS_DIR
from bmsync.clock import Clock, utc_iso
from bmsync.fan_out import invoke_async
from bmsync.observability import logger
from bmsync.rerun import send_to_rerun_queue
from bmsync.settings import (
    AutoValidation,
    BackMarketConnection,
    BackMarketOrderStatus,
    ConnectionMode,
    ProductVariationMode,
    Settings,
    WholeCellConnection,
)
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.tables import ALL_TABLES
from bmsync_sandbox.local_admin import seed_local_admin_password
from bmsync_sandbox.runtime import listing_import_starter
from bmsync_sandbox.runtime.collaborators import use_clock, use_fan_out, use_request_rerun
from bmsync_sandbox.runtime.demo_traffic import DemoTraffic
from bmsync_sandbox.runtime.events import RuntimeEvent, summarize
from bmsync_sandbox.runtime.function_url import FunctionUrlServer
from bmsync_sandbox.runtime.invoker import Invoker
from bmsync_sandbox.runtime.local_aws import LocalAws
from bmsync_sandbox.runtime.scheduler import Scheduler
from bmsync_sandbox.runtime.streams import DeadLetters, StreamPump

DEMO_CONNECTION = "demo"
SCHEDULE_TICK_SECONDS = 1.0
STREAM_POLL_SECONDS = 0.5  # within the event sources' one-second batching window

#: What the functions' environment holds in AWS that matters locally (CDK sets the same).
LAMBDA_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "bmsync",
    "POWERTOOLS_METRICS_NAMESPACE": "bmsync",
    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon on this machine
    # EMF metric lines would go to the console (in AWS, to CloudWatch Metrics through the log).
    "POWERTOOLS_METRICS_DISABLED": "true",
}


@dataclass(frozen=True)
class Ports:
    moto: int = 5500
    backmarket: int = 5501
    wholecell: int = 5502
    admin: int = 5503


class ConsoleLog:
    """One line per runtime event: time, function, trigger, connection, outcome, detail."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.Lock()

    def __call__(self, event: RuntimeEvent) -> None:
        self.write(
            f"{event.at.strftime('%H:%M:%S')}  {event.function:<16} {event.trigger:<20} "
            f"{event.connection:<8} {event.outcome:<11} {event.detail}".rstrip()
        )

    def write(self, text: str) -> None:
        with self._lock:
            self._out.write(text + "\n")
            self._out.flush()


class FunctionLogs:
    """The local CloudWatch Logs: what the functions log and print goes to a file, not the terminal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None
        self._previous_stdout: TextIO | None = None
        self._previous_log_stream: Any = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8", buffering=1)
        self._previous_stdout = sys.stdout
        sys.stdout = self._file  # Powertools Metrics prints its EMF lines
        handler = logger.registered_handler
        if isinstance(handler, logging.StreamHandler):
            self._previous_log_stream = handler.setStream(self._file)

    def stop(self) -> None:
        if self._file is None:
            return
        handler = logger.registered_handler
        if self._previous_log_stream is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(self._previous_log_stream)
        if self._previous_stdout is not None:
            sys.stdout = self._previous_stdout
        self._file.close()
        self._file = None


class LocalSystem:
    """Everything ``bmsync up`` runs; ``start``/``stop`` for the command, ``tick`` for a driver."""

    def __init__(
        self,
        *,
        state_dir: Path,
        ports: Ports,
        demo: bool,
        clock: Clock,
        console: ConsoleLog,
        functions_dir: Path = FUNCTIONS_DIR,
        traffic_every: timedelta = timedelta(seconds=20),
    ) -> None:
        self.state_dir = state_dir
        self.ports = ports
        self.demo = demo
        self.clock = clock
        self.console = console
        self.functions_dir = functions_dir
        self.traffic_every = traffic_every
        self.aws = LocalAws(port=ports.moto)
        self.dead_letters = DeadLetters(state_dir / "dead-letters.jsonl")
        self.function_logs = FunctionLogs(state_dir / "functions.log")
        self._stoppables: list[Any] = []
        self._environment_set: list[str] = []
        self.addresses: dict[str, str] = {}
        self.scheduler: Scheduler | None = None
        self.pump: StreamPump | None = None
        self.traffic: DemoTraffic | None = None
        #: The emulators, for a driver that acts as a buyer or a warehouse (``start`` sets them).
        self.backmarket: Any = None
        self.wholecell: Any = None
        self.admin_password = ""
        #: Set when a stop is requested: the invocation in flight finishes, no new one starts.
        self.stopping = threading.Event()

    # -- start and stop
    def start(self) -> dict[str, str]:
        from bmsync_sandbox.backmarket.server import BackMarketSandbox
        from bmsync_sandbox.wholecell.server import WholeCellSandbox

        use_clock(self.clock)  # the handlers' clock is the runtime's (a simulator's ManualClock)
        for name, value in LAMBDA_ENVIRONMENT.items():
            if name not in os.environ:
                os.environ[name] = value
                self._environment_set.append(name)
        self.addresses["aws"] = self.aws.start()
        self._stoppables.append(self.aws)
        backmarket = self.backmarket = BackMarketSandbox(clock=self.clock, demo=self.demo)
        self.addresses["backmarket"] = backmarket.start(self.ports.backmarket)
        self._stoppables.append(backmarket)
        wholecell = self.wholecell = WholeCellSandbox(clock=self.clock, demo=self.demo, catalogue=self.demo)
        self.addresses["wholecell"] = wholecell.start(self.ports.wholecell)
        self._stoppables.append(wholecell)

        # The admin names these hosts "local sandbox" and offers them to a connection.
        sandbox_hosts.installed = SandboxHosts(backmarket=backmarket.base_url, wholecell=wholecell.base_url)
        settings = self._store_demo_connection(backmarket, wholecell) if self.demo else None
        invoker = Invoker(self.clock, functions_dir=self.functions_dir)
        use_fan_out(invoker.invoke_async)  # a scheduled run's fan-out goes through this invoker
        use_request_rerun(invoker.request_rerun)  # its rerun waits there; the scheduler delivers it
        ready = self._ready_functions(invoker)
        self.scheduler = Scheduler(invoker, start=self.clock.now(), functions=ready, on_event=self.console)
        self.pump = StreamPump(
            invoker,
            self.clock,
            self.dead_letters,
            streams_client=self.aws.dynamodb_streams(),
            dynamodb_client=self.aws.dynamodb(),
            functions=ready,
            on_event=self.console,
        )
        listing_import_starter.install(invoker, on_event=self.console)  # the admin's "Import listings"
        url_server = FunctionUrlServer(invoker, port=self.ports.admin, on_event=self.console)
        self.addresses["admin"] = url_server.start()
        self._stoppables.append(url_server)
        if settings is not None:
            self.traffic = _demo_traffic(backmarket, wholecell, settings, self.clock, self.traffic_every)
        self.admin_password = seed_local_admin_password(self.state_dir)
        self._write_local_json(settings, backmarket, wholecell)
        self.function_logs.start()
        self._stoppables.append(self.function_logs)
        return dict(self.addresses)

    def stop(self) -> None:
        while self._stoppables:
            self._stoppables.pop().stop()
        listing_import_starter.uninstall()
        sandbox_hosts.installed = None
        use_fan_out(invoke_async)
        use_request_rerun(send_to_rerun_queue)
        while self._environment_set:
            os.environ.pop(self._environment_set.pop(), None)

    def _store_demo_connection(self, backmarket: Any, wholecell: Any) -> Settings:
        settings = Settings(
            connection_id=DEMO_CONNECTION,
            display_name="Demo refurbisher (local sandbox)",
            backmarket=BackMarketConnection(host=backmarket.base_url, market="en-gb", company="Demo"),
            wholecell=WholeCellConnection(base_url=wholecell.base_url),
            order_import_enabled=True,
            quantity_sync_enabled=True,
            product_variations=ProductVariationMode.MATCH_VIA_SKU,
            # Validate new demo orders that stock covers, so the demo's shipments keep flowing both ways.
            auto_validation=AutoValidation.WHEN_STOCK_COVERS,
            # The demo shows bmsync at work: live (a connection added in the admin starts in shadow mode).
            mode=ConnectionMode.LIVE,
        )
        connection_secrets.write_backmarket_token(settings.connection_id, backmarket.token)
        connection_secrets.write_wholecell_credentials(
            settings.connection_id, wholecell.app_id, wholecell.app_secret
        )
        return SettingsRepository().save(settings)

    def _ready_functions(self, invoker: Invoker) -> set[str]:
        ready: set[str] = set()
        for name in invoker.specs:
            if invoker.available(name):
                ready.add(name)
            else:
                self.console.write(
                    f"  {name}: {invoker.handler_path(name).relative_to(self.functions_dir.parent)} "
                    "is not built yet: skipped"
                )
        return ready

    def _write_local_json(self, settings: Settings | None, backmarket: Any, wholecell: Any) -> None:
        """Where everything listens and the sandbox credentials, for scripts (``bmsync admin
        set-password --local`` reads ``aws_endpoint_url`` and ``region``). The admin password is
        printed, never written: only its hash exists, in the local Secrets Manager. Without the demo
        there is no connection: ``connection_id`` and ``secret_names`` are null."""
        document = {
            "started_at": utc_iso(self.clock.now()),
            "pid": os.getpid(),
            "connection_id": settings.connection_id if settings is not None else None,
            "aws_endpoint_url": self.addresses["aws"],
            "region": self.aws.region,
            "aws_access_key_id": "sandbox",
            "aws_secret_access_key": "sandbox",
            "tables": {table.logical_name: table.physical_name for table in ALL_TABLES},
            "secret_names": (
                {
                    "backmarket_token": connection_secrets.secret_name(
                        settings.connection_id, "backmarket-token"
                    ),
                    "wholecell_credentials": connection_secrets.secret_name(
                        settings.connection_id, "wholecell"
                    ),
                }
                if settings is not None
                else None
            ),
            "admin_url": self.addresses["admin"],
            "backmarket": {"url": self.addresses["backmarket"], "token": backmarket.token},
            "wholecell": {
                "url": self.addresses["wholecell"],
                "app_id": wholecell.app_id,
                "app_secret": wholecell.app_secret,
            },
            "dead_letters": str(self.dead_letters.path),
            "function_logs": str(self.function_logs.path),
        }
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / "local.json"
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        path.chmod(0o600)  # sandbox credentials, but credentials all the same

    # -- one step of each loop (the loops below, or a test, call these)
    def run_schedules(self) -> None:
        assert self.scheduler is not None, "start() first"
        now = self.clock.now()
        self.scheduler.fire_due(now, keep_going=lambda: not self.stopping.is_set())
        if self.traffic is not None and not self.stopping.is_set():
            try:
                happened = self.traffic.step(now)
            except Exception as error:  # an emulator refusing a demo action must not stop the demo
                self.console(
                    RuntimeEvent(now, "demo", "traffic", DEMO_CONNECTION, "error", summarize(str(error)))
                )
            else:
                if happened:
                    self.console(RuntimeEvent(now, "demo", "traffic", DEMO_CONNECTION, "ok", happened))

    def pump_streams(self) -> None:
        assert self.pump is not None, "start() first"
        self.pump.pump_once()

    def run(self, duration: float | None) -> None:
        """Run the loops until :attr:`stopping` is set or ``duration`` seconds have passed."""
        stop = self.stopping
        loops = [
            threading.Thread(
                target=self._loop, args=(stop, self.run_schedules, SCHEDULE_TICK_SECONDS), daemon=True
            ),
            threading.Thread(
                target=self._loop, args=(stop, self.pump_streams, STREAM_POLL_SECONDS), daemon=True
            ),
        ]
        for loop in loops:
            loop.start()
        stop.wait(timeout=duration)
        stop.set()
        for loop in loops:
            loop.join()

    def _loop(self, stop: threading.Event, step: Any, interval: float) -> None:
        while not stop.is_set():
            try:
                step()
            except Exception as error:  # one failed poll is reported; the loop goes on, like Lambda's
                self.console(
                    RuntimeEvent(
                        self.clock.now(), "runtime", step.__name__, "-", "error", summarize(str(error))
                    )
                )
            stop.wait(interval)


def _demo_traffic(
    backmarket: Any, wholecell: Any, settings: Settings, clock: Clock, every: timedelta
) -> DemoTraffic:
    from bmsync.wholecell import client_for

    client = client_for(settings, clock)
    accepted = settings.wholecell_status_for(BackMarketOrderStatus.ACCEPTED)

    def orders_to_ship() -> Iterable[tuple[int, list[str]]]:
        for order in client.iter_sales_orders(channel="Backmarket", status=accepted):
            if order.shipments:
                continue
            yield order.id, [item.sku for item in order.order_items if item.sku for _ in range(item.quantity)]

    def available_units(sku: str) -> list[int]:
        return [
            unit.id
            for unit in client.iter_inventories(status="Available")
            if unit.order_id is None
            and unit.product_variation is not None
            and unit.product_variation.sku == sku
        ]

    return DemoTraffic(
        backmarket,
        wholecell,
        orders_to_ship=orders_to_ship,
        available_units=available_units,
        rng=random.Random(),
        every=every,
        start=clock.now(),
    )


def _banner(addresses: dict[str, str], state_dir: Path, admin_password: str) -> str:
    return "\n".join(
        [
            "bmsync is up on the local sandbox (Ctrl-C to stop)",
            f"  admin console     {addresses['admin']}/  (password for this run: {admin_password})",
            f"  Back Market API   {addresses['backmarket']}/ws/",
            f"  WholeCell API     {addresses['wholecell']}",
            f"  local AWS (moto)  {addresses['aws']}",
            f"  addresses, keys   {state_dir / 'local.json'}",
            f"  dead letters      {state_dir / 'dead-letters.jsonl'}",
            f"  function logs     {state_dir / 'functions.log'}",
            "time      function         trigger              conn.    outcome     detail",
        ]
    )


def run_up(args: argparse.Namespace, out: TextIO | None = None) -> int:
    console = ConsoleLog(out or sys.stdout)
    state_dir = Path(args.state_dir)
    system = LocalSystem(
        state_dir=state_dir,
        ports=Ports(args.moto_port, args.backmarket_port, args.wholecell_port, args.admin_port),
        demo=not args.no_demo,
        clock=process.clock(),
        console=console,
    )

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if system.stopping.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: do not wait for the invocations in flight
        console.write("stopping... (the invocations in flight finish first; Ctrl-C again to force)")
        system.stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            addresses = system.start()
        except OSError as error:
            console.write(
                f"bmsync up could not start: {error}. Is another `bmsync up` running? "
                "Stop it, or choose other ports "
                "(--moto-port, --backmarket-port, --wholecell-port, --admin-port)."
            )
            return 1
        console.write(_banner(addresses, state_dir, system.admin_password))
        system.run(args.duration)
        return 0
    except KeyboardInterrupt:
        return 130  # forced by a second Ctrl-C
    finally:
        system.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        console.write("bmsync stopped")
