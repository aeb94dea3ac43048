"""A run's rerun waits on the runtime's clock and is delivered 30 s later, in time order with the
schedules, as the SQS event its queue would send (``bmsync.rerun``)."""

from __future__ import annotations

import io
import json
import shutil
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bmsync import process
from bmsync.catalog import FUNCTIONS_DIR, FunctionSpec
from bmsync.clock import ManualClock, SystemClock, parse_iso
from bmsync.events import RerunRecord, ScheduledEvent
from bmsync.rerun import send_to_rerun_queue
from bmsync_sandbox.runtime.collaborators import use_clock, use_request_rerun
from bmsync_sandbox.runtime.events import RuntimeEvent
from bmsync_sandbox.runtime.invoker import Invoker
from bmsync_sandbox.runtime.scheduler import Scheduler
from bmsync_sandbox.runtime.system import ConsoleLog, LocalSystem, Ports

# Asks for its rerun the way bmsync.sync.flow.request_reruns does, through the process's port.
RERUNNING = textwrap.dedent(
    """
    import json
    from pathlib import Path

    from bmsync import process

    def handler(event, context):
        with (Path(__file__).parent / "events.jsonl").open("a") as file:
            file.write(json.dumps(event) + "\\n")
        if "Records" not in event:
            process.request_rerun()({**event, "connection_id": "eu", "rerun": True}, 30)
        return {"connections": 1}
    """
)

SPECS = (FunctionSpec("polls", "", schedule_minutes=1, rerun_after_seconds=30),)


@pytest.fixture
def functions_dir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "polls").mkdir()
    (tmp_path / "polls" / "handler.py").write_text(RERUNNING)
    yield tmp_path
    use_request_rerun(send_to_rerun_queue)


def _received(functions_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (functions_dir / "polls" / "events.jsonl").read_text().splitlines()]


def test_the_rerun_is_delivered_30_s_later_on_the_clock_as_an_sqs_event(functions_dir: Path) -> None:
    clock = ManualClock()
    start = clock.now()
    events: list[RuntimeEvent] = []
    invoker = Invoker(clock, functions_dir=functions_dir, specs=SPECS)
    use_request_rerun(invoker.request_rerun)
    scheduler = Scheduler(invoker, start=start, on_event=events.append)

    assert len(scheduler.fire_due(start)) == 1
    assert invoker.next_rerun_due() == start + timedelta(seconds=30)
    clock.advance(29)
    assert scheduler.fire_due(clock.now()) == []
    clock.advance(1)
    (rerun,) = scheduler.fire_due(clock.now())

    assert rerun.ok and invoker.next_rerun_due() is None  # a rerun asks for no other
    slot, delivered = _received(functions_dir)
    (record,) = delivered["Records"]
    assert record["eventSource"] == "aws:sqs"
    body = RerunRecord.model_validate(record).body
    assert body == ScheduledEvent.model_validate(slot).model_copy(
        update={"connection_id": "eu", "rerun": True}
    )
    assert [(event.trigger, event.connection) for event in events] == [("schedule", "*"), ("rerun", "eu")]


def test_reruns_and_slots_are_delivered_in_time_order(functions_dir: Path) -> None:
    clock = ManualClock()
    start = clock.now()
    invoker = Invoker(clock, functions_dir=functions_dir, specs=SPECS)
    use_request_rerun(invoker.request_rerun)
    scheduler = Scheduler(invoker, start=start)
    scheduler.fire_due(start)

    clock.advance(75)  # the loop was busy: the rerun (at 30 s) is due before the next slot (at 60 s)
    scheduler.fire_due(clock.now())

    kinds = [
        "rerun" if "Records" in event else parse_iso(event["scheduled_time"])
        for event in _received(functions_dir)
    ]
    assert kinds == [start, "rerun", start + timedelta(minutes=1)]
    # The 60 s slot ran at 75 s: its rerun is due 30 s after it was asked for, as SQS counts.
    assert invoker.next_rerun_due() == start + timedelta(seconds=105)


def test_the_local_system_reruns_the_real_order_import_half_a_minute_after_its_slot(tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    functions.mkdir()
    shutil.copytree(FUNCTIONS_DIR / "order_import", functions / "order_import")
    out = io.StringIO()
    clock = ManualClock()
    local = LocalSystem(
        state_dir=tmp_path / "state",
        ports=Ports(0, 0, 0, 0),
        demo=True,
        clock=clock,
        console=ConsoleLog(out),
        functions_dir=functions,
    )
    try:
        local.start()
        local.run_schedules()
        assert "rerun" not in out.getvalue()
        clock.advance(30)
        local.run_schedules()
        reruns = [
            line for line in out.getvalue().splitlines() if "order_import" in line and " rerun " in line
        ]
        assert len(reruns) == 1 and " demo " in reruns[0] and " ok " in reruns[0], out.getvalue()
    finally:
        local.stop()
        use_clock(SystemClock())
    assert process.request_rerun() is send_to_rerun_queue  # stop gives Lambda's port back
