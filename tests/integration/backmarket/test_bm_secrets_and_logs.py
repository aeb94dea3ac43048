"""The token comes from Secrets Manager, is re-read after a 401, and never reaches a log line or error."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from bmsync.backmarket import client_for
from bmsync.backmarket.errors import BackMarketError, Unauthorized
from bmsync.connection_secrets import write_backmarket_token
from bmsync.settings import BackMarketConnection, Settings
from bmsync_sandbox.backmarket.server import BackMarketSandbox

LIVE_TOKEN = "bm-rotating-token-5c4b3a2918"
NEW_TOKEN = "bm-rotated-token-0f1e2d3c4b"


def _settings(sandbox: BackMarketSandbox) -> Settings:
    return Settings(
        connection_id="shop-1",
        backmarket=BackMarketConnection(
            host=sandbox.base_url, company="Acme", contact_email="ops@acme.example"
        ),
    )


def test_client_for_reads_the_secret_and_follows_a_rotation(
    aws, bm_sandbox: BackMarketSandbox, bm_clock, captured_logs
) -> None:
    settings = _settings(bm_sandbox)
    bm_sandbox.token = LIVE_TOKEN
    write_backmarket_token(settings.connection_id, LIVE_TOKEN)
    client = client_for(settings, bm_clock)
    assert client.get_order(bm_sandbox.orders()[0]["order_id"])
    assert bm_sandbox.calls()[-1]["user_agent"] == "BM-Acme-bmsync;ops@acme.example"
    assert bm_sandbox.calls()[-1]["accept_language"] == "en-gb"

    # The seller resets the token on Back Market and saves the new one in the admin.
    bm_sandbox.token = NEW_TOKEN
    write_backmarket_token(settings.connection_id, NEW_TOKEN)
    assert [listing.sku for listing in client.iter_listings()]  # 401, fresh read, retried once

    # Reset again but not saved: Unauthorized for the admin, never retried in a loop.
    bm_sandbox.token = "bm-unknown-token-77"
    bm_sandbox.clear_calls()
    with pytest.raises(Unauthorized) as caught:
        client.get_order(1)
    assert len(bm_sandbox.calls()) == 1
    for text in (caught.value.message, caught.value.action, str(caught.value), repr(caught.value)):
        assert LIVE_TOKEN not in text and NEW_TOKEN not in text
    logged = captured_logs.getvalue()
    assert logged and LIVE_TOKEN not in logged and NEW_TOKEN not in logged


def test_a_missing_secret_is_a_token_problem_for_the_admin(
    aws, bm_sandbox: BackMarketSandbox, bm_clock
) -> None:
    with pytest.raises(Unauthorized, match="No Back Market token") as caught:
        client_for(_settings(bm_sandbox), bm_clock).get_order(1)
    assert caught.value.needs_attention


def test_no_log_line_or_error_holds_the_token_or_buyer_data(
    bm_sandbox: BackMarketSandbox, make_client, captured_logs
) -> None:
    client = make_client(bm_sandbox)
    sku = next(item["sku"] for item in bm_sandbox.listings() if item["quantity"] >= 2)
    order = bm_sandbox.create_buyer_order(sku)
    buyer = order["shipping_address"]
    bm_sandbox.set_faults(
        [
            {"mode": "server_error", "count": 2},
            {"mode": "html_429", "count": 2},
            {"mode": "html_403", "count": 1},
            {"mode": "malformed_json", "count": 1},
        ]
    )
    errors: list[BackMarketError] = []
    for action in (
        lambda: client.get_order(order["order_id"]),
        lambda: client.ship_order(order["order_id"], tracking_number="T1"),
        lambda: client.accept_orderline(order["order_id"], sku),
        lambda: client.accept_orderline(order["order_id"], sku),
        lambda: client.get_listing_by_sku("missing"),
    ):
        try:
            action()
        except BackMarketError as error:
            errors.append(error)
    assert len(errors) == 2  # ship before accept, unknown SKU (a repeated accept is a success)
    logged = captured_logs.getvalue()
    assert "retrying" in logged or "backing off" in logged
    private = [
        bm_sandbox.token,
        buyer["email"],
        buyer["first_name"] + " " + buyer["last_name"],
        buyer["street"],
        buyer["phone"],
    ]
    for text in [logged, *(f"{error.message} {error.action}" for error in errors)]:
        for value in private:
            assert value not in text


def test_the_cli_serves_the_sandbox_on_loopback() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bmsync.cli", "sandbox", "backmarket", "--port", "0", "--no-demo"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        base_url = line.split(" on ", 1)[1].split(" ", 1)[0]
        assert base_url.startswith("http://127.0.0.1:")
        listing = requests.post(
            f"{base_url}/_sandbox/listings", json={"sku": "CLI-1", "quantity": 1}, timeout=5
        )
        assert listing.status_code == 201
        assert requests.get(f"{base_url}/_sandbox/listings", timeout=5).json()[0]["sku"] == "CLI-1"
    finally:
        process.terminate()
        process.wait(timeout=10)
