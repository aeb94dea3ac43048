"""WholeCell's quantity rules, as the sandbox applies them, on hand-built accounts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bmsync.clock import ManualClock
from bmsync_sandbox.wholecell.account import SandboxValidationError, WholeCellAccount
from bmsync_sandbox.wholecell.demo import seed_setup


@pytest.fixture
def account(clock: ManualClock) -> WholeCellAccount:
    account = WholeCellAccount(clock=clock)
    seed_setup(account)
    return account


def _variation(account: WholeCellAccount, sku: str | None, grade: str = "A") -> int:
    product = account.add_product(manufacturer="Apple", model="iPhone 13", capacity="128GB", color="Blue")
    return account.add_variation(product.id, grade=grade, sku=sku).id


def _order(account: WholeCellAccount, items: list[dict], status: str = "Pending", **extra) -> int:
    customer = account.find_or_create_customer("Buyer")
    return account.create_sales_order(
        customer_id=customer.id, status=status, channel="Backmarket", order_items=items, **extra
    ).id


def test_available_counts_uncommitted_units_in_the_chosen_statuses_and_warehouses(account):
    variation = _variation(account, "SKU-1")
    account.receive_units(variation, 3, status="Available", warehouse="Main Warehouse")
    account.receive_units(variation, 2, status="Available", warehouse="Returns Warehouse")
    account.receive_units(variation, 4, status="Grading")
    account.receive_units(variation, 1, status="Sold")

    assert account.available(variation, ["Available"]) == 5
    assert account.available(variation, ["Available"], ["Main Warehouse"]) == 3
    assert account.available(variation, ["Available", "Grading"]) == 9
    assert account.calculated_quantity(variation, ["Available"]) == 5


def test_a_new_order_lowers_calculated_at_once_and_committing_moves_it_from_outstanding(account):
    variation = _variation(account, "SKU-1")
    units = account.receive_units(variation, 5)
    order = _order(account, [{"product_variation_id": variation, "quantity": 2, "price": 30000}])

    # Before anyone picks a unit: 5 available, 2 outstanding.
    assert (account.available(variation), account.outstanding(variation)) == (5, 2)
    assert account.calculated_quantity(variation) == 3

    committed = account.commit_unit(order, units[0].id)
    assert committed.order_id == order and committed.sale_price == 30000
    assert (account.available(variation), account.outstanding(variation)) == (4, 1)
    assert account.calculated_quantity(variation) == 3


def test_units_committed_before_the_order_ships_stay_out_of_stock(account):
    variation = _variation(account, "SKU-1")
    units = account.receive_units(variation, 4)
    order = _order(account, [{"product_variation_id": variation, "quantity": 2, "price": 100}])
    for unit in units[:2]:
        account.commit_unit(order, unit.id, sale_price=12345)

    account.set_order_status(order, "Shipped")

    assert account.outstanding(variation) == 0
    assert account.available(variation) == 2
    assert account.calculated_quantity(variation) == 2
    assert {account.units[u.id].sale_price for u in units[:2]} == {12345}


def test_an_order_shipped_without_committed_units_gives_its_quantity_back(account):
    variation = _variation(account, "SKU-1")
    account.receive_units(variation, 4)
    order = _order(account, [{"product_variation_id": variation, "quantity": 3, "price": 100}])
    assert account.calculated_quantity(variation) == 1

    account.set_order_status(order, "Shipped")

    # Nothing was committed, so the four units count as available again (the reference's warning).
    assert account.calculated_quantity(variation) == 4


def test_committing_after_the_order_left_its_open_status(account):
    variation = _variation(account, "SKU-1")
    units = account.receive_units(variation, 3)
    shipped = _order(account, [{"product_variation_id": variation, "quantity": 1, "price": 100}])
    account.set_order_status(shipped, "Shipped")

    # "Shipped" does not allow inventory commitment: refused, and the unit stays available.
    with pytest.raises(SandboxValidationError) as refused:
        account.commit_unit(shipped, units[0].id)
    assert "order_id" in refused.value.fields
    assert account.units[units[0].id].order_id is None
    assert account.calculated_quantity(variation) == 3

    # A closed status that still allows commitment: the late commit takes the unit out of stock.
    account.add_order_status("Awaiting Pickup", is_open=False, allow_commitment=True)
    pickup = _order(account, [{"product_variation_id": variation, "quantity": 1, "price": 100}])
    assert account.calculated_quantity(variation) == 2
    account.set_order_status(pickup, "Awaiting Pickup")
    assert account.calculated_quantity(variation) == 3
    account.commit_unit(pickup, units[1].id)
    assert account.calculated_quantity(variation) == 2


def test_open_orders_older_than_90_days_are_not_outstanding(account, clock):
    variation = _variation(account, "SKU-1")
    account.receive_units(variation, 10)
    now = clock.now()
    _order(
        account,
        [{"product_variation_id": variation, "quantity": 1, "price": 1}],
        created_at=now - timedelta(days=91),
    )
    _order(
        account,
        [{"product_variation_id": variation, "quantity": 2, "price": 1}],
        created_at=now - timedelta(days=89),
    )
    assert account.outstanding(variation) == 2

    clock.advance(timedelta(days=2).total_seconds())

    assert account.outstanding(variation) == 0
    assert account.calculated_quantity(variation) == 10


def test_several_variations_sharing_one_sku(account):
    first = _variation(account, "IP13-A", grade="A+")
    second = _variation(account, "IP13-A", grade="A")
    other = _variation(account, "IP13-B", grade="B")
    account.receive_units(first, 2)
    account.receive_units(second, 3)
    account.receive_units(other, 1)

    # An item naming only the shared SKU is demand on the lowest-id variation, counted once.
    order = _order(account, [{"sku": "IP13-A", "quantity": 2, "price": 100}])
    (item,) = account.orders[order].items
    assert item.variation_id == first
    assert account.outstanding(first) == 2 and account.outstanding(second) == 0

    # A unit of the other variation of the SKU cannot be committed to it (no item for its variation).
    second_unit = next(u for u in account.units.values() if u.variation_id == second)
    with pytest.raises(SandboxValidationError):
        account.commit_unit(order, second_unit.id)

    levels = {level["sku"]: level for level in account.stock_levels(["Available"])}
    assert levels["IP13-A"] == {"sku": "IP13-A", "on_hand": 5, "outstanding": 2, "available": 3}
    assert levels["IP13-B"] == {"sku": "IP13-B", "on_hand": 1, "outstanding": 0, "available": 1}
    assert account.calculated_quantity(first) + account.calculated_quantity(second) == 3


def test_an_item_whose_sku_matches_no_variation_is_demand_for_nothing(account):
    variation = _variation(account, "SKU-1")
    units = account.receive_units(variation, 2)
    order = _order(
        account, [{"sku": "BMTESTSKU1", "description": "Unknown listing", "quantity": 1, "price": 5}]
    )

    (item,) = account.orders[order].items
    assert item.variation_id is None and item.description == "Unknown listing"
    assert account.outstanding(variation) == 0
    with pytest.raises(SandboxValidationError):
        account.commit_unit(order, units[0].id)


def test_updated_at_moves_on_every_change_strictly_even_within_one_instant(account):
    variation = _variation(account, "SKU-1")
    (unit,) = account.receive_units(variation, 1)
    first = unit.updated_at
    account.set_unit_status(unit.id, "Repair")
    second = account.units[unit.id].updated_at
    order = _order(account, [{"product_variation_id": variation, "quantity": 1, "price": 1}])
    account.set_unit_status(unit.id, "Available")
    account.commit_unit(order, unit.id)
    third = account.units[unit.id].updated_at

    assert first < second < third  # the ManualClock never moved
    assert second - first == timedelta(milliseconds=1)
    assert all(moment.microsecond % 1000 == 0 for moment in (first, second, third))
    assert account.orders[order].updated_at == third

    # updated_at_gt is strict.
    assert [u.id for u in account.list_units({"updated_at_gt": second.isoformat()})] == [unit.id]
    assert account.list_units({"updated_at_gt": third.isoformat()}) == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status": "Teleported"}, "status"),
        (
            {"order_items": [{"product_variation_id": 999999, "quantity": 1, "price": 1}]},
            "order_items[0].product_variation_id",
        ),
        ({"order_items": [{"sku": "SKU-1", "quantity": 0, "price": 1}]}, "order_items[0].quantity"),
        ({"order_items": [{"sku": "SKU-1", "quantity": -2, "price": 1}]}, "order_items[0].quantity"),
        ({"order_items": []}, "order_items"),
        ({"channel": "backmarket"}, "channel"),
        ({"customer_id": 1}, "customer_id"),
    ],
)
def test_bad_orders_are_refused_with_the_field(account, changes, field):
    _variation(account, "SKU-1")
    customer = account.find_or_create_customer("Buyer")
    order = {
        "customer_id": customer.id,
        "status": "Pending",
        "channel": "Backmarket",
        "order_items": [{"sku": "SKU-1", "quantity": 1, "price": 1}],
    } | changes
    with pytest.raises(SandboxValidationError) as refused:
        account.create_sales_order(**order)
    assert field in refused.value.fields
    assert account.orders == {}


def test_bad_unit_writes_are_refused(account):
    variation = _variation(account, "SKU-1")
    with pytest.raises(SandboxValidationError) as unknown_status:
        account.receive_units(variation, 1, status="Lost")
    assert "status" in unknown_status.value.fields
    with pytest.raises(SandboxValidationError) as no_count:
        account.receive_units(variation, 0)
    assert "count" in no_count.value.fields
    with pytest.raises(SandboxValidationError) as unknown_variation:
        account.receive_units(424242, 1)
    assert "product_variation_id" in unknown_variation.value.fields
    (unit,) = account.receive_units(variation, 1)
    with pytest.raises(SandboxValidationError):
        account.set_unit_status(unit.id, "Lost")
    assert account.units[unit.id].status == "Available"


def test_sku_uniqueness(clock):
    unique = WholeCellAccount(clock=clock, sku_uniqueness=True)
    seed_setup(unique)
    _variation(unique, "SKU-1")
    with pytest.raises(SandboxValidationError) as duplicate:
        _variation(unique, "SKU-1", grade="B")
    assert "sku" in duplicate.value.fields
    _variation(unique, None)
    _variation(unique, None)  # null SKUs are never duplicates

    shared = WholeCellAccount(clock=clock)
    seed_setup(shared)
    _variation(shared, "SKU-1")
    _variation(shared, "SKU-1", grade="B")
    with pytest.raises(SandboxValidationError):
        shared.set_sku_uniqueness(True)
    assert shared.sku_uniqueness is False


def test_concurrent_writers_get_unique_ids_and_distinct_stamps(account):
    from concurrent.futures import ThreadPoolExecutor

    variation = _variation(account, "SKU-1")

    def receive(_: int) -> list[int]:
        return [unit.id for unit in account.receive_units(variation, 5)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = [unit_id for batch in pool.map(receive, range(40)) for unit_id in batch]

    assert len(ids) == len(set(ids)) == 200
    stamps = [unit.updated_at for unit in account.units.values()]
    assert len(set(stamps)) == 200
    assert account.available(variation) == 200
