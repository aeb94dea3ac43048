"""Quarantine alerts and endpoint fallbacks (bmsync.sync.wholecell_reading), with a recording alert store."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from bmsync.settings import Settings
from bmsync.sync.wholecell_reading import (
    open_statuses_or_setting,
    quarantine_alerts,
    read_or_fallback,
    variations_or_derived,
)
from bmsync.wholecell.client import MalformedItem
from bmsync.wholecell.errors import EndpointMissing


class RecordingAlerts:
    def __init__(self) -> None:
        self.raised: list[tuple[str, str, str]] = []
        self.cleared: list[str] = []

    def raise_alert(self, alert_id: str, message: str, **details: Any) -> Any:
        self.raised.append((alert_id, message, details.get("action", "")))

    def clear_alert(self, alert_id: str) -> None:
        self.cleared.append(alert_id)


class NoVariationsEndpoint:
    def __init__(self, units: list[Any]) -> None:
        self.units = units

    def iter_product_variations(self, *, sku: str | None = None) -> Any:
        raise EndpointMissing("/product_variations")
        yield  # a generator, as the client's

    def iter_inventories(self, **filters: Any) -> Any:
        return iter(self.units)

    def list_sales_order_statuses(self) -> list[Any]:
        raise EndpointMissing("/sales_order_statuses")


def _unit(variation_id: int | None, sku: str = "S") -> Any:
    variation = SimpleNamespace(id=variation_id, sku=sku) if variation_id is not None else None
    return SimpleNamespace(product_variation=variation)


def test_variations_come_from_the_units_when_the_endpoint_is_missing() -> None:
    alerts = RecordingAlerts()
    wholecell = NoVariationsEndpoint([_unit(1, "A"), _unit(2, "B"), _unit(1, "A"), _unit(None)])

    variations = variations_or_derived(wholecell, alerts)  # type: ignore[arg-type]

    assert [(variation.id, variation.sku) for variation in variations] == [(1, "A"), (2, "B")]
    [(alert_id, message, action)] = alerts.raised
    assert alert_id == "wholecell-missing-endpoint-product-variations"
    assert "no /product_variations" in message and "not connected" in message and action


def test_open_statuses_come_from_the_settings_and_the_alert_names_them() -> None:
    alerts = RecordingAlerts()
    settings = Settings(connection_id="shop", open_order_statuses=["Awaiting pick", "Pending"])

    statuses = open_statuses_or_setting(NoVariationsEndpoint([]), settings, alerts)  # type: ignore[arg-type]

    assert statuses == {"Awaiting pick", "Pending"}
    assert "(Awaiting pick, Pending)" in alerts.raised[0][1]


def test_with_a_memory_the_alert_changes_only_when_the_endpoint_does() -> None:
    alerts = RecordingAlerts()
    missing: set[str] = set()

    def gone() -> list[int]:
        raise EndpointMissing("/sales_orders")

    for _ in range(3):
        assert read_or_fallback(alerts, "/sales_orders", gone, list, missing=missing) == []
    assert len(alerts.raised) == 1 and missing == {"/sales_orders"}
    for _ in range(3):
        assert read_or_fallback(alerts, "/sales_orders", lambda: [1], list, missing=missing) == [1]
    assert alerts.cleared == ["wholecell-missing-endpoint-sales-orders"] and missing == set()


def test_a_quarantined_item_is_an_alert_naming_the_record_and_the_field() -> None:
    alerts = RecordingAlerts()
    sink = quarantine_alerts(alerts)

    sink(
        MalformedItem(
            "/inventories", "InventoryUnit", "42", ("warehouse.name",), ("Input should be a string",)
        )
    )

    [(alert_id, message, action)] = alerts.raised
    assert alert_id == "wholecell-unreadable-unit-42"
    assert "WholeCell unit 42" in message and "warehouse.name" in message and "unit 42" in action
