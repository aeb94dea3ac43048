"""The demo refurbisher: one catalogue that both emulators are seeded from, so the demo syncs.

WholeCell holds product variations (product + grade) with SKUs; Back Market holds listings with the
same SKUs. Some WholeCell grades share one SKU (SKU uniqueness off), so *Match via SKU* maps one Back
Market listing to several variations; one listing's SKU is on no variation at all (the seed's
"BMTESTSKU1" case), and one variation has no listing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class DemoProduct:
    manufacturer: str
    model: str
    capacity: str
    color: str
    base_price: Decimal  # Back Market price for a "Good" unit, in GBP


@dataclass(frozen=True)
class DemoVariation:
    product: DemoProduct
    wholecell_grade: str  # WholeCell grade of the variation
    sku: str
    backmarket_grade: str  # PREMIUM, EXCELLENT, VERY_GOOD, GOOD, FAIR, STALLONE

    @property
    def title(self) -> str:
        return f"{self.product.model} {self.product.capacity} - {self.product.color}"


PRODUCTS: tuple[DemoProduct, ...] = (
    DemoProduct("APPLE", "iPhone 13", "128GB", "Midnight", Decimal("329.00")),
    DemoProduct("APPLE", "iPhone 13", "256GB", "Blue", Decimal("369.00")),
    DemoProduct("APPLE", "iPhone 14", "128GB", "Purple", Decimal("419.00")),
    DemoProduct("APPLE", "iPhone 14 Pro", "256GB", "Deep Purple", Decimal("629.00")),
    DemoProduct("APPLE", "iPhone 15", "128GB", "Black", Decimal("559.00")),
    DemoProduct("APPLE", "iPhone 12", "64GB", "White", Decimal("229.00")),
    DemoProduct("SAMSUNG", "Galaxy S22", "128GB", "Phantom Black", Decimal("259.00")),
    DemoProduct("SAMSUNG", "Galaxy S23", "256GB", "Cream", Decimal("449.00")),
    DemoProduct("SAMSUNG", "Galaxy A54", "128GB", "Awesome Graphite", Decimal("189.00")),
)

# WholeCell grade -> (SKU grade suffix, Back Market grade). "A+" and "A" share one SKU: both are sold
# as Excellent on Back Market (the seed's "several grades in WholeCell to one grade in Back Market").
GRADES: tuple[tuple[str, str, str], ...] = (
    ("A+", "A", "EXCELLENT"),
    ("A", "A", "EXCELLENT"),
    ("B", "B", "VERY_GOOD"),
    ("C", "C", "GOOD"),
)

GRADE_PRICE_FACTOR = {"EXCELLENT": Decimal("1.15"), "VERY_GOOD": Decimal("1.05"), "GOOD": Decimal("1.00")}


def _sku(product: DemoProduct, grade_suffix: str) -> str:
    model = product.model.upper().replace("IPHONE ", "IP").replace("GALAXY ", "GX").replace(" ", "")
    color = "".join(word[0] for word in product.color.upper().split())
    return f"{model}-{product.capacity.removesuffix('GB')}-{color}-{grade_suffix}"


def variations() -> list[DemoVariation]:
    return [
        DemoVariation(product, wholecell_grade, _sku(product, suffix), bm_grade)
        for product in PRODUCTS
        for wholecell_grade, suffix, bm_grade in GRADES
    ]


#: A SKU only Back Market knows: its listing cannot be connected in *Match via SKU* mode.
UNKNOWN_SKU = "BMTESTSKU1"

#: A SKU on WholeCell variations that has no Back Market listing (stock with nowhere to go).
UNLISTED_SKUS = frozenset({_sku(PRODUCTS[-1], "C")})


def listing_skus() -> list[str]:
    """The SKUs of the demo's Back Market listings (one per SKU, plus the unknown one)."""
    seen: list[str] = []
    for variation in variations():
        if variation.sku not in seen and variation.sku not in UNLISTED_SKUS:
            seen.append(variation.sku)
    return [*seen, UNKNOWN_SKU]


def listing_price(sku: str) -> Decimal:
    for variation in variations():
        if variation.sku == sku:
            factor = GRADE_PRICE_FACTOR[variation.backmarket_grade]
            return (variation.product.base_price * factor).quantize(Decimal("1.00"))
    return Decimal("99.00")


INVENTORY_STATUSES = ("Available", "Inbound", "Grading", "Repair", "Sold", "Returned")
SALES_ORDER_STATUSES: tuple[tuple[str, bool, bool, bool], ...] = (
    # title, is_open, allow_commitment, sync_to_shipstation
    ("Pending", True, True, False),
    ("Processing", True, True, True),
    ("Shipped", False, False, False),
    ("Cancelled", False, False, False),
    ("Refunded", False, False, False),
)
WAREHOUSES = ("Main Warehouse", "Returns Warehouse")
LOCATIONS = ("Shelf A", "Shelf B", "Shelf C", "Returns Bay")
CHANNELS = ("Backmarket", "Amazon", "eBay", "Wholesale")
