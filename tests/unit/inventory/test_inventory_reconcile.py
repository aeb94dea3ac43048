"""wholecell_watch's reconciliation over several runs: bounded chunks, resumed from saved page cursors,
the incremental read first in every run, and nothing taken for gone before the pass completes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bmsync.store.stock_repo import MirrorEntry, StockRepository
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from bmsync.sync import wholecell_watch
from bmsync.sync.wholecell_watch import ChunkBudget
from tests.unit.inventory.conftest import Inventory
from tests.unit.inventory.fakes import Unit, Variation

#: 173 pages of units, as the issue's real account has (10 units a page here, to stay fast).
PAGE_SIZE = 10
UNIT_PAGES = 173
CHUNK = ChunkBudget(pages=40)
ONE_SHOT = ChunkBudget(pages=100_000)


def seed_large_account(inventory: Inventory, variations: int = 20) -> list[Variation]:
    inventory.wholecell.page_size = PAGE_SIZE
    skus = [inventory.variation(number, f"SKU-{number}") for number in range(1, variations + 1)]
    for index in range(UNIT_PAGES * PAGE_SIZE):
        inventory.receive(skus[index % variations], 1)
    inventory.order((1, 2))
    inventory.order((2, 1))
    inventory.later(24 * 60)  # an account's stock is mostly old: the first incremental reads stay small
    return skus


def counts(inventory: Inventory) -> dict[str, tuple[int, int, int]]:
    return {
        variation_id: (item.available, item.outstanding, item.calculated)
        for variation_id, item in inventory.stock.all().items()
    }


def one_shot_mirror(inventory: Inventory) -> dict[str, MirrorEntry]:
    """The mirror a single, unbounded read of the same account builds (another connection's tables)."""
    settings = inventory.settings.model_copy(update={"connection_id": "one-shot"})
    stock = StockRepository("one-shot")
    wholecell_watch.watch_wholecell(
        settings=settings,
        wholecell=inventory.wholecell,
        stock=stock,
        state=SyncStateRepository("one-shot", inventory.clock),
        clock=inventory.clock,
        run=RunRecord(flow="wholecell_watch", started_at="2026-01-05T09:00:00Z"),
        budget=ONE_SHOT,
    )
    return stock.load_mirror()


def reconcile_in_chunks(inventory: Inventory, budget: ChunkBudget = CHUNK) -> list[RunRecord]:
    runs = []
    for _ in range(50):
        inventory.later(1)
        runs.append(inventory.watch(budget))
        assert runs[-1].status == "succeeded", runs[-1].error
        if runs[-1].counts["full_reconciliation"]:
            return runs
    raise AssertionError("the reconciliation never completed")


def page_reads(inventory: Inventory) -> list[tuple[str, Any, int]]:
    return [
        (name, arguments.get("status"), arguments["page"])
        for name, arguments in inventory.wholecell.calls
        if "page" in arguments
    ]


def test_a_173_page_account_read_in_chunks_converges_to_the_one_shot_mirror(inventory: Inventory) -> None:
    seed_large_account(inventory)
    first = inventory.watch(CHUNK)
    # The first run reads one chunk only: 40 pages (2 of variations, 38 of units), and says where it is.
    assert first.counts["reconciliation_pages"] == 40 and first.counts["full_reconciliation"] == 0
    assert first.progress == "reconciliation: page 39 of 173 (units in Available)"
    # No stock before the first pass completes: a half-read account would show listings too low.
    assert inventory.stock.all() == {}
    runs = [first, *reconcile_in_chunks(inventory)]
    # 2 + 173 + 1 pages, 40 a run, each resumed list re-reading the page it stopped after.
    assert len(runs) == 5
    assert sum(run.counts["reconciliation_pages"] for run in runs) == 2 + UNIT_PAGES + 1 + 4
    assert inventory.stock.load_mirror() == one_shot_mirror(inventory)
    assert counts(inventory)["1"] == (87, 2, 85) and counts(inventory)["2"] == (87, 1, 86)
    # Done: the next minute reads only what changed, and the pass's leftovers are gone.
    inventory.wholecell.calls.clear()
    idle = inventory.watch(CHUNK)
    assert idle.counts["reconciliation_pages"] == 0 and page_reads(inventory) == []
    assert inventory.state.documents(wholecell_watch.SEEN_DOCUMENT_PREFIX) == {}


def test_changes_during_the_pass_reach_the_stock_at_once_and_the_result_equals_a_one_shot_read(
    inventory: Inventory,
) -> None:
    skus = seed_large_account(inventory)
    reconcile_in_chunks(inventory, ONE_SHOT)
    inventory.later(inventory.settings.wholecell_reconcile_minutes)
    inventory.watch(CHUNK)  # a new pass: its first chunk
    units = sorted(inventory.wholecell.units.values(), key=lambda unit: unit.id)
    early, late = units[5], units[-4]  # on a page already read, and on one not read yet
    variation_early = str(early.variation.id)  # type: ignore[union-attr]
    before = counts(inventory)[variation_early]
    inventory.change_unit(early, status="Sold")
    inventory.change_unit(late, status="Repair")
    [arrived] = inventory.receive(skus[3], 1)
    run = inventory.watch(CHUNK)
    # The incremental read ran first: the sale is in the stock in the same run, mid-pass.
    assert run.counts["full_reconciliation"] == 0 and run.counts["units_changed"] == 3
    assert counts(inventory)[variation_early][0] == before[0] - 1
    # Units leaving the pages already read shift the rest forward: none slips past unread.
    for unit in units[PAGE_SIZE * 40 : PAGE_SIZE * 40 + 30]:
        inventory.change_unit(unit, status="Sold")
    reconcile_in_chunks(inventory)
    assert inventory.stock.load_mirror() == one_shot_mirror(inventory)
    assert arrived.id in inventory.stock.load_mirror()["4"].units


def test_an_item_absent_from_the_first_chunk_is_not_zeroed(inventory: Inventory) -> None:
    seed_large_account(inventory)
    late_variation = inventory.variation(99, "LATE")
    inventory.receive(late_variation, 5)  # the last units: on the last page
    reconcile_in_chunks(inventory, ONE_SHOT)
    assert counts(inventory)["99"] == (5, 0, 5)
    inventory.later(inventory.settings.wholecell_reconcile_minutes)
    inventory.stock_stream.read()
    first = inventory.watch(CHUNK)
    assert first.counts["full_reconciliation"] == 0
    # Not seen by this pass yet, and not gone for it: the stock stays, and nothing woke quantity_sync.
    assert counts(inventory)["99"] == (5, 0, 5)
    assert inventory.stock_stream.read() == []


def test_a_unit_that_disappears_is_zeroed_only_when_the_pass_completes(inventory: Inventory) -> None:
    seed_large_account(inventory)
    reconcile_in_chunks(inventory, ONE_SHOT)
    # Sold in WholeCell with an updated_at the incremental read never sees (before its cursor).
    units = sorted(inventory.wholecell.units.values(), key=lambda unit: unit.id)
    lost: Unit = units[-1]
    variation = str(lost.variation.id)  # type: ignore[union-attr]
    lost.status = "Sold"
    lost.updated_at -= timedelta(hours=3)
    available = counts(inventory)[variation][0]
    inventory.later(inventory.settings.wholecell_reconcile_minutes)
    runs = reconcile_in_chunks(inventory)
    assert len(runs) > 2
    # Every run before the last left the unit counted: a half-done pass takes nothing for gone.
    assert all(run.counts["units_gone"] == 0 for run in runs[:-1])
    assert runs[-1].counts["units_gone"] == 1
    assert counts(inventory)[variation][0] == available - 1
    assert lost.id not in inventory.stock.load_mirror()[variation].units


def test_an_open_order_that_disappears_is_forgotten_only_when_the_pass_completes(
    inventory: Inventory,
) -> None:
    seed_large_account(inventory)
    reconcile_in_chunks(inventory, ONE_SHOT)
    assert counts(inventory)["1"][1] == 2
    # The order left the 90-day list unseen (WholeCell closed it with an old updated_at).
    [order] = [order for order in inventory.wholecell.orders.values() if order.order_items[0].quantity == 2]
    del inventory.wholecell.orders[order.id]
    inventory.later(inventory.settings.wholecell_reconcile_minutes)
    inventory.watch(CHUNK)
    assert counts(inventory)["1"][1] == 2
    reconcile_in_chunks(inventory)
    assert counts(inventory)["1"][1] == 0


def test_a_run_killed_mid_chunk_loses_only_that_chunk(inventory: Inventory, monkeypatch) -> None:
    seed_large_account(inventory)
    inventory.watch(CHUNK)
    inventory.later(1)
    saved = inventory.state.get_document(wholecell_watch.CURSOR_DOCUMENT)
    assert saved is not None and saved["reconciliation"]["page"] == 39
    read_page = inventory.wholecell.inventory_page
    reads: list[int] = []

    def dies_on_the_tenth_page(*, page: int, status: str | None = None) -> Any:
        reads.append(page)
        if len(reads) == 10:
            raise TimeoutError("the function reached its timeout")
        return read_page(page=page, status=status)

    monkeypatch.setattr(inventory.wholecell, "inventory_page", dies_on_the_tenth_page)
    with pytest.raises(TimeoutError):
        inventory.watch(CHUNK)
    monkeypatch.undo()
    # The cursor did not move: the next run starts from the same page (one back, the overlap).
    assert inventory.state.get_document(wholecell_watch.CURSOR_DOCUMENT) == saved
    inventory.wholecell.calls.clear()
    inventory.later(1)
    inventory.watch(CHUNK)
    assert page_reads(inventory)[0] == ("inventories", "Available", 38)
    reconcile_in_chunks(inventory)
    assert inventory.stock.load_mirror() == one_shot_mirror(inventory)


def test_a_settings_change_mid_pass_starts_the_pass_over(inventory: Inventory) -> None:
    seed_large_account(inventory)
    grading = inventory.receive(inventory.wholecell.variations[0], 3, status="Grading")
    inventory.watch(CHUNK)
    inventory.configure(available_statuses=["Grading"])
    inventory.wholecell.calls.clear()
    inventory.later(1)
    restarted = inventory.watch(CHUNK)
    assert page_reads(inventory)[:3] == [
        ("product_variations", None, 1),
        ("product_variations", None, 2),
        ("inventories", "Grading", 1),
    ]
    assert restarted.counts["full_reconciliation"] == 1
    # Only the Grading units count now: the Available ones the old pass saw are gone.
    assert counts(inventory)["1"] == (3, 2, 1)
    assert set(inventory.stock.load_mirror()["1"].units) == {unit.id for unit in grading}
    assert inventory.state.documents(wholecell_watch.SEEN_DOCUMENT_PREFIX) == {}


def test_the_budget_leaves_the_writes_time_before_the_timeout() -> None:
    class Context:
        def __init__(self, remaining_ms: int) -> None:
            self.remaining_ms = remaining_ms

        def get_remaining_time_in_millis(self) -> int:
            return self.remaining_ms

    assert ChunkBudget.for_invocation(Context(120_000)).seconds == wholecell_watch.RECONCILE_SECONDS_PER_RUN
    assert ChunkBudget.for_invocation(Context(30_000)).seconds == 10.0
    assert ChunkBudget.for_invocation(Context(5_000)).seconds == 0.0


def test_a_chunk_stops_when_its_time_is_up(inventory: Inventory, monkeypatch) -> None:
    seed_large_account(inventory)
    read_page = inventory.wholecell.inventory_page

    def slow(*, page: int, status: str | None = None) -> Any:
        inventory.clock.advance(2)  # WholeCell at 0.5 pages a second
        return read_page(page=page, status=status)

    monkeypatch.setattr(inventory.wholecell, "inventory_page", slow)
    run = inventory.watch(ChunkBudget(pages=1000, seconds=30))
    # 2 variation pages, then units until the 30 s are spent: the cursor is saved where it stopped.
    assert run.counts["reconciliation_pages"] == 2 + 15
    saved = inventory.state.get_document(wholecell_watch.CURSOR_DOCUMENT)
    assert saved is not None and saved["reconciliation"]["page"] == 16


def test_a_page_wholecell_keeps_failing_does_not_hold_up_stock_changes(
    inventory: Inventory, monkeypatch
) -> None:
    from bmsync.wholecell.errors import ServerError

    skus = seed_large_account(inventory)
    reconcile_in_chunks(inventory, ONE_SHOT)
    inventory.later(inventory.settings.wholecell_reconcile_minutes)
    inventory.watch(CHUNK)
    read_page = inventory.wholecell.inventory_page

    def page_50_fails(*, page: int, status: str | None = None) -> Any:
        if page == 50:
            raise ServerError("WholeCell answered 500 to GET /inventories", status=500)
        return read_page(page=page, status=status)

    monkeypatch.setattr(inventory.wholecell, "inventory_page", page_50_fails)
    before = counts(inventory)["5"][0]
    inventory.receive(skus[4], 2)
    inventory.later(1)
    run = inventory.watch(CHUNK)
    # The run says what failed, yet the units received reached the stock, and the pages read before
    # the failure count: the pass resumes at the failing page.
    assert run.status == "failed" and "500" in (run.error or "")
    assert counts(inventory)["5"][0] == before + 2
    saved = inventory.state.get_document(wholecell_watch.CURSOR_DOCUMENT)
    assert saved is not None and saved["reconciliation"]["page"] == 50
    monkeypatch.undo()
    reconcile_in_chunks(inventory)
    assert inventory.stock.load_mirror() == one_shot_mirror(inventory)


def test_a_pass_whose_leftovers_outlived_a_crash_does_not_lend_them_to_the_next(
    inventory: Inventory, monkeypatch
) -> None:
    seed_large_account(inventory)
    inventory.watch(CHUNK)

    def dies(name: str) -> None:
        raise TimeoutError("the function reached its timeout")

    # The pass completes, its cursor is saved, and the run dies before deleting what each run saw.
    monkeypatch.setattr(inventory.state, "delete_document", dies)
    with pytest.raises(TimeoutError):
        reconcile_in_chunks(inventory)
    monkeypatch.undo()
    saved = inventory.state.get_document(wholecell_watch.CURSOR_DOCUMENT)
    assert saved is not None and saved["reconciliation"] is None and saved["reconciled_at"]
    assert inventory.state.documents(wholecell_watch.SEEN_DOCUMENT_PREFIX) != {}
    # A unit sold unseen by the incremental reads (seen by the earlier pass) is gone for the next.
    lost = max(inventory.wholecell.units.values(), key=lambda unit: unit.id)
    lost.status = "Sold"
    lost.updated_at -= timedelta(days=2)
    inventory.later(inventory.settings.wholecell_reconcile_minutes)
    reconcile_in_chunks(inventory)
    assert inventory.stock.load_mirror() == one_shot_mirror(inventory)
    assert all(lost.id not in entry.units for entry in inventory.stock.load_mirror().values())


def test_a_rerun_reads_only_the_changes_and_stands_aside_while_a_pass_is_under_way(
    inventory: Inventory,
) -> None:
    """The rerun half a minute after a slot costs two small WholeCell reads, never a chunk of pages:
    WholeCell's ~2 requests a second stay with the slots' chunks and the other functions."""
    skus = seed_large_account(inventory)
    inventory.wholecell.calls.clear()
    # The first pass has not started: the rerun reads nothing, writes nothing, and says why.
    rerun = inventory.watch(CHUNK, incremental_only=True)
    assert rerun.status == "succeeded" and rerun.progress.startswith("rerun stood aside")
    assert (
        inventory.wholecell.calls == []
        and inventory.state.get_document(wholecell_watch.CURSOR_DOCUMENT) is None
    )
    inventory.watch(CHUNK)  # the slot's run: the pass's first chunk
    inventory.wholecell.calls.clear()
    under_way = inventory.state.get_document(wholecell_watch.CURSOR_DOCUMENT)
    inventory.later(0.5)
    rerun = inventory.watch(CHUNK, incremental_only=True)
    # Mid-pass: nothing read, the pass's place untouched (its observations are the slots' runs' own).
    assert inventory.wholecell.calls == []
    assert inventory.state.get_document(wholecell_watch.CURSOR_DOCUMENT) == under_way
    reconcile_in_chunks(inventory)
    # Between passes: the rerun reads what changed and writes it, with no page of a pass.
    inventory.wholecell.calls.clear()
    before = counts(inventory)["4"]
    inventory.receive(skus[3], 2)
    inventory.later(0.5)
    rerun = inventory.watch(CHUNK, incremental_only=True)
    assert rerun.counts["units_changed"] == 2 and rerun.counts["reconciliation_pages"] == 0
    assert page_reads(inventory) == [] and len(inventory.wholecell.calls) <= 2
    assert counts(inventory)["4"][0] == before[0] + 2
