"""Properties of WholeCell's quantity rules over random histories of receipts, orders, picks and shipping."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bmsync.clock import ManualClock
from bmsync_sandbox.wholecell.account import OUTSTANDING_WINDOW, SandboxValidationError, WholeCellAccount
from bmsync_sandbox.wholecell.demo import seed_setup

Step = tuple[str, int, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(["receive", "order", "commit", "ship", "cancel", "status", "age"]),
        st.integers(min_value=0, max_value=3),
        st.integers(min_value=1, max_value=3),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(history=steps)
@example(
    history=[("receive", 1, 1), ("order", 1, 1), ("age", 0, 3), ("commit", 1, 1)]
)  # a pick for an aged order
def test_calculated_is_available_minus_outstanding_and_a_pick_never_changes_it(history: list[Step]) -> None:
    clock = ManualClock()
    account = WholeCellAccount(clock=clock)
    seed_setup(account)
    product = account.add_product(manufacturer="Apple", model="iPhone 14")
    # Two variations share a SKU, one has its own.
    variations = [
        account.add_variation(product.id, grade=grade, sku=sku).id
        for grade, sku in (("A+", "IP14-A"), ("A", "IP14-A"), ("B", "IP14-B"))
    ]
    customer = account.create_customer("Buyer")

    def calculated() -> dict[int, int]:
        return {v: account.calculated_quantity(v) for v in variations}

    for action, index, amount in history:
        variation = variations[index % len(variations)]
        before = calculated()
        if action == "receive":
            account.receive_units(variation, amount)
            assert calculated()[variation] == before[variation] + amount
        elif action == "order":
            account.create_sales_order(
                customer_id=customer.id,
                status="Pending",
                channel="Backmarket",
                order_items=[{"product_variation_id": variation, "quantity": amount, "price": 100}],
            )
            assert calculated()[variation] == before[variation] - amount  # at once, before any pick
        elif action == "commit":
            order = next(
                (
                    o
                    for o in account.orders.values()
                    if o.status == "Pending"
                    and o.items[0].variation_id == variation
                    and sum(1 for u in account.units.values() if u.order_id == o.id) < o.items[0].quantity
                ),
                None,
            )
            unit = next(
                (
                    u
                    for u in account.units.values()
                    if u.variation_id == variation and u.order_id is None and u.status == "Available"
                ),
                None,
            )
            if order is not None and unit is not None:
                account.commit_unit(order.id, unit.id)
                # Picking a wanted unit moves it from available to committed: the calculated stays
                # (an order older than the outstanding window wants nothing: picking for it lowers it).
                if order.created_at >= clock.now() - OUTSTANDING_WINDOW:
                    assert calculated() == before
        elif action in {"ship", "cancel"} and account.orders:
            order = sorted(account.orders.values(), key=lambda o: o.id)[index % len(account.orders)]
            account.set_order_status(order.id, "Shipped" if action == "ship" else "Cancelled")
        elif action == "status" and account.units:
            unit = sorted(account.units.values(), key=lambda u: u.id)[amount % len(account.units)]
            account.set_unit_status(unit.id, "Repair" if unit.status == "Available" else "Available")
        elif action == "age":
            clock.advance(amount * 40 * 86400)

        for variation_id in variations:
            available = account.available(variation_id)
            outstanding = account.outstanding(variation_id)
            assert available >= 0 and outstanding >= 0
            assert account.calculated_quantity(variation_id) == available - outstanding
            committed = sum(
                1 for u in account.units.values() if u.variation_id == variation_id and u.order_id
            )
            in_status = sum(
                1
                for u in account.units.values()
                if u.variation_id == variation_id and u.status == "Available"
            )
            assert available <= in_status <= available + committed
        levels = {level["sku"]: level for level in account.stock_levels(["Available"])}
        shared = levels["IP14-A"]
        assert shared["available"] == sum(account.calculated_quantity(v) for v in variations[:2])


def test_a_closed_order_refuses_commitment_in_the_demo_statuses():
    account = WholeCellAccount(clock=ManualClock())
    seed_setup(account)
    product = account.add_product(manufacturer="Apple", model="iPhone 14")
    variation = account.add_variation(product.id, grade="A", sku="X").id
    (unit,) = account.receive_units(variation, 1)
    customer = account.create_customer("Buyer")
    order = account.create_sales_order(
        customer_id=customer.id,
        status="Cancelled",
        channel="eBay",
        order_items=[{"product_variation_id": variation, "quantity": 1, "price": 1}],
    )
    with pytest.raises(SandboxValidationError) as refused:
        account.commit_unit(order.id, unit.id)
    assert "does not allow inventory commitment" in refused.value.fields["order_id"][0]
    assert account.units[unit.id].order_id is None
