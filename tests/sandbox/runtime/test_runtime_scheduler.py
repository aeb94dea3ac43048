"""The local scheduler fires each scheduled function at its rate with EventBridge Scheduler's payload."""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from bmsync.catalog import FUNCTIONS, FunctionSpec
from bmsync.clock import ManualClock, parse_iso
from bmsync.events import ScheduledEvent
from bmsync.fan_out import invoke_async
from bmsync_sandbox.runtime.collaborators import use_fan_out
from bmsync_sandbox.runtime.events import RuntimeEvent
from bmsync_sandbox.runtime.invoker import HandlerMissing, Invoker
from bmsync_sandbox.runtime.scheduler import Scheduler

RECORDER = textwrap.dedent(
    """
    import json
    from pathlib import Path

    def handler(event, context):
        with (Path(__file__).parent / "events.jsonl").open("a") as file:
            file.write(json.dumps({"event": event, "function": context.function_name}) + "\\n")
        if event.get("function") == "broken":
            raise ValueError("settings table unreachable")
        return {"connections": 1}
    """
)

SPECS = (
    FunctionSpec("every_minute", "", schedule_minutes=1),
    FunctionSpec(
        "every_five", "", schedule_minutes=5, schedule_task="check", task_schedules=(("daily", 1440),)
    ),
    FunctionSpec("broken", "", schedule_minutes=1),
    FunctionSpec("streamed", "", schedule_minutes=None),
)


@pytest.fixture
def functions_dir(tmp_path: Path) -> Path:
    for spec in SPECS:
        (tmp_path / spec.name).mkdir()
        (tmp_path / spec.name / "handler.py").write_text(RECORDER)
    return tmp_path


def _received(functions_dir: Path, name: str) -> list[dict[str, object]]:
    path = functions_dir / name / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["event"] for line in path.read_text().splitlines()]


def test_each_schedule_fires_at_start_then_at_its_rate(functions_dir: Path) -> None:
    clock = ManualClock()
    start = clock.now()
    events: list[RuntimeEvent] = []
    invoker = Invoker(clock, functions_dir=functions_dir, specs=SPECS)
    scheduler = Scheduler(
        invoker, start=start, functions={"every_minute", "every_five"}, on_event=events.append
    )

    assert [i.function for i in scheduler.fire_due(start)] == ["every_five", "every_five", "every_minute"]
    assert scheduler.fire_due(start + timedelta(seconds=59)) == []
    assert [i.function for i in scheduler.fire_due(start + timedelta(minutes=1))] == ["every_minute"]
    fired = scheduler.fire_due(start + timedelta(minutes=5, seconds=10))
    assert [i.function for i in fired] == ["every_minute"] * 3 + ["every_five", "every_minute"]

    times = [parse_iso(str(event["scheduled_time"])) for event in _received(functions_dir, "every_minute")]
    assert times == [start + timedelta(minutes=minute) for minute in range(6)]
    assert [event.get("task") for event in _received(functions_dir, "every_five")] == [
        "check",
        "daily",
        "check",
    ]
    assert _received(functions_dir, "streamed") == []
    assert {event.trigger for event in events} == {"schedule", "schedule:check", "schedule:daily"}
    assert all(event.outcome == "ok" for event in events)


def test_the_payload_is_the_scheduled_event_the_handlers_parse(functions_dir: Path) -> None:
    clock = ManualClock()
    scheduler = Scheduler(Invoker(clock, functions_dir=functions_dir, specs=SPECS), start=clock.now())
    scheduler.fire_due(clock.now())
    (payload,) = _received(functions_dir, "every_minute")
    assert payload == {
        "source": "bmsync.schedule",
        "function": "every_minute",
        "scheduled_time": "2026-01-05T09:00:00Z",
    }
    parsed = ScheduledEvent.model_validate(payload)
    assert parsed.connection_id is None  # no connection: the function runs for every connection
    assert parsed.scheduled_time == clock.now()


def test_a_failing_function_is_reported_and_does_not_stop_the_others(functions_dir: Path) -> None:
    clock = ManualClock()
    events: list[RuntimeEvent] = []
    scheduler = Scheduler(
        Invoker(clock, functions_dir=functions_dir, specs=SPECS),
        start=clock.now(),
        functions={"broken", "every_minute"},
        on_event=events.append,
    )
    invocations = scheduler.fire_due(clock.now())
    assert [(i.function, i.ok) for i in invocations] == [("broken", False), ("every_minute", True)]
    assert invocations[0].error == "settings table unreachable"
    assert invocations[0].error_type == "ValueError"
    broken = next(event for event in events if event.function == "broken")
    assert broken.outcome == "error" and "settings table unreachable" in broken.detail
    clock.advance(60)
    assert len(scheduler.fire_due(clock.now())) == 2  # the broken one is tried again next minute


def test_the_catalogue_rates_are_used_by_default(functions_dir: Path) -> None:
    clock = ManualClock()
    scheduler = Scheduler(Invoker(clock, functions_dir=functions_dir), start=clock.now())
    expected = {(spec.name, task): minutes for spec in FUNCTIONS for task, minutes in spec.schedules}
    assert {key: rate.total_seconds() / 60 for key, rate in scheduler.rates.items()} == expected
    assert ("order_import", "catch_up") in expected and ("quantity_sync", "drift_check") in expected


def test_the_invoker_gives_a_lambda_context_and_reports_a_missing_handler(tmp_path: Path) -> None:
    (tmp_path / "every_minute").mkdir()
    (tmp_path / "every_minute" / "handler.py").write_text(
        "def handler(event, context):\n"
        "    return {'name': context.function_name, 'memory': context.memory_limit_in_mb,\n"
        "            'arn': context.invoked_function_arn, 'left': context.get_remaining_time_in_millis(),\n"
        "            'request': context.aws_request_id}\n"
    )
    clock = ManualClock()
    specs = (FunctionSpec("every_minute", "", timeout_seconds=90, memory_mb=256), FunctionSpec("absent", ""))
    invoker = Invoker(clock, functions_dir=tmp_path, specs=specs)
    first, second = invoker.invoke("every_minute", {}), invoker.invoke("every_minute", {})
    assert first.result["name"] == "every_minute" and first.result["memory"] == 256
    assert first.result["arn"].endswith(":function:every_minute")
    assert first.result["left"] == 90_000
    assert first.result["request"] != second.result["request"]
    assert invoker.available("every_minute") and not invoker.available("absent")
    with pytest.raises(HandlerMissing, match="absent"):
        invoker.invoke("absent", {})


def test_a_stop_request_lets_the_invocation_in_flight_finish_and_starts_no_other(functions_dir: Path) -> None:
    clock = ManualClock()
    scheduler = Scheduler(Invoker(clock, functions_dir=functions_dir, specs=SPECS), start=clock.now())
    started: list[str] = []

    def keep_going() -> bool:
        started.append("check")
        return len(started) == 1

    fired = scheduler.fire_due(clock.now(), keep_going=keep_going)
    assert len(fired) == 1
    # What was not started is still due: the next call picks it up.
    assert len(scheduler.fire_due(clock.now())) == 3


def test_a_handler_that_fails_to_import_is_a_failed_invocation_until_it_is_fixed(tmp_path: Path) -> None:
    (tmp_path / "every_minute").mkdir()
    handler = tmp_path / "every_minute" / "handler.py"
    handler.write_text("import module_that_does_not_exist\n")
    invoker = Invoker(ManualClock(), functions_dir=tmp_path, specs=SPECS[:1])
    failed = invoker.invoke("every_minute", {})
    assert not failed.ok and failed.error_type == "Runtime.ImportModuleError"
    assert "module_that_does_not_exist" in (failed.error or "")
    handler.write_text("def handler(event, context):\n    return 'fixed'\n")
    assert invoker.invoke("every_minute", {}).result == "fixed"


FANNING_OUT = textwrap.dedent(
    """
    import json
    from pathlib import Path

    from bmsync import process

    def handler(event, context):
        if event.get("connection_id") is None:
            for connection_id in ("eu", "us"):
                process.fan_out()(context.invoked_function_arn, {**event, "connection_id": connection_id})
            return {"fanned_out": 2}
        if event["connection_id"] == "eu":
            raise ValueError("eu's WholeCell is down")
        with (Path(__file__).parent / "events.jsonl").open("a") as file:
            file.write(json.dumps({"event": event}) + "\\n")
        return {"ran": event["connection_id"]}
    """
)


def test_a_fanned_out_connection_fails_alone(tmp_path: Path) -> None:
    spec = FunctionSpec("fanning", "", schedule_minutes=1)
    (tmp_path / spec.name).mkdir()
    (tmp_path / spec.name / "handler.py").write_text(FANNING_OUT)
    clock = ManualClock()
    events: list[RuntimeEvent] = []
    invoker = Invoker(clock, functions_dir=tmp_path, specs=(spec,))
    scheduler = Scheduler(invoker, start=clock.now(), functions={spec.name}, on_event=events.append)
    use_fan_out(invoker.invoke_async)
    try:
        fired = scheduler.fire_due(clock.now())
    finally:
        use_fan_out(invoke_async)

    assert [(i.ok, i.result) for i in fired] == [
        (True, {"fanned_out": 2}),
        (False, None),
        (True, {"ran": "us"}),
    ]
    assert "eu's WholeCell is down" in str(fired[1].error)
    assert [event["connection_id"] for event in _received(tmp_path, spec.name)] == ["us"]
    assert [(event.connection, event.outcome) for event in events] == [
        ("*", "ok"),
        ("eu", "error"),
        ("us", "ok"),
    ]
