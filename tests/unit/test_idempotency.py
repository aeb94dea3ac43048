"""A duplicated scheduled event does its work once; a duplicate of a run that is still going (or whose
process died mid-way) is skipped, not failed."""

from __future__ import annotations

from typing import Any

import pytest

from bmsync.catalog import FUNCTIONS
from bmsync.clock import ManualClock
from bmsync.store.idempotency import run_once
from bmsync_sandbox.runtime.invoker import LambdaContext

EVENT = {"source": "bmsync.schedule", "time": "2026-01-05T09:00:00Z", "task": "drift_check"}


class ProcessDied(BaseException):
    """What no ``except Exception`` catches: an out-of-memory kill, a timeout."""


@pytest.fixture
def context() -> LambdaContext:
    spec = next(spec for spec in FUNCTIONS if spec.name == "quantity_sync")
    return LambdaContext(spec, ManualClock())


def test_a_duplicate_delivery_gets_the_first_result_without_doing_the_work_again(aws: None, context) -> None:
    runs: list[dict[str, Any]] = []

    def work(event: dict[str, Any]) -> dict[str, Any]:
        runs.append(event)
        return {"checked": len(runs)}

    assert run_once("drift", EVENT, work, context) == {"checked": 1}
    assert run_once("drift", EVENT, work, context) == {"checked": 1}
    assert run_once("drift", {**EVENT, "time": "2026-01-05T10:00:00Z"}, work, context) == {"checked": 2}
    assert len(runs) == 2


def test_a_duplicate_of_a_run_whose_process_died_is_skipped_not_failed(aws: None, context) -> None:
    def dies(event: dict[str, Any]) -> dict[str, Any]:
        raise ProcessDied

    with pytest.raises(ProcessDied):
        run_once("drift", EVENT, dies, context)

    def must_not_run(event: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("the duplicate ran the work while the first delivery was in progress")

    result = run_once("drift", EVENT, must_not_run, context)
    assert "skipped" in result and "interrupted" in result["skipped"]
