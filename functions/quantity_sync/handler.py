"""quantity_sync: stream batches of ``stock`` and ``listings`` (partial batch responses), and the
scheduled ``drift_check`` task; rules in bmsync.sync.quantities."""

from __future__ import annotations

from typing import Any

from bmsync import process
from bmsync.observability import logger
from bmsync.sync import quantities


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return quantities.handle_event(event, context, process.clock())
