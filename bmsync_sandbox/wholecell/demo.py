"""Seed a WholeCell account from ``sandbox/demo_catalogue.py``: the demo refurbisher's phones.

The set-up (inventory statuses, sales-order statuses with their flags, channels, warehouses,
locations) is always seeded; the catalogue (products and variations, several grades sharing a SKU)
unless asked not to; the demo stock (a few hundred units across statuses and warehouses, and sales
orders on the other channels) only with ``demo=True``. Random choices use a fixed seed: every demo
account looks the same.
"""

from __future__ import annotations

import random
from datetime import timedelta

from bmsync_sandbox import demo_catalogue
from bmsync_sandbox.wholecell.account import Unit, WholeCellAccount

DEMO_SEED = 20260105
#: status -> weight of the demo's unit mix (most stock sellable, some in the workshop, some sold).
STATUS_MIX = {"Available": 55, "Inbound": 8, "Grading": 7, "Repair": 5, "Sold": 20, "Returned": 5}
CONDITIONS = {"A+": ("Like new",), "A": (), "B": ("Light scratches",), "C": ("Visible wear", "Battery 80%+")}


def seed_setup(account: WholeCellAccount) -> None:
    for status in demo_catalogue.INVENTORY_STATUSES:
        account.add_inventory_status(status)
    for title, is_open, allow_commitment, sync_to_shipstation in demo_catalogue.SALES_ORDER_STATUSES:
        account.add_order_status(
            title, is_open=is_open, allow_commitment=allow_commitment, sync_to_shipstation=sync_to_shipstation
        )
    for channel in demo_catalogue.CHANNELS:
        account.add_channel(channel)
    for warehouse in demo_catalogue.WAREHOUSES:
        account.add_warehouse(warehouse)
    for location in demo_catalogue.LOCATIONS:
        account.add_location(location)


def seed_catalogue(account: WholeCellAccount) -> None:
    products = {}
    for product in demo_catalogue.PRODUCTS:
        products[product] = account.add_product(
            manufacturer=product.manufacturer,
            model=product.model,
            capacity=product.capacity,
            color=product.color,
            network="Unlocked",
        )
    for variation in demo_catalogue.variations():
        account.add_variation(
            products[variation.product].id,
            grade=variation.wholecell_grade,
            sku=variation.sku,
            conditions=CONDITIONS.get(variation.wholecell_grade, ()),
        )


def _imei(rng: random.Random) -> str:
    body = "35" + "".join(str(rng.randrange(10)) for _ in range(12))
    total = 0
    for index, char in enumerate(body):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            digit = digit - 9 if digit > 9 else digit
        total += digit
    return body + str((10 - total % 10) % 10)


def seed_stock(account: WholeCellAccount) -> None:
    """A few hundred units and the other channels' orders; the Back Market channel stays empty."""
    rng = random.Random(DEMO_SEED)
    now = account.clock.now()
    statuses = list(STATUS_MIX)
    weights = list(STATUS_MIX.values())
    sold: list[Unit] = []
    for variation in sorted(account.variations.values(), key=lambda v: v.id):
        for _ in range(rng.randint(4, 12)):
            status = rng.choices(statuses, weights)[0]
            warehouse = "Returns Warehouse" if status == "Returned" else "Main Warehouse"
            location = (
                "Returns Bay" if status == "Returned" else rng.choice(("Shelf A", "Shelf B", "Shelf C"))
            )
            (unit,) = account.receive_units(
                variation.id,
                1,
                status=status,
                warehouse=warehouse,
                location=location,
                price_paid=rng.randrange(9000, 40000, 500),
                esns=[_imei(rng)],
                created_at=now - timedelta(days=rng.randint(1, 60), minutes=rng.randint(0, 1440)),
            )
            if status == "Sold":
                sold.append(unit)

    customers = [
        account.find_or_create_customer(name)
        for name in ("Amazon Marketplace", "eBay Buyer", "PhoneHub Wholesale Ltd")
    ]
    channel_of = dict(zip((c.id for c in customers), ("Amazon", "eBay", "Wholesale"), strict=True))
    # Sold units belong to shipped orders of the other channels, two or three units an order.
    while sold:
        batch, sold = sold[:3], sold[3:]
        customer = rng.choice(customers)
        order = account.create_sales_order(
            customer_id=customer.id,
            status="Processing",
            channel=channel_of[customer.id],
            external_id=f"{channel_of[customer.id][:3].upper()}-{rng.randrange(10**6, 10**7)}",
            order_items=[
                {
                    "product_variation_id": unit.variation_id,
                    "quantity": 1,
                    "price": rng.randrange(15000, 60000, 100),
                }
                for unit in batch
            ],
            created_at=now - timedelta(days=rng.randint(2, 40)),
        )
        for unit in batch:
            account.commit_unit(order.id, unit.id)
        account.add_shipment(
            order.id, rng.choice(("UPS", "Royal Mail", "DPD")), f"1Z{rng.randrange(10**9):09d}"
        )
        account.set_order_status(order.id, "Shipped")

    # Open demand: a wholesale order half picked, a marketplace order not picked yet, and one open
    # order older than 90 days, which no longer counts as outstanding.
    variations = sorted(account.variations.values(), key=lambda v: v.id)
    open_orders = (
        (customers[2], "Wholesale", variations[0], 4, timedelta(days=1)),
        (customers[0], "Amazon", variations[9], 1, timedelta(hours=3)),
        (customers[1], "eBay", variations[14], 2, timedelta(days=120)),
    )
    for customer, channel, variation, quantity, age in open_orders:
        order = account.create_sales_order(
            customer_id=customer.id,
            status="Pending",
            channel=channel,
            external_id=f"{channel[:3].upper()}-{rng.randrange(10**6, 10**7)}",
            order_items=[{"product_variation_id": variation.id, "quantity": quantity, "price": 25000}],
            created_at=now - age,
        )
        if channel == "Wholesale":
            picked = [
                unit
                for unit in account.units.values()
                if unit.variation_id == variation.id and unit.status == "Available" and unit.order_id is None
            ][:2]
            for unit in picked:
                account.commit_unit(order.id, unit.id)
