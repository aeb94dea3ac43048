"""EventBridge Scheduler, locally: each scheduled function at its rate, with the payload CDK configures;
and the functions' rerun queues (SQS with ``DelaySeconds``), whose messages it delivers when due."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from bmsync.clock import utc_iso
from bmsync.events import ScheduledEvent
from bmsync_sandbox.runtime.events import EventSink, RuntimeEvent, ignore_events, summarize
from bmsync_sandbox.runtime.invoker import Invocation, Invoker


def scheduled_event(function: str, scheduled_time: datetime, task: str | None = None) -> dict[str, Any]:
    """The target input: ``<aws.scheduler.scheduled-time>`` filled in, no connection (= every one)."""
    payload = {"source": "bmsync.schedule", "function": function, "scheduled_time": utc_iso(scheduled_time)}
    if task:
        payload["task"] = task
    ScheduledEvent.model_validate(payload)  # what the handlers parse
    return payload


#: One schedule: the function and the task it sends (None: the function's main work).
ScheduleKey = tuple[str, str | None]


class Scheduler:
    """Fires every due slot of every schedule, in time order, when told the time (``fire_due``).

    A rate schedule fires first at ``start`` (as a schedule created then), then every rate after it.
    Missed slots (the loop was busy, or a simulator jumped ahead) are each fired, oldest first: their
    ``scheduled_time`` says which slot they stand for. A rerun a run asked for (``bmsync.rerun``,
    held by the invoker) is delivered in the same time order once its delay has passed, as the SQS
    event its queue's event source would send.
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
        self.rates: dict[ScheduleKey, timedelta] = {
            (spec.name, task): timedelta(minutes=minutes)
            for spec in invoker.specs.values()
            if wanted is None or spec.name in wanted
            for task, minutes in spec.schedules
        }
        self.next_due: dict[ScheduleKey, datetime] = dict.fromkeys(self.rates, start)

    def fire_due(self, now: datetime, *, keep_going: Callable[[], bool] = lambda: True) -> list[Invocation]:
        """Invoke every slot and rerun due at ``now``, oldest first, while ``keep_going()`` (a stop
        request)."""
        invocations: list[Invocation] = []
        while keep_going():
            due = [(moment, key) for key, moment in self.next_due.items() if moment <= now]
            slot = min(due, key=lambda slot: (slot[0], slot[1][0], slot[1][1] or "")) if due else None
            rerun_at = self.invoker.next_rerun_due()
            if rerun_at is not None and rerun_at <= now and (slot is None or rerun_at < slot[0]):
                invocations.append(self._deliver_rerun(now))
                continue
            if slot is None:
                return invocations
            moment, key = slot
            self.next_due[key] = moment + self.rates[key]
            name, task = key
            invocation = self.invoker.invoke(name, scheduled_event(name, moment, task))
            # A run for several connections fans out: one invocation per connection, run after it.
            fanned_out = self.invoker.run_queued()
            for ran, connection in [(invocation, "*")] + [
                (child, str(event.get("connection_id"))) for event, child in fanned_out
            ]:
                invocations.append(ran)
                self._report(name, f"schedule:{task}" if task else "schedule", connection, ran)
        return invocations

    def _deliver_rerun(self, now: datetime) -> Invocation:
        taken = self.invoker.take_due_rerun(now)
        assert taken is not None, "a rerun was due"
        message, event = taken
        invocation = self.invoker.invoke(message.function, event)
        self._report(message.function, "rerun", str(message.body.get("connection_id")), invocation)
        return invocation

    def _report(self, function: str, trigger: str, connection: str, ran: Invocation) -> None:
        self._on_event(
            RuntimeEvent(
                at=self.invoker.clock.now(),  # when it finished, like the other events
                function=function,
                trigger=trigger,
                connection=connection,
                outcome="ok" if ran.ok else "error",
                detail=summarize(ran.result if ran.ok else ran.error),
            )
        )
