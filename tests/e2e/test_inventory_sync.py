"""The inventory direction end to end on the sandbox runtime.

Both emulators (HTTP, in-process), the real clients, moto's server with bmsync's tables and secrets,
the handlers loaded by file path and invoked as Lambda would, the stream pump with the catalogue's
event sources (batch sizes, own-write filters, partial batch responses) and a ManualClock.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bmsync import connection_secrets, secrets
from bmsync.backmarket.limiter import Budgets, reset_shared_limiters, shared_limiter
from bmsync.clock import ManualClock
from bmsync.rerun import send_to_rerun_queue
from bmsync.settings import (
    BackMarketConnection,
    ListingImportScope,
    ProductVariationMode,
    Settings,
    WholeCellConnection,
)
from bmsync.store.listings_repo import ListingItem, ListingsRepository
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.stock_repo import StockRepository
from bmsync.store.sync_state import SyncStateRepository
from bmsync.sync import quantity_sync, wholecell_watch
from bmsync_sandbox.backmarket.server import BackMarketSandbox
from bmsync_sandbox.runtime.collaborators import use_clock, use_request_rerun
from bmsync_sandbox.runtime.invoker import Invocation, Invoker
from bmsync_sandbox.runtime.local_aws import LocalAws
from bmsync_sandbox.runtime.scheduler import scheduled_event
from bmsync_sandbox.runtime.streams import DeadLetters, StreamPump
from bmsync_sandbox.wholecell.server import WholeCellSandbox

CONNECTION = "shop"
# From the demo catalogue both emulators share: WholeCell grades A+ and A share one SKU.
SHARED_SKU = "IP13-128-M-A"
SKU_B = "IP13-128-M-B"
SKU_C = "IP13-128-M-C"


@pytest.fixture(scope="module")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws


class Runtime:
    def __init__(self, aws: LocalAws, state_dir: Path) -> None:
        self.clock = ManualClock()
        use_clock(self.clock)
        reset_shared_limiters()
        self.backmarket = BackMarketSandbox(clock=self.clock, demo=False)
        self.wholecell = WholeCellSandbox(clock=self.clock, demo=False)
        self.backmarket.start()
        self.wholecell.start()
        self.settings = Settings(
            connection_id=CONNECTION,
            backmarket=BackMarketConnection(host=self.backmarket.base_url, market="en-gb", company="Test"),
            wholecell=WholeCellConnection(base_url=self.wholecell.base_url),
            order_import_enabled=True,
            quantity_sync_enabled=True,
        )
        connection_secrets.write_backmarket_token(self.settings.connection_id, self.backmarket.token)
        connection_secrets.write_wholecell_credentials(
            self.settings.connection_id, self.wholecell.app_id, self.wholecell.app_secret
        )
        self.settings = SettingsRepository().save(self.settings)
        self.invoker = Invoker(self.clock)
        # A run's rerun waits in the invoker, never delivered: these tests start each run themselves.
        use_request_rerun(self.invoker.request_rerun)
        self.dead_letters = DeadLetters(state_dir / "dead-letters.jsonl")
        self.pump = StreamPump(
            self.invoker,
            self.clock,
            self.dead_letters,
            streams_client=aws.dynamodb_streams(),
            dynamodb_client=aws.dynamodb(),
            functions={"quantity_sync"},
        )
        self.stream_invocations: list[Any] = []
        self.listings = ListingsRepository(CONNECTION)

    def stop(self) -> None:
        self.backmarket.stop()
        self.wholecell.stop()
        use_request_rerun(send_to_rerun_queue)

    def configure(self, **changes: Any) -> None:
        self.settings = SettingsRepository().save(self.settings.model_copy(update=changes))

    def run(self, function: str, task: str | None = None) -> Invocation:
        invocation = self.invoker.invoke(function, scheduled_event(function, self.clock.now(), task))
        assert invocation.ok, invocation.stack
        run = invocation.result["runs"][CONNECTION]
        assert run["status"] == "succeeded", run
        return invocation

    def cycle(self) -> None:
        """One minute of the system: WholeCell change capture, then the streams until quiet."""
        self.clock.advance(60)
        self.run("wholecell_watch")
        self.pump.drain()

    def variation_ids(self, sku: str) -> list[str]:
        return [str(variation["id"]) for variation in self.wholecell.variations() if variation["sku"] == sku]

    def variation(self, sku: str) -> int:
        """The id of the first WholeCell variation with ``sku``."""
        return int(self.variation_ids(sku)[0])

    def listing(self, sku: str) -> ListingItem:
        [listing] = self.listings.by_sku(sku)
        return listing

    def quantity_updates(self) -> list[tuple[str, Any]]:
        """The real-time listing writes Back Market received: (listing id, body)."""
        return [
            (call["path"].rsplit("/", 1)[-1], call.get("body"))
            for call in self.backmarket.calls()
            if call["method"] == "POST" and call["path"].startswith("/ws/listings/")
        ]


@pytest.fixture
def runtime(local_aws: LocalAws, tmp_path: Path) -> Iterator[Runtime]:
    requests.post(f"{local_aws.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
    secrets.reset_cache()
    local_aws.create_tables()
    system = Runtime(local_aws, tmp_path)
    yield system
    system.stop()
    reset_shared_limiters()


def test_a_unit_received_in_wholecell_raises_the_back_market_listing(runtime: Runtime) -> None:
    runtime.backmarket.add_listing(SKU_B, 1)
    runtime.run("listing_import")
    runtime.cycle()
    assert runtime.backmarket.listing(SKU_B)["quantity"] == 0  # WholeCell has none: it goes down first

    runtime.wholecell.receive_units(runtime.variation(SKU_B), 2)
    runtime.cycle()
    listing = runtime.backmarket.listing(SKU_B)
    assert listing["quantity"] == 2 and listing["publication_state"] == 2  # republished
    stored = runtime.listing(SKU_B)
    assert stored.sync_status == "in_sync" and stored.last_synced == 2


def test_a_back_market_sale_and_an_order_on_another_channel_lower_it(runtime: Runtime) -> None:
    runtime.wholecell.receive_units(runtime.variation(SKU_B), 5)
    runtime.backmarket.add_listing(SKU_B, 5)
    runtime.run("listing_import")
    runtime.cycle()
    assert runtime.backmarket.listing(SKU_B)["quantity"] == 5

    # A buyer orders on Back Market: Back Market lowers its own quantity, order_import brings the
    # order into WholeCell, where it is demand: quantity_sync keeps Back Market at WholeCell's number.
    runtime.backmarket.create_buyer_order(SKU_B, 1)
    runtime.run("order_import")
    runtime.cycle()
    assert runtime.backmarket.listing(SKU_B)["quantity"] == 4
    # An order on another channel takes two more.
    variation_id = int(runtime.variation_ids(SKU_B)[0])
    runtime.wholecell.create_sales_order(
        channel="Amazon", order_items=[{"product_variation_id": variation_id, "quantity": 2, "price": 100}]
    )
    runtime.cycle()
    assert runtime.backmarket.listing(SKU_B)["quantity"] == 2
    assert runtime.wholecell.calculated_quantity(variation_id) == 2


def test_a_listing_lowered_by_a_sale_is_raised_when_stock_arrives(runtime: Runtime) -> None:
    runtime.wholecell.receive_units(runtime.variation(SKU_B), 2)
    runtime.backmarket.add_listing(SKU_B, 2)
    runtime.run("listing_import")
    runtime.cycle()
    assert runtime.backmarket.listing(SKU_B)["quantity"] == 2

    # Back Market lowers the listing to 1 on a sale; in the same minute one more unit arrives in
    # WholeCell, so once the order is in WholeCell the computed quantity is 2 again: the value last
    # sent. Back Market still shows 1 and must be raised, not left short.
    runtime.backmarket.create_buyer_order(SKU_B, 1)
    assert runtime.backmarket.listing(SKU_B)["quantity"] == 1
    runtime.wholecell.receive_units(runtime.variation(SKU_B), 1)
    runtime.run("order_import")
    runtime.cycle()

    assert runtime.backmarket.listing(SKU_B)["quantity"] == 2
    assert runtime.listing(SKU_B).last_synced == 2


def test_sku_mode_sums_every_variation_sharing_the_sku(runtime: Runtime) -> None:
    first, second = runtime.variation_ids(SHARED_SKU)
    runtime.wholecell.receive_units(int(first), 2)
    runtime.wholecell.receive_units(int(second), 3)
    runtime.backmarket.add_listing(SHARED_SKU, 1)
    runtime.run("listing_import")
    runtime.cycle()
    assert runtime.backmarket.listing(SHARED_SKU)["quantity"] == 5
    assert sorted(runtime.listing(SHARED_SKU).variation_ids) == sorted([first, second])


def test_specific_variation_mode_respects_the_chosen_variations(runtime: Runtime) -> None:
    runtime.configure(product_variations=ProductVariationMode.CHOOSE_SPECIFIC)
    first, second = runtime.variation_ids(SHARED_SKU)
    runtime.wholecell.receive_units(int(first), 2)
    runtime.wholecell.receive_units(int(second), 3)
    runtime.backmarket.add_listing(SHARED_SKU, 1)
    runtime.run("listing_import")
    runtime.cycle()
    assert runtime.backmarket.listing(SHARED_SKU)["quantity"] == 1  # nothing chosen: not pushed
    assert runtime.listing(SHARED_SKU).reason == "Product not set: choose a variation"

    runtime.listings.set_chosen_variations(runtime.listing(SHARED_SKU).listing_id, [second], writer="admin")
    runtime.pump.drain()
    assert runtime.backmarket.listing(SHARED_SKU)["quantity"] == 3


def test_quantity_sync_off_pushes_nothing(runtime: Runtime) -> None:
    runtime.configure(quantity_sync_enabled=False)
    runtime.wholecell.receive_units(runtime.variation(SKU_B), 4)
    runtime.backmarket.add_listing(SKU_B, 1)
    runtime.run("listing_import")
    runtime.cycle()
    runtime.run("quantity_sync", task="drift_check")
    assert runtime.quantity_updates() == []
    assert runtime.backmarket.listing(SKU_B)["quantity"] == 1
    listing = runtime.listing(SKU_B)
    assert listing.sync_status == "sync_off" and listing.last_calculated == 4
    assert listing.reason.startswith("quantity sync is off")


def test_an_unmapped_listing_is_never_pushed_and_carries_its_reason(runtime: Runtime) -> None:
    runtime.backmarket.add_listing("BMTESTSKU1", 3)
    invocation = runtime.run("listing_import")
    assert invocation.result["runs"][CONNECTION]["counts"]["unmapped"] == 1
    runtime.cycle()
    runtime.run("quantity_sync", task="drift_check")
    assert runtime.quantity_updates() == []
    listing = runtime.listing("BMTESTSKU1")
    assert listing.sync_status == "unmapped"
    assert "SKU BMTESTSKU1 is not on any product variation in WholeCell" in listing.reason


def test_a_thousand_changes_to_one_listing_within_a_cycle_make_one_write(runtime: Runtime) -> None:
    variation_id = runtime.variation_ids(SKU_B)[0]
    runtime.backmarket.add_listing(SKU_B, 1)
    runtime.run("listing_import")
    runtime.wholecell.receive_units(int(variation_id), 1)
    runtime.cycle()
    runtime.backmarket.clear_calls()
    units = runtime.wholecell.receive_units(int(variation_id), 600)
    for unit in units[:400]:
        runtime.wholecell.set_unit_status(unit["id"], "Repair")  # 1,000 WholeCell changes in all
    runtime.cycle()
    assert runtime.backmarket.listing(SKU_B)["quantity"] == 201
    assert len(runtime.quantity_updates()) == 1


def test_a_budget_smaller_than_the_backlog_delays_increases_but_never_a_decrease(runtime: Runtime) -> None:
    runtime.configure(listing_import_scope=ListingImportScope.ALL)
    for sku in (SKU_B, SKU_C, SHARED_SKU):
        runtime.backmarket.add_listing(sku, 3)
    runtime.wholecell.receive_units(runtime.variation(SKU_C), 5)
    runtime.wholecell.receive_units(runtime.variation(SHARED_SKU), 9)
    # 22 SKU updates an hour: quantity_sync keeps 20 in reserve for decreases, so 2 fit.
    budgets = Budgets(sku_updates_per_hour=quantity_sync.DECREASE_RESERVE + 2)
    runtime.backmarket.set_budgets(sku_updates_per_hour=budgets.sku_updates_per_hour)
    shared_limiter(runtime.backmarket.base_url, runtime.backmarket.token, runtime.clock, budgets)
    runtime.run("listing_import")
    runtime.cycle()
    # The decrease (B: 3 -> 0) went first, then the larger increase (shared: 3 -> 9); C waits.
    assert runtime.backmarket.listing(SKU_B)["quantity"] == 0
    assert runtime.backmarket.listing(SHARED_SKU)["quantity"] == 9
    assert runtime.backmarket.listing(SKU_C)["quantity"] == 3
    deferred = runtime.listing(SKU_C)
    assert deferred.sync_status == "deferred" and "deferred by the SKU-update budget" in deferred.reason

    # An hour later the budget is back (counted in half-minutes: at most 30 s more): the drift check
    # sends the deferred increase.
    runtime.clock.advance(3631)
    runtime.run("quantity_sync", task="drift_check")
    assert runtime.backmarket.listing(SKU_C)["quantity"] == 5
    assert runtime.listing(SKU_C).sync_status == "in_sync"


def test_a_full_10_second_request_window_delays_increases_by_seconds_not_to_the_drift_check(
    runtime: Runtime,
) -> None:
    runtime.configure(listing_import_scope=ListingImportScope.ALL)
    for sku in (SKU_B, SKU_C, SHARED_SKU):
        runtime.backmarket.add_listing(sku, 0)
    for sku, units in ((SKU_B, 2), (SKU_C, 5), (SHARED_SKU, 9)):
        runtime.wholecell.receive_units(runtime.variation(sku), units)
    # A request window barely above the decrease reserve: the listing import alone nearly fills it.
    budgets = Budgets(requests_per_window=quantity_sync.DECREASE_RESERVE + 2)
    runtime.backmarket.set_budgets(requests_per_window=budgets.requests_per_window + 1)
    shared_limiter(runtime.backmarket.base_url, runtime.backmarket.token, runtime.clock, budgets)
    runtime.run("listing_import")
    started = runtime.clock.now()
    runtime.cycle()
    # Every increase went out (the client waited for the window), none waits for the drift check.
    assert {sku: runtime.backmarket.listing(sku)["quantity"] for sku in (SKU_B, SKU_C, SHARED_SKU)} == {
        SKU_B: 2,
        SKU_C: 5,
        SHARED_SKU: 9,
    }
    assert {runtime.listing(sku).sync_status for sku in (SKU_B, SKU_C, SHARED_SKU)} == {"in_sync"}
    assert (runtime.clock.now() - started).total_seconds() < 120
    assert not [call for call in runtime.backmarket.calls() if call.get("status") == 429]


def test_the_drift_check_repairs_a_listing_changed_behind_bmsyncs_back(runtime: Runtime) -> None:
    runtime.wholecell.receive_units(runtime.variation(SKU_B), 3)
    runtime.backmarket.add_listing(SKU_B, 3)
    runtime.run("listing_import")
    runtime.cycle()
    runtime.backmarket.set_listing_quantity(SKU_B, 40)  # edited in the Back Market portal
    invocation = runtime.run("quantity_sync", task="drift_check")
    counts = invocation.result["runs"][CONNECTION]["counts"]
    assert counts["drifted"] == 1 and counts["pushed"] == 1
    assert runtime.backmarket.listing(SKU_B)["quantity"] == 3


def test_nothing_reaches_the_dead_letter_file(runtime: Runtime) -> None:
    runtime.wholecell.receive_units(runtime.variation(SKU_B), 3)
    runtime.backmarket.add_listing(SKU_B, 1)
    runtime.run("listing_import")
    runtime.cycle()
    runtime.cycle()
    assert runtime.dead_letters.read() == []
    assert runtime.backmarket.listing(SKU_B)["quantity"] == 3


def test_a_duplicated_drift_check_delivery_reads_back_market_once(runtime: Runtime) -> None:
    runtime.wholecell.receive_units(runtime.variation(SKU_B), 3)
    runtime.backmarket.add_listing(SKU_B, 3)
    runtime.run("listing_import")
    runtime.cycle()
    runtime.backmarket.clear_calls()
    event = scheduled_event("quantity_sync", runtime.clock.now(), task="drift_check")
    first = runtime.invoker.invoke("quantity_sync", event)
    second = runtime.invoker.invoke("quantity_sync", event)  # EventBridge delivers at least once
    assert first.ok and second.ok and first.result == second.result
    reads = [call for call in runtime.backmarket.calls() if call["method"] == "GET"]
    assert len(reads) == 1
    # The next scheduled time is a new event: it runs.
    runtime.clock.advance(3600)
    runtime.run("quantity_sync", task="drift_check")
    assert len([call for call in runtime.backmarket.calls() if call["method"] == "GET"]) == 2


# --- a WholeCell account too large to re-read in one run

#: 12,000 available units: 120 pages of WholeCell's 100, two runs' worth of pages and more.
UNITS = 12_000


def seed_large_account(runtime: Runtime) -> dict[int, list[int]]:
    """The units of each variation (their ids), spread over every variation of the catalogue."""
    variation_ids = [int(variation["id"]) for variation in runtime.wholecell.variations()]
    units = {}
    for index, variation_id in enumerate(variation_ids):
        share = UNITS // len(variation_ids) + (1 if index < UNITS % len(variation_ids) else 0)
        units[variation_id] = [unit["id"] for unit in runtime.wholecell.receive_units(variation_id, share)]
    return units


def reconciliation_under_way(runtime: Runtime) -> dict | None:
    cursors = SyncStateRepository(CONNECTION, runtime.clock).get_document(wholecell_watch.CURSOR_DOCUMENT)
    assert cursors is not None
    return cursors["reconciliation"]


def watch_runs(runtime: Runtime) -> list[dict]:
    """Minutes of the system until the reconciliation under way completes: each minute's run."""
    runs = []
    for _ in range(10):
        runtime.clock.advance(60)
        invocation = runtime.run("wholecell_watch")
        runtime.pump.drain()
        runs.append(invocation.result["runs"][CONNECTION])
        if reconciliation_under_way(runtime) is None:
            return runs
    raise AssertionError("the reconciliation never completed")


def test_a_large_account_is_reconciled_over_several_invocations_while_stock_changes_flow(
    runtime: Runtime,
) -> None:
    units = seed_large_account(runtime)
    sku_b = runtime.variation(SKU_B)
    runtime.backmarket.add_listing(SKU_B, 0)
    runtime.run("listing_import")
    runtime.clock.advance(3600)  # the stock is old by the time bmsync starts

    first = watch_runs(runtime)
    # The first pass: several invocations, the listing raised only once every page was read.
    assert len(first) >= 3 and all(run["status"] == "succeeded" for run in first)
    assert [run["counts"]["full_reconciliation"] for run in first] == [0] * (len(first) - 1) + [1]
    available_b = runtime.wholecell.calculated_quantity(sku_b)
    assert runtime.backmarket.listing(SKU_B)["quantity"] == available_b > 0

    # An hour later the next pass starts; mid-pass, a unit of the listing sells in WholeCell.
    runtime.clock.advance(runtime.settings.wholecell_reconcile_minutes * 60)
    runtime.run("wholecell_watch")
    under_way = reconciliation_under_way(runtime)
    assert under_way is not None and under_way["endpoint"] >= 1
    runtime.wholecell.set_unit_status(units[sku_b][0], "Sold")
    runtime.cycle()
    # The same minute: Back Market shows one less, though the pass has pages left to read.
    assert reconciliation_under_way(runtime) is not None
    assert runtime.backmarket.listing(SKU_B)["quantity"] == available_b - 1

    rest = watch_runs(runtime)
    assert rest[-1]["counts"]["full_reconciliation"] == 1
    # The mirror agrees with WholeCell's own numbers for every variation.
    stock = StockRepository(CONNECTION).all()
    for variation_id in units:
        assert stock[str(variation_id)].calculated == runtime.wholecell.calculated_quantity(variation_id)
