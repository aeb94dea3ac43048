"""The pump applies the catalogue's Lambda event-filter patterns exactly as Lambda would."""

from __future__ import annotations

from typing import Any

import pytest

from bmsync.catalog import FUNCTIONS, StreamSource, by_name
from bmsync.store.tables import ORDERS, STOCK
from bmsync_sandbox.runtime.event_filter import matches_filter


def _record(event_name: str, new_image: dict[str, Any] | None) -> dict[str, Any]:
    dynamodb: dict[str, Any] = {"Keys": {"connection_id": {"S": "uk"}}, "SequenceNumber": "1"}
    if new_image is not None:
        dynamodb["NewImage"] = {name: {"S": value} for name, value in new_image.items()}
    return {"eventName": event_name, "dynamodb": dynamodb}


def _passes(source: StreamSource, function: str, record: dict[str, Any]) -> bool:
    return any(matches_filter(pattern, record) for pattern in source.filter_patterns(function))


@pytest.mark.parametrize(
    ("record", "passes"),
    [
        (_record("INSERT", {"last_writer": "wholecell_watch"}), True),
        (_record("MODIFY", {"last_writer": "quantity_sync"}), False),  # its own write
        (_record("MODIFY", {}), True),  # a hand edit without last_writer still propagates
        (_record("REMOVE", None), True),
    ],
)
def test_quantity_sync_on_stock(record: dict[str, Any], passes: bool) -> None:
    (stock,) = [source for source in by_name("quantity_sync").streams if source.table is STOCK]
    assert _passes(stock, "quantity_sync", record) is passes


@pytest.mark.parametrize(
    ("record", "passes"),
    [
        (_record("MODIFY", {"last_writer": "wholecell_watch", "export_state": "pending"}), True),
        (_record("MODIFY", {"last_writer": "order_import", "export_state": "failed_retrying"}), True),
        (_record("MODIFY", {"last_writer": "wholecell_watch", "export_state": "sent"}), False),
        (_record("MODIFY", {"last_writer": "shipment_export", "export_state": "pending"}), False),
        (_record("INSERT", {"last_writer": "order_import"}), False),  # no export state yet
        (_record("REMOVE", None), False),
    ],
)
def test_shipment_export_on_orders(record: dict[str, Any], passes: bool) -> None:
    (orders,) = by_name("shipment_export").streams
    assert orders.table is ORDERS
    assert _passes(orders, "shipment_export", record) is passes


def test_every_catalogue_pattern_is_understood() -> None:
    record = _record("INSERT", {"last_writer": "admin", "export_state": "pending"})
    for spec in FUNCTIONS:
        for source in spec.streams:
            for pattern in source.filter_patterns(spec.name):
                matches_filter(pattern, record)  # raises on a rule the pump does not implement


def test_prefix_and_unsupported_rules() -> None:
    assert matches_filter({"eventName": [{"prefix": "MOD"}]}, {"eventName": "MODIFY"})
    assert not matches_filter({"eventName": [{"prefix": "INS"}]}, {"eventName": "MODIFY"})
    with pytest.raises(ValueError, match="unsupported event filter rule"):
        matches_filter({"eventName": [{"numeric": [">", 1]}]}, {"eventName": "MODIFY"})
