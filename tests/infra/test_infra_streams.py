"""The DynamoDB stream event sources: failure handling and the filters that decide what each function sees."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime
from typing import Any

import pytest

from bmsync.catalog import EXPORT_STATES_TO_SEND, FUNCTIONS, StreamSource, by_name
from bmsync_sandbox.runtime.event_filter import delivers, matches_filter

STREAMED = [(spec, source) for spec in FUNCTIONS for source in spec.streams]


def _mapping(deployed: Any, function: str, table: str) -> dict[str, Any]:
    function_id = deployed.logical_id(deployed.stack.functions.by_name[function])
    table_id = deployed.logical_id(deployed.stack.tables.by_name[table])
    found = [
        resource["Properties"]
        for resource in deployed.resources("AWS::Lambda::EventSourceMapping").values()
        if resource["Properties"]["FunctionName"] == {"Ref": function_id}
        and resource["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    ]
    assert len(found) == 1, f"{function} should read the {table} stream exactly once"
    return found[0]


def test_every_stream_source_of_the_catalogue_is_deployed_and_nothing_else(deployed: Any) -> None:
    mappings = deployed.resources("AWS::Lambda::EventSourceMapping").values()
    # The others are the rerun queues' (test_infra_reruns.py).
    assert len([m for m in mappings if "StartingPosition" in m["Properties"]]) == len(STREAMED)


@pytest.mark.parametrize(
    ("spec_name", "source"), [(spec.name, source) for spec, source in STREAMED], ids=lambda v: str(v)[:40]
)
def test_stream_source_failure_settings(deployed: Any, spec_name: str, source: StreamSource) -> None:
    mapping = _mapping(deployed, spec_name, source.table.logical_name)
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    # Bounded: -1 (the default) would retry a poison record until it expires, blocking the shard.
    assert 0 <= mapping["MaximumRetryAttempts"] == source.max_retries <= 10
    assert mapping["MaximumRecordAgeInSeconds"] == source.max_record_age_seconds
    assert mapping["BatchSize"] == source.batch_size
    queue_id = deployed.logical_id(deployed.stack.functions.failure_queues[spec_name])
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue_id, "Arn"]}


def _record(event_name: str, writer: str | None = None, **strings: str) -> dict[str, Any]:
    if event_name == "REMOVE":
        return {"eventName": "REMOVE", "dynamodb": {"OldImage": {"connection_id": {"S": "default"}}}}
    image: dict[str, Any] = {"connection_id": {"S": "default"}, "count": {"N": "3"}}
    if writer is not None:
        image["last_writer"] = {"S": writer}
    image.update({name: {"S": value} for name, value in strings.items()})
    return {"eventName": event_name, "dynamodb": {"NewImage": image, "OldImage": image}}


def _delivered(deployed: Any, function: str, table: str, record: dict[str, Any]) -> bool:
    filters = _mapping(deployed, function, table)["FilterCriteria"]["Filters"]
    return any(matches_filter(json.loads(entry["Pattern"]), record) for entry in filters)


@pytest.mark.parametrize(
    ("function", "table", "record", "expected"),
    [
        ("quantity_sync", "stock", _record("MODIFY", "wholecell_watch"), True),
        ("quantity_sync", "stock", _record("INSERT", "wholecell_watch"), True),
        ("quantity_sync", "stock", _record("MODIFY", "quantity_sync"), False),
        ("quantity_sync", "stock", _record("MODIFY"), True),  # a hand edit without a writer
        ("quantity_sync", "stock", _record("REMOVE"), True),  # a variation gone: quantities drop
        ("quantity_sync", "listings", _record("MODIFY", "listing_import"), True),
        ("quantity_sync", "listings", _record("MODIFY", "admin"), True),
        ("quantity_sync", "listings", _record("MODIFY", "quantity_sync"), False),
        ("quantity_sync", "listings", _record("REMOVE"), False),
        ("shipment_export", "orders", _record("MODIFY", "wholecell_watch", export_state="pending"), True),
        ("shipment_export", "orders", _record("MODIFY", "admin", export_state="failed_retrying"), True),
        ("shipment_export", "orders", _record("MODIFY", "order_import", export_state="none"), False),
        ("shipment_export", "orders", _record("MODIFY", "order_import", export_state="sent"), False),
        ("shipment_export", "orders", _record("MODIFY", "shipment_export", export_state="pending"), False),
        ("shipment_export", "orders", _record("INSERT", "order_import"), False),  # no shipment yet
        ("shipment_export", "orders", _record("REMOVE"), False),
    ],
)
def test_filters_pass_only_what_the_function_acts_on(
    deployed: Any, function: str, table: str, record: dict[str, Any], expected: bool
) -> None:
    assert _delivered(deployed, function, table, record) is expected
    # The catalogue's own answer (what the local runtime can use) agrees with the deployed filters.
    [source] = [s for s in by_name(function).streams if s.table.logical_name == table]
    assert delivers(source, function, record) is expected


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        ({"a": ["x"]}, {"a": "x"}, True),
        ({"a": ["x", "y"]}, {"a": "z"}, False),
        ({"a": [{"anything-but": ["x"]}]}, {"a": "y"}, True),
        ({"a": [{"anything-but": ["x"]}]}, {}, False),  # anything-but needs the field
        ({"a": [{"exists": False}]}, {}, True),
        ({"a": [{"exists": False}]}, {"a": "x"}, False),
        ({"a": {"b": [{"exists": False}]}}, {}, True),  # a missing parent: the leaf is missing too
        ({"a": {"b": ["x"]}}, {"a": {"b": "x"}, "c": 1}, True),
        ({"a": ["x"], "c": ["y"]}, {"a": "x"}, False),  # every key must match
    ],
)
def test_filter_matching_follows_lambdas_rules(pattern: dict[str, Any], event: Any, expected: bool) -> None:
    assert matches_filter(pattern, event) is expected


def test_shipment_filter_follows_the_export_states_shipment_export_acts_on() -> None:
    from bmsync.store.orders_repo import ExportState, OrderRecord
    from bmsync.sync.shipment_export import _due

    later = datetime(2100, 1, 1, tzinfo=UTC)
    acted_on = {
        state
        for state in typing.get_args(ExportState)
        if _due(OrderRecord(connection_id="c", order_id="1", export_state=state), later)
    }
    # A shipment held for an unknown carrier is released by a change of carrier_map (a setting, not a
    # write to the order): the every-minute send_due_retries task takes it, never the stream.
    assert "held_unknown_carrier" in acted_on
    assert acted_on - {"held_unknown_carrier"} == set(EXPORT_STATES_TO_SEND)
