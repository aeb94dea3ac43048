"""Starting another function from the admin ("Import listings"): a small port.

In AWS the admin invokes the ``listing_import`` function asynchronously (it may run for minutes, the
admin answers at once; CDK sets ``BMSYNC_LISTING_IMPORT_FUNCTION``). A runtime that is not Lambda
(the local harness, ``bmsync_sandbox.runtime.listing_import_starter``) installs its own starter in
:data:`local_starter`. Either way the import's run record in ``sync_state`` shows its progress.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import boto3

from bmsync.clock import Clock
from bmsync.events import ScheduledEvent
from bmsync.sync import listing_import

LISTING_IMPORT_FUNCTION_ENV = "BMSYNC_LISTING_IMPORT_FUNCTION"

#: How a runtime that is not Lambda starts an import (the harness sets it; in Lambda it stays None).
local_starter: Callable[[str], None] | None = None


def listing_import_event(connection_id: str, clock: Clock) -> ScheduledEvent:
    return ScheduledEvent(
        source=listing_import.ON_DEMAND_SOURCE,
        function="listing_import",
        scheduled_time=clock.now(),
        connection_id=connection_id,
    )


class LambdaListingImportStarter:
    """Invoke the listing_import Lambda asynchronously (``InvocationType=Event``)."""

    def __init__(self, function_name: str, clock: Callable[[], Clock]) -> None:
        self._function_name = function_name
        self._clock = clock

    def __call__(self, connection_id: str) -> None:
        event = listing_import_event(connection_id, self._clock())
        boto3.client("lambda").invoke(
            FunctionName=self._function_name, InvocationType="Event", Payload=event.model_dump_json().encode()
        )


def listing_import_starter(clock: Callable[[], Clock]) -> Callable[[str], None] | None:
    """The Lambda invoke when the function name is configured; else the installed local one, or None."""
    function_name = os.environ.get(LISTING_IMPORT_FUNCTION_ENV)
    if function_name:
        return LambdaListingImportStarter(function_name, clock)
    return local_starter
