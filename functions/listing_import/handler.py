"""listing_import: Back Market listings -> the listings table, per connection (bmsync.sync.listings)."""

from __future__ import annotations

from typing import Any

from bmsync import process
from bmsync.observability import logger
from bmsync.sync import listings


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return listings.handle_scheduled(event, process.clock())
