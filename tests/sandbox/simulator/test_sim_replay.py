"""A simulation replays from its seed: the same seed gives the very same report, event for event
(retry jitter included), so any broken invariant can be replayed and debugged."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bmsync.settings import LOCAL_SANDBOX_HOSTS_ENV
from bmsync_sandbox.simulator.report import render
from bmsync_sandbox.simulator.simulation import SimulationConfig, simulate
from bmsync_sandbox.simulator.traffic import TrafficRates

# People act within minutes: a run ends soon after its traffic instead of settling for simulated hours.
BUSY = TrafficRates(
    buyer_orders=30,
    units_received=20,
    other_channel_orders=8,
    shipments=20,
    validation_minutes=(2.0, 10.0),
    late_validation_share=0.0,
    grading_minutes=(5.0, 15.0),
)


def _run(tmp_path: Path, name: str, seed: int) -> dict[str, Any]:
    config = SimulationConfig(
        days=0.25 / 24, seed=seed, faults="heavy", extra_skus=3, rates=BUSY, settle_minutes=5
    )
    report = simulate(config, work_dir=tmp_path / name)
    for varying in ("wall_seconds", "cpu_seconds", "logs", "handlers", "handlers_during_traffic"):
        report.pop(varying)  # what this machine measured, not what happened
    return report


def test_the_same_seed_replays_the_same_run_to_the_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As `bmsync simulate` runs from a shell: nothing allows the emulators' hosts but the simulator.
    monkeypatch.delenv(LOCAL_SANDBOX_HOSTS_ENV)
    first = _run(tmp_path, "first", 11)
    again = _run(tmp_path, "again", 11)
    assert first == again
    assert LOCAL_SANDBOX_HOSTS_ENV not in os.environ  # the simulator put the environment back
    faults = first["faults"]
    assert faults["wholecell_faults"] > 0 and first["backmarket_api"]["injected_fault_responses"] > 0
    assert first["latency"]["order_to_wholecell"]["count"] > 0


def test_an_unhandled_exception_is_reported_with_its_simulated_time_and_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bmsync.sync import order_import  # its handler calls the rules through this module's name

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug in import_orders")

    monkeypatch.setattr(order_import, "import_orders", broken)
    config = SimulationConfig(
        days=2 / 24 / 60, seed=3, faults="none", extra_skus=1, rates=BUSY, settle_minutes=1
    )
    report = simulate(config, work_dir=tmp_path)

    assert not report["ok"] and report["invariants"]["unhandled_exceptions"]["count"] > 0
    first = report["unhandled_exception_details"][0]
    assert first["function"] == "order_import" and first["error"] == "a bug in import_orders"
    assert first["at"] >= report["config"]["started_at"]
    assert any("raise RuntimeError" in line for line in first["stack"])
    assert "first unhandled exception, at " in render(report)


def test_a_run_that_carries_the_clock_past_the_whole_window_still_gives_a_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bmsync.sync import order_import

    real_import = order_import.import_orders
    slow: list[int] = []

    def slow_first(**kwargs: Any) -> None:
        if not slow:  # the first run waits 10 simulated minutes (a rate limit): past warm-up and traffic
            slow.append(1)
            kwargs["clock"].sleep(600)
        real_import(**kwargs)

    monkeypatch.setattr(order_import, "import_orders", slow_first)
    config = SimulationConfig(
        days=2 / 24 / 60, warmup_minutes=1, seed=5, faults="none", extra_skus=1, rates=BUSY, settle_minutes=1
    )
    report = simulate(config, work_dir=tmp_path)  # once an AttributeError: the window never started

    assert slow and report["invariants"]["unhandled_exceptions"]["count"] == 0
    # Nothing ran inside the window (one run jumped it): an empty measurement, said as such.
    assert all(counters["invocations"] == 0 for counters in report["handlers_during_traffic"].values())
