"""The models accept everything the live API sends (every sample) and keep money exact."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bmsync.backmarket.models import Listing, Order, OrderLine, Task
from tests.conftest import FIXTURES

RECORDED = FIXTURES / "backmarket" / "recorded" / "uk_seller.json"


def _sample(name: str) -> list[dict]:
    """``orders`` or ``listings`` of a real UK seller (tests/fixtures/README.md)."""
    return json.loads(RECORDED.read_text())[name]


@pytest.mark.parametrize("raw", _sample("orders"), ids=lambda raw: str(raw["order_id"]))
def test_every_sample_order_parses_with_exact_money_and_aware_dates(raw: dict) -> None:
    order = Order.model_validate(raw)
    assert order.order_id == raw["order_id"]
    assert order.state == raw["state"]
    assert order.price == Decimal(raw["price"])
    assert isinstance(order.price, Decimal)
    for moment in (order.date_creation, order.date_modification, order.date_payment):
        assert moment is not None and moment.tzinfo is not None
    assert (
        order.shipping_address is not None
        and order.shipping_address.country == raw["shipping_address"]["country"]
    )
    assert len(order.orderlines) == len(raw["orderlines"])
    for line, raw_line in zip(order.orderlines, raw["orderlines"], strict=True):
        assert line.listing == raw_line["listing"] == line.sku
        assert line.price == Decimal(raw_line["price"])
        assert line.condition == raw_line["condition"]


@pytest.mark.parametrize("raw", _sample("listings"), ids=lambda raw: raw["sku"])
def test_every_sample_listing_parses(raw: dict) -> None:
    listing = Listing.model_validate(raw)
    assert listing.id == raw["id"]
    assert listing.sku == raw["sku"]
    assert listing.quantity == raw["quantity"]
    assert listing.price == Decimal(raw["price"])
    assert isinstance(listing.max_price, Decimal) and listing.max_price == Decimal(str(raw["max_price"]))
    assert listing.online == (raw["publication_state"] == 2)


def test_offset_datetimes_become_the_same_instant_in_utc() -> None:
    offset = next(raw for raw in _sample("orders") if raw["date_creation"].endswith("+01:00"))
    order = Order.model_validate(offset)
    expected = datetime.fromisoformat(offset["date_creation"]).astimezone(UTC)
    assert order.date_creation == expected
    assert order.date_creation.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_lenient_inputs_blank_strings_numbers_and_unknown_values() -> None:
    line = OrderLine.model_validate(
        {
            "id": 1,
            "state": 1,
            "listing": "SKU-1",
            "price": "10.10",
            "shipping_price": "",
            "date_creation": "2026-01-05 09:00:00",
            "condition": 3,
            "listing_id": "",
            "imei": "",
            "brand_new_key": {"x": 1},
        }
    )
    assert line.shipping_price is None and line.listing_id is None
    assert line.date_creation == datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert line.condition == 3
    assert line.model_extra == {"brand_new_key": {"x": 1}}

    listing = Listing.model_validate(
        {"id": "u-1", "sku": "A", "quantity": 2, "max_price": 1249.99, "min_price": "", "price": 99.1}
    )
    assert listing.max_price == Decimal("1249.99")  # never the float's binary approximation
    assert listing.price == Decimal("99.1")
    assert listing.min_price is None
    as_string = Listing.model_validate({"id": "u-1", "sku": "A", "max_price": "1249.99"})
    assert as_string.max_price == Decimal("1249.99")

    order = Order.model_validate(
        {
            "order_id": 5,
            "state": 1,
            "date_creation": "2026-01-05T09:00:00.123456Z",
            "date_shipping": "",
            "expected_dispatch_date": None,
            "shipping_address": {"first_name": "A", "gender": 1, "phone": None},
            "orderlines": [],
        }
    )
    assert order.date_shipping is None
    assert order.date_creation == datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC)
    assert order.shipping_address is not None and order.shipping_address.gender == 1


def test_line_for_sku_is_case_insensitive() -> None:
    order = Order.model_validate(
        {"order_id": 1, "state": 1, "orderlines": [{"id": 2, "state": 1, "listing": "Sku-A", "price": "1"}]}
    )
    line = order.line_for_sku("sku-a")
    assert line is not None and line.id == 2
    assert order.line_for_sku("other") is None


def test_task_states() -> None:
    assert Task.model_validate({"task_id": 1, "action_status": 0, "result": {}}).pending
    assert Task.model_validate({"task_id": 1, "action_status": 2, "result": {}}).pending
    done = Task.model_validate({"task_id": 1, "action_status": 9, "result": {"product_success": {}}})
    assert done.done and not done.pending
    failed = Task.model_validate({"task_id": 1, "action_status": 8, "last_action_error": "interrupted"})
    assert failed.failed and failed.last_action_error == "interrupted"
