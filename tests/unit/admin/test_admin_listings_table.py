"""The Listings tab and Orders list as a seller with 3,000 listings reads them: quantities side by side,
sorting, filters, server-side pages, the CSV export and the same data from the API."""

from __future__ import annotations

import csv
import io
import time
from typing import get_args

import pytest

from bmsync.admin.listing_service import csv_cell
from bmsync.admin.order_service import EXPORT_WORDS, LINE_STATE_WORDS
from bmsync.admin.services import AdminServices
from bmsync.backmarket.states import LineState
from bmsync.clock import ManualClock
from bmsync.settings import ProductVariationMode, Settings
from bmsync.store.listings_repo import ListingItem
from bmsync.store.orders_repo import ExportState, OrderLineRecord, OrderRecord, OrdersRepository
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.stock_repo import StockItem
from tests.unit.admin.conftest import AdminClient

CID = "default"
API = f"/api/connections/{CID}"
PAGES = f"/connections/{CID}"
LISTINGS_COUNT = 3000
#: Generous for a loaded machine (well under a second when idle); a read per listing would blow it.
SECONDS_PER_REQUEST = 5.0


def _title(number: int) -> str:
    return "=HYPERLINK(evil)" if number == 1 else f"Phone {number:04d}"


class MemoryListings:
    """The listings repository's one read the Listings tab uses, in memory: the time bound then
    measures bmsync's filtering, computing, sorting and paging, not moto's serializer."""

    def __init__(self, items: list[ListingItem]) -> None:
        self.items = items

    def all(self) -> list[ListingItem]:
        return list(self.items)


class MemoryStock:
    def __init__(self, items: list[StockItem]) -> None:
        self.items = {item.variation_id: item for item in items}
        self.reads = 0

    def all(self) -> dict[str, StockItem]:
        self.reads += 1
        return dict(self.items)


@pytest.fixture
def big_catalogue(aws: None, services: AdminServices) -> MemoryStock:
    """3,000 listings in Match via SKU mode: every third one's SKU is on no variation; stock for the
    others is ``number % 10``; the connection's buffer is 1, every 50th listing has its own (3)."""
    SettingsRepository().save(
        Settings(
            product_variations=ProductVariationMode.MATCH_VIA_SKU, quantity_sync_enabled=True, safety_buffer=1
        )
    )
    listings: list[ListingItem] = []
    stock: list[StockItem] = []
    for number in range(LISTINGS_COUNT):
        sku = f"SKU-{number:04d}"
        connected = number % 3 != 0
        listings.append(
            ListingItem(
                connection_id=CID,
                listing_id=f"uuid-{number:04d}",
                legacy_id=number,
                sku=sku,
                title=_title(number),
                bm_quantity=number % 7,
                imported_at="2026-01-05T08:00:00Z",
                seen_at="2026-01-05T08:00:00Z",
                connected=connected,
                variation_ids=[f"v{number}"] if connected else [],
                buffer_override=3 if number % 50 == 0 else None,
                last_synced=number % 7 if number % 2 else None,
                last_synced_at="2026-01-05T09:00:00Z" if number % 2 else None,
            )
        )
        if connected and number != 2999:  # SKU-2999's stock was not mirrored yet
            stock.append(
                StockItem(
                    connection_id=CID,
                    variation_id=f"v{number}",
                    sku=sku.lower(),  # SKUs match case-insensitively
                    available=number % 10,
                    calculated=number % 10,
                    as_of="2026-01-05T08:30:00Z",
                )
            )
    memory_stock = MemoryStock(stock)
    services.listings = lambda connection_id: MemoryListings(listings)  # type: ignore[assignment,return-value]
    services.stock = lambda connection_id: memory_stock  # type: ignore[assignment,return-value]
    return memory_stock


def _timed(client: AdminClient, path: str, *, api: bool = True) -> tuple[int, object]:
    started = time.perf_counter()
    reply = client.api("GET", path) if api else client.request("GET", path)
    elapsed = time.perf_counter() - started
    assert elapsed < SECONDS_PER_REQUEST, f"{path} took {elapsed:.1f} s"
    return reply.status, reply.json() if api and reply.status == 200 else reply


def test_listings_are_paged_with_their_quantities(signed_in: AdminClient, big_catalogue: MemoryStock) -> None:
    status, found = _timed(signed_in, f"{API}/listings")
    assert status == 200 and isinstance(found, dict)
    assert big_catalogue.reads == 1  # the stock mirror is read once for all 3,000 listings
    assert (found["total"], found["pages"], found["page"]) == (3000, 60, 1)
    assert len(found["listings"]) == 50
    first = found["listings"][0]
    assert first["title"] == "=HYPERLINK(evil)"  # "=" sorts before letters
    # SKU-0044: connected, stock 4, the connection's buffer 1 -> shows 3; Back Market shows 2 (44 % 7).
    [row] = signed_in.api("GET", f"{API}/listings?q=sku-0044").json()["listings"]
    assert (row["backmarket"], row["calculated"], row["buffer"], row["to_show"]) == (2, 4, 1, 3)
    assert (row["last_synced"], row["last_synced_at"], row["status"]) == (None, None, "pending")
    # SKU-0050 has its own buffer 3: stock 0 -> 0; it was never synced and Back Market shows 1.
    [own] = signed_in.api("GET", f"{API}/listings?q=SKU-0050").json()["listings"]
    assert (own["buffer"], own["buffer_is_override"], own["to_show"]) == (3, True, 0)
    # SKU-0007: stock 7 - 1 = 6 and 7 % 7 = 0 last synced: a push is due.
    [due] = signed_in.api("GET", f"{API}/listings?q=SKU-0007").json()["listings"]
    assert (due["to_show"], due["last_synced"], due["status_text"]) == (6, 0, "waiting to sync")
    # SKU-0022 (22 % 7 = 1, stock 2 - 1 = 1, never synced, Back Market shows 1): in sync.
    [same] = signed_in.api("GET", f"{API}/listings?q=SKU-0022").json()["listings"]
    assert (same["to_show"], same["backmarket"], same["status"]) == (1, 1, "in_sync")
    [waiting] = signed_in.api("GET", f"{API}/listings?q=SKU-2999").json()["listings"]
    assert (waiting["calculated"], waiting["to_show"], waiting["status"]) == (None, None, "pending")
    assert "waiting for WholeCell's stock" in waiting["reason"]
    [unmapped] = signed_in.api("GET", f"{API}/listings?q=SKU-0003").json()["listings"]
    assert (unmapped["calculated"], unmapped["to_show"], unmapped["status"]) == (None, None, "unmapped")


def test_listings_sort_by_every_column_and_keep_empty_values_last(
    signed_in: AdminClient, big_catalogue: MemoryStock
) -> None:
    found = signed_in.api("GET", f"{API}/listings?sort=calculated&order=desc&per_page=500").json()
    values = [row["calculated"] for row in found["listings"]]
    assert values[:3] == [9, 9, 9] and values == sorted(values, reverse=True)
    last_page = signed_in.api("GET", f"{API}/listings?sort=calculated&order=desc&per_page=500&page=6").json()
    assert last_page["listings"][-1]["calculated"] is None  # the unmapped ones come last
    ascending = signed_in.api("GET", f"{API}/listings?sort=to_show&order=asc&per_page=500").json()
    assert [row["to_show"] for row in ascending["listings"]][:2] == [0, 0]
    by_sku = signed_in.api("GET", f"{API}/listings?sort=sku&order=desc").json()["listings"]
    assert by_sku[0]["sku"] == "SKU-2999"
    synced = signed_in.api("GET", f"{API}/listings?sort=last_synced_at&order=asc").json()["listings"]
    assert all(row["last_synced_at"] == "2026-01-05T09:00:00Z" for row in synced)
    for column in ("backmarket", "buffer", "last_synced", "status", "title"):
        assert signed_in.api("GET", f"{API}/listings?sort={column}&order=desc").status == 200


def test_listings_filters_and_paging(signed_in: AdminClient, big_catalogue: MemoryStock) -> None:
    unmapped = signed_in.api("GET", f"{API}/listings?filter=unmapped").json()
    assert (unmapped["total"], unmapped["pages"]) == (1000, 20)
    assert {row["status"] for row in unmapped["listings"]} == {"unmapped"}
    connected = signed_in.api("GET", f"{API}/listings?filter=connected&per_page=500&page=4").json()
    assert (connected["total"], connected["page"], len(connected["listings"])) == (2000, 4, 500)
    pages = [
        signed_in.api("GET", f"{API}/listings?page={number}&per_page=500").json()["listings"]
        for number in range(1, 7)
    ]
    ids = [row["listing_id"] for rows in pages for row in rows]
    assert len(ids) == len(set(ids)) == 3000  # every listing exactly once across the pages


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("sort=colour", "sort"),
        ("order=up", "order"),
        ("page=0", "page"),
        ("page=61", "page"),
        ("per_page=abc", "per_page"),
        ("per_page=100000", "per_page"),
        ("filter=everything", "filter"),
    ],
)
def test_invalid_listing_parameters_are_named(
    signed_in: AdminClient, big_catalogue: MemoryStock, query: str, parameter: str
) -> None:
    reply = signed_in.api("GET", f"{API}/listings?{query}")
    assert reply.status == 400
    assert reply.json()["errors"][0]["field"] == parameter
    assert signed_in.request("GET", f"{PAGES}/listings?{query}").status == 400


def test_listings_page_has_sort_links_pages_and_export(
    signed_in: AdminClient, big_catalogue: MemoryStock
) -> None:
    status, reply = _timed(signed_in, f"{PAGES}/listings?sort=calculated&order=desc", api=False)
    body = reply.body  # type: ignore[attr-defined]
    assert status == 200
    assert "3,000 listings · page 1 of 60" in body
    resort = 'href="/connections/default/listings?sort=calculated&amp;order=asc"'
    assert f'aria-sort="descending"><a {resort}' in body
    assert 'href="/connections/default/listings?sort=calculated&amp;order=desc&amp;page=60"' in body
    assert 'href="/connections/default/listings.csv?sort=calculated&amp;order=desc"' in body
    for header in ("Back Market quantity", "Calculated", "Buffer", "Quantity to show", "Last synced"):
        assert f">{header}" in body
    assert body.count("<tr>") == 51  # the header and 50 listings
    assert '<time datetime="2026-01-05T09:00:00Z">2026-01-05 09:00 UTC</time>' in body


def test_csv_export_has_every_matching_listing_safe_for_spreadsheets(
    signed_in: AdminClient, big_catalogue: MemoryStock
) -> None:
    started = time.perf_counter()
    reply = signed_in.request("GET", f"{PAGES}/listings.csv?sort=sku&order=desc")
    assert time.perf_counter() - started < SECONDS_PER_REQUEST
    assert reply.status == 200
    assert (reply.header("content-type") or "").startswith("text/csv")
    assert reply.header("content-disposition") == 'attachment; filename="bmsync-listings-default.csv"'
    rows = list(csv.reader(io.StringIO(reply.body)))
    assert rows[0][:5] == ["Back Market listing", "Listing number", "SKU", "Title", "Back Market quantity"]
    assert len(rows) == 3001 and rows[1][2] == "SKU-2999"
    evil = next(row for row in rows if row[2] == "SKU-0001")
    assert evil[3] == "'=HYPERLINK(evil)"
    filtered = signed_in.request("GET", f"{PAGES}/listings.csv?filter=unmapped").body
    assert len(list(csv.reader(io.StringIO(filtered)))) == 1001
    assert signed_in.request("GET", f"{PAGES}/listings.csv?sort=nope").status == 400


def test_csv_cells_never_start_a_formula() -> None:
    assert [csv_cell(text) for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "fine", None)] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "'\tx",
        "fine",
        "",
    ]
    assert csv_cell(-1) == "-1"  # a number (a double checkout) is no formula


# --- orders


def test_every_export_and_line_state_has_words() -> None:
    assert set(EXPORT_WORDS) == set(get_args(ExportState))
    assert set(LINE_STATE_WORDS) == set(LineState)
    assert EXPORT_WORDS["none"] == "no shipment yet"
    assert LINE_STATE_WORDS[LineState.PAID] == "paid (waiting for validation)"


@pytest.fixture
def many_orders(aws: None, clock: ManualClock) -> None:
    """120 orders: every 10th held for an unknown carrier, every 7th in another currency."""
    SettingsRepository().save(Settings())
    orders = OrdersRepository()
    for number in range(1, 121):

        def fill(record: OrderRecord, number: int = number) -> bool:
            record.bm_state = 3
            record.import_state = "imported"
            record.currency = "GBP" if number % 7 == 0 else "EUR"
            record.currency_mismatch = number % 7 == 0
            record.lines = [OrderLineRecord(line_id=number, sku="IP12", state=1, price_cents=10000)]
            if number % 10 == 0:
                record.export_state = "held_unknown_carrier"
                record.export_reason = "carrier Pigeon Post is not one Back Market knows"
            return True

        orders.update(CID, str(9000 + number), fill, writer="order_import", now=clock.now(), create=True)


def test_orders_are_paged_and_filtered_for_held_shipments_and_other_currencies(
    signed_in: AdminClient, many_orders: None
) -> None:
    first = signed_in.api("GET", f"{API}/orders").json()
    assert (first["total"], first["pages"], first["page"], len(first["orders"])) == (120, 3, 1, 50)
    assert first["orders"][0]["order_id"] == "9120"  # newest first
    third = signed_in.api("GET", f"{API}/orders?page=3").json()
    assert [order["order_id"] for order in third["orders"]][-1] == "9001" and len(third["orders"]) == 20
    held = signed_in.api("GET", f"{API}/orders?filter=held").json()
    assert held["total"] == 12
    assert {order["export_state"] for order in held["orders"]} == {"held_unknown_carrier"}
    assert held["orders"][0]["export_text"].startswith("held: carrier unknown to Back Market")
    other = signed_in.api("GET", f"{API}/orders?filter=currency_mismatch").json()
    assert other["total"] == 17 and {order["currency"] for order in other["orders"]} == {"GBP"}
    for query, parameter in (("page=4", "page"), ("filter=all", "filter"), ("per_page=0", "per_page")):
        reply = signed_in.api("GET", f"{API}/orders?{query}")
        assert reply.status == 400 and reply.json()["errors"][0]["field"] == parameter


def test_orders_pages_say_states_in_words(signed_in: AdminClient, many_orders: None) -> None:
    listed = signed_in.request("GET", f"{PAGES}/orders?filter=held").body
    assert "12 orders · page 1 of 1" in listed
    assert "held: carrier unknown to Back Market" in listed
    assert 'option value="held" selected' in listed
    second = signed_in.request("GET", f"{PAGES}/orders?page=2").body
    assert 'aria-current="page">2<' in second and "no shipment yet" in second
    order = signed_in.request("GET", f"{PAGES}/orders/9001").body
    assert "paid (waiting for validation)" in order
    assert "no shipment yet" in order and "none:" not in order
    held = signed_in.request("GET", f"{PAGES}/orders/9010").body
    assert "held: carrier unknown to Back Market: carrier Pigeon Post is not one Back Market knows" in held
