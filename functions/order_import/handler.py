"""order_import: Back Market orders -> WholeCell sales orders (bmsync.sync.order_import)."""

from __future__ import annotations

from typing import Any

from bmsync import process
from bmsync.observability import logger, tracer
from bmsync.sync import order_import as flow


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return flow.handle(event, context, process.clock())
