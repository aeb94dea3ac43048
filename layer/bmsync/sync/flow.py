"""What every flow shares: which connections an invocation runs for, and how one run goes.

A scheduled run of a flow holds a lease lock for its connection and leaves a run record. Two
overlapping invocations (a slow run and the next minute's schedule) never run at once for one
connection: the second finds the lock held and records a skipped run. A crashed run's lock expires
with its lease: its function's timeout and a margin (Lambda has stopped the run by then), so a crash
of an every-minute flow costs the next minute or two, not five. An :class:`IntegrationError` that
needs a person (a revoked token) becomes a critical alert; it clears by itself on the next
successful run of a flow that talks to that service, and the listing pushes a Back Market one
failed go again at once (:func:`clear_attention_alerts`).

A function with ``rerun_after_seconds`` in the catalogue runs twice a minute: each run of its main
schedule asks for a rerun of its connection half a minute after its slot (:func:`request_reruns`,
an SQS message with a delay), which the function receives as an SQS batch (:func:`run_reruns`) and
runs as the same scheduled event, marked as a rerun. A rerun that finds the slot's run still working
finds its lock held and is skipped like any overlapping run.

Stream-driven runs (quantity_sync's and shipment_export's batches) take no lock (the stream already
hands one batch at a time per shard); :func:`record_run` stores their :class:`RunRecord` as the flow's
last run once the batch is done, so the status page tells the truth about them too. Every run, scheduled
or stream-driven, is measured by :func:`record_run`: its EMF metrics and its minute in the aggregates.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any, Literal, Protocol

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from botocore.exceptions import BotoCoreError, ClientError

from bmsync import alerts, process
from bmsync.catalog import FunctionSpec, by_name
from bmsync.clock import Clock, utc_iso
from bmsync.environment import function_environment
from bmsync.errors import IntegrationError
from bmsync.events import RerunRecord, ScheduledEvent
from bmsync.fan_out import FanOut
from bmsync.observability import emit_run_metrics, logger, take_run_measures
from bmsync.rerun import RequestRerun
from bmsync.settings import Settings
from bmsync.store.run_aggregates import RunAggregatesRepository
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.sync_state import RunRecord, SyncStateRepository

FlowBody = Callable[[RunRecord], None]


#: How long a run's lock outlives its function's timeout (clocks of two containers, the lock's write).
LEASE_MARGIN = timedelta(seconds=15)


def lease_for(flow: str) -> timedelta:
    """A flow's lock lease: its function's timeout (a flow is named after its function, with
    ``.task`` for a task's) and :data:`LEASE_MARGIN`. A run cannot outlive the timeout (Lambda stops
    it), and a longer lease only keeps the next runs waiting after a crash: under the 5-minute lease
    it replaces, each crash of order_import or wholecell_watch (the bench's light faults crash ~30
    runs a day) held orders or stock changes back for up to 5 minutes."""
    return timedelta(seconds=by_name(flow.split(".")[0]).timeout_seconds) + LEASE_MARGIN


def run_flow(
    flow: str,
    state: SyncStateRepository,
    clock: Clock,
    body: FlowBody,
    *,
    services: tuple[str, ...] = (),
    lease: timedelta | None = None,
    listings: FailedPushes | None = None,
) -> RunRecord:
    """Run ``body`` under the flow's lock and record the run; ``body`` fills ``run.counts``.

    ``body`` may update ``run.progress``/``run.counts`` and call ``state.save_run(run)`` on long work.
    Errors are recorded and re-raised, except integration errors, which are recorded as the run's
    failure (and an alert where a person must act) so that the schedule simply tries again.
    ``services`` names the services ``body`` talks to ("backmarket", "wholecell"): a successful run
    proves their credentials work, so their attention alerts are cleared; a Back Market one only by a
    flow given the connection's ``listings`` (:func:`clear_attention_alerts`).
    """
    owner = uuid.uuid4().hex
    if not state.acquire_lock(flow, owner, lease or lease_for(flow)):
        run = state.start_run(flow)
        logger.info("flow skipped: another run holds the lock", extra={"flow": flow})
        return state.finish_run(run, "skipped", "another run of this flow was still working")
    run = state.start_run(flow)
    take_run_measures()  # what an earlier, unrecorded run left behind is not this run's
    outcome: Literal["succeeded", "failed"] = "failed"
    error_text: str | None = None
    try:
        body(run)
        outcome = "succeeded"
        clear_attention_alerts(state, services, listings=listings)
    except IntegrationError as error:
        error_text = error.message
        logger.warning(
            "flow failed on an integration error",
            extra={"flow": flow, "remote_service": error.service, "error_type": type(error).__name__},
        )
        if error.needs_attention:
            alerts.raise_needs_person(state, error)
    except Exception as error:
        error_text = f"{type(error).__name__}: {error}"
        state.release_lock(flow, owner)
        state.finish_run(run, "failed", error_text)
        raise
    state.release_lock(flow, owner)
    return state.finish_run(run, outcome, error_text)


#: The writer of the listings a Back Market attention alert held back, marked to go again (a
#: listing written by anyone but quantity_sync is re-evaluated through its stream).
RECOVERY_WRITER = "backmarket_recovered"
RESENDING = "Back Market answers again: the quantity is being sent again"


class FailedPushes(Protocol):
    """The connection's listings (``ListingsRepository``), as far as a recovery needs them."""

    def resend_failed_pushes(self, *, reason: str, writer: str) -> int: ...


def clear_attention_alerts(
    state: SyncStateRepository,
    services: Iterable[str],
    *,
    listings: FailedPushes | None = None,
) -> None:
    """A run of a flow that talks to ``services`` succeeded: their attention alerts are resolved (one
    read when none is raised, every run's case). When a Back Market one was, the listings whose push
    it failed go again now (through their stream), not at the next hourly drift check; a flow without
    ``listings`` (shipment_export, which has no access to that table) leaves a Back Market alert to
    the flows that have them (order_import clears it within half a minute).

    Shipments waiting for a retry are left to their backoff: a run that clears the alert need not
    have called Back Market (a send_due_retries run with nothing due), and a retry during an outage
    spends one of a shipment's few attempts (a resent listing just fails again, raising the alert)."""
    raised = state.raised_alerts(
        alert_id for service in services for alert_id in alerts.needs_person_alert_ids(service)
    )
    backmarket = set(alerts.needs_person_alert_ids("backmarket"))
    if set(raised) & backmarket:
        if listings is None:
            raised = [alert_id for alert_id in raised if alert_id not in backmarket]
        else:
            # Before the alert goes: if this fails, the next good run resends them.
            resent = listings.resend_failed_pushes(reason=RESENDING, writer=RECOVERY_WRITER)
            logger.info(
                "Back Market answers again: failed pushes resent",
                extra={"connection_id": state.connection_id, "listings": resent},
            )
    for alert_id in raised:
        state.clear_alert(alert_id)


def stream_run(flow: str, clock: Clock) -> RunRecord:
    """The record of one stream batch's run (stored by :func:`record_run` once finished)."""
    return RunRecord(flow=flow, started_at=utc_iso(clock.now()))


def finish_stream_run(run: RunRecord, clock: Clock, *, failed: int) -> RunRecord:
    return run.model_copy(
        update={
            "status": "failed" if failed else "succeeded",
            "error": f"{failed} records left for the stream to retry" if failed else None,
            "finished_at": utc_iso(clock.now()),
        }
    )


# --- what every function's ``handle`` does around its runs


def start_invocation(spec: FunctionSpec) -> None:
    """Validate the function's environment (once per process: its cold start)."""
    function_environment(spec.name, spec.tables)


def scheduled_event(event: dict[str, Any], spec: FunctionSpec) -> ScheduledEvent:
    """The scheduled event, with a task the function has (one of its catalogue schedules)."""
    scheduled = ScheduledEvent.model_validate(event)
    known = {task for task, _ in spec.schedules}
    if scheduled.task is not None and scheduled.task not in known:
        names = ", ".join(sorted(task for task in known if task)) or "none"
        raise ValueError(f"{spec.name} has no task {scheduled.task!r} (known: {names})")
    return scheduled


def connections_for(
    event: ScheduledEvent,
    context: Any,
    settings_repo: SettingsRepository | None = None,
    *,
    fan_out: FanOut | None = None,
) -> list[Settings]:
    """The connections this invocation runs for: the one the event names, or the only one.

    An event without a connection, when there are several, is fanned out: the function invokes itself
    once per connection (``connection_id`` in the event) and runs none here, so each connection has
    its own invocation, duration and failure, and a slow one delays no other.
    """
    repo = settings_repo or SettingsRepository()
    if event.connection_id is not None:
        settings = repo.get(event.connection_id)
        if settings is None:
            logger.warning(
                "scheduled run for an unknown connection", extra={"connection_id": event.connection_id}
            )
            return []
        return [settings]
    connections = repo.list()
    if len(connections) <= 1:
        return connections
    start = fan_out or process.fan_out()
    for settings in connections:
        start(
            context.invoked_function_arn,
            event.model_copy(update={"connection_id": settings.connection_id}).model_dump(mode="json"),
        )
    logger.info(
        "scheduled run fanned out: one invocation per connection",
        extra={"function": event.function, "connections": [s.connection_id for s in connections]},
    )
    return []


def request_reruns(
    spec: FunctionSpec,
    event: ScheduledEvent,
    connections: Sequence[Settings],
    *,
    request: RequestRerun | None = None,
) -> None:
    """Ask for each connection's second run of the slot, ``rerun_after_seconds`` after it.

    Only a run of the main schedule asks (not a task such as order_import's daily catch-up), and
    never a rerun: one rerun per slot, no chains. Asked before the run's work, so the delay counts
    from the slot and a run that crashes still has its rerun. A request that fails costs half a
    minute, not the run: it is logged and the run goes on.
    """
    if spec.rerun_after_seconds is None or event.rerun or event.task != spec.schedule_task:
        return
    send = request or process.request_rerun()
    delay = spec.rerun_after_seconds
    for settings in connections:
        rerun = event.model_copy(
            update={
                "connection_id": settings.connection_id,
                "scheduled_time": event.scheduled_time + timedelta(seconds=delay),
                "rerun": True,
            }
        )
        try:
            send(rerun.model_dump(mode="json"), delay)
        except (ClientError, BotoCoreError):
            logger.warning(
                "rerun not requested: the next slot's run reads what this one misses",
                extra={"function": spec.name, "connection_id": settings.connection_id},
                exc_info=True,
            )


def handle_scheduled(
    event: dict[str, Any],
    context: Any,
    spec: FunctionSpec,
    run_scheduled: Callable[[ScheduledEvent], dict[str, Any]],
) -> dict[str, Any]:
    """An invocation of a function that runs twice a minute: its slot's scheduled event, or a batch
    of its rerun queue, each run by ``run_scheduled``."""
    start_invocation(spec)
    if is_rerun_batch(event):
        return run_reruns(event, context, spec, run_scheduled)
    return run_scheduled(scheduled_event(event, spec))


def is_rerun_batch(event: dict[str, Any]) -> bool:
    """Whether ``event`` is a batch of the function's rerun queue (SQS), not Scheduler's event."""
    records = event.get("Records") or []
    return bool(records) and all(record.get("eventSource") == "aws:sqs" for record in records)


def run_reruns(
    event: dict[str, Any],
    context: Any,
    spec: FunctionSpec,
    run_scheduled: Callable[[ScheduledEvent], dict[str, Any]],
) -> dict[str, Any]:
    """A batch of the rerun queue (one message: batch size 1): each message's scheduled event run by
    ``run_scheduled``, as the slot's own; a partial batch response.

    A message that fails (its body is not a rerun of this function, or the run raised after its run
    record captured the failure) is reported failed (a batch whose every message failed fails the
    invocation: Powertools' default, so the failure shows as one) and is not retried: the rerun
    queue's redrive policy (``maxReceiveCount`` 1, ``infra/functions.py``) moves it to the function's
    failure queue, where a person sees it; a retry after the visibility timeout would redo, minutes
    late, what the next slots' runs have done by then.
    """

    def run_one(record: RerunRecord) -> None:
        scheduled = record.body
        if (
            scheduled.function != spec.name
            or not scheduled.rerun
            or scheduled.connection_id is None
            or scheduled.task != spec.schedule_task
        ):
            raise ValueError(
                f"not a rerun of {spec.name}'s main schedule for one connection: {scheduled.function}"
            )
        try:
            run_scheduled(scheduled)
        except Exception:
            logger.exception("rerun failed", extra={"function": spec.name, "message_id": record.messageId})
            raise

    processor = BatchProcessor(event_type=EventType.SQS, model=RerunRecord)
    return dict(
        process_partial_response(event=event, record_handler=run_one, processor=processor, context=context)
    )


def time_left(context: Any) -> Callable[[], float] | None:
    """Seconds left before the invocation's timeout, from Lambda's context (None without one)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return lambda: remaining() / 1000


def run_summary(spec: FunctionSpec, runs: Iterable[tuple[str, RunRecord]]) -> dict[str, Any]:
    """What a scheduled handler returns (each connection's run record); each run is measured."""
    summary: dict[str, Any] = {}
    for connection_id, run in runs:
        record_run(spec.name, connection_id, run)
        summary[connection_id] = run.model_dump(mode="json")
    return {"runs": summary}


def record_run(
    function: str, connection_id: str, run: RunRecord, *, stream_state: SyncStateRepository | None = None
) -> None:
    """Measure a finished run: its EMF metrics, and one ``UpdateItem`` on its minute of the
    aggregates. ``stream_state``: a stream batch's run, which is also stored as the flow's last run
    (scheduled runs stored themselves on the way)."""
    measures = take_run_measures()
    emit_run_metrics(function, connection_id, run, measures)
    try:
        if stream_state is not None:
            stream_state.save_run(run)
        RunAggregatesRepository(connection_id).add_run(function, run, measures)
    except (ClientError, BotoCoreError):
        # The work is done and its outcome is on its items; a lost measure must not make the
        # stream retry the batch or the schedule fail.
        logger.warning(
            "run not recorded", extra={"flow": run.flow, "connection_id": connection_id}, exc_info=True
        )
