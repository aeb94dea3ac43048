"""Powertools Idempotency on the ``idempotency`` table: a duplicated event does its work only once.

EventBridge Scheduler delivers at least once; a scheduled task that reads a whole account (the drift
check, the listing import) must not run twice for one scheduled time. The second delivery gets the
first one's result; while the first still runs (or its process died mid-way and its in-progress mark
has not expired yet) the second is skipped: a duplicate is nothing anyone has to act on, and the next
scheduled time does the work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from bmsync.observability import logger
from bmsync.store.tables import IDEMPOTENCY

#: Long enough to cover a duplicate delivery, short enough to keep the table small.
REMEMBER_SECONDS = 2 * 3600

Work = Callable[[dict[str, Any]], dict[str, Any]]


def run_once(key_prefix: str, event: dict[str, Any], work: Work, context: Any) -> dict[str, Any]:
    """``work(event)``, unless an identical ``event`` was already handled (then its stored result).

    ``context`` is the Lambda context: an in-progress record then expires with the invocation's
    timeout, so a crashed run does not block the retry for the whole remembering period.
    """
    persistence = DynamoDBPersistenceLayer(table_name=IDEMPOTENCY.physical_name, key_attr="id")
    config = IdempotencyConfig(expires_after_seconds=REMEMBER_SECONDS)
    config.register_lambda_context(context)

    @idempotent_function(
        data_keyword_argument="event", persistence_store=persistence, config=config, key_prefix=key_prefix
    )
    def once(event: dict[str, Any]) -> dict[str, Any]:
        return work(event)

    try:
        result: dict[str, Any] = once(event=event)
    except IdempotencyAlreadyInProgressError:
        reason = "another delivery of this scheduled event is running or was interrupted; skipped"
        logger.info("duplicate delivery skipped", extra={"flow": key_prefix})
        return {"skipped": reason}
    return result
