"""The client against a WholeCell that differs from the inferred contract (the sandbox's drift controls)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from bmsync.wholecell import MalformedItem, WholeCellClient, contract
from bmsync.wholecell.errors import EndpointMissing, NotFound, UnexpectedResponse
from bmsync_sandbox.wholecell.server import WholeCellSandbox

SKU = "IP13-128-M-A"


def _raw_unit(**changes: Any) -> dict[str, Any]:
    unit: dict[str, Any] = {
        "id": 990001,
        "esn": "359000000000001",
        "hex_id": "ZZ01",
        "status": "Available",
        "order_id": None,
        "product_variation": {"id": 77001, "sku": "RAW-SKU", "grade": "A", "conditions": [], "product": None},
        "warehouse": {"id": 1, "name": "Main Warehouse"},
        "location": None,
        "created_at": "2026-01-05T08:00:00.000-05:00",
        "updated_at": "2026-01-05T08:00:00.000-05:00",
    }
    unit.update(changes)
    return unit


@pytest.fixture
def stocked(wholecell_sandbox: WholeCellSandbox) -> WholeCellSandbox:
    wholecell_sandbox.receive_units(SKU, 3)
    return wholecell_sandbox


def test_conditions_as_objects_are_read_as_their_titles(stocked: WholeCellSandbox, wholecell) -> None:
    conditions = [{"id": 1, "title": "Screen scratch", "initials": "SS"}, "Battery 85%"]
    variation = {"id": 77001, "sku": "RAW-SKU", "grade": "A", "conditions": conditions, "product": None}
    stocked.add_raw_item("/inventories", _raw_unit(product_variation=variation))

    units = {unit.id: unit for unit in wholecell.iter_inventories()}

    assert len(units) == 4
    assert units[990001].product_variation.conditions == ["Screen scratch", "Battery 85%"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"warehouse": {"id": 1, "name": None}}, "warehouse.name"),
        ({"location": {"id": 3, "name": None}}, "location.name"),
        (
            {"product_variation": {"id": 77001, "sku": "X", "conditions": [{"id": 1}], "product": None}},
            "product_variation.conditions.0",
        ),
    ],
)
def test_one_unreadable_unit_is_quarantined_and_the_rest_read(
    stocked: WholeCellSandbox, make_wholecell_client, change: dict[str, Any], field: str
) -> None:
    stocked.add_raw_item("/inventories", _raw_unit(**change))
    stocked.receive_units(SKU, 1)  # after the raw item in id order, on the same page
    quarantined: list[MalformedItem] = []
    client: WholeCellClient = make_wholecell_client(stocked, on_malformed=quarantined.append)

    units = list(client.iter_inventories())

    assert len(units) == 4 and 990001 not in {unit.id for unit in units}
    assert [(item.path, item.item_id, item.fields) for item in quarantined] == [
        ("/inventories", "990001", (field,))
    ]


def test_a_lookup_by_external_id_refuses_to_skip_an_unreadable_order(
    wholecell_sandbox: WholeCellSandbox, wholecell
) -> None:
    # Skipping it could skip the very order looked for, and bmsync would create it twice.
    wholecell_sandbox.add_raw_item("/sales_orders", {"id": 5, "status": "Pending", "channel": "Backmarket"})
    with pytest.raises(UnexpectedResponse):
        wholecell.find_sales_order_by_external_id("123")


def test_a_missing_endpoint_is_endpoint_missing_and_the_rest_still_answers(
    stocked: WholeCellSandbox, wholecell
) -> None:
    stocked.set_contract_drift(absent_endpoints=["/product_variations", "/sales_orders"])

    with pytest.raises(EndpointMissing) as missing:
        list(wholecell.iter_product_variations())
    assert missing.value.path == "/product_variations"
    with pytest.raises(NotFound):
        wholecell.get_sales_order(1)  # a sub-path of a missing list is missing too
    assert len(list(wholecell.iter_inventories())) == 3


def test_a_renamed_field_is_corrected_in_the_contract_alone(
    stocked: WholeCellSandbox, make_wholecell_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    stocked.set_contract_drift(renamed_fields={"/inventories": {"updated_at": "modified_at"}})
    quarantined: list[MalformedItem] = []
    wholecell = make_wholecell_client(stocked, on_malformed=quarantined.append)
    assert list(wholecell.iter_inventories()) == []
    assert {item.fields for item in quarantined} == {("updated_at",)} and len(quarantined) == 3

    monkeypatch.setattr(contract, "WIRE_NAMES", {"InventoryUnit": {"updated_at": "modified_at"}})
    units = list(wholecell.iter_inventories())
    assert len(units) == 3 and all(unit.updated_at is not None for unit in units)


def test_an_ignored_filter_returns_everything_and_the_call_log_still_shows_it(
    stocked: WholeCellSandbox, wholecell
) -> None:
    stocked.receive_units(SKU, 2, status="Inbound")
    stocked.set_contract_drift(ignored_filters={"/inventories": ["status"]})

    assert len(list(wholecell.iter_inventories(status="Available"))) == 5
    assert stocked.calls()[-1]["query"]["status"] == ["Available"]


def test_the_drift_and_raw_items_over_the_control_api(wholecell_sandbox: WholeCellSandbox) -> None:
    control = wholecell_sandbox.control_url
    drift = {"absent_endpoints": ["/customers"], "ignored_filters": {"/inventories": ["updated_at_gt"]}}
    answer = requests.put(f"{control}/config", json=drift, timeout=5)
    assert answer.status_code == 200 and answer.json()["absent_endpoints"] == ["/customers"]
    assert requests.get(f"{control}/config", timeout=5).json()["ignored_filters"] == drift["ignored_filters"]
    refused = requests.put(f"{control}/config", json={"missing": ["/x"]}, timeout=5)
    assert refused.status_code == 422

    added = requests.post(f"{control}/raw_items", json={"item": _raw_unit()}, timeout=5)
    assert added.status_code == 201 and added.json()["endpoint"] == "/inventories"
    assert requests.delete(f"{control}/raw_items", timeout=5).json() == {"cleared": 1}
    assert requests.put(f"{control}/config", json={}, timeout=5).json()["absent_endpoints"] == []
