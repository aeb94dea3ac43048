"""A person at the console: signs in, changes a setting, maps a "Product not set" listing, asks the doctor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bmsync.settings import ProductVariationMode
from bmsync.store.listings_repo import ListingsRepository
from bmsync.store.settings_repo import SettingsRepository
from bmsync_sandbox.runtime.system import DEMO_CONNECTION, LocalSystem

pytestmark = pytest.mark.browser
SETTINGS_PATH = f"/connections/{DEMO_CONNECTION}/settings"
LISTINGS_PATH = f"/connections/{DEMO_CONNECTION}/listings"


def _sign_in(browser: Any, local: LocalSystem, viewport: dict[str, int] | None = None) -> Any:
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(local.addresses["admin"] + "/")
    page.fill("#password", local.admin_password)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Demo refurbisher")
    return page


def _choose_specific_variations(page: Any, local: LocalSystem) -> None:
    page.goto(local.addresses["admin"] + SETTINGS_PATH)
    page.select_option("#product_variations", ProductVariationMode.CHOOSE_SPECIFIC.value)
    page.click("button:has-text('Save settings')")
    page.wait_for_selector("text=Settings saved.")


def _import_listings(page: Any, local: LocalSystem) -> None:
    page.goto(local.addresses["admin"] + LISTINGS_PATH)
    page.click("button:has-text('Import listings')")
    page.wait_for_selector("text=Last listing import: succeeded")


def test_sign_in_sets_a_secure_strict_session_and_wrong_password_is_refused(
    browser: Any, local_system: LocalSystem, screenshots: Path
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(local_system.addresses["admin"] + "/")
    page.fill("#password", "not the password at all")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Wrong password.")
    page.screenshot(path=str(screenshots / "wrong-password.png"))
    page.fill("#password", local_system.admin_password)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Demo refurbisher")
    session = next(cookie for cookie in context.cookies() if cookie["name"] == "bmsync_session")
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # HttpOnly: scripts never see it
    page.screenshot(path=str(screenshots / "connections.png"))


def test_change_a_setting_and_see_it_persist(
    browser: Any, local_system: LocalSystem, screenshots: Path
) -> None:
    page = _sign_in(browser, local_system)
    page.goto(local_system.addresses["admin"] + SETTINGS_PATH)
    assert "Calculated Quantity = Available Quantity - Outstanding Quantity" in page.content()
    page.fill("#safety_buffer", "2")
    page.fill("#display_name", "Demo refurbisher EU")
    page.click("button:has-text('Save settings')")
    page.wait_for_selector("text=Settings saved.")
    page.reload()
    assert page.input_value("#safety_buffer") == "2"
    assert page.input_value("#display_name") == "Demo refurbisher EU"
    stored = SettingsRepository().get(DEMO_CONNECTION)
    assert stored is not None and stored.safety_buffer == 2
    page.screenshot(path=str(screenshots / "settings-saved.png"), full_page=True)
    page.fill("#safety_buffer", "-1")
    page.click("button:has-text('Save settings')")
    page.wait_for_selector(".field-error")
    assert "greater than or equal to 0" in page.inner_text(".field-error")
    page.screenshot(path=str(screenshots / "settings-invalid.png"), full_page=True)
    stored_after = SettingsRepository().get(DEMO_CONNECTION)
    assert stored_after is not None and stored_after.safety_buffer == 2


def test_map_a_product_not_set_listing_and_see_it_connected(
    browser: Any, local_system: LocalSystem, screenshots: Path
) -> None:
    page = _sign_in(browser, local_system)
    _choose_specific_variations(page, local_system)
    _import_listings(page, local_system)
    page.select_option("#filter", "product_not_set")
    page.click("button:has-text('Apply')")
    page.screenshot(path=str(screenshots / "product-not-set.png"), full_page=True)
    links = page.locator("a:has-text('Product not set!')")
    assert links.count() > 0
    # A listing whose SKU WholeCell has (the demo also lists a SKU that WholeCell does not know).
    wholecell_skus = {variation["sku"] for variation in local_system.wholecell.variations()}
    listings = ListingsRepository(DEMO_CONNECTION)
    link = next(
        links.nth(index)
        for index in range(links.count())
        if (found := listings.get((links.nth(index).get_attribute("href") or "").split("/")[-2]))
        and found.sku in wholecell_skus
    )
    listing_id = (link.get_attribute("href") or "").split("/")[-2]
    listing = listings.get(listing_id)
    assert listing is not None
    link.click()
    page.wait_for_selector("text=Choose the WholeCell product variation(s)")
    page.fill("#q", listing.sku)
    page.click("button:has-text('Search')")
    boxes = page.locator("input[name=variation_id]")
    assert boxes.count() >= 1
    variation_id = boxes.first.get_attribute("value")
    boxes.first.check()
    page.screenshot(path=str(screenshots / "variation-choice.png"), full_page=True)
    page.click("button:text-is('Save')")
    page.wait_for_selector("text=Why it syncs or not")
    assert "Product not set" not in page.inner_text("main")
    assert f"Yes: to the chosen product variations ({variation_id})" in page.inner_text("main")
    page.screenshot(path=str(screenshots / "listing-connected.png"), full_page=True)
    stored = ListingsRepository(DEMO_CONNECTION).get(listing_id)
    assert stored is not None and stored.connected
    assert ListingsRepository(DEMO_CONNECTION).chosen_variations(listing_id) == [variation_id]
    page.goto(local_system.addresses["admin"] + LISTINGS_PATH + "?filter=connected")
    assert listing.sku in page.inner_text("table")


def test_doctor_explains_an_unsynced_listing_on_a_phone(
    browser: Any, local_system: LocalSystem, screenshots: Path
) -> None:
    page = _sign_in(browser, local_system, viewport={"width": 390, "height": 844})
    if not ListingsRepository(DEMO_CONNECTION).all():
        _choose_specific_variations(page, local_system)
        _import_listings(page, local_system)
    unsynced = next(item for item in ListingsRepository(DEMO_CONNECTION).all() if not item.connected)
    page.goto(local_system.addresses["admin"] + f"/connections/{DEMO_CONNECTION}/doctor")
    page.fill("#listing", unsynced.sku)
    page.click("button:has-text('Ask about this listing')")
    page.wait_for_selector(".finding")
    text = page.inner_text("main")
    assert "Is the listing connected?" in text
    assert "Product not set" in text or f"SKU {unsynced.sku} is on no product variation" in text
    assert "What to do:" in text
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling on a phone
    page.screenshot(path=str(screenshots / "doctor-phone.png"), full_page=True)
