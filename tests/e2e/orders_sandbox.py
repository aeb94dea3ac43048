"""The order directions end to end: moto's server, both emulators, the real handlers and the stream pump.

order_import and wholecell_watch are invoked as their schedules would; shipment_export is reached
through the ``orders`` stream, with Lambda's event filters, and by its every-minute retry task; the
console is the admin function, sent the events its Function URL would. Time is a ManualClock the test
moves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bmsync import backmarket, connection_secrets
from bmsync.admin import credentials
from bmsync.backmarket import BackMarketClient
from bmsync.catalog import by_name
from bmsync.clock import ManualClock, SystemClock
from bmsync.rerun import send_to_rerun_queue
from bmsync.settings import BackMarketConnection, Settings, WholeCellConnection
from bmsync.store.orders_repo import OrderRecord, OrdersRepository
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from bmsync_sandbox.backmarket.server import BackMarketSandbox
from bmsync_sandbox.runtime.collaborators import use_clock, use_request_rerun
from bmsync_sandbox.runtime.invoker import Invoker
from bmsync_sandbox.runtime.local_aws import LocalAws
from bmsync_sandbox.runtime.scheduler import scheduled_event
from bmsync_sandbox.runtime.streams import DeadLetters, StreamPump
from bmsync_sandbox.wholecell.server import WholeCellSandbox
from tests.unit.admin.conftest import AdminClient

CONNECTION = "shop"
FUNCTIONS = ("order_import", "wholecell_watch", "shipment_export", "listing_import", "admin")
CONSOLE_PASSWORD = "orders e2e console passphrase"


class AdminFunctionUrl:
    """The admin function behind its Function URL, for :class:`AdminClient` (which calls ``resolve``)."""

    def __init__(self, invoker: Invoker) -> None:
        self._invoker = invoker

    def resolve(self, event: dict[str, Any], context: Any) -> Any:
        invocation = self._invoker.invoke("admin", event)
        assert invocation.ok, f"admin failed: {invocation.error}\n{''.join(invocation.stack or [])}"
        return invocation.result


class OrdersSystem:
    def __init__(self, tmp_path: Path, clock: ManualClock) -> None:
        self.clock = clock
        self.aws = LocalAws()
        self.backmarket = BackMarketSandbox(clock=clock, demo=True)
        self.wholecell = WholeCellSandbox(clock=clock, demo=True)
        self.dead_letters = DeadLetters(tmp_path / "dead-letters.jsonl")
        self.settings = Settings(connection_id=CONNECTION)
        self.invoker: Invoker | None = None
        self.pump: StreamPump | None = None

    def start(self, **settings: Any) -> None:
        use_clock(self.clock)
        self.aws.start()
        self.backmarket.start(0)
        self.wholecell.start(0)
        self.settings = Settings(
            connection_id=CONNECTION,
            backmarket=BackMarketConnection(host=self.backmarket.base_url, market="en-gb", company="Test"),
            wholecell=WholeCellConnection(base_url=self.wholecell.base_url, requests_per_second=20),
            order_import_enabled=True,
            **settings,
        )
        connection_secrets.write_backmarket_token(self.settings.connection_id, self.backmarket.token)
        connection_secrets.write_wholecell_credentials(
            self.settings.connection_id, self.wholecell.app_id, self.wholecell.app_secret
        )
        self.settings = SettingsRepository().save(self.settings)
        self.invoker = Invoker(self.clock, specs=tuple(by_name(name) for name in FUNCTIONS))
        # A run's rerun waits in the invoker, never delivered: these tests start each run themselves.
        use_request_rerun(self.invoker.request_rerun)
        self.pump = StreamPump(
            self.invoker,
            self.clock,
            self.dead_letters,
            streams_client=self.aws.dynamodb_streams(),
            dynamodb_client=self.aws.dynamodb(),
            functions={"shipment_export"},
        )

    def stop(self) -> None:
        for part in (self.wholecell, self.backmarket, self.aws):
            part.stop()
        use_clock(SystemClock())
        use_request_rerun(send_to_rerun_queue)

    # -- the admin
    def configure(self, **changes: Any) -> None:
        self.settings = SettingsRepository().save(self.settings.model_copy(update=changes))

    # -- the schedules and the streams
    def _scheduled(self, function: str, task: str | None = None) -> RunRecord:
        assert self.invoker is not None and self.pump is not None
        invocation = self.invoker.invoke(function, scheduled_event(function, self.clock.now(), task))
        assert invocation.ok, f"{function} failed: {invocation.error}\n{''.join(invocation.stack or [])}"
        self.pump.drain()
        return RunRecord.model_validate(invocation.result["runs"][CONNECTION])

    def import_orders(self, task: str | None = None) -> RunRecord:
        """One minute passes, then order_import runs (and the stream reaches shipment_export)."""
        self.clock.advance(60)
        return self._scheduled("order_import", task)

    def watch(self) -> RunRecord:
        self.clock.advance(60)
        return self._scheduled("wholecell_watch")

    def send_due_retries(self) -> RunRecord:
        """One minute passes, then shipment_export's schedule sends the exports due for a retry."""
        self.clock.advance(60)
        return self._scheduled("shipment_export", "send_due_retries")

    def import_listings(self) -> RunRecord:
        return self._scheduled("listing_import")

    # -- what a person sees and does
    def record(self, order_id: int) -> OrderRecord:
        stored = OrdersRepository().get(CONNECTION, order_id)
        assert stored is not None, f"order {order_id} has no item"
        return stored

    def console(self) -> AdminClient:
        """The seller, signed in to the console."""
        assert self.invoker is not None
        # Few PBKDF2 rounds keep the test fast; the hash format carries its round count.
        credentials.save_admin_secret(credentials.new_admin_secret(CONSOLE_PASSWORD, iterations=1000))
        seller = AdminClient(AdminFunctionUrl(self.invoker), self.clock)
        assert seller.sign_in(CONSOLE_PASSWORD).status == 303
        return seller

    def alerts(self) -> dict[str, Any]:
        return {alert.alert_id: alert for alert in SyncStateRepository(CONNECTION, self.clock).alerts()}

    def seller(self) -> BackMarketClient:
        """The seller acting on Back Market (what the portal does, through the API)."""
        return backmarket.client_for(self.settings, self.clock)

    def wholecell_order(self, order_id: int) -> dict[str, Any]:
        return self.wholecell.order(self.record(order_id).wholecell_order_id or 0)

    def backmarket_calls(self, method: str, path_part: str) -> list[dict[str, Any]]:
        return [
            call
            for call in self.backmarket.calls()
            if call.get("method") == method and path_part in str(call.get("path", ""))
        ]


@contextmanager
def atomic_dynamodb_writes() -> Iterator[None]:
    """Make moto's item writes atomic, as DynamoDB's are.

    DynamoDB checks a write's condition and applies it atomically; moto checks, then writes, and two
    threads can interleave in between. Tests of concurrent writers serialize moto's writes so they
    test bmsync against DynamoDB's guarantee, not against that gap in the test double.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    names = ("put_item", "update_item", "delete_item", "transact_write_items")
    originals = {name: getattr(DynamoDBBackend, name) for name in names}

    def serialized(original: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)

        return write

    for name, original in originals.items():
        setattr(DynamoDBBackend, name, serialized(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(DynamoDBBackend, name, original)


@contextmanager
def orders_system(tmp_path: Path, **settings: Any) -> Iterator[OrdersSystem]:
    system = OrdersSystem(tmp_path, ManualClock())
    try:
        system.start(**settings)
        yield system
    finally:
        system.stop()
