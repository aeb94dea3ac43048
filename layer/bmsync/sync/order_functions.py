"""The order functions as Lambda sees them: each connection's settings, clients and repositories wired
to the rules of ``bmsync.sync.orders`` (order_import) and ``bmsync.sync.shipments`` (shipment_export).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from bmsync import backmarket, wholecell
from bmsync.catalog import EXPORT_STATES_TO_SEND, OWN_WRITE_ATTRIBUTE
from bmsync.clock import Clock
from bmsync.events import ScheduledEvent
from bmsync.observability import logger
from bmsync.settings import Settings
from bmsync.store.listings_repo import ListingsRepository
from bmsync.store.orders_repo import OrdersRepository
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.stock_repo import StockRepository
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from bmsync.sync.flow import run_flow
from bmsync.sync.orders import FLOW, import_orders
from bmsync.sync.scheduled import connections_for, run_summary
from bmsync.sync.shipments import export_shipment

CATCH_UP_TASK = "catch_up"
EXPORT_FUNCTION = "shipment_export"


def run_order_import(settings: Settings, clock: Clock, *, catch_up: bool = False) -> RunRecord:
    """One connection's order_import run with the real clients."""
    state = SyncStateRepository(settings.connection_id, clock)
    backmarket_client = backmarket.client_for(settings, clock)
    wholecell_client = wholecell.client_for(settings, clock)

    def body(run: RunRecord) -> None:
        import_orders(
            settings,
            backmarket_client,
            wholecell_client,
            OrdersRepository(),
            StockRepository(settings.connection_id),
            ListingsRepository(settings.connection_id),
            state,
            clock,
            run,
            catch_up=catch_up,
        )

    return run_flow(FLOW, state, clock, body, services=("backmarket", "wholecell"))


def handle_order_import(event: dict[str, Any], clock: Clock) -> dict[str, Any]:
    """The order_import function: every minute, and daily with ``task: "catch_up"``."""
    scheduled = ScheduledEvent.model_validate(event)
    if scheduled.task not in (None, CATCH_UP_TASK):
        raise ValueError(f"order_import has no task {scheduled.task!r} (known: {CATCH_UP_TASK})")
    return run_summary(
        {
            settings.connection_id: run_order_import(
                settings, clock, catch_up=scheduled.task == CATCH_UP_TASK
            )
            for settings in connections_for(scheduled)
        }
    )


def export_for_image(new_image: Mapping[str, Any], clock: Clock) -> str:
    """shipment_export for one ``orders`` stream record's new image; returns the export state after.

    Works from the stored item, not the image (a replayed or late record sees today's state), so a
    duplicate record never sends twice.
    """
    if new_image.get(OWN_WRITE_ATTRIBUTE) == EXPORT_FUNCTION:
        return "ignored"
    if new_image.get("export_state") not in EXPORT_STATES_TO_SEND:
        return "ignored"
    connection_id, order_id = str(new_image["connection_id"]), str(new_image["order_id"])
    settings = SettingsRepository().get(connection_id)
    if settings is None:
        logger.warning("shipment for an unknown connection", extra={"connection_id": connection_id})
        return "ignored"
    return export_shipment(
        settings,
        order_id,
        backmarket.client_for(settings, clock),
        OrdersRepository(),
        SyncStateRepository(connection_id, clock),
        clock,
    )


def handle_shipment_stream(event: dict[str, Any], context: Any, clock: Clock) -> dict[str, Any]:
    """The shipment_export function: a batch of ``orders`` stream records, with partial failures."""
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

    def record_handler(record: DynamoDBRecord) -> str:
        image = record.dynamodb.new_image if record.dynamodb else None
        return export_for_image(image or {}, clock)

    return dict(process_partial_response(event, record_handler, processor, context))
