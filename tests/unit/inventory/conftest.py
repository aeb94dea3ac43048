"""One connection's inventory flows wired to in-memory clients and moto tables, with its streams."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
import requests

from bmsync.clock import ManualClock
from bmsync.settings import Settings
from bmsync.store.listings_repo import ListingItem, ListingsRepository
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.stock_repo import StockRepository
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from bmsync.store.tables import LISTINGS, STOCK
from bmsync.sync import listing_import, wholecell_watch
from bmsync.sync.flow import run_flow
from bmsync.sync.quantity_sync import QuantitySyncWiring, run_drift_check, sync_batch
from bmsync_sandbox.runtime.local_aws import LocalAws
from tests.unit.inventory.fakes import FakeBackMarket, FakeWholeCell, Item, Order, Unit, Variation

CONNECTION = "uk"


class StreamReader:
    """Reads a table's stream from moto in Lambda's record shape, as an event source would."""

    def __init__(self, table_name: str) -> None:
        self._client = boto3.client("dynamodbstreams")
        arn = boto3.client("dynamodb").describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        shards = self._client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        self._iterators = [
            self._client.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]
            for shard in shards
        ]
        self.arn = arn

    def read(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for index, iterator in enumerate(self._iterators):
            page = self._client.get_records(ShardIterator=iterator, Limit=1000)
            self._iterators[index] = page["NextShardIterator"]
            for raw in page["Records"]:
                stream = dict(raw["dynamodb"])
                stream["SequenceNumber"] = str(stream["SequenceNumber"])
                stream.pop("ApproximateCreationDateTime", None)
                records.append({**raw, "dynamodb": stream, "eventSourceARN": self.arn})
        return records


class Inventory:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.settings = SettingsRepository().save(
            Settings(connection_id=CONNECTION, quantity_sync_enabled=True)
        )
        self.wholecell = FakeWholeCell()
        self.backmarket = FakeBackMarket()
        self.listings = ListingsRepository(CONNECTION)
        self.stock = StockRepository(CONNECTION)
        self.state = SyncStateRepository(CONNECTION, clock)
        self.stock_stream = StreamReader(STOCK.physical_name)
        self.listings_stream = StreamReader(LISTINGS.physical_name)
        self.shipment_batches: list[list[Any]] = []
        self.decrease_reserve = 0
        self._ids = 1000
        self.all_records: list[dict[str, Any]] = []  # every stream record read, own writes included

    # -- settings
    def configure(self, **changes: Any) -> Settings:
        self.settings = SettingsRepository().save(self.settings.model_copy(update=changes))
        return self.settings

    # -- WholeCell data
    def variation(self, variation_id: int, sku: str | None) -> Variation:
        return self.wholecell.variation(variation_id, sku)

    def receive(
        self, variation: Variation, count: int = 1, status: str = "Available", **extra: Any
    ) -> list[Unit]:
        units = []
        for _ in range(count):
            self._ids += 1
            unit = Unit(self._ids, variation, status, self.clock.now(), **extra)
            self.wholecell.units[unit.id] = unit
            units.append(unit)
        self.clock.advance(1)
        return units

    def change_unit(self, unit: Unit, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(unit, name, value)
        unit.updated_at = self.clock.now()
        self.clock.advance(1)

    def order(self, *items: tuple[int | None, int], status: str = "Pending", **extra: Any) -> Order:
        self._ids += 1
        now = self.clock.now()
        order = Order(
            self._ids, status, now, now, [Item(variation_id, quantity) for variation_id, quantity in items]
        )
        for name, value in extra.items():
            setattr(order, name, value)
        self.wholecell.orders[order.id] = order
        self.clock.advance(1)
        return order

    def touch(self, order: Order, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(order, name, value)
        order.updated_at = self.clock.now()
        self.clock.advance(1)

    # -- the flows
    def watch(
        self, budget: wholecell_watch.ChunkBudget | None = None, *, incremental_only: bool = False
    ) -> RunRecord:
        def body(run: RunRecord) -> None:
            wholecell_watch.watch_wholecell(
                settings=self.settings,
                wholecell=self.wholecell,
                stock=self.stock,
                state=self.state,
                clock=self.clock,
                run=run,
                capture_shipments=self._capture,
                listings=self.listings,
                budget=budget,
                incremental_only=incremental_only,
            )

        return run_flow(wholecell_watch.FLOW, self.state, self.clock, body)

    def _capture(self, orders: list[Any]) -> int:
        self.shipment_batches.append(orders)
        return len([order for order in orders if order.channel == "Backmarket" and order.shipments])

    def import_listings(self) -> RunRecord:
        def body(run: RunRecord) -> None:
            listing_import.import_listings(
                settings=self.settings,
                backmarket=self.backmarket,
                wholecell=self.wholecell,
                listings=self.listings,
                state=self.state,
                clock=self.clock,
                run=run,
            )

        return run_flow(listing_import.FLOW, self.state, self.clock, body)

    def quantity_sync(self) -> QuantitySyncWiring:
        return QuantitySyncWiring(
            settings=self.settings,
            listings=self.listings,
            stock=self.stock,
            backmarket=self.backmarket,
            state=self.state,
            clock=self.clock,
            decrease_reserve=self.decrease_reserve,
        )

    def deliver(self, records: list[dict[str, Any]], batch_size: int = 100) -> list[dict[str, Any]]:
        """Hand ``records`` to quantity_sync in Lambda-sized batches; the batch responses."""
        responses = []
        for start in range(0, len(records), batch_size):
            _, retry = sync_batch(
                records[start : start + batch_size],
                wiring_for=lambda connection_id: self.quantity_sync(),
                clock=self.clock,
            )
            responses.append({"batchItemFailures": [{"itemIdentifier": sequence} for sequence in retry]})
        return responses

    def pending_records(self) -> list[dict[str, Any]]:
        """Stream records waiting for quantity_sync, without its own writes (the CDK filter)."""
        records = self.stock_stream.read() + self.listings_stream.read()
        self.all_records += records
        return [
            record
            for record in records
            if record["dynamodb"].get("NewImage", {}).get("last_writer", {}).get("S") != "quantity_sync"
        ]

    def cycle(self) -> list[dict[str, Any]]:
        """Let the streams deliver everything pending to quantity_sync (until quiet)."""
        responses: list[dict[str, Any]] = []
        for _ in range(5):
            records = self.pending_records()
            if not records:
                break
            responses += self.deliver(records)
        return responses

    def drift_check(self, time_left: Callable[[], float] | None = None) -> RunRecord:
        return run_drift_check(self.quantity_sync(), time_left)

    def listing(self, listing_id: str) -> ListingItem:
        listing = self.listings.get(listing_id)
        assert listing is not None
        return listing

    def later(self, minutes: float) -> None:
        self.clock.advance(timedelta(minutes=minutes).total_seconds())


@pytest.fixture(scope="module")
def local_aws() -> Iterator[LocalAws]:
    # moto's in-process mock does not serve DynamoDB Streams; its server (the sandbox's) does.
    with LocalAws() as aws:
        yield aws


@pytest.fixture
def inventory(local_aws: LocalAws, clock: ManualClock) -> Iterator[Inventory]:
    requests.post(f"{local_aws.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
    local_aws.create_tables()
    yield Inventory(clock)
