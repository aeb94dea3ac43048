"""Shadow mode end to end on the sandbox runtime: order_import and shipment_export read both emulators
and decide, nothing reaches either; going live then creates each order shadow mode saw, exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bmsync.admin.services import AdminServices
from bmsync.admin.shadow_service import go_live
from bmsync.settings import AutoValidation, ConnectionMode
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.shadow_repo import ShadowRepository
from bmsync.sync.order_import import SHADOW_NOT_CREATED
from tests.e2e.orders_sandbox import CONNECTION, OrdersSystem, orders_system


@pytest.fixture
def system(tmp_path: Path) -> Iterator[OrdersSystem]:
    with orders_system(
        tmp_path, mode=ConnectionMode.SHADOW, auto_validation=AutoValidation.ALWAYS
    ) as running:
        yield running


def _writes(system: OrdersSystem) -> list[str]:
    """Every write either emulator received (the seller's own actions go through their control APIs)."""
    return [
        f"{service} {call['method']} {call['path']}"
        for service, calls in (
            ("backmarket", system.backmarket.calls()),
            ("wholecell", system.wholecell.calls()),
        )
        for call in calls
        if call["method"] != "GET"
    ]


def test_shadow_mode_records_the_orders_and_going_live_creates_each_exactly_once(
    system: OrdersSystem,
) -> None:
    paid = [order for order in system.backmarket.orders() if order["state"] == 1]
    accepted = [order for order in system.backmarket.orders() if order["state"] == 3]
    open_ids = {str(order["order_id"]) for order in paid + accepted}
    assert paid and accepted

    first = system.import_orders()
    system.watch()
    second = system.import_orders()

    assert first.counts["would_create"] == len(open_ids) and second.status == "succeeded"
    assert _writes(system) == []
    assert system.wholecell.orders(channel="Backmarket") == []
    recorded = ShadowRepository(CONNECTION, system.clock).list()
    orders = {write.subject: write for write in recorded if write.kind == "order"}
    assert set(orders) == open_ids
    for order in paid:
        write = orders[str(order["order_id"])]
        line = order["orderlines"][0]
        assert write.status == "Pending" and [item.sku for item in write.items] == [line["listing"]]
        assert write.total_cents == round(float(line["price"]) * 100)
        # Automatic validation would have accepted its line.
        assert any(
            w.kind == "validation" and w.subject == f"{order['order_id']}#{line['listing']}" for w in recorded
        )
        record = system.record(order["order_id"])
        assert record.import_state == "not_imported" and record.import_status == SHADOW_NOT_CREATED
        assert record.wholecell_order_id is None and record.currency == order["currency"]
        assert record.validations == []  # not decided yet: going live decides
    assert all(write.times >= 1 for write in recorded)

    # Hours later (past any overlap window: only going live makes order_import read them again).
    system.clock.advance(6 * 3600)
    system.import_orders()
    assert system.wholecell.orders(channel="Backmarket") == []
    new_order = system.backmarket.create_buyer_order(paid[0]["orderlines"][0]["listing"])
    settings = SettingsRepository().get(CONNECTION)
    assert settings is not None
    go_live(AdminServices(clock=lambda: system.clock), settings, {"confirm": CONNECTION}, by="test")
    live = system.import_orders()
    system.import_orders()

    created = system.wholecell.orders(channel="Backmarket")
    external_ids = [order["external_id"] for order in created]
    assert sorted(external_ids) == sorted(open_ids | {str(new_order["order_id"])})  # each once
    assert live.counts["imported"] == len(open_ids) + 1
    # The paid lines shadow mode would have validated are validated now.
    for order in paid:
        assert system.backmarket.order(order["order_id"])["state"] == 3
    assert ShadowRepository(CONNECTION, system.clock).list() == []
