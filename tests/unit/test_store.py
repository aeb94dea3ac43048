from __future__ import annotations

from datetime import timedelta

import pytest

from bmsync.settings import Settings
from bmsync.store.settings_repo import SettingsRepository, StaleSettings
from bmsync.store.sync_state import SyncStateRepository
from bmsync.store.tables import ALL_TABLES, LISTINGS


def test_every_table_definition_produces_create_table_arguments() -> None:
    names = {table.logical_name for table in ALL_TABLES}
    assert {"settings", "listings", "stock", "orders", "sync_state", "idempotency"} <= names
    kwargs = LISTINGS.create_table_kwargs()
    assert kwargs["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert kwargs["GlobalSecondaryIndexes"][0]["IndexName"] == "by_sku"


def test_settings_optimistic_locking(aws: None) -> None:
    repo = SettingsRepository()
    first = repo.save(Settings(connection_id="uk"))
    assert first.version == 1
    second = repo.save(first.model_copy(update={"safety_buffer": 2}))
    assert second.version == 2
    with pytest.raises(StaleSettings):
        repo.save(first.model_copy(update={"safety_buffer": 5}))
    stored = repo.get("uk")
    assert stored is not None and stored.safety_buffer == 2 and stored.version == 2
    with pytest.raises(StaleSettings):
        repo.save(Settings(connection_id="uk"))  # creating again over an existing one
    assert [settings.connection_id for settings in repo.list()] == ["uk"]


def test_locks_expire_so_a_crashed_holder_never_blocks_forever(aws: None, clock) -> None:
    state = SyncStateRepository("uk", clock)
    assert state.acquire_lock("order_import", "run-a", timedelta(seconds=60))
    assert not state.acquire_lock("order_import", "run-b", timedelta(seconds=60))
    clock.advance(61)
    assert state.acquire_lock("order_import", "run-b", timedelta(seconds=60))
    state.release_lock("order_import", "run-a")  # not the owner: no effect
    assert not state.acquire_lock("order_import", "run-c", timedelta(seconds=60))
    state.release_lock("order_import", "run-b")
    assert state.acquire_lock("order_import", "run-c", timedelta(seconds=60))


def test_cursors_runs_and_alerts(aws: None, clock) -> None:
    state = SyncStateRepository("uk", clock)
    assert state.get_cursor("order_import") is None
    state.set_cursor("order_import", "2026-01-05T09:00:00Z")
    assert state.get_cursor("order_import") == "2026-01-05T09:00:00Z"

    run = state.start_run("order_import")
    run.counts["imported"] = 3
    state.finish_run(run, "succeeded")
    last = state.last_run("order_import")
    assert last is not None and last.status == "succeeded" and last.counts == {"imported": 3}

    state.raise_alert(
        "token", "Back Market rejected the token", severity="critical", action="Set a new token"
    )
    state.raise_alert("sku-X", "SKU X is unknown", severity="warning")
    state.raise_alert("sku-X", "SKU X is unknown", severity="warning")
    alerts = state.alerts()
    assert [alert.alert_id for alert in alerts] == ["token", "sku-X"]
    assert alerts[1].count == 2
    state.clear_alert("token")
    assert [alert.alert_id for alert in state.alerts()] == ["sku-X"]
    state.raise_alert("token", "Back Market rejected the token", severity="critical")
    assert state.raised_alerts(["token", "never-raised"]) == ["token"]  # only what is raised
    state.clear_alert("token")
    assert state.raised_alerts(["token"]) == []
    assert [alert.alert_id for alert in state.alerts()] == ["sku-X"]
    # Another connection sees none of it.
    assert SyncStateRepository("us", clock).alerts() == []


def test_a_backmarket_sale_lowers_the_believed_quantity_only_if_sold_after_the_last_push(aws: None) -> None:
    from datetime import UTC, datetime

    from bmsync.store.listings_repo import ListingItem, ListingsRepository

    repo = ListingsRepository("uk")
    pushed_at = "2026-01-05T08:00:11Z"
    repo.create(
        ListingItem(
            connection_id="uk",
            listing_id="l1",
            sku="A",
            bm_quantity=6,
            imported_at=pushed_at,
            seen_at=pushed_at,
            last_synced=6,
            last_synced_at=pushed_at,
        )
    )
    # Ordered before bmsync sent 6 (an order imported hours late): Back Market shows the 6 sent.
    assert not repo.record_backmarket_sale("l1", 1, writer="t", sold_at=datetime(2026, 1, 5, 8, tzinfo=UTC))
    listing = repo.get("l1")
    assert listing is not None and (listing.last_synced, listing.bm_quantity) == (6, 6)
    # Ordered after it: Back Market lowered the 6 sent itself.
    assert repo.record_backmarket_sale("l1", 1, writer="t", sold_at=datetime(2026, 1, 5, 8, 5, tzinfo=UTC))
    listing = repo.get("l1")
    assert listing is not None and (listing.last_synced, listing.bm_quantity) == (5, 5)
