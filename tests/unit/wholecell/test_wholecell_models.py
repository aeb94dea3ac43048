"""WholeCell payloads as the client reads them: cents, offsets with milliseconds, "Unknown", null SKUs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from bmsync.clock import ManualClock
from bmsync.wholecell import contract
from bmsync.wholecell.client import RequestLimiter
from bmsync.wholecell.models import (
    InventoryUnit,
    OrderItemCreate,
    ProductVariation,
    SalesOrder,
    SalesOrderCreate,
)

UNIT = {
    "id": 8812,
    "esn": "356789012345678",
    "hex_id": "C9FV",
    "status": "Available",
    "order_id": None,
    "purchase_order_id": 77,
    "sale_price": None,
    "total_price_paid": 21550,
    "initial_price_paid": 20000,
    "product_variation": {
        "id": 31,
        "sku": None,
        "grade": "B",
        "conditions": None,
        "product": {
            "id": 4,
            "manufacturer": "APPLE",
            "model": "IPHONE 13",
            "variant": "Unknown",
            "network": "UNKNOWN",
            "capacity": "128GB",
            "color": "MIDNIGHT",
        },
    },
    "product": {"id": 4, "manufacturer": "APPLE", "model": "IPHONE 13", "variant": "Unknown"},
    "warehouse": {"id": 1, "name": "Main Warehouse"},
    "location": None,
    "custom_field_values": None,
    "created_at": "2025-11-13T11:42:47.674-05:00",
    "updated_at": "2025-11-13T11:42:47.674-05:00",
    "a_field_bmsync_does_not_know": {"x": 1},
}


def test_an_inventory_unit_parses_with_offsets_cents_unknown_parts_and_a_null_sku():
    unit = InventoryUnit.model_validate(UNIT)

    assert unit.updated_at == datetime(2025, 11, 13, 16, 42, 47, 674000, tzinfo=UTC)
    assert unit.updated_at.utcoffset() == timedelta(hours=-5)
    assert unit.total_price_paid == 21550 and isinstance(unit.total_price_paid, int)
    assert unit.product_variation is not None and unit.product_variation.sku is None
    assert unit.product_variation.conditions == []
    product = unit.product_variation.product
    assert product is not None and product.variant is None and product.network is None
    assert product.name == "APPLE IPHONE 13 128GB MIDNIGHT"
    assert unit.committed is False and unit.custom_field_values == {}


def test_money_with_a_fraction_or_a_naive_time_is_refused():
    with pytest.raises(ValidationError):
        InventoryUnit.model_validate(UNIT | {"sale_price": 199.99})
    with pytest.raises(ValidationError):
        InventoryUnit.model_validate(UNIT | {"updated_at": "2025-11-13T11:42:47"})


def test_a_sales_order_with_nulls_for_empty_lists():
    order = SalesOrder.model_validate(
        {
            "id": 5,
            "status": "Pending",
            "channel": "Backmarket",
            "external_id": "123456",
            "customer": {"id": 9, "name": "Back Market"},
            "order_items": [
                {"id": 1, "product_variation_id": None, "sku": "BMTESTSKU1", "quantity": 1, "price": 4999}
            ],
            "inventories": None,
            "shipments": None,
            "created_at": "2026-01-05T09:00:00.000+00:00",
            "updated_at": "2026-01-05T09:00:00.001Z",
        }
    )
    assert order.inventories == [] and order.shipments == []
    assert order.order_items[0].product_variation_id is None


def test_a_new_order_needs_items_with_a_positive_quantity_naming_a_variation_or_sku():
    with pytest.raises(ValidationError, match="quantity"):
        OrderItemCreate(sku="X", quantity=0, price=100)
    with pytest.raises(ValidationError, match="product_variation_id or a sku"):
        OrderItemCreate(quantity=1, price=100)
    with pytest.raises(ValidationError, match="order_items"):
        SalesOrderCreate(customer_id=1, status="Pending", external_id="1", order_items=[])
    order = SalesOrderCreate(
        customer_id=1,
        status="Pending",
        external_id="1",
        order_items=[OrderItemCreate(sku="X", quantity=1, price=1)],
    )
    assert order.channel == "Backmarket"


def test_the_limiter_spaces_requests_on_the_injected_clock():
    clock = ManualClock()
    limiter = RequestLimiter(clock, requests_per_second=2.0)
    start = clock.monotonic()
    for _ in range(5):
        limiter.acquire()
    # The first goes at once, then one every half second.
    assert clock.monotonic() - start == pytest.approx(2.0)
    clock.advance(10)
    before = clock.monotonic()
    limiter.acquire()
    assert clock.monotonic() == before  # idle time is not banked into a burst beyond one slot


def test_timestamps_sent_to_wholecell_keep_offset_and_milliseconds():
    from bmsync.wholecell.contract import query

    moment = datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert query(updated_at_gt=moment, status=None) == {"updated_at_gt": "2026-01-05T09:00:00.123+01:00"}


def test_conditions_read_as_titles_whether_strings_or_objects() -> None:
    variation = ProductVariation.model_validate(
        {"id": 1, "conditions": [{"id": 4, "title": "Screen scratch", "initials": "SS"}, "Battery 85%"]}
    )
    assert variation.conditions == ["Screen scratch", "Battery 85%"]
    for ambiguous in ([{"id": 4, "initials": "SS"}], [{"title": None}], "Screen scratch"):
        with pytest.raises(ValueError):
            ProductVariation.model_validate({"id": 1, "conditions": ambiguous})


def test_a_field_the_wire_names_otherwise_is_one_edit_of_the_contract(monkeypatch) -> None:
    monkeypatch.setattr(
        contract,
        "WIRE_NAMES",
        {"SalesOrder": {"external_id": "reference"}, "SalesOrderCreate": {"external_id": "reference"}},
    )
    order = SalesOrder.model_validate(
        {
            "id": 7,
            "status": "Pending",
            "reference": "BM-1",
            "created_at": "2026-01-05T08:00:00.000-05:00",
            "updated_at": "2026-01-05T08:00:00.000-05:00",
        }
    )
    assert order.external_id == "BM-1"
    create = SalesOrderCreate(
        customer_id=1,
        status="Pending",
        external_id="BM-1",
        order_items=[OrderItemCreate(sku="S", quantity=1, price=100)],
    )
    body = contract.sales_order_body(create)
    assert body["reference"] == "BM-1" and "external_id" not in body
