"""The simulation ``make test`` runs: six simulated hours of a busy refurbisher's trading (twice the
default traffic, so that a day's worth of orders, receptions and shipments happens), the real system,
light faults, a fixed seed; every invariant must hold (about two minutes of CPU on this machine; a
whole day at the default traffic is `bmsync simulate --days 1 --seed 20260105`; ``make chaos`` runs
the long ones)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bmsync_sandbox.simulator.report import render
from bmsync_sandbox.simulator.simulation import SimulationConfig, simulate
from bmsync_sandbox.simulator.traffic import TrafficRates

SEED = 20260105
# Twice the default rates; late validations one to two hours late (by default up to four: the run
# would settle for hours of simulated time after its traffic).
BUSY = TrafficRates(
    buyer_orders=12.0,
    units_received=10.0,
    other_channel_orders=4.0,
    shipments=10.0,
    late_validation_minutes=(60.0, 120.0),
)


@pytest.mark.timeout(900)  # six simulated hours: minutes, longer on a busy machine
def test_six_busy_simulated_hours_with_light_faults_break_no_invariant(tmp_path: Path) -> None:
    config = SimulationConfig(days=0.25, seed=SEED, faults="light", extra_skus=10, rates=BUSY)
    progress: list[str] = []
    report = simulate(config, work_dir=tmp_path, progress=progress.append)

    broken = {name: result for name, result in report["invariants"].items() if result["count"]}
    assert not broken, f"invariants broken (replay: this test, seed {SEED}): {broken}"
    assert report["ok"]
    # A refurbisher's day happened, and bmsync carried it through.
    traffic = report["traffic"]
    assert traffic["buyer_order"] >= 50 and traffic["validate"] >= 50 and traffic["ship"] >= 25
    assert traffic["receive"] >= 50 and traffic["other_channel_order"] >= 15
    latency = report["latency"]
    assert latency["order_to_wholecell"]["count"] == traffic["buyer_order"]
    assert latency["order_to_wholecell"]["unfinished"] == 0
    assert latency["shipment_to_backmarket"]["count"] >= 25
    assert latency["shipment_to_backmarket"]["unfinished"] == 0
    assert report["backmarket_api"]["calls"] > 0 and report["backmarket_api"]["throttled_429"] == 0
    assert report["handlers"]["quantity_sync"]["stream_records"] > 0
    faults = report["faults"]
    assert faults["dynamodb_throttled"] + faults["crashes_between_writes"] > 0  # the faults did happen
    assert faults["stream_records_duplicated"] > 0 and faults["wholecell_faults"] > 0
    # The slowest 5% of each direction, each event with its latency and a cause, in both reports.
    for name, tail in report["latency_tail"].items():
        count = latency[name]["count"]
        assert tail["events"] == math.ceil(count * 0.05) and sum(tail["by_cause"].values()) == tail["events"]
        assert len(tail["slowest"]) == min(tail["events"], 15)
        assert all(event["cause"] and event["seconds"] >= tail["from_s"] for event in tail["slowest"])
    assert "slowest 5% of stock to backmarket" in render(report)
    # A long run says where it is: one line per simulated hour, then the settling.
    assert len(progress) == 7 and progress[-1].endswith("traffic done; settling")
    assert progress[2].startswith(f"seed {SEED}: 3 of 6 simulated hours")
