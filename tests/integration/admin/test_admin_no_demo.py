"""``bmsync up --no-demo`` as a newcomer drives it: empty accounts, no connection, one made in the admin.

One Back Market order becomes exactly one WholeCell order; a second connection on the same Back Market
account is refused when its token is saved, and stopped by order_import when the token got there by
hand.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bmsync import connection_secrets
from bmsync.clock import ManualClock, SystemClock
from bmsync.settings import Settings
from bmsync.store.settings_repo import SettingsRepository
from bmsync_sandbox.runtime.collaborators import use_clock
from bmsync_sandbox.runtime.system import ConsoleLog, LocalSystem, Ports
from tests.integration.admin.conftest import TIMEOUT, sign_in

SKU = "NEWCOMER-PHONE-128-A"


@pytest.fixture(scope="module")
def empty_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    local = LocalSystem(
        state_dir=Path(tmp_path_factory.mktemp("bmsync-no-demo")),
        ports=Ports(0, 0, 0, 0),
        demo=False,
        clock=ManualClock(),
        console=ConsoleLog(io.StringIO()),
    )
    try:
        local.start()
        yield local
    finally:
        local.stop()
        use_clock(SystemClock())


def _backmarket_orders_in_wholecell(local: LocalSystem) -> list[str]:
    return sorted(str(order["external_id"]) for order in local.wholecell.orders(channel="Backmarket"))


def _call(session: requests.Session, csrf: str, method: str, url: str, body: Any = None) -> requests.Response:
    return session.request(method, url, json=body, headers={"x-csrf-token": csrf}, timeout=60)


def test_no_demo_starts_with_empty_accounts_and_no_connection(empty_system: LocalSystem) -> None:
    local = empty_system
    assert SettingsRepository().list() == []
    assert local.backmarket.orders() == [] and local.backmarket.listings() == []
    assert local.wholecell.variations() == [] and local.wholecell.orders() == []
    assert local.traffic is None
    document = json.loads((local.state_dir / "local.json").read_text())
    assert document["connection_id"] is None and document["secret_names"] is None
    assert document["backmarket"]["token"] == local.backmarket.token  # to paste into the admin


def test_one_user_connection_imports_each_order_once_and_a_second_on_the_account_is_refused(
    empty_system: LocalSystem,
) -> None:
    local = empty_system
    base = local.addresses["admin"]
    session, csrf = sign_in(local)
    shop = f"{base}/api/connections/shop"

    assert session.get(f"{shop}/settings", timeout=TIMEOUT).status_code == 404
    created = _call(session, csrf, "PATCH", f"{shop}/settings", {"version": 0, "order_import_enabled": True})
    assert created.status_code == 200, created.text
    # A new connection talks to production until told otherwise; the local admin says so and offers
    # the emulators.
    before = session.get(f"{shop}/connection", timeout=TIMEOUT).json()
    assert before["backmarket"]["host_kind"] == "production"
    assert before["sandbox"] == {
        "backmarket": local.backmarket.base_url,
        "wholecell": local.wholecell.base_url,
    }
    moved = _call(session, csrf, "POST", f"{shop}/connection/use-sandbox")
    assert moved.status_code == 200, moved.text
    assert moved.json()["backmarket"]["base_url"] == local.backmarket.base_url
    assert (
        moved.json()["backmarket"]["host_kind"] == moved.json()["wholecell"]["host_kind"] == "local sandbox"
    )
    token = local.backmarket.token
    assert _call(session, csrf, "PUT", f"{shop}/connection/backmarket-token", {"token": token}).ok
    credentials = {"app_id": local.wholecell.app_id, "app_secret": local.wholecell.app_secret}
    assert _call(session, csrf, "PUT", f"{shop}/connection/wholecell", credentials).ok
    # A new connection starts in shadow mode (it writes nothing); the seller takes it live.
    assert session.get(f"{shop}/shadow", timeout=TIMEOUT).json()["mode"] == "shadow"
    live = _call(session, csrf, "POST", f"{shop}/go-live", {"confirm": "shop"})
    assert live.status_code == 200 and live.json()["mode"] == "live", live.text

    local.wholecell.add_variation(sku=SKU, grade="A")
    local.wholecell.receive_units(SKU, 3)
    local.backmarket.add_listing(SKU, 3, price="199.00", title="Newcomer phone")
    first = local.backmarket.create_buyer_order(SKU)
    local.run_schedules()
    assert _backmarket_orders_in_wholecell(local) == [str(first["order_id"])]

    # A second connection on the same Back Market account: its token is refused, naming the first.
    copy = f"{base}/api/connections/shop-copy"
    assert _call(session, csrf, "PATCH", f"{copy}/settings", {"version": 0, "order_import_enabled": True}).ok
    assert _call(session, csrf, "POST", f"{copy}/connection/use-sandbox").ok
    refused = _call(session, csrf, "PUT", f"{copy}/connection/backmarket-token", {"token": token})
    assert refused.status_code == 409, refused.text
    message = refused.json()["errors"][0]["message"]
    assert "'shop'" in message and "twice" in message and token not in refused.text
    assert not session.get(f"{copy}/connection", timeout=TIMEOUT).json()["backmarket"]["token_set"]

    # The same token written to Secrets Manager by hand: order_import stops that connection and says why.
    copy_settings = SettingsRepository().get("shop-copy")
    assert isinstance(copy_settings, Settings)
    connection_secrets.write_backmarket_token(copy_settings.connection_id, token)
    connection_secrets.write_wholecell_credentials(
        copy_settings.connection_id, local.wholecell.app_id, local.wholecell.app_secret
    )
    second = local.backmarket.create_buyer_order(SKU)
    local.clock.advance(60)
    local.run_schedules()
    assert _backmarket_orders_in_wholecell(local) == sorted([str(first["order_id"]), str(second["order_id"])])
    status = session.get(f"{copy}/status", timeout=TIMEOUT).json()
    alerts = " ".join(alert["message"] for alert in status["alerts"])
    assert "same Back Market token as connection 'shop'" in alerts, status
    assert token not in json.dumps(status)
