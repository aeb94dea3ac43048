""" "Import listings" in the local runtime: the admin's starter, installed into ``bmsync.admin.ports``.

In AWS the admin invokes ``listing_import`` asynchronously; here the runtime's invoker runs the
``listing_import`` handler with the same event, before the admin answers (so a page reloaded after
the click shows the import's result). Its outcome is one runtime event, like a scheduled run's.
"""

from __future__ import annotations

from bmsync.admin import ports
from bmsync_sandbox.runtime.events import EventSink, RuntimeEvent, ignore_events, summarize
from bmsync_sandbox.runtime.invoker import Invoker

FUNCTION = "listing_import"


class InvokerListingImportStarter:
    def __init__(self, invoker: Invoker, on_event: EventSink = ignore_events) -> None:
        self._invoker = invoker
        self._on_event = on_event

    def __call__(self, connection_id: str) -> None:
        event = ports.listing_import_event(connection_id, self._invoker.clock)
        invocation = self._invoker.invoke(FUNCTION, event.model_dump(mode="json"))
        self._on_event(
            RuntimeEvent(
                at=self._invoker.clock.now(),
                function=FUNCTION,
                trigger="admin",
                connection=connection_id,
                outcome="ok" if invocation.ok else "error",
                detail=summarize(invocation.result if invocation.ok else invocation.error),
            )
        )


def install(invoker: Invoker, on_event: EventSink = ignore_events) -> None:
    """The admin's "Import listings" runs ``listing_import`` through ``invoker`` from now on."""
    ports.local_starter = InvokerListingImportStarter(invoker, on_event)


def uninstall() -> None:
    ports.local_starter = None
