"""wholecell_watch: WholeCell change capture, per connection (rules in bmsync.sync.watch)."""

from __future__ import annotations

from typing import Any

from bmsync import process
from bmsync.observability import logger
from bmsync.sync import watch


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return watch.handle_scheduled(event, process.clock())
