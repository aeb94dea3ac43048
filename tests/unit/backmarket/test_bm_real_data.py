"""The models against what a real seller's Back Market account sends (issue 15): line totals, several
currencies, quantity -1, the shipper names Back Market knows."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from bmsync.backmarket.models import Listing, Order, OrderLine, market_currency
from bmsync.backmarket.shippers import KNOWN_SHIPPERS, known_shipper
from bmsync.settings import DEFAULT_CARRIER_MAP, Settings

RECORDED = json.loads(
    (Path(__file__).resolve().parents[2] / "fixtures/backmarket/recorded/uk_seller.json").read_text()
)
ORDERS = {raw["order_id"]: raw for raw in RECORDED["orders"]}
LISTINGS = {raw["sku"]: raw for raw in RECORDED["listings"]}


def _line(price: str, quantity: int) -> OrderLine:
    raw = {"id": 1, "state": 1, "listing": "SKU", "price": price, "quantity": quantity}
    return OrderLine.model_validate(raw)


def test_a_real_line_of_two_macbooks_is_a_line_total_split_into_two_unit_prices() -> None:
    order = Order.model_validate(ORDERS[55709033])
    [line] = order.orderlines
    assert (line.quantity, line.price, order.price) == (2, Decimal("894.00"), Decimal("894.00"))
    assert line.orderline_fee == Decimal("89.40")  # 10% of the line, so price is the line's total
    assert line.unit_prices_cents() == [44700, 44700]
    ipad = Order.model_validate(ORDERS[48073956]).orderlines[0]
    assert ipad.unit_prices_cents() == [23247, 23247]


@pytest.mark.parametrize(
    ("price", "quantity", "units"),
    [
        ("10.01", 3, [334, 334, 333]),
        ("10.00", 3, [334, 333, 333]),
        ("0.01", 2, [1, 0]),
        ("355.00", 1, [35500]),
        ("99.995", 1, [10000]),  # more decimals than cents: rounded half up first
    ],
)
def test_unit_prices_add_up_exactly_to_the_line(price: str, quantity: int, units: list[int]) -> None:
    line = _line(price, quantity)
    assert line.unit_prices_cents() == units
    assert sum(units) == int((Decimal(price) * 100).quantize(Decimal("1"), rounding="ROUND_HALF_UP"))


def test_every_recorded_line_splits_into_units_that_add_up_to_it() -> None:
    for raw in RECORDED["orders"]:
        order = Order.model_validate(raw)
        for line in order.orderlines:
            assert len(line.unit_prices_cents()) == line.quantity
            assert sum(line.unit_prices_cents()) == int(line.price * 100)
        assert sum(sum(line.unit_prices_cents()) for line in order.orderlines) == int(order.price * 100)


def test_eur_orders_from_other_eu_markets_differ_from_a_gbp_account() -> None:
    orders = [Order.model_validate(raw) for raw in RECORDED["orders"]]
    foreign = {order.order_id: order.country_code for order in orders if order.currency_differs_from("GBP")}
    assert foreign and set(foreign.values()) <= {"de-de", "es-es", "fr-fr", "fr-be", "it-it"}
    for order in orders:
        assert order.currency_code == ("GBP" if order.country_code == "en-gb" else "EUR")
        assert order.currency_differs_from("GBP") == (order.country_code != "en-gb")
        assert order.currency_differs_from("eur") == (order.country_code == "en-gb")
    without = Order.model_validate({"order_id": 1, "state": 1, "country_code": "de-de"})
    assert without.currency_code is None and without.currency_differs_from("GBP")


@pytest.mark.parametrize(
    ("platform", "market", "currency"),
    [
        ("EU", "en-gb", "GBP"),
        ("EU", "de-de", "EUR"),
        ("EU", "fr-be", "EUR"),
        ("EU", "sv-se", "SEK"),
        ("US", "en-us", "USD"),
        ("AP", "ja-jp", "JPY"),
        ("AP", "en-au", "AUD"),
    ],
)
def test_the_account_currency_defaults_from_the_market(platform: str, market: str, currency: str) -> None:
    settings = Settings.model_validate({"backmarket": {"platform": platform, "market": market}})
    assert settings.account_currency is None
    assert settings.backmarket_account_currency() == currency == market_currency(market)


def test_the_account_currency_can_be_set_and_is_an_iso_code() -> None:
    assert Settings(account_currency="EUR").backmarket_account_currency() == "EUR"
    with pytest.raises(ValidationError, match="account_currency"):
        Settings(account_currency="pounds")
    field = Settings.model_fields["account_currency"]
    assert field.title == "Account currency" and "never converted" in (field.description or "")
    assert field.json_schema_extra == {"section": "Back Market account"}


def test_a_listing_at_minus_one_or_zero_is_sold_out() -> None:
    double_checkout = Listing.model_validate(LISTINGS["iP11.Black.64GB.Good"])
    assert double_checkout.quantity == -1 and double_checkout.sold_out and not double_checkout.online
    for raw in RECORDED["listings"]:
        listing = Listing.model_validate(raw)
        assert listing.sold_out == (raw["quantity"] <= 0)
    assert not Listing(id="x", sku="s", quantity=1).sold_out


def test_real_orders_ship_with_shippers_back_market_knows() -> None:
    used = {raw["shipper"] for raw in RECORDED["orders"]} | {
        line["shipper"] for raw in RECORDED["orders"] for line in raw["orderlines"]
    }
    assert used >= {"Royal Mail", "DPD UK", "DHL Express"}
    assert all(known_shipper(name) == name for name in used)
    for extra in ("Royal Mail Express", "DHL"):
        assert extra in KNOWN_SHIPPERS


def test_the_default_carrier_map_only_sends_names_back_market_knows() -> None:
    assert set(DEFAULT_CARRIER_MAP.values()) <= set(KNOWN_SHIPPERS)
    settings = Settings()
    assert settings.shipper_for("parcelforce") == "Parcelforce (Worldwide)"
    assert settings.shipper_for("DPD") == "DPD UK"
    assert settings.shipper_for("evri") == "Hermes - UK"


def test_known_shipper_gives_back_markets_spelling() -> None:
    assert known_shipper(" royal mail ") == "Royal Mail"
    assert known_shipper("dpd uk") == "DPD UK"
    assert known_shipper("Parcelforce") is None
    assert known_shipper("") is None and known_shipper(None) is None
