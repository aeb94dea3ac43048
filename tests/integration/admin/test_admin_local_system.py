"""The admin as ``make run`` serves it: the runtime's Function URL adapter, moto, the emulators."""

from __future__ import annotations

import requests

from bmsync.store.listings_repo import ListingsRepository
from bmsync_sandbox.runtime.system import DEMO_CONNECTION, LocalSystem
from tests.integration.admin.conftest import TIMEOUT, sign_in


def test_console_requires_sign_in_and_shows_the_demo_connection(local_system: LocalSystem) -> None:
    base = local_system.addresses["admin"]
    assert requests.get(f"{base}/api/connections", timeout=TIMEOUT).status_code == 401
    session, _ = sign_in(local_system)
    connections = session.get(f"{base}/api/connections", timeout=TIMEOUT).json()["connections"]
    assert [item["connection_id"] for item in connections] == [DEMO_CONNECTION]
    assert "Demo refurbisher" in session.get(f"{base}/", timeout=TIMEOUT).text


def test_test_connection_talks_to_both_emulators(local_system: LocalSystem) -> None:
    base = local_system.addresses["admin"]
    session, csrf = sign_in(local_system)
    report = session.post(
        f"{base}/api/connections/{DEMO_CONNECTION}/connection/test",
        headers={"x-csrf-token": csrf},
        timeout=30,
    ).json()
    assert report["backmarket"]["ok"], report
    assert report["wholecell"]["ok"], report
    assert "sales-order statuses" in report["wholecell"]["message"]
    for secret in (local_system.backmarket.token, local_system.wholecell.app_secret):
        assert secret not in str(report)


def test_import_listings_from_the_console_fills_the_listings_tab(local_system: LocalSystem) -> None:
    base = local_system.addresses["admin"]
    session, csrf = sign_in(local_system)
    started = session.post(
        f"{base}/api/connections/{DEMO_CONNECTION}/listing-import", headers={"x-csrf-token": csrf}, timeout=60
    )
    assert started.status_code == 202, started.text
    assert started.json()["run"]["status"] == "succeeded"
    imported = ListingsRepository(DEMO_CONNECTION).all()
    assert imported
    listed = session.get(f"{base}/api/connections/{DEMO_CONNECTION}/listings", timeout=TIMEOUT).json()
    assert {item["listing_id"] for item in listed["listings"]} == {item.listing_id for item in imported}
    page = session.get(f"{base}/connections/{DEMO_CONNECTION}/listings", timeout=TIMEOUT)
    assert imported[0].sku in page.text
    status = session.get(f"{base}/api/connections/{DEMO_CONNECTION}/status", timeout=TIMEOUT).json()
    runs = {flow["flow"]: flow["last_run"] for flow in status["flows"]}
    assert runs["listing_import"]["status"] == "succeeded"


def test_the_connection_page_says_the_demo_uses_the_local_emulators(local_system: LocalSystem) -> None:
    base = local_system.addresses["admin"]
    session, _ = sign_in(local_system)
    page = session.get(f"{base}/connections/{DEMO_CONNECTION}/connection", timeout=TIMEOUT).text
    assert f"{local_system.backmarket.base_url} (local sandbox)" in page
    assert f"{local_system.wholecell.base_url} (local sandbox)" in page
    assert "Use the local emulators" not in page  # it already does
    new = session.get(f"{base}/connections/new-shop/connection", timeout=TIMEOUT).text
    assert "https://www.backmarket.fr (production)" in new and "Use the local emulators" in new
