"""Every client call against the sandbox over HTTP: what goes out, what comes back, what it changed."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests

from bmsync.clock import ManualClock
from bmsync.connection_secrets import write_wholecell_credentials
from bmsync.settings import Settings, WholeCellConnection
from bmsync.wholecell import client_for
from bmsync.wholecell.errors import NotFound, Unauthorized, ValidationFailed
from bmsync.wholecell.models import OrderItemCreate, SalesOrderCreate, WholeCellAddress
from bmsync_sandbox.demo_catalogue import variations as demo_variations
from bmsync_sandbox.wholecell.server import WholeCellSandbox

SHARED_SKU = demo_variations()[0].sku  # "A+" and "A" share it


def _variation_ids(sandbox: WholeCellSandbox, sku: str) -> list[int]:
    return [v["id"] for v in sandbox.variations() if v["sku"] == sku]


def test_inventories_with_every_filter(wholecell_sandbox, wholecell, clock):
    first, second = _variation_ids(wholecell_sandbox, SHARED_SKU)
    shelf = wholecell_sandbox.receive_units(first, 2, location="Shelf A")
    graded = wholecell_sandbox.receive_units(second, 3, status="Grading", warehouse="Returns Warehouse")
    clock.advance(60)
    cursor_unit = wholecell_sandbox.set_unit_status(graded[0]["id"], "Available")

    units = list(wholecell.iter_inventories())
    assert [u.id for u in units] == [u["id"] for u in shelf + graded]
    assert units[0].product_variation is not None and units[0].product_variation.sku == SHARED_SKU
    assert units[0].location is not None and units[0].location.name == "Shelf A"
    assert units[2].warehouse is not None and units[2].warehouse.name == "Returns Warehouse"

    assert {u.id for u in wholecell.iter_inventories(status="Grading")} == {g["id"] for g in graded[1:]}
    assert [u.id for u in wholecell.iter_inventories(esn=shelf[1]["esn"])] == [shelf[1]["id"]]
    assert {u.id for u in wholecell.iter_inventories(location="Shelf A")} == {s["id"] for s in shelf}

    changed = next(u for u in units if u.id == cursor_unit["id"])
    assert [
        u.id for u in wholecell.iter_inventories(updated_at_gt=changed.updated_at - timedelta(milliseconds=1))
    ] == [changed.id]
    assert list(wholecell.iter_inventories(updated_at_gt=changed.updated_at)) == []  # strictly after


def test_catalogue_statuses_and_stock_levels(wholecell_sandbox, wholecell):
    first, second = _variation_ids(wholecell_sandbox, SHARED_SKU)
    wholecell_sandbox.receive_units(first, 2)
    wholecell_sandbox.receive_units(second, 1)
    wholecell_sandbox.receive_units(second, 4, status="Repair")

    shared = list(wholecell.iter_product_variations(sku=SHARED_SKU))
    assert [v.id for v in shared] == [first, second]
    assert {v.grade for v in shared} == {"A+", "A"}
    assert len(list(wholecell.iter_product_variations())) == len(demo_variations())

    statuses = {s.title: s for s in wholecell.list_sales_order_statuses()}
    assert statuses["Pending"].is_open and statuses["Pending"].allow_commitment
    assert statuses["Processing"].sync_to_shipstation
    assert not statuses["Shipped"].is_open and not statuses["Shipped"].allow_commitment

    levels = {level.sku: level for level in wholecell.iter_stock_levels(inventory_statuses=["Available"])}
    assert (levels[SHARED_SKU].on_hand, levels[SHARED_SKU].available) == (3, 3)
    everything = {level.sku: level for level in wholecell.iter_stock_levels()}
    assert everything[SHARED_SKU].on_hand == 7


def test_customers_found_exactly_or_created_once(wholecell_sandbox, wholecell):
    assert wholecell.find_customer("Back Market") is None
    created = wholecell.find_or_create_customer("Back Market")
    assert wholecell.find_or_create_customer("Back Market") == created
    # The sandbox's name filter is a search: a longer name that contains it is not a match.
    wholecell.create_customer("Back Market Returns")
    assert wholecell.find_customer("Back Market") == created
    assert [c.name for c in wholecell_sandbox.account.customers.values()] == [
        "Back Market",
        "Back Market Returns",
    ]
    with pytest.raises(ValidationFailed) as blank:
        wholecell.create_customer("  ")
    assert "name" in blank.value.fields


def test_sales_order_round_trip_with_items_committed_units_and_shipments(wholecell_sandbox, wholecell, clock):
    first, _ = _variation_ids(wholecell_sandbox, SHARED_SKU)
    (unit,) = wholecell_sandbox.receive_units(first, 1)
    customer = wholecell.find_or_create_customer("Jane Doe")
    created = wholecell.create_sales_order(
        SalesOrderCreate(
            customer_id=customer.id,
            status="Pending",
            external_id="700001",
            shipping_address=WholeCellAddress(
                name="Jane Doe", street1="1 High St", city="Leeds", zip="LS1 1AA", country="GB"
            ),
            order_items=[
                OrderItemCreate(
                    sku=SHARED_SKU, description="iPhone 13 128GB - Midnight", quantity=1, price=37835
                ),
                OrderItemCreate(
                    sku="BMTESTSKU1", description="A listing WholeCell does not know", quantity=1, price=9900
                ),
            ],
            notes="Back Market order 700001",
        )
    )
    assert created.channel == "Backmarket" and created.external_id == "700001"
    assert created.customer is not None and created.customer.name == "Jane Doe"
    assert created.shipping_address is not None and created.shipping_address.city == "Leeds"
    assert [(i.product_variation_id, i.sku, i.price) for i in created.order_items] == [
        (first, SHARED_SKU, 37835),
        (None, "BMTESTSKU1", 9900),
    ]
    assert wholecell_sandbox.calculated_quantity(first) == 0  # the new order took the only unit at once

    clock.advance(30)
    wholecell_sandbox.commit_unit(created.id, unit["id"])
    wholecell_sandbox.add_shipment(
        created.id, "Royal Mail", "RM123456789GB", "https://track.example/RM123456789GB"
    )
    fetched = wholecell.get_sales_order(created.id)
    assert [(u.id, u.esn, u.sale_price) for u in fetched.inventories] == [(unit["id"], unit["esn"], 37835)]
    (shipment,) = fetched.shipments
    assert (shipment.carrier, shipment.tracking_number) == ("Royal Mail", "RM123456789GB")
    assert fetched.updated_at > created.updated_at

    updated = wholecell.update_sales_order_status(created.id, "Shipped")
    assert updated.status == "Shipped" and updated.updated_at > fetched.updated_at
    assert wholecell.get_sales_order(created.id).status == "Shipped"

    assert [o.id for o in wholecell.iter_sales_orders(channel="Backmarket")] == [created.id]
    assert [o.id for o in wholecell.iter_sales_orders(status="Shipped")] == [created.id]
    assert list(wholecell.iter_sales_orders(updated_at_gt=updated.updated_at)) == []
    assert wholecell.find_sales_order_by_external_id("700001") == wholecell.get_sales_order(created.id)


def test_find_by_external_id_filters_locally_because_the_api_ignores_that_filter(
    wholecell_sandbox, wholecell
):
    first, _ = _variation_ids(wholecell_sandbox, SHARED_SKU)
    items = [{"product_variation_id": first, "quantity": 1, "price": 100}]
    other = wholecell_sandbox.create_sales_order(order_items=items, channel="Amazon", external_id="700002")
    mine = wholecell_sandbox.create_sales_order(order_items=items, channel="Backmarket", external_id="700002")
    wholecell_sandbox.create_sales_order(order_items=items, channel="Backmarket", external_id="700003")

    found = wholecell.find_sales_order_by_external_id("700002")
    assert found is not None and found.id == mine["id"] != other["id"]
    assert wholecell.find_sales_order_by_external_id("999999") is None
    listed = [c for c in wholecell_sandbox.calls() if c["path"] == "/sales_orders" and c["method"] == "GET"]
    assert listed[-1]["query"]["external_id"] == ["999999"]


def test_unknown_query_parameters_are_ignored_as_the_real_api_does(wholecell_sandbox):
    wholecell_sandbox.receive_units(SHARED_SKU, 2)
    wholecell_sandbox.receive_units(SHARED_SKU, 1, status="Sold")
    auth = (wholecell_sandbox.app_id, wholecell_sandbox.app_secret)
    misspelt = requests.get(
        f"{wholecell_sandbox.base_url}/inventories", params={"stauts": "Sold"}, auth=auth, timeout=5
    )
    ignored = requests.get(
        f"{wholecell_sandbox.base_url}/inventories",
        params={"updated_since": "2099-01-01T00:00:00Z"},
        auth=auth,
        timeout=5,
    )
    assert len(misspelt.json()["data"]) == 3 and len(ignored.json()["data"]) == 3
    past_the_end = requests.get(
        f"{wholecell_sandbox.base_url}/inventories", params={"page": 9}, auth=auth, timeout=5
    )
    assert past_the_end.json() == {"data": [], "page": 9, "pages": 1}


def test_not_found_and_validation_errors_name_the_fields(wholecell_sandbox, wholecell):
    with pytest.raises(NotFound):
        wholecell.get_sales_order(1)
    with pytest.raises(NotFound):
        wholecell.update_sales_order_status(1, "Shipped")
    customer = wholecell.find_or_create_customer("Jane")
    with pytest.raises(ValidationFailed) as refused:
        wholecell.create_sales_order(
            SalesOrderCreate(
                customer_id=customer.id,
                status="Teleported",
                channel="backmarket",
                external_id="1",
                order_items=[OrderItemCreate(product_variation_id=1, quantity=1, price=1)],
            )
        )
    assert {"status", "channel", "order_items[0].product_variation_id"} <= set(refused.value.fields)
    assert "Teleported" in str(refused.value)
    assert wholecell_sandbox.orders() == []

    first, _ = _variation_ids(wholecell_sandbox, SHARED_SKU)
    order = wholecell_sandbox.create_sales_order(
        order_items=[{"product_variation_id": first, "quantity": 1, "price": 1}]
    )
    with pytest.raises(ValidationFailed) as bad_status:
        wholecell.update_sales_order_status(order["id"], "Lost in space")
    assert "status" in bad_status.value.fields
    assert wholecell_sandbox.order(order["id"])["status"] == "Pending"


def test_paging_over_thousands_of_units(clock, make_wholecell_client):
    sandbox = WholeCellSandbox(clock=clock, demo=False)
    for variation in sandbox.variations()[:25]:
        sandbox.receive_units(variation["id"], 100)
    sandbox.receive_units(sandbox.variations()[25]["id"], 37)
    sandbox.start(0)
    try:
        client = make_wholecell_client(sandbox, requests_per_second=1000.0)
        started = time.monotonic()
        units = list(client.iter_inventories())
        elapsed = time.monotonic() - started
    finally:
        sandbox.stop()

    assert len(units) == 2537 and len({u.id for u in units}) == 2537
    pages = [int(c["query"]["page"][0]) for c in sandbox.calls() if c["path"] == "/inventories"]
    assert pages == list(range(1, 27))
    assert elapsed < 10


def test_the_limiter_keeps_calls_at_the_configured_rate(wholecell_sandbox, make_wholecell_client, clock):
    client = make_wholecell_client(wholecell_sandbox, requests_per_second=2.0)
    started = clock.monotonic()
    for _ in range(5):
        client.list_sales_order_statuses()
    assert clock.monotonic() - started == pytest.approx(2.0)


def test_the_demo_account_is_worth_looking_at(clock):
    sandbox = WholeCellSandbox(clock=clock, demo=True)
    units = list(sandbox.account.units.values())
    statuses = {unit.status for unit in units}
    assert 200 <= len(units) <= 600
    assert {"Available", "Sold", "Inbound", "Grading", "Repair", "Returned"} <= statuses
    assert {sandbox.account.warehouses[u.warehouse_id].name for u in units} == {
        "Main Warehouse",
        "Returns Warehouse",
    }
    assert {order["channel"] for order in sandbox.orders()} == {"Amazon", "eBay", "Wholesale"}
    assert sandbox.orders(channel="Backmarket") == []
    # Every sold unit is committed to a shipped order, so none of them count as stock.
    assert all(unit.order_id is not None for unit in units if unit.status == "Sold")
    models = {v["product"]["model"] for v in sandbox.variations()}
    assert {"IPHONE 13", "GALAXY S23"} <= models


def test_client_for_reads_the_credentials_from_secrets_manager(aws, wholecell_sandbox):
    settings = Settings(
        wholecell=WholeCellConnection(base_url=wholecell_sandbox.base_url, requests_per_second=20)
    )
    client = client_for(settings, ManualClock())
    with pytest.raises(Unauthorized) as not_set:
        client.list_sales_order_statuses()
    assert not_set.value.needs_attention and "save" in not_set.value.action

    write_wholecell_credentials(settings.connection_id, "sandbox-app", "sandbox-secret")
    assert {s.title for s in client_for(settings, ManualClock()).list_sales_order_statuses()} >= {"Pending"}
