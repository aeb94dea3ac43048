"""Starting another function from the admin ("Import listings"): a small port with two implementations.

In AWS the admin invokes the ``listing_import`` function asynchronously (it may run for minutes, the
admin answers at once); the sandbox runs the handler in-process. Either way the import's run record in
``sync_state`` shows its progress.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import boto3

from bmsync.clock import Clock
from bmsync.events import ScheduledEvent

LISTING_IMPORT_FUNCTION_ENV = "BMSYNC_LISTING_IMPORT_FUNCTION"


def listing_import_event(connection_id: str, clock: Clock) -> ScheduledEvent:
    return ScheduledEvent(function="listing_import", scheduled_time=clock.now(), connection_id=connection_id)


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


class InProcessListingImportStarter:
    """Run the listing_import handler in this process (the sandbox), through the runtime's invoke."""

    def __init__(self, invoke: Callable[[str, dict[str, Any]], Any], clock: Callable[[], Clock]) -> None:
        self._invoke = invoke
        self._clock = clock

    def __call__(self, connection_id: str) -> None:
        self._invoke(
            "listing_import", listing_import_event(connection_id, self._clock()).model_dump(mode="json")
        )


_installed: Callable[[str], None] | None = None


def install_listing_import_starter(starter: Callable[[str], None] | None) -> None:
    """The sandbox installs its in-process starter here before the admin serves requests."""
    global _installed
    _installed = starter


def listing_import_starter(clock: Callable[[], Clock]) -> Callable[[str], None] | None:
    if _installed is not None:
        return _installed
    function_name = os.environ.get(LISTING_IMPORT_FUNCTION_ENV)
    return LambdaListingImportStarter(function_name, clock) if function_name else None
