"""order_import: first and incremental import, customers, variations, unknown SKUs, unmapped states."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from bmsync.settings import BackMarketOrderStatus, OrganizationType, ProductVariationMode
from tests.unit.orders.conftest import OTHER_SKU, SKU, OrdersHarness
from tests.unit.orders.fakes import FakeLine


def test_the_first_run_imports_every_open_order_and_nothing_finished(harness: OrdersHarness) -> None:
    harness.order(1001, 1)
    harness.order(1002, 3, FakeLine(10021, 2, SKU, quantity=2, price=Decimal("299.99")))
    harness.order(1003, 9, FakeLine(10031, 3, SKU), minutes_ago=60)  # shipped before bmsync

    run = harness.run()

    assert run.status == "succeeded" and run.counts["imported"] == 2
    assert "first import" in run.progress
    created = {request.external_id: request for request in harness.wholecell.created}
    assert set(created) == {"1001", "1002"}
    request = created["1002"]
    assert request.channel == "Backmarket" and request.status == "Processing"
    assert created["1001"].status == "Pending"
    # 299.99 is the line's total for both units: 150.00 + 149.99, never 2 x 299.99.
    assert [
        (item.product_variation_id, item.sku, item.quantity, item.price) for item in request.order_items
    ] == [
        (11, SKU, 1, 15000),
        (11, SKU, 1, 14999),
    ]
    customer = harness.wholecell.customers["Alex Martin"]
    assert request.customer_id == customer.id
    assert request.shipping_address.name == "Alex Martin" and request.shipping_address.zip == "B94 4RE"

    record = harness.record(1002)
    assert record.import_state == "imported" and record.wholecell_order_id is not None
    assert record.import_status == f"imported as WholeCell sales order {record.wholecell_order_id}"
    assert record.lines[0].variation_ids == [11, 12]  # Match via SKU: every variation with the SKU
    assert record.last_writer == "order_import"
    assert harness.orders.get("uk", 1003) is None
    # The stock mirror drops at once, on the best-stocked variation of the SKU.
    assert harness.stock.reserved == [("11", 1), ("11", 2)]
    assert harness.stock.levels["11"] == 0


def test_later_runs_read_changes_since_the_cursor_with_an_overlap(harness: OrdersHarness) -> None:
    harness.order(1001, 1)
    harness.run()
    cursor_time = harness.clock.now()
    harness.clock.advance(60)
    harness.order(1004, 1)

    run = harness.run()

    assert run.counts["imported"] == 1 and "changed since the last run" in run.progress
    last_read = [args for call, args in harness.backmarket.calls if call == "iter_orders"][-1]
    assert last_read == {
        "state": None,
        "date_modification": cursor_time - timedelta(minutes=harness.settings.order_overlap_minutes),
    }
    assert [request.external_id for request in harness.wholecell.created] == ["1001", "1004"]
    # Re-reading 1001 (inside the overlap) never creates it again.
    harness.touch(1001)
    harness.run()
    assert len(harness.wholecell.created) == 2


def test_the_daily_catch_up_rereads_the_last_days(harness: OrdersHarness) -> None:
    harness.run()
    harness.clock.advance(3600)
    harness.run()
    harness.clock.advance(60)
    # A write Back Market made visible late: dated before the overlap window of the next run.
    harness.order(1005, 1, minutes_ago=30)

    harness.run()
    assert harness.wholecell.created == []
    run = harness.run(catch_up=True)
    assert run.counts["imported"] == 1 and "catch-up" in run.progress


def test_channel_name_orders_all_go_to_one_back_market_customer(harness: OrdersHarness) -> None:
    harness.settings = harness.settings.model_copy(
        update={"organization_type": OrganizationType.CHANNEL_NAME}
    )
    harness.order(1001, 1)
    harness.order(1002, 1)
    harness.run()
    assert list(harness.wholecell.customers) == ["Back Market"]
    assert {request.customer_id for request in harness.wholecell.created} == {
        harness.wholecell.customers["Back Market"].id
    }


def test_chosen_variations_mode_uses_the_listing_links(harness: OrdersHarness) -> None:
    harness.settings = harness.settings.model_copy(
        update={"product_variations": ProductVariationMode.CHOOSE_SPECIFIC}
    )
    harness.listings.chosen = {SKU: ["12"]}
    harness.order(1001, 1)
    harness.run()
    [request] = harness.wholecell.created
    assert request.order_items[0].product_variation_id == 12
    assert harness.record(1001).lines[0].variation_ids == [12]


def test_an_unknown_sku_is_kept_as_an_unknown_item_and_alerted(harness: OrdersHarness) -> None:
    harness.order(1001, 1, FakeLine(10011, 1, "BMTESTSKU1", product="Old phone"), FakeLine(10012, 1, SKU))
    harness.run()

    [request] = harness.wholecell.created
    unknown, known = request.order_items
    assert (unknown.product_variation_id, unknown.sku, unknown.description) == (
        None,
        "BMTESTSKU1",
        "Old phone",
    )
    assert known.product_variation_id == 11
    record = harness.record(1001)
    assert record.unknown_skus == ["BMTESTSKU1"] and "Unknown SKU: BMTESTSKU1" in record.import_status
    [alert] = harness.state.alerts()
    assert alert.alert_id == "unknown-sku-bmtestsku1"
    assert "'BMTESTSKU1' was imported as 'Unknown SKU'" in alert.message
    assert "no WholeCell product variation has the SKU 'BMTESTSKU1'" in alert.message
    assert "Add the SKU 'BMTESTSKU1' to a product variation" in alert.action


def test_an_unknown_sku_in_chosen_mode_points_at_the_listings(harness: OrdersHarness) -> None:
    harness.settings = harness.settings.model_copy(
        update={"product_variations": ProductVariationMode.CHOOSE_SPECIFIC}
    )
    harness.order(1001, 1)  # no listing imported / no variation chosen
    harness.run()
    [alert] = harness.state.alerts()
    assert "Import your listings" in alert.action and "Product not set!" in alert.action


def test_an_unmapped_state_is_recorded_not_imported_then_imported_once_mapped(harness: OrdersHarness) -> None:
    status_map = dict(harness.settings.order_status_map)
    del status_map[BackMarketOrderStatus.PAID]
    harness.settings = harness.settings.model_copy(update={"order_status_map": status_map})
    harness.order(1001, 1)

    run = harness.run()

    assert run.counts["not_mapped"] == 1 and harness.wholecell.created == []
    record = harness.record(1001)
    assert record.import_state == "not_imported"
    assert record.import_status.startswith(
        "not imported: Back Market state 1 (paid, waiting for validation) is not mapped to a WholeCell status"
    )
    [alert] = harness.state.alerts()
    assert alert.severity == "warning" and "Order statuses" in alert.action

    # Recorded once, not rewritten on every read.
    revision = record.revision
    harness.touch(1001)
    harness.run()
    assert harness.record(1001).revision == revision

    # Validated on Back Market (state 3 is mapped): now it comes in.
    harness.backmarket.accept_orderline(1001, SKU)
    harness.touch(1001)
    harness.run()
    [request] = harness.wholecell.created
    assert request.status == "Processing" and harness.record(1001).import_state == "imported"


def test_switched_off_import_says_so_and_switching_on_imports_open_orders(harness: OrdersHarness) -> None:
    harness.settings = harness.settings.model_copy(update={"order_import_enabled": False})
    harness.order(1001, 1)

    run = harness.run()

    assert run.status == "succeeded" and harness.wholecell.created == []
    assert run.progress.startswith("Order import is switched off")
    assert "Enable order import" in run.progress
    [alert] = harness.state.alerts()
    assert alert.alert_id == "order-import-off"

    harness.settings = harness.settings.model_copy(update={"order_import_enabled": True})
    harness.clock.advance(3600)  # the order is far older than any overlap window
    run = harness.run()
    assert run.counts["imported"] == 1 and "first import" in run.progress
    assert harness.state.alerts() == []


def test_a_finished_order_created_after_the_first_import_is_imported(harness: OrdersHarness) -> None:
    harness.run()
    harness.clock.advance(60)
    # Bought and cancelled between two runs.
    harness.order(1006, 9, FakeLine(10061, 4, SKU))
    harness.run()
    [request] = harness.wholecell.created
    assert request.status == "Cancelled"
    assert harness.stock.reserved == []  # a cancelled line holds no stock
    assert OTHER_SKU  # (the other SKU's stock was never touched)
    assert harness.stock.levels["21"] == 0


class SlowWholeCell:
    """WholeCell at its real pace: every order created takes a minute of the run's time."""

    def __init__(self, inner, clock) -> None:
        self._inner = inner
        self._clock = clock

    def create_sales_order(self, order):
        self._clock.advance(60)
        return self._inner.create_sales_order(order)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


def test_a_long_first_import_stops_in_time_and_the_next_run_carries_on(harness: OrdersHarness) -> None:
    for order_id in (1001, 1002, 1003):
        harness.order(order_id, 1)
    fake = harness.wholecell
    harness.wholecell = SlowWholeCell(fake, harness.clock)  # type: ignore[assignment]

    run = harness.run(time_budget=timedelta(seconds=90))

    assert run.counts["imported"] == 2 and "the next run carries on" in run.progress
    assert harness.state.get_cursor("order_import") is None  # still the first import
    run = harness.run(time_budget=timedelta(seconds=90))
    assert run.counts["imported"] == 1 and "first import" in run.progress
    assert sorted(request.external_id for request in fake.created) == ["1001", "1002", "1003"]
    assert harness.state.get_cursor("order_import")


def test_the_item_is_booked_on_the_variation_whose_stock_is_reserved(harness: OrdersHarness) -> None:
    # Variation 12 holds the stock: WholeCell's item and bmsync's mirror must both take it from 12,
    # or WholeCell's outstanding and bmsync's mirror disagree until the next reconciliation.
    harness.stock.levels.update({"11": 0, "12": 4})
    harness.order(1005, 1, FakeLine(10051, 1, SKU, quantity=1, price=Decimal("299.99")))

    harness.run()

    [request] = harness.wholecell.created
    [item] = request.order_items
    assert item.product_variation_id == 12
    assert harness.stock.reserved == [("12", 1)]
    assert harness.record(1005).lines[0].variation_ids == [12, 11]


def test_a_line_of_several_units_is_booked_at_the_unit_price(harness: OrdersHarness) -> None:
    # Two MacBook Air as Back Market really sends them: the line's price is both units together.
    harness.order(1101, 1, FakeLine(11011, 1, SKU, quantity=2, price=Decimal("894.00")))
    harness.order(
        1102, 1, FakeLine(11021, 1, SKU, quantity=3, price=Decimal("10.01")), FakeLine(11022, 1, OTHER_SKU)
    )

    harness.run()

    created = {request.external_id: request for request in harness.wholecell.created}
    [item] = created["1101"].order_items
    assert (item.quantity, item.price) == (2, 44700)
    assert [(item.sku, item.quantity, item.price) for item in created["1102"].order_items] == [
        (SKU, 2, 334),
        (SKU, 1, 333),
        (OTHER_SKU, 1, 32900),
    ]
    for order_id in (1101, 1102):
        booked = sum(item.price * item.quantity for item in created[str(order_id)].order_items)
        lines = harness.backmarket.orders[order_id].orderlines
        assert booked == sum(int(line.price * 100) for line in lines)
    record = harness.record(1101)
    assert (record.lines[0].price_cents, record.lines[0].unit_prices_cents) == (89400, [44700, 44700])


def test_an_order_in_another_currency_is_flagged_never_converted(harness: OrdersHarness) -> None:
    harness.order(1201, 1)  # GBP from en-gb: the account's own currency
    euro = harness.order(1202, 1, FakeLine(12021, 1, SKU, price=Decimal("349.00")))
    euro.currency, euro.country_code = "EUR", "de-de"

    run = harness.run()

    assert run.counts["other_currency"] == 1
    created = {request.external_id: request for request in harness.wholecell.created}
    assert created["1202"].order_items[0].price == 34900  # euros as they are
    assert "prices in EUR, market de-de" in created["1202"].notes
    assert "NOT in the account currency GBP" in created["1202"].notes
    assert "prices in GBP, market en-gb" in created["1201"].notes
    assert "NOT" not in created["1201"].notes
    euro_record, pound_record = harness.record(1202), harness.record(1201)
    assert (euro_record.currency, euro_record.market, euro_record.currency_mismatch) == ("EUR", "de-de", True)
    assert (pound_record.currency, pound_record.currency_mismatch) == ("GBP", False)
    [alert] = [alert for alert in harness.state.alerts() if alert.alert_id == "order-currency-EUR"]
    assert alert.severity == "warning"
    assert "priced in EUR, not in the account currency GBP" in alert.message
    assert "Account currency" in alert.action


def test_the_account_currency_setting_decides_what_is_foreign(harness: OrdersHarness) -> None:
    harness.settings = harness.settings.model_copy(update={"account_currency": "EUR"})
    euro = harness.order(1301, 1)
    euro.currency, euro.country_code = "EUR", "fr-fr"
    harness.order(1302, 1)

    harness.run()

    assert harness.record(1301).currency_mismatch is False
    assert harness.record(1302).currency_mismatch is True
