"""EventBridge Scheduler, locally: each scheduled function at its rate, with the payload CDK configures."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from bmsync.clock import utc_iso
from bmsync.events import ScheduledEvent
from sandbox.runtime.events import EventSink, RuntimeEvent, ignore_events, summarize
from sandbox.runtime.invoker import Invocation, Invoker


def scheduled_event(function: str, scheduled_time: datetime) -> dict[str, Any]:
    """The target input: ``<aws.scheduler.scheduled-time>`` filled in, no connection (= every one)."""
    payload = {"source": "bmsync.schedule", "function": function, "scheduled_time": utc_iso(scheduled_time)}
    ScheduledEvent.model_validate(payload)  # what the handlers parse
    return payload


class Scheduler:
    """Fires every due slot of every schedule, in time order, when told the time (``fire_due``).

    A rate schedule fires first at ``start`` (as a schedule created then), then every rate after it.
    Missed slots (the loop was busy, or a simulator jumped ahead) are each fired, oldest first: their
    ``scheduled_time`` says which slot they stand for.
    """

    def __init__(
        self,
        invoker: Invoker,
        *,
        start: datetime,
        functions: Iterable[str] | None = None,
        on_event: EventSink = ignore_events,
    ) -> None:
        self.invoker = invoker
        self._on_event = on_event
        wanted = set(functions) if functions is not None else None
        self.rates: dict[str, timedelta] = {
            spec.name: timedelta(minutes=spec.schedule_minutes)
            for spec in invoker.specs.values()
            if spec.schedule_minutes and (wanted is None or spec.name in wanted)
        }
        self.next_due: dict[str, datetime] = dict.fromkeys(self.rates, start)

    def fire_due(self, now: datetime) -> list[Invocation]:
        invocations: list[Invocation] = []
        while True:
            due = [(moment, name) for name, moment in self.next_due.items() if moment <= now]
            if not due:
                return invocations
            moment, name = min(due)
            self.next_due[name] = moment + self.rates[name]
            invocation = self.invoker.invoke(name, scheduled_event(name, moment))
            invocations.append(invocation)
            self._on_event(
                RuntimeEvent(
                    at=now,
                    function=name,
                    trigger="schedule",
                    connection="*",
                    outcome="ok" if invocation.ok else "error",
                    detail=summarize(invocation.result if invocation.ok else invocation.error),
                )
            )
