"""The sandbox's control API over HTTP (what the demo and other engineers' tests drive), and the CLI."""

from __future__ import annotations

import subprocess
import sys

import requests

from bmsync_sandbox.demo_catalogue import variations as demo_variations

SKU = demo_variations()[8].sku


def test_a_person_receives_picks_and_ships_through_the_control_api(wholecell_sandbox, wholecell):
    control = wholecell_sandbox.control_url
    received = requests.post(
        f"{control}/units", json={"sku": SKU, "count": 3, "location": "Shelf C"}, timeout=5
    )
    assert received.status_code == 201
    units = received.json()["data"]
    variation_id = units[0]["product_variation"]["id"]

    order = requests.post(
        f"{control}/orders",
        json={
            "channel": "eBay",
            "order_items": [{"sku": SKU, "quantity": 2, "price": 15000}],
            "external_id": "E-1",
        },
        timeout=5,
    ).json()
    quantity = requests.get(
        f"{control}/calculated_quantity", params={"variation_id": variation_id}, timeout=5
    ).json()
    assert quantity == {"variation_id": variation_id, "available": 3, "outstanding": 2, "calculated": 1}

    committed = requests.post(
        f"{control}/orders/{order['id']}/commit", json={"unit_id": units[0]["id"]}, timeout=5
    )
    assert committed.json()["order_id"] == order["id"] and committed.json()["sale_price"] == 15000
    requests.post(f"{control}/units/{units[1]['id']}/status", json={"status": "Repair"}, timeout=5)
    shipment = requests.post(
        f"{control}/orders/{order['id']}/shipments",
        json={"carrier": "UPS", "tracking_number": "1Z999"},
        timeout=5,
    )
    assert shipment.status_code == 201
    requests.post(f"{control}/orders/{order['id']}/status", json={"status": "Shipped"}, timeout=5)

    seen = wholecell.get_sales_order(order["id"])
    assert seen.status == "Shipped" and seen.shipments[0].tracking_number == "1Z999"
    assert [u.id for u in seen.inventories] == [units[0]["id"]]
    assert wholecell_sandbox.calculated_quantity(variation_id) == 1  # one left Available, uncommitted

    refused = requests.post(
        f"{control}/units/{units[2]['id']}/status", json={"status": "Vanished"}, timeout=5
    )
    assert refused.status_code == 422 and "status" in refused.json()["errors"]
    missing = requests.post(f"{control}/orders/1/commit", json={"unit_id": units[2]["id"]}, timeout=5)
    assert missing.status_code == 404
    calls = requests.get(f"{control}/calls", timeout=5).json()["data"]
    assert calls[-1]["path"] == f"/sales_orders/{order['id']}" and calls[-1]["status"] == 200


def test_sku_uniqueness_and_new_variations_over_the_control_api(wholecell_sandbox):
    control = wholecell_sandbox.control_url
    shared = requests.post(f"{control}/variations", json={"sku": SKU, "grade": "D"}, timeout=5)
    assert shared.status_code == 201  # uniqueness is off: a SKU may be shared
    turned_on = requests.post(f"{control}/sku_uniqueness", json={"enabled": True}, timeout=5)
    assert turned_on.status_code == 422 and "sku_uniqueness" in turned_on.json()["errors"]


def test_the_api_refuses_requests_without_the_app_credentials(wholecell_sandbox):
    answer = requests.get(f"{wholecell_sandbox.base_url}/inventories", timeout=5)
    assert answer.status_code == 401 and answer.json() == {"error": "Unauthorized"}
    wrong_app = requests.get(
        f"{wholecell_sandbox.base_url}/inventories",
        auth=(wholecell_sandbox.app_id, wholecell_sandbox.app_secret),
        headers={"X-App-Id": "someone-else"},
        timeout=5,
    )
    assert wrong_app.status_code == 401
    incomplete = requests.post(
        f"{wholecell_sandbox.control_url}/credentials", json={"app_secret": "x"}, timeout=5
    )
    assert incomplete.status_code == 400 and wholecell_sandbox.app_secret == "sandbox-secret"
    not_json = requests.post(f"{wholecell_sandbox.control_url}/units", data="count=3", timeout=5)
    assert not_json.status_code == 400


def test_bmsync_sandbox_wholecell_serves_on_loopback():
    process = subprocess.Popen(
        [sys.executable, "-m", "bmsync.cli", "sandbox", "wholecell", "--port", "0", "--no-demo"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        base_url = first_line.split(" at ")[1].split(" ")[0]
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/api/v1")
        answer = requests.get(
            f"{base_url}/sales_order_statuses", auth=("sandbox-app", "sandbox-secret"), timeout=5
        )
        assert answer.status_code == 200 and answer.json()["pages"] == 1
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_received_units_carry_the_serial_numbers_and_imeis_chosen(wholecell_sandbox, wholecell):
    control = wholecell_sandbox.control_url
    chosen = ["356789012345675", "F17XK0QJHG7F"]
    received = requests.post(f"{control}/units", json={"sku": SKU, "count": 2, "esns": chosen}, timeout=5)
    assert received.status_code == 201, received.text
    assert [unit["esn"] for unit in received.json()["data"]] == chosen
    # The product's client finds each unit by the serial number chosen.
    assert [unit.esn for unit in wholecell.iter_inventories(esn="F17XK0QJHG7F")] == ["F17XK0QJHG7F"]

    again = requests.post(f"{control}/units", json={"sku": SKU, "count": 1, "esns": [chosen[0]]}, timeout=5)
    assert again.status_code == 422 and chosen[0] in again.json()["errors"]["esns"][0]
    miscounted = requests.post(f"{control}/units", json={"sku": SKU, "count": 2, "esns": ["A1"]}, timeout=5)
    assert miscounted.status_code == 422 and "2 units" in miscounted.json()["errors"]["esns"][0]
    not_a_list = requests.post(f"{control}/units", json={"sku": SKU, "count": 1, "esns": "A1"}, timeout=5)
    assert not_a_list.status_code == 422 and "esns" in not_a_list.json()["errors"]
