""" "Import listings" in the local runtime: the admin's starter runs the listing_import handler through
the runtime's invoker, with the event the Lambda invoke would carry, and reports how it went."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bmsync.admin.services import AdminServices
from bmsync.catalog import FunctionSpec
from bmsync.clock import ManualClock
from bmsync_sandbox.runtime import listing_import_starter
from bmsync_sandbox.runtime.events import RuntimeEvent
from bmsync_sandbox.runtime.invoker import Invoker

HANDLER = textwrap.dedent(
    """
    import json
    from pathlib import Path

    def handler(event, context):
        if event["connection_id"] == "broken":
            raise RuntimeError("Back Market did not answer")
        (Path(__file__).parent / "event.json").write_text(json.dumps(event))
        return {"runs": {event["connection_id"]: {"status": "succeeded", "counts": {"imported": 3}}}}
    """
)


@pytest.fixture
def functions_dir(tmp_path: Path) -> Path:
    (tmp_path / "listing_import").mkdir()
    (tmp_path / "listing_import" / "handler.py").write_text(HANDLER)
    return tmp_path


@pytest.fixture
def events(functions_dir: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    monkeypatch.delenv("BMSYNC_LISTING_IMPORT_FUNCTION", raising=False)
    invoker = Invoker(clock, functions_dir=functions_dir, specs=(FunctionSpec("listing_import", ""),))
    seen: list[RuntimeEvent] = []
    listing_import_starter.install(invoker, on_event=seen.append)
    yield seen
    listing_import_starter.uninstall()


def test_the_admin_runs_the_handler_with_the_on_demand_event(
    events: list[RuntimeEvent], functions_dir: Path, clock: ManualClock
) -> None:
    starter = AdminServices(clock=lambda: clock).listing_import()
    assert starter is not None
    starter("demo")
    event = json.loads((functions_dir / "listing_import" / "event.json").read_text())
    assert event["source"] == "bmsync.admin" and event["function"] == "listing_import"
    assert event["connection_id"] == "demo"
    assert [(e.function, e.trigger, e.connection, e.outcome, e.detail) for e in events] == [
        ("listing_import", "admin", "demo", "ok", "demo: imported 3")
    ]


def test_a_failed_import_is_reported_not_raised_to_the_admin(events: list[RuntimeEvent], clock) -> None:
    starter = AdminServices(clock=lambda: clock).listing_import()
    assert starter is not None
    starter("broken")  # as in AWS: the asynchronous invoke never fails the admin's answer
    assert events[0].outcome == "error" and "Back Market did not answer" in events[0].detail


def test_once_uninstalled_the_admin_has_no_starter(events: list[RuntimeEvent], clock) -> None:
    listing_import_starter.uninstall()
    assert AdminServices(clock=lambda: clock).listing_import() is None
