"""shipment_export: ``orders`` stream batches -> Back Market shipments (rules in bmsync.sync.shipments)."""

from __future__ import annotations

from typing import Any

from bmsync import process
from bmsync.observability import logger
from bmsync.sync import order_functions


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return order_functions.handle_shipment_stream(event, context, process.clock())
