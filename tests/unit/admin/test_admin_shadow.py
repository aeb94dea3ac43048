"""Shadow mode in the console: the badge, "What bmsync would do", its API, and going live."""

from __future__ import annotations

from bmsync.clock import ManualClock
from bmsync.settings import ConnectionMode, Settings
from bmsync.store.listings_repo import ListingItem, ListingsRepository
from bmsync.store.orders_repo import OrderRecord, OrdersRepository
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.shadow_repo import ShadowItem, ShadowRepository, ShadowWrite
from bmsync.sync.order_import import SHADOW_NOT_CREATED
from bmsync.sync.shipment_export import SHADOW_NOT_SENT
from tests.unit.admin.conftest import AdminClient

CID = "shop"
API = f"/api/connections/{CID}"
PAGES = f"/connections/{CID}"


def _in_shadow(clock: ManualClock) -> None:
    SettingsRepository().save(Settings(connection_id=CID, mode=ConnectionMode.SHADOW))
    ListingsRepository(CID).create(
        ListingItem(
            connection_id=CID,
            listing_id="uuid-a",
            sku="IP12-64-A",
            imported_at="2026-01-05T08:00:00Z",
            seen_at="2026-01-05T08:00:00Z",
            bm_quantity=2,
            last_calculated=5,
        )
    )

    def not_created(record: OrderRecord) -> bool:
        record.import_state = "not_imported"
        record.import_status = SHADOW_NOT_CREATED
        record.currency = "GBP"
        record.export_state = "pending"
        record.export_reason = f"{SHADOW_NOT_SENT}: tracking TRK1"
        return True

    OrdersRepository().update(CID, "9101", not_created, writer="order_import", now=clock.now(), create=True)
    shadow = ShadowRepository(CID, clock)
    shadow.record(ShadowWrite(kind="quantity", subject="uuid-a", quantity=5))
    shadow.record(
        ShadowWrite(
            kind="order",
            subject="9101",
            status="Pending",
            customer="a new customer",
            items=[ShadowItem(sku="IP12-64-A", quantity=2, price_cents=32900)],
        )
    )
    shadow.record(ShadowWrite(kind="validation", subject="9101#IP12-64-A", action="accepted"))


def test_the_connection_page_shows_what_bmsync_would_do(
    signed_in: AdminClient, aws: None, clock: ManualClock
) -> None:
    _in_shadow(clock)
    page = signed_in.request("GET", f"{PAGES}/connection").body
    assert "shadow mode" in page and "What bmsync would do" in page
    assert "1 listing quantities (1 differ from what Back Market shows now), 1 WholeCell orders" in page
    assert "1 validations" in page
    # The quantity it would send against what Back Market shows now, and the order with its items.
    assert "IP12-64-A" in page and "<td>5</td><td>2</td><td>+3</td>" in page
    assert "9101" in page and "a new customer" in page and "2 x IP12-64-A at 329.00" in page
    assert "658.00 GBP" in page
    assert 'action="/connections/shop/go-live"' in page
    home = signed_in.request("GET", "/").body
    assert "shadow mode" in home
    # Every page of the connection says so, linking to what it would do.
    status_page = signed_in.request("GET", f"{PAGES}/status").body
    assert "shadow mode</span> bmsync writes nothing" in status_page
    assert f'href="{PAGES}/connection#shadow"' in status_page


def test_the_api_returns_the_same_and_needs_a_session(
    signed_in: AdminClient, anonymous: AdminClient, aws: None, clock: ManualClock
) -> None:
    _in_shadow(clock)
    report = signed_in.api("GET", f"{API}/shadow").json()
    assert report["mode"] == "shadow"
    assert report["counts"] == {"quantity": 1, "order": 1, "validation": 1}
    [quantity] = report["quantities"]
    assert (
        quantity["sku"],
        quantity["would_send"],
        quantity["backmarket_shows"],
        quantity["difference"],
    ) == (
        "IP12-64-A",
        5,
        2,
        3,
    )
    [order] = report["orders"]
    assert order["order_id"] == "9101" and order["currency"] == "GBP" and order["total_cents"] == 65800
    assert order["items"][0]["price_cents"] == 32900
    assert anonymous.request("GET", f"{API}/shadow").status == 401
    assert signed_in.api("GET", "/api/connections/nobody/shadow").status == 404


def test_going_live_is_one_confirmed_action(signed_in: AdminClient, aws: None, clock: ManualClock) -> None:
    _in_shadow(clock)
    assert signed_in.request("POST", f"{PAGES}/go-live", form={"confirm": CID}).status == 403  # no CSRF
    wrong = signed_in.request(
        "POST", f"{PAGES}/go-live", form={"confirm": "shop2", "csrf_token": signed_in.csrf}
    )
    assert wrong.status == 400 and "type the connection id" in wrong.body
    # The settings cannot switch it: going live is its own action.
    settings = SettingsRepository().get(CID)
    refused = signed_in.api("PATCH", f"{API}/settings", {"version": settings.version, "mode": "live"})
    assert refused.status == 422 and refused.json()["errors"][0]["field"] == "mode"
    assert SettingsRepository().get(CID).mode is ConnectionMode.SHADOW

    done = signed_in.request("POST", f"{PAGES}/go-live", form={"confirm": CID, "csrf_token": signed_in.csrf})
    assert done.status == 200 and "This connection is live" in done.body
    assert "What bmsync would do" not in done.body
    assert SettingsRepository().get(CID).mode is ConnectionMode.LIVE
    # Nothing recorded is replayed: the records go, the held shipment is handed to shipment_export
    # (written again: the orders stream delivers it), the order waits for the next order import.
    assert ShadowRepository(CID, clock).list() == []
    record = OrdersRepository().get(CID, "9101")
    assert record.export_state == "pending" and record.export_reason.startswith("going live")
    assert record.import_state == "not_imported"
    again = signed_in.api("POST", f"{API}/go-live", {"confirm": CID})
    assert again.status == 409 and "live already" in again.json()["errors"][0]["message"]
