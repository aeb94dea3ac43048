"""order_import: Back Market orders -> WholeCell, per connection (rules in bmsync.sync.orders)."""

from __future__ import annotations

from typing import Any

from bmsync import process
from bmsync.observability import logger
from bmsync.sync import order_functions


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return order_functions.handle_order_import(event, process.clock())
