"""What the admin works with, passed in so tests (and the sandbox) can swap any piece."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bmsync import process
from bmsync.admin.connection_check import ConnectionReport, check_connection, check_contract
from bmsync.admin.ports import listing_import_starter
from bmsync.admin.variations import (
    VariationChoice,
    wholecell_order_statuses,
    wholecell_sales_order,
    wholecell_variations,
)
from bmsync.clock import Clock
from bmsync.settings import Settings
from bmsync.store.admin_auth import AdminAuthStore
from bmsync.store.connection_data import ConnectionData
from bmsync.store.listings_repo import ListingsRepository
from bmsync.store.orders_repo import OrdersRepository
from bmsync.store.run_aggregates import RunAggregatesRepository
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.stock_repo import StockRepository
from bmsync.store.sync_state import SyncStateRepository
from bmsync.sync.ports import WholeCellSalesOrder

if TYPE_CHECKING:
    from bmsync.probe import ProbeReport


@dataclass
class AdminServices:
    clock: Callable[[], Clock] = process.clock
    settings: Callable[[], SettingsRepository] = SettingsRepository
    listings: Callable[[str], ListingsRepository] = ListingsRepository
    stock: Callable[[str], StockRepository] = StockRepository
    orders: Callable[[], OrdersRepository] = OrdersRepository
    aggregates: Callable[[str], RunAggregatesRepository] = RunAggregatesRepository
    connection_data: Callable[[], ConnectionData] = ConnectionData
    test_connection: Callable[[Settings, Clock], ConnectionReport] = check_connection
    check_contract: Callable[[Settings, Clock], ProbeReport] = check_contract
    variations: Callable[[Settings, Clock], list[VariationChoice]] = wholecell_variations
    order_statuses: Callable[[Settings, Clock], list[str]] = wholecell_order_statuses
    #: One WholeCell sales order by id, read-only (an order a person says is in WholeCell).
    sales_order: Callable[[Settings, Clock, int], WholeCellSalesOrder] = wholecell_sales_order
    #: Starts a listing import without waiting for it; None: the installed or configured one.
    start_listing_import: Callable[[str], None] | None = None

    def auth_store(self) -> AdminAuthStore:
        """The admin's sessions, API tokens and sign-in counters."""
        return AdminAuthStore(self.clock())

    def state(self, connection_id: str) -> SyncStateRepository:
        return SyncStateRepository(connection_id, self.clock())

    def listing_import(self) -> Callable[[str], None] | None:
        return self.start_listing_import or listing_import_starter(self.clock)
