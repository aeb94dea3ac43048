"""Every console page at desktop and phone width, screenshotted, with basic accessibility checks:
every form control has a label, one h1, heading levels never skip, no sideways scrolling on a phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bmsync.clock import SystemClock
from bmsync.settings import ConnectionMode, Settings
from bmsync.store.listings_repo import ListingsRepository
from bmsync.store.orders_repo import OrderLineRecord, OrderRecord, OrdersRepository
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.shadow_repo import ShadowItem, ShadowRepository, ShadowWrite
from bmsync_sandbox.runtime.system import DEMO_CONNECTION, LocalSystem

pytestmark = pytest.mark.browser
BASE = f"/connections/{DEMO_CONNECTION}"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

#: What a screen reader or a keyboard user trips over first (run in the page).
ACCESSIBILITY_PROBLEMS = """() => {
  const problems = [];
  const controls = [...document.querySelectorAll('input, select, textarea')]
    .filter((control) => control.type !== 'hidden');
  for (const control of controls) {
    const labelled = (control.id && document.querySelector(`label[for="${CSS.escape(control.id)}"]`))
      || control.closest('label') || control.getAttribute('aria-label')
      || control.getAttribute('aria-labelledby');
    if (!labelled) problems.push('no label: ' + control.outerHTML.slice(0, 100));
  }
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) problems.push(`${h1} h1 elements`);
  let previous = 0;
  for (const heading of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
    const level = Number(heading.tagName[1]);
    if (previous && level > previous + 1) {
      problems.push(`${heading.tagName} after h${previous}: ${heading.textContent}`);
    }
    previous = level;
  }
  return problems;
}"""


def _check(page: Any, name: str, viewport: str, folder: Path) -> None:
    problems = page.evaluate(ACCESSIBILITY_PROBLEMS)
    assert problems == [], f"{name}: {problems}"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[viewport]["width"], f"{name} scrolls sideways ({width}px)"
    page.screenshot(path=str(folder / f"{name}-{viewport}.png"), full_page=True)


def _an_order(local: LocalSystem) -> str:
    """An order of the demo (seeded here when the demo's traffic has not brought one yet)."""
    orders = OrdersRepository()
    found = orders.list(DEMO_CONNECTION)
    if found:
        return found[0].order_id

    def fill(record: OrderRecord) -> bool:
        record.bm_state, record.bm_status, record.import_state = 1, "paid", "imported"
        record.currency = "EUR"
        record.lines = [
            OrderLineRecord(line_id=1, sku="IP12-64-A", state=1, price_cents=39900, unit_prices_cents=[39900])
        ]
        return True

    orders.update(
        DEMO_CONNECTION, "424242", fill, writer="order_import", now=SystemClock().now(), create=True
    )
    return "424242"


SHADOW_CONNECTION = "shadow-shop"


def _a_connection_in_shadow_mode(listing_id: str) -> None:
    """A second connection, in shadow mode, with what it would do (never synced: it has no tokens)."""
    if SettingsRepository().get(SHADOW_CONNECTION) is None:
        SettingsRepository().save(Settings(connection_id=SHADOW_CONNECTION, mode=ConnectionMode.SHADOW))
    shadow = ShadowRepository(SHADOW_CONNECTION, SystemClock())
    shadow.record(ShadowWrite(kind="quantity", subject=listing_id, quantity=7))
    shadow.record(
        ShadowWrite(
            kind="order",
            subject="424243",
            status="Pending",
            customer="a new customer",
            items=[ShadowItem(sku="IP12-64-A", description="iPhone 12 64GB", quantity=1, price_cents=39900)],
        )
    )


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_every_page_reads_well_at_desktop_and_phone_width(
    browser: Any, local_system: LocalSystem, screenshots: Path, viewport: str
) -> None:
    admin = local_system.addresses["admin"]
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(admin + "/signin")
    _check(page, "signin", viewport, screenshots)
    page.fill("#password", local_system.admin_password)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Demo refurbisher")
    if not ListingsRepository(DEMO_CONNECTION).all():
        page.goto(admin + BASE + "/listings")
        page.click("button:has-text('Import listings')")
        page.wait_for_selector("text=Last listing import: succeeded")
    listing = ListingsRepository(DEMO_CONNECTION).all()[0]
    order_id = _an_order(local_system)
    pages = {
        "status": (BASE + "/status", "Status"),
        "listings": (BASE + "/listings?sort=calculated&order=desc", "Quantity to show"),
        "listing": (f"{BASE}/listings/{listing.listing_id}", "Why it syncs or not"),
        "orders": (BASE + "/orders", "Shipment export"),
        "order": (f"{BASE}/orders/{order_id}", "Line state"),
        "settings": (BASE + "/settings", "Calculated Quantity"),
        "connection": (BASE + "/connection", "Back Market token"),
        "doctor": (BASE + "/doctor", "Doctor"),
        "shadow": (f"/connections/{SHADOW_CONNECTION}/connection", "What bmsync would do"),
    }
    _a_connection_in_shadow_mode(listing.listing_id)
    for name, (path, expected) in pages.items():
        response = page.goto(admin + path)
        assert response is not None and response.status == 200, f"{name}: {response and response.status}"
        assert expected in page.inner_text("main"), name
        _check(page, name, viewport, screenshots)
    # The Listings tab sorts by a header click and keeps the sort in its pages and export link.
    page.goto(admin + BASE + "/listings")
    page.click("th a:has-text('Calculated')")
    page.wait_for_selector("th[aria-sort=ascending]")
    assert "sort=calculated" in (page.get_attribute("a:has-text('Export these listings')", "href") or "")
    context.close()
    SettingsRepository().delete(SHADOW_CONNECTION)
    ShadowRepository(SHADOW_CONNECTION, SystemClock()).clear()
