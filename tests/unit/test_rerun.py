"""A scheduled run of order_import or wholecell_watch asks for a second run of its slot half a minute
later (an SQS message with a delay), and receives it as an SQS batch: one rerun per slot, no chains."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError

from bmsync import process
from bmsync.catalog import FUNCTIONS, by_name
from bmsync.environment import RERUN_QUEUE_VARIABLE, MissingEnvironment
from bmsync.events import ScheduledEvent
from bmsync.rerun import send_to_rerun_queue
from bmsync.settings import Settings
from bmsync.sync import order_import, wholecell_watch
from bmsync.sync.flow import is_rerun_batch, request_reruns, run_reruns
from bmsync_sandbox.runtime.invoker import DelayedMessage

Requested = list[tuple[dict[str, Any], int]]


def _scheduled(clock: Any, function: str = "order_import", **fields: Any) -> ScheduledEvent:
    return ScheduledEvent(function=function, scheduled_time=clock.now(), **fields)


def _connections(*names: str) -> list[Settings]:
    return [Settings(connection_id=name) for name in names]


def _recorder() -> tuple[Requested, Any]:
    requested: Requested = []
    return requested, lambda event, delay: requested.append((event, delay))


def test_the_catalogue_reruns_the_two_polls_half_a_minute_after_their_slot() -> None:
    reruns = {spec.name: spec.rerun_after_seconds for spec in FUNCTIONS if spec.rerun_after_seconds}
    assert reruns == {"order_import": 30, "wholecell_watch": 30}


@pytest.mark.parametrize("function", ["order_import", "wholecell_watch"])
def test_a_slot_run_asks_each_of_its_connections_rerun_30_s_after_the_slot(clock: Any, function: str) -> None:
    requested, record = _recorder()
    scheduled = _scheduled(clock, function)

    request_reruns(by_name(function), scheduled, _connections("eu", "us"), request=record)

    assert [delay for _, delay in requested] == [30, 30]
    reruns = [ScheduledEvent.model_validate(event) for event, _ in requested]
    assert reruns == [
        scheduled.model_copy(
            update={
                "connection_id": connection,
                "scheduled_time": clock.now() + timedelta(seconds=30),
                "rerun": True,
            }
        )
        for connection in ("eu", "us")
    ]
    assert all(event["source"] == "bmsync.schedule" for event, _ in requested)


def test_no_rerun_for_a_task_a_rerun_or_a_function_without_one(clock: Any) -> None:
    requested, record = _recorder()
    connections = _connections("eu")
    request_reruns(by_name("order_import"), _scheduled(clock, task="catch_up"), connections, request=record)
    request_reruns(by_name("order_import"), _scheduled(clock, rerun=True), connections, request=record)
    request_reruns(
        by_name("quantity_sync"),
        _scheduled(clock, "quantity_sync", task="drift_check"),
        connections,
        request=record,
    )
    request_reruns(
        by_name("listing_import"), _scheduled(clock, "listing_import"), connections, request=record
    )
    assert requested == []
    # A fan-out's dispatcher runs no connection here: each fanned-out invocation asks for its own.
    request_reruns(by_name("order_import"), _scheduled(clock), [], request=record)
    assert requested == []


def test_a_failed_request_costs_the_rerun_not_the_run(clock: Any, captured_logs: Any) -> None:
    def unavailable(event: dict[str, Any], delay: int) -> None:
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendMessage")

    request_reruns(
        by_name("wholecell_watch"),
        _scheduled(clock, "wholecell_watch"),
        _connections("eu"),
        request=unavailable,
    )
    assert "rerun not requested" in captured_logs.getvalue()


def test_in_lambda_the_rerun_is_a_delayed_message_on_the_functions_own_queue(
    aws: None, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="order-import-reruns")["QueueUrl"]
    monkeypatch.setenv(RERUN_QUEUE_VARIABLE, url)

    request_reruns(by_name("order_import"), _scheduled(clock), _connections("eu"))  # process's port

    assert process.request_rerun() is send_to_rerun_queue
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # not before its 30 s


def test_without_its_queue_url_the_function_names_the_missing_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(RERUN_QUEUE_VARIABLE, raising=False)
    with pytest.raises(MissingEnvironment, match=RERUN_QUEUE_VARIABLE):
        send_to_rerun_queue({"function": "order_import"}, 30)


def _sqs_batch(body: dict[str, Any], clock: Any) -> dict[str, Any]:
    return DelayedMessage(clock.now(), str(body["function"]), body).sqs_event(clock.now())


def _rerun_body(clock: Any, function: str = "order_import", **fields: Any) -> dict[str, Any]:
    event = _scheduled(clock, function, connection_id="eu", rerun=True, **fields)
    return event.model_dump(mode="json")


def test_the_sqs_batch_runs_the_same_scheduled_event_as_a_rerun(clock: Any) -> None:
    ran: list[ScheduledEvent] = []
    batch = _sqs_batch(_rerun_body(clock), clock)
    assert is_rerun_batch(batch)
    assert not is_rerun_batch(_scheduled(clock).model_dump(mode="json"))
    assert not is_rerun_batch({"Records": [{"eventSource": "aws:dynamodb"}]})

    def run(scheduled: ScheduledEvent) -> dict[str, Any]:
        ran.append(scheduled)
        return {"runs": {}}

    response = run_reruns(batch, None, by_name("order_import"), run)

    assert response == {"batchItemFailures": []}
    assert ran == [_scheduled(clock, connection_id="eu", rerun=True)]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"function": "wholecell_watch"}, id="another function's"),
        pytest.param({"rerun": False}, id="not marked as a rerun"),
        pytest.param({"connection_id": None}, id="without its connection"),
        pytest.param({"task": "catch_up"}, id="of another schedule"),
    ],
)
def test_a_message_that_is_no_rerun_of_this_function_fails_and_runs_nothing(
    clock: Any, body: dict[str, Any]
) -> None:
    ran: list[ScheduledEvent] = []
    batch = _sqs_batch({**_rerun_body(clock), **body}, clock)
    # Its only message failed, so the invocation fails: the redrive policy takes the message to the
    # failure queue, where a person sees it.
    with pytest.raises(BatchProcessingError, match="not a rerun of order_import's main schedule"):
        run_reruns(batch, None, by_name("order_import"), lambda scheduled: ran.append(scheduled) or {})
    assert ran == []


def test_a_rerun_that_raises_fails_its_invocation_for_the_redrive_policy(clock: Any) -> None:
    """Batch size 1: the failed message fails the invocation; the queue's maxReceiveCount of 1 sends it
    to the failure queue rather than running it again minutes later."""

    def crash(scheduled: ScheduledEvent) -> dict[str, Any]:
        raise RuntimeError("DynamoDB unavailable")

    with pytest.raises(BatchProcessingError) as raised:
        run_reruns(_sqs_batch(_rerun_body(clock), clock), None, by_name("order_import"), crash)
    assert "DynamoDB unavailable" in str(raised.value)


@pytest.mark.parametrize("flow", [order_import, wholecell_watch])
def test_the_handlers_rerun_asks_for_no_further_rerun(
    aws: None, clock: Any, flow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rerun runs (its connection's run record says so) and never requests another: no chains."""
    from bmsync.store.settings_repo import SettingsRepository
    from bmsync.store.sync_state import SyncStateRepository

    SettingsRepository().save(Settings(connection_id="eu"))
    requested, record = _recorder()
    monkeypatch.setattr(process.current, "request_rerun", record)
    monkeypatch.setattr(process.current, "clock", clock)
    function = flow.FUNCTION.name

    flow.handle(_sqs_batch(_rerun_body(clock, function), clock), None, clock)

    assert requested == []
    run = SyncStateRepository("eu", clock).last_run(flow.FLOW)
    assert run is not None and run.status in ("succeeded", "failed")  # it ran (no credentials here)
    flow.handle(_scheduled(clock, function).model_dump(mode="json"), None, clock)
    assert [(event["connection_id"], event["rerun"], delay) for event, delay in requested] == [
        ("eu", True, 30)
    ]
