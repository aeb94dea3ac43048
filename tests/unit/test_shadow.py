"""Shadow mode at the clients' boundary: reads pass, writes are recorded (bounded), never sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bmsync.clock import ManualClock
from bmsync.settings import ConnectionMode, Settings
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.shadow_repo import RETENTION, ShadowRepository, ShadowWrite
from bmsync.sync import order_import, quantity_sync, shipment_export
from bmsync.sync.shadow import ShadowBackMarket, ShadowWholeCell, WriteRecorded
from bmsync.wholecell.models import Customer, OrderItemCreate, SalesOrderCreate

CID = "shop"


class RealClient:
    """Stands for a real client: every call is noted; a write reaching it is what must never happen."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return None if name == "find_customer" else [name]

        return call


def test_a_new_write_on_the_same_subject_replaces_the_older_one_and_expires(
    aws: None, clock: ManualClock
) -> None:
    repo = ShadowRepository(CID, clock)
    repo.record(ShadowWrite(kind="quantity", subject="L1", quantity=3))
    clock.advance(60)
    repo.record(ShadowWrite(kind="quantity", subject="L1", quantity=5))
    clock.advance(120)
    repo.record(ShadowWrite(kind="order", subject="77"))
    [quantity, order] = repo.list()
    assert (quantity.kind, quantity.quantity, quantity.times) == ("quantity", 5, 2)
    assert quantity.first_at < quantity.last_at and order.subject == "77"
    assert ShadowRepository("other", clock).list() == []  # per connection
    clock.advance(RETENTION.total_seconds() - 100)
    assert [write.subject for write in repo.list()] == ["77"]  # L1 last decided more than RETENTION ago
    assert repo.clear() == 2 and repo.list() == []


def test_reads_pass_and_each_write_is_recorded_instead_of_sent(aws: None, clock: ManualClock) -> None:
    real = RealClient()
    backmarket = ShadowBackMarket(real, ShadowRepository(CID, clock))
    assert backmarket.iter_listings() == ["iter_listings"] and backmarket.get_order(1) == ["get_order"]
    with pytest.raises(WriteRecorded):
        backmarket.update_listing("L1", quantity=4, pub_state=2)
    with pytest.raises(WriteRecorded):
        backmarket.accept_orderline(77, "SKU-A")
    with pytest.raises(WriteRecorded):
        backmarket.ship_order(77, tracking_number="TRK1", shipper="UPS", imei="356938035643809")
    # Nothing not known to be a read is called (a write added to a client later must be recorded first).
    with pytest.raises(AttributeError, match="not known to be a read"):
        backmarket.refund_orderline(77, "SKU-A")
    assert backmarket.hold_sku_updates(1, keep=20)  # nothing sent: no budget spent
    assert real.calls == ["iter_listings", "get_order"]
    writes = {write.kind: write for write in ShadowRepository(CID, clock).list()}
    assert (
        writes["quantity"].subject == "L1"
        and writes["quantity"].quantity == 4
        and writes["quantity"].put_online
    )
    assert writes["validation"].subject == "77#SKU-A" and writes["validation"].action == "accepted"
    assert writes["shipment"].tracking_number == "TRK1"
    assert writes["shipment"].identifiers == {"imei": "356938035643809"}


def test_a_wholecell_order_is_recorded_with_its_items_and_no_buyer_name(
    aws: None, clock: ManualClock
) -> None:
    real = RealClient()
    wholecell = ShadowWholeCell(real, ShadowRepository(CID, clock))
    customer = wholecell.find_or_create_customer("Ada Lovelace")
    assert isinstance(customer, Customer) and real.calls == ["find_customer"]
    request = SalesOrderCreate(
        customer_id=customer.id,
        status="Pending",
        external_id="77",
        order_items=[
            OrderItemCreate(sku="SKU-A", quantity=2, price=33400),
            OrderItemCreate(sku="SKU-A", quantity=1, price=33300),
        ],
        notes="Back Market order 77; prices in GBP",
    )
    with pytest.raises(WriteRecorded) as recorded:
        wholecell.create_sales_order(request)
    order = recorded.value.write
    # The buyer's name is not kept (docs/data.md): only that the order needs a new customer.
    assert order.kind == "order" and order.subject == "77" and order.customer == "a new customer"
    assert "Ada" not in order.model_dump_json()
    assert [(item.sku, item.quantity, item.price_cents) for item in order.items] == [
        ("SKU-A", 2, 33400),
        ("SKU-A", 1, 33300),
    ]
    assert order.total_cents == 100100 and order.status == "Pending"
    assert [write.kind for write in ShadowRepository(CID, clock).list()] == ["order"]
    assert real.calls == ["find_customer"]  # no create_customer, no create_sales_order


@pytest.mark.parametrize("flow", [order_import, quantity_sync, shipment_export])
def test_each_writing_flow_is_wired_to_the_shadow_clients_in_shadow_mode_only(
    flow: Any, aws: None, clock: ManualClock
) -> None:
    shadow = flow.wire(Settings(connection_id=CID, mode=ConnectionMode.SHADOW), clock)
    live = flow.wire(Settings(connection_id=CID), clock)
    assert isinstance(shadow.backmarket, ShadowBackMarket)
    assert not isinstance(live.backmarket, ShadowBackMarket)
    if flow is order_import:
        assert isinstance(shadow.wholecell, ShadowWholeCell)
        assert not isinstance(live.wholecell, ShadowWholeCell)


def test_a_new_connection_starts_in_shadow_and_a_stored_one_without_mode_stays_live(aws: None) -> None:
    repo = SettingsRepository()
    assert repo.get_or_default("newcomer").mode is ConnectionMode.SHADOW
    stored = Settings(connection_id="older").model_dump(mode="json")
    stored.pop("mode")  # saved before shadow mode existed
    assert Settings.model_validate(stored).mode is ConnectionMode.LIVE


def test_retention_is_days_not_forever() -> None:
    assert timedelta(days=1) < RETENTION <= timedelta(days=31)
